"""The catalog (Metis), as a use case: reads, filtered by what the actor may read.

A depot's entries are readable by whoever may read its data (`dataset:read`: its owner, Read
All Dataset, an allow policy) or holds Manage Metis (`catalog:read`); a deny policy on a
dataset's address hides it. Cross-depot listings (`catalog ls`, `catalog search`) carry these
rules into their SQL.
"""

from __future__ import annotations

from typing import Any

from entrepot.access.decide import Target
from entrepot.catalog.model import Address
from entrepot.catalog.read import Scope
from entrepot.errors import NotFoundError
from entrepot.services.context import RequestContext

_ANY = Target("depot", "\x00any", owner="\x00nobody", layer="system")  # a depot of no one's


def _everything(ctx: RequestContext) -> bool:
    return bool(ctx.decide("catalog:read", Target("catalog"))) or bool(
        ctx.decide("dataset:read", _ANY)
    )


def scope(ctx: RequestContext, *, datasets: bool) -> Scope:
    """SQL over a catalog table aliased `{t}` (columns depot, and collection and name when
    `datasets`): the rows the actor may see."""
    clauses, params = [], {}
    if not _everything(ctx):
        clauses.append(
            "{t}.depot IN (SELECT name FROM resource WHERE type = 'depot' AND owner = :scope_me)"
        )
        params["scope_me"] = ctx.actor.name
    if datasets:
        address = "('dataos://' || {t}.depot || ':' || {t}.collection || '/' || {t}.name)"
        for i, pattern in enumerate(ctx.authorizer.denied_addresses(ctx.actor)):
            clauses.append(f"{address} NOT LIKE :scope_deny{i} ESCAPE '\\'")
            params[f"scope_deny{i}"] = pattern
    return (" AND ".join(clauses) or "1 = 1", params)


def _depot(ctx: RequestContext, depot: str) -> None:
    """May the actor read this depot's catalog? Unknown and not allowed read alike."""
    from entrepot.services.resources import resources_named_or_none

    row = resources_named_or_none(ctx, "depot", depot)
    if row is None:
        return  # the catalog reader says "not found", with what the actor may see
    if _everything(ctx):
        return
    ctx.ensure(
        "dataset:read",
        Target("depot", depot, row.owner, row.layer),
        doing=f"read the catalog of depot '{depot}'",
    )


def sources(ctx: RequestContext) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    return read.sources(ctx.reader, scope(ctx, datasets=False))


def collections(ctx: RequestContext, depot: str) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    _depot(ctx, depot)
    return read.collections(ctx.reader, depot)


def datasets(
    ctx: RequestContext, depot: str, collection: str | None, include_deleted: bool = False
) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    _depot(ctx, depot)
    rows = read.datasets(ctx.reader, depot, collection, include_deleted)
    return [r for r in rows if _address_readable(ctx, r["address"])]


def dataset(ctx: RequestContext, address: Address) -> dict[str, Any]:
    from entrepot.catalog import read

    _depot(ctx, address.depot)
    if address.collection and address.dataset and not _address_readable(ctx, str(address)):
        raise NotFoundError(f"no dataset '{address}' in the catalog", hint="entrepot catalog ls")
    return read.dataset(ctx.reader, address)


def history(ctx: RequestContext, address: Address, limit: int = 200) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    _depot(ctx, address.depot)
    return [
        r for r in read.history(ctx.reader, address, limit) if _address_readable(ctx, r["address"])
    ]


def search(ctx: RequestContext, text: str, limit: int = 50) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    return read.search(ctx.reader, text, limit, scope(ctx, datasets=True))


def _address_readable(ctx: RequestContext, address: str) -> bool:
    """No deny policy on this dataset's address (allows are the depot's, checked before)."""
    from entrepot.access.policy import glob

    return not any(
        glob(p).match(address)
        for rule in ctx.authorizer._for(ctx.actor).deny
        if "read" in rule.predicates
        for p in rule.addresses
    )
