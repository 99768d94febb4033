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


def scope(ctx: RequestContext, *, depots: bool = True) -> Scope:
    """SQL over {depot}, {collection} and {name} (read.Scope): the catalog entries the actor may
    see. `depots=False` when the depot itself was authorized already (one depot's listing)."""
    clauses, params = [], {}
    if depots and not _everything(ctx):
        clauses.append(
            "{depot} IN (SELECT name FROM resource WHERE type = 'depot' AND owner = :scope_me)"
        )
        params["scope_me"] = ctx.actor.name
    address = "('dataos://' || {depot} || ':' || {collection} || '/' || {name})"
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

    # A source is a depot: its datasets' address rules do not hide it.
    sql, params = scope(ctx)
    visible = sql if not ctx.authorizer.denied_addresses(ctx.actor) else _depots_only(ctx)
    return read.sources(ctx.reader, (visible, params))


def collections(ctx: RequestContext, depot: str) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    _depot(ctx, depot)
    return read.collections(ctx.reader, depot)


def datasets(
    ctx: RequestContext, depot: str, collection: str | None, include_deleted: bool = False
) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    _depot(ctx, depot)
    return read.datasets(ctx.reader, depot, collection, include_deleted, scope(ctx, depots=False))


def dataset(ctx: RequestContext, address: Address) -> dict[str, Any]:
    from entrepot.catalog import read

    _depot(ctx, address.depot)
    if address.collection and address.dataset and not _address_readable(ctx, str(address)):
        raise NotFoundError(f"no dataset '{address}' in the catalog", hint="entrepot catalog ls")
    return read.dataset(ctx.reader, address)


def history(ctx: RequestContext, address: Address, limit: int = 200) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    _depot(ctx, address.depot)
    return read.history(ctx.reader, address, limit, scope(ctx, depots=False))


def search(ctx: RequestContext, text: str, limit: int = 50) -> list[dict[str, Any]]:
    from entrepot.catalog import read

    return read.search(ctx.reader, text, limit, scope(ctx))


def _depots_only(ctx: RequestContext) -> str:
    if _everything(ctx):
        return "1 = 1"
    return "{depot} IN (SELECT name FROM resource WHERE type = 'depot' AND owner = :scope_me)"


def _address_readable(ctx: RequestContext, address: str) -> bool:
    """No deny policy on this dataset's address (allows are the depot's, checked before)."""
    from entrepot.access.policy import glob

    return not any(
        glob(p).match(address)
        for rule in ctx.authorizer._for(ctx.actor).deny
        if "read" in rule.predicates
        for p in rule.addresses
    )
