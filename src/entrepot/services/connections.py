"""Connections, as a use case: the only place that decrypts.

A depot's credentials are decrypted here and nowhere else, for a depot *name* re-read inside the
request's unit of work (never a row a caller built), after the request context has authorized
the purpose (check, scan, query, Spark read, export; writing for `rw`), and every decryption is
audited. Orchestrators (the query engine, the scanner, Spark reads, the Trino export) receive a
`DepotAccess`: a narrow object bound to the request context and one purpose, never the service.
`instance_secret_values` (`get --unSanitize`) needs Un-sanitize or Read All Secrets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from entrepot.access.decide import Decision, Target
from entrepot.errors import EntrepotError, MissingCredentialError, RefusedError, StoreError
from entrepot.secrets.redact import bind_scope
from entrepot.services.context import RequestContext
from entrepot.services.resources import (
    register_secret_values,
    resource,
    secret_binding,
    target_of,
    visible_names,
)

if TYPE_CHECKING:
    from entrepot.catalog.model import Address
    from entrepot.connectors.base import CheckResult, ResolvedConnection
    from entrepot.resources.compile import PlannedResource
    from entrepot.services.resources import Outcome
    from entrepot.store.reader import ResourceRow

# What each orchestrator does with a depot, as an action on it.
USES = {
    "check": "depot:check",
    "scan": "depot:scan",
    "query": "dataset:read",
    "spark": "dataset:read",
    "export": "depot:export",
}


@dataclass
class ResolvedSecret:
    """Decrypted values, in memory only. Its repr never shows them."""

    name: str
    acl: str
    secret_type: str | None
    data: dict[str, str]
    files: dict[str, bytes]

    def __repr__(self) -> str:
        return (
            f"ResolvedSecret(name={self.name!r}, acl={self.acl!r}, "
            f"keys={sorted(self.data)}, files={sorted(self.files)})"
        )

    __str__ = __repr__


class DepotAccess:
    """What an orchestrator may ask about depots, for one request and one purpose: rows by
    name (authorized), connections with their credentials (authorized, decrypted, audited),
    whether it may write one, the catalog entry of a dataset. Nothing else of the service."""

    def __init__(self, ctx: RequestContext, use: str) -> None:
        self._ctx = ctx
        self.use = use
        self.action = USES[use]

    @property
    def user(self) -> str:
        return self._ctx.actor.name

    @property
    def settings(self) -> Any:
        return self._ctx.settings

    def depot(self, name: str) -> ResourceRow:
        """The depot's row with its manifest, if the actor may use it for this purpose."""
        return resource(self._ctx, "depot", name, action=self.action)

    def existing(self, names: set[str]) -> set[str]:
        """Which of these names are depots (a statement's `a.b.c` chains): existence only,
        nothing about them; using one is authorized by `depot()`."""
        from entrepot.store import reader as reader_module

        if not names or not self._ctx.settings_has_store():
            return set()
        return set(reader_module.resources_named(self._ctx.reader, "depot", sorted(names)))

    def has_address_rules(self, depot: str) -> bool:
        """Do policies name datasets of this depot (for this actor)? Then a statement must name
        its tables in full for them to be checked."""
        prefix = f"dataos://{depot}:"
        rules = self._ctx.authorizer._for(self._ctx.actor)
        return any(
            p.startswith(prefix) or p.startswith("dataos://*") or p == "dataos://**"
            for rule in (*rules.deny, *rules.allow)
            for p in rule.addresses
        )

    def depot_names(self) -> list[str]:
        """Depots the actor may list (hints, completion): not a permission to use them."""
        return visible_names(self._ctx, "depot")

    def usable(self) -> list[ResourceRow]:
        """Every depot the actor may use for this purpose, with manifests (one listing, then
        the decision for each)."""
        from entrepot.services.resources import list_resources

        try:
            listed = list_resources(self._ctx, rtype="depot", all_owners=True)
        except RefusedError:
            listed = list_resources(self._ctx, rtype="depot")
        rows = _rows(self._ctx, [r.name for r in listed])
        return [r for r in rows if self._ctx.decide(self.action, target_of(r))]

    def may_write(self, row: ResourceRow) -> Decision:
        return self._ctx.decide("dataset:write", target_of(row))

    def ensure_dataset(self, address: str, *, write: bool = False) -> None:
        """A statement reads (or writes) this dataset: policies on its address decide too."""
        depot = address.removeprefix("dataos://").split(":", 1)[0]
        row = self.depot(depot)
        target = Target("dataset", depot, row.owner, row.layer, address=address)
        self._ctx.ensure("dataset:write" if write else "dataset:read", target)

    def connection(self, row: ResourceRow, acl: str, purpose: str) -> ResolvedConnection:
        """The depot's connection with the credentials for `acl`, decrypted (and audited).
        The row is only a name here: it is read again, and authorized, before decrypting."""
        fresh = self.depot(row.name)
        if acl == "rw":
            self._ctx.ensure("dataset:write", target_of(fresh))
        return _connection(self._ctx, fresh, acl, purpose, self.use)

    def catalog_entry(self, address: Address) -> dict[str, Any]:
        """The dataset's catalog entry (NotFoundError when not scanned)."""
        from entrepot.services import catalog

        return catalog.dataset(self._ctx, address)

    def scanned(self, address: Address) -> dict[str, Any] | None:
        """The catalog's live entry for a dataset, when a scan recorded where its files are."""
        try:
            entry = self.catalog_entry(address)
        except EntrepotError:  # not scanned, or not a dataset address
            return None
        if entry.get("deleted") or not (entry.get("details") or {}).get("path"):
            return None
        return entry


def depot_access(ctx: RequestContext, use: str) -> DepotAccess:
    return DepotAccess(ctx, use)


# --- decryption (private) --------------------------------------------------------------------


def _connection(
    ctx: RequestContext, row: ResourceRow, acl: str, purpose: str, use: str = "check"
) -> ResolvedConnection:
    """Reading uses the depot's `r` secrets only; writing its `rw` secrets (and, for TLS, any
    `certificates` secret). v1 inline `connectionSecret` entries count the same way. A depot in
    the DataOS 2.0 form names each secret for a purpose instead: rw writes; scan and query both
    read, and when they name different secrets a scan (`use`) reads with its scan secret and
    every other use with its query secret."""
    from entrepot.connectors.base import ResolvedConnection
    from entrepot.resources.depot_types import connection_config
    from entrepot.resources.shapes import depot_section, secret_section, secret_uses
    from entrepot.store import reader as reader_module

    manifest = row.manifest or {}
    depot_type, config = connection_config(manifest)
    conn = ResolvedConnection(row.name, depot_type.name, acl, config)
    uses = secret_uses(manifest)
    section = depot_section(manifest)
    inline = section.get("connectionSecret") or section.get("connectionSecrets")
    preferred = "scan" if use == "scan" else "query"
    reading = {u.purpose for u in uses if u.acl == "r"}
    stored = reader_module.instance_secrets(ctx.reader, [u.name for u in uses])
    for secret_use in uses:
        name = secret_use.name
        if name not in stored:
            raise MissingCredentialError(
                f"instance secret '{name}' referenced by depot '{row.name}' does not exist"
            )
        secret_id, secret_manifest = stored[name]
        body = secret_section(secret_manifest)
        secret_acl = secret_use.acl or str(body.get("acl"))
        is_certificate = str(body.get("type", "")).startswith("certificate")
        if secret_acl != acl and not (acl == "rw" and is_certificate):
            continue
        if secret_use.acl == "r" and preferred in reading and secret_use.purpose != preferred:
            continue  # the other reading purpose's secret: this use has its own
        conn.secret_names.append(name)
        data, files, _ = _decrypt(ctx, secret_id, "instance-secret", name, "", purpose)
        for key, value in data.items():
            conn.data.setdefault(key, value)
            conn.key_sources.setdefault(key, name)
        for key, content in files.items():
            conn.files.setdefault(key, content)
            conn.key_sources.setdefault(key, name)
    for index, entry in enumerate(inline or []):
        if entry.get("acl") != acl:
            continue
        slot = f"connectionSecret[{index}]"
        data, files, _ = _decrypt(ctx, row.id, "depot", row.name, slot, purpose)
        conn.secret_names.append(f"{row.name} {slot}")
        for key, value in data.items():
            conn.data.setdefault(key, value)
            conn.key_sources.setdefault(key, f"{row.name} (inline {slot})")
        for key, content in files.items():
            conn.files.setdefault(key, content)
    return conn


def _decrypt(
    ctx: RequestContext, resource_id: int, rtype: str, name: str, slot: str, purpose: str
) -> tuple[dict[str, str], dict[str, bytes], str | None]:
    """Open one slot of secret material, register its values for redaction, audit it."""
    from entrepot.secrets import crypto
    from entrepot.secrets.payload import decode_files
    from entrepot.store import reader as reader_module

    binding = secret_binding(rtype, name, slot)
    material = reader_module.secret_material(ctx.reader, resource_id, slot)
    if material is None:
        raise StoreError(f"no secret material for '{binding}'")
    if material["master_key_id"] not in ctx.keyring.keys:
        ctx.forget_keyring()  # a rotation finished since the keyring was loaded: reload
    # The data key is bound to the binding it was created for: a row moved elsewhere fails.
    dek = crypto.unwrap_key(
        ctx.keyring.get(material["master_key_id"]), bytes(material["wrapped"]), binding
    )
    payload = crypto.decrypt_payload(dek, bytes(material["ciphertext"]), binding)
    secret_type = material["secret_type"]
    data = {k: str(v) for k, v in payload.get("data", {}).items()}
    files = decode_files(payload.get("files", {}))
    register_secret_values(data, files)
    keys = ", ".join(sorted([*data, *files]))
    ctx.audit(
        [
            {
                "action": "decrypt",
                "resource_type": rtype,
                "resource_name": name,
                "purpose": purpose,
                "detail": f"{slot} keys: {keys}" if slot else f"keys: {keys}",
            }
        ]
    )
    return data, files, secret_type


def instance_secret_values(
    ctx: RequestContext, name: str, *, acl: str | None = None, purpose: str = "get --unSanitize"
) -> ResolvedSecret:
    """An instance secret's values (`get --unSanitize`): Un-sanitize on a secret you may read,
    or Read All Secrets. Audited like every decryption."""
    from entrepot.resources.shapes import secret_acl
    from entrepot.store import reader as reader_module

    row = resource(ctx, "instance-secret", name, action="instance-secret:unsanitize")
    stored_acl = secret_acl(row.manifest or {})
    if acl is not None and stored_acl != acl:
        raise RefusedError(
            f"instance secret '{name}' has acl '{stored_acl}', not '{acl}'",
            hint="reads use the depot's r secret; writes its rw secret",
        )
    found = reader_module.instance_secrets(ctx.reader, [name])[name]
    data, files, secret_type = _decrypt(ctx, found[0], "instance-secret", name, "", purpose)
    return ResolvedSecret(name, stored_acl, secret_type, data, files)


# --- checks ----------------------------------------------------------------------------------


def verify_changed(
    ctx: RequestContext, planned: list[PlannedResource], outcomes: list[Outcome], timeout: float
) -> list[CheckResult]:
    """After an apply: check depots created or changed, and those whose secrets changed."""
    from entrepot.store import reader as reader_module

    changed = {
        (p.type, p.name)
        for p, o in zip(planned, outcomes, strict=True)
        if o.action in ("created", "updated")
    }
    depots = {name for rtype, name in changed if rtype == "depot"}
    for rtype, name in changed:
        if rtype != "instance-secret":
            continue
        for dependent in reader_module.dependents_of(ctx.reader, "instance-secret", name):
            dtype, _, dname = dependent.split(":", 2)
            if dtype == "depot":
                depots.add(dname)
    if not depots:
        return []
    # Depots the actor may not check (another owner's, using a secret just changed) are left.
    allowed = [
        row.name for row in _rows(ctx, sorted(depots)) if ctx.decide("depot:check", target_of(row))
    ]
    return (
        check_depots(ctx, allowed, timeout=timeout, purpose="verify after apply") if allowed else []
    )


def _rows(ctx: RequestContext, names: list[str]) -> list[ResourceRow]:
    from entrepot.store import reader as reader_module

    found = reader_module.resources_named(ctx.reader, "depot", names)
    return [found[n] for n in names if n in found]


def check_depots(
    ctx: RequestContext,
    names: list[str] | None = None,
    *,
    acl: str = "r",
    timeout: float = 10.0,
    purpose: str = "check",
) -> list[CheckResult]:
    """Check depots' connections concurrently, each within `timeout`; store the results.

    `names=None` checks every depot the actor may check. Credentials are decrypted (and
    audited) here, in memory, for the acl asked for only.
    """
    from concurrent.futures import ThreadPoolExecutor

    from entrepot.connectors import capabilities, get_connector
    from entrepot.connectors.base import run_check, unsupported
    from entrepot.services.resources import list_resources
    from entrepot.store import now

    if names is None:
        listed = list_resources(ctx, rtype="depot", all_owners=True)
        rows = [
            r
            for r in _rows(ctx, [r.name for r in listed])
            if ctx.decide("depot:check", target_of(r))
        ]
    else:
        rows = [resource(ctx, "depot", name, action="depot:check") for name in names]
    if acl == "rw":
        for row in rows:
            ctx.ensure(
                "dataset:write",
                target_of(row),
                doing=f"check depot '{row.name}' with its rw secret",
            )
    # Decrypt in this thread (the store is here); connect concurrently, each on a deadline.
    results: list[CheckResult] = []
    runs: list[tuple[int, Any, ResolvedConnection]] = []
    for row in rows:
        connector = get_connector(row.source_type or "")
        if connector is None or not capabilities(row.source_type or "").check:
            results.append(unsupported(row.name, row.source_type or "?", acl))
            continue
        try:
            conn = _connection(ctx, row, acl, f"{purpose} of depot {row.name}")
        except MissingCredentialError as exc:
            results.append(_credential_failure(row, acl, str(exc.problems[0].message)))
            continue
        runs.append((len(results), connector, conn))
        results.append(None)  # type: ignore[arg-type]  # filled below
    if runs:
        with ThreadPoolExecutor(max_workers=min(32, len(runs))) as pool:
            check = bind_scope(run_check)  # the checks' errors are redacted for this request
            futures = [
                (index, pool.submit(check, connector, conn, timeout))
                for index, connector, conn in runs
            ]
            for index, future in futures:
                results[index] = future.result()
    stamp = now()
    saved: list[tuple[int, dict[str, Any]]] = []
    for row, result in zip(rows, results, strict=True):
        result.checked_at = stamp
        status = "pending" if result.unsupported else ("active" if result.ok else "error")
        saved.append(
            (
                row.id,
                {
                    "acl": acl,
                    "status": status,
                    "message": result.message,
                    "row": {
                        "checked_at": stamp,
                        "ok": result.ok,
                        "summary": result.summary,
                        "duration_ms": result.duration_ms,
                        "steps": json.dumps([s.to_dict() for s in result.steps]),
                    },
                },
            )
        )
    if saved:
        ctx.store.save_checks(saved)
        ctx.fresh_reader()
    return results


def _credential_failure(row: ResourceRow, acl: str, reason: str) -> CheckResult:
    from entrepot.connectors.base import FAILED, CheckResult, StepResult

    step = StepResult(
        "credentials",
        f"resolve the {acl} secrets",
        FAILED,
        reason=reason,
        hint="apply the instance secret again, or point the depot at an existing one",
        code="no credentials",
    )
    return CheckResult(row.name, row.source_type or "?", acl, [step], 0.0)
