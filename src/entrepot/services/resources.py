"""Resources, as a use case: apply (plan, diff, dry run, lint), get (list, one), delete.

Every operation authorizes through the request context before it reads or writes anything the
actor could not see: creating and updating need ownership or a use case that manages everyone's
resources of that kind (a manifest's `owner:` other than yourself needs the latter), referencing
an instance secret from a depot needs read on the secret, deleting needs delete. Listings are
filtered in SQL by what the actor may see (`access.decide.Authorizer.visible`).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from entrepot.access.decide import Target
from entrepot.errors import (
    ConflictError,
    Location,
    ManifestError,
    NotFoundError,
    Problem,
    Problems,
    RefusedError,
)
from entrepot.secrets.redact import redactor
from entrepot.services.context import RequestContext

if TYPE_CHECKING:
    from entrepot.connectors.base import CheckResult
    from entrepot.manifest.loader import Document
    from entrepot.resources.compile import PlannedResource, Ref
    from entrepot.scanner.runner import RunRecord
    from entrepot.store.reader import ResourceRow
    from entrepot.store.store import WriteItem

MAX_APPLY_ATTEMPTS = 8
KINDS = ("depot", "instance-secret", "workflow", "policy")


@dataclass
class ApplyOptions:
    paths: list[str]
    recursive: bool = False
    lint: bool = False
    dry_run: bool = False
    interpolate: bool = True
    values: dict[str, str] = field(default_factory=dict)
    allow_files_outside: bool = False  # `files:` may name files outside the manifest's folder
    workspace: str = "public"
    want_diff: bool = False  # compute each change's diff (diff, --show-diff): costs a YAML dump
    verify: bool = True  # check the connection of each depot created or changed
    timeout: float = 10.0  # each check's deadline, in seconds
    run: bool = True  # run workflows created or changed (not scheduled ones)
    rerun: bool = False  # -r: run every applied workflow, changed or not
    force_deletes: bool = False  # let a scan mark more than its threshold deleted
    progress: Any = None  # callable(what, done, total) while workflows run
    mode: str = "apply"  # apply | create (refuses existing resources) | update (missing ones)


@dataclass
class Outcome:
    id: str
    action: str  # created | updated | unchanged | valid | deleted
    workspace: str = ""
    diff: str = ""
    owner: str = ""  # whose it is after the apply


@dataclass
class ApplyResult:
    outcomes: list[Outcome]
    warnings: list[Problem]
    checks: list[CheckResult] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(o.action in ("created", "updated") for o in self.outcomes)


def target_of(row: ResourceRow) -> Target:
    return Target(row.type, row.name, row.owner, row.layer, row.workspace or None)


# --- get -------------------------------------------------------------------------------------


def list_resources(
    ctx: RequestContext,
    *,
    rtype: str | None = None,
    name: str | None = None,
    owner: str | None = None,
    all_owners: bool = False,
    workspace: str | None = None,
    details: bool = False,
) -> list[ResourceRow]:
    """`get`: your own resources; everyone's with `all_owners` (a use case or policy must grant
    listing them); `owner`: someone's. One query per kind, filtered in SQL."""
    from dataclasses import replace

    from entrepot.store import reader as reader_module

    if owner == ctx.actor.name:
        owner = None
    rows: list[ResourceRow] = []
    for kind in (rtype,) if rtype else KINDS:
        decision, visible = ctx.authorizer.visible(
            ctx.actor, kind, all_owners=all_owners or bool(owner)
        )
        if not decision:
            if rtype is None:
                continue  # `get [-a]` of every kind shows the kinds you may list
            ctx.refuse(
                f"{kind}:list-all" if all_owners or owner else f"{kind}:list",
                Target(kind),
                decision,
            )
        if owner:
            visible = replace(visible, owner=owner)
        rows += reader_module.list_resources(
            ctx.reader, rtype=kind, name=name, workspace=workspace, visible=visible
        )
    if details and rows:
        reader_module.add_details(ctx.reader, rows)
    return rows


def not_listed(
    ctx: RequestContext,
    rtype: str | None,
    name: str,
    workspace: str | None = None,
    *,
    all_owners: bool = False,
    owner: str | None = None,
) -> NotFoundError:
    """`get -n NAME` listed nothing: say so (exit 4), and where it might be. Without -a/-o
    only your own are listed; someone else's of that name is named only to an actor who may
    list everyone's (so not found reads the same as not yours to everyone else)."""
    from entrepot.store import reader as reader_module

    where = f" in workspace '{workspace}'" if workspace else ""
    what = f"{rtype} '{name}'{where} not found" if rtype else f"no resource named '{name}'{where}"
    flags = (
        (f" -t {rtype}" if rtype else "")
        + f" -n {name}"
        + (f" -w {workspace}" if workspace else "")
    )

    def did_you_mean(candidates: list[str]) -> str:
        close = _close_matches(name, [c for c in candidates if c != name])
        return f", did you mean '{close[0]}'?" if close else ""

    if all_owners or owner:
        whose = f" owned by '{owner}'" if owner and not all_owners else ""
        close = did_you_mean(visible_names(ctx, rtype, workspace)) if rtype else ""
        return NotFoundError(
            f"{what}{whose}{close}",
            hint="list them with: dataos-ctl get" + (f" -t {rtype}" if rtype else "") + " -a",
        )
    if ctx.settings_has_store():
        for kind in (rtype,) if rtype else KINDS:
            decision, visible = ctx.authorizer.visible(ctx.actor, kind, all_owners=True)
            if not decision:
                continue
            rows = reader_module.list_resources(
                ctx.reader, rtype=kind, name=name, workspace=workspace, visible=visible
            )
            if rows:
                others = ", ".join(sorted({f"'{row.owner}'" for row in rows}))
                return NotFoundError(
                    f"{kind} '{name}'{where} is not yours: it is owned by {others}",
                    hint=f"see it with: dataos-ctl get -t {kind} -n {name}"
                    + (f" -w {workspace}" if workspace else "")
                    + f" -a (or -o {rows[0].owner})",
                )
    mine = [r.name for r in list_resources(ctx, rtype=rtype, workspace=workspace)]
    return NotFoundError(
        f"{what} among yours{did_you_mean(mine)}",
        hint=f"get lists your own; everyone's (if you may list them): dataos-ctl get{flags} -a",
    )


def resource(
    ctx: RequestContext, rtype: str, name: str, workspace: str = "", *, action: str | None = None
) -> ResourceRow:
    """One resource by name (a point lookup), if the actor may `action` it (default: read).
    Not found and not allowed read the same to someone who may not list everyone's."""
    from entrepot.store import reader as reader_module

    found = reader_module.resources_named(ctx.reader, rtype, [name], workspace).get(name)
    if found is None:
        raise _not_found(ctx, rtype, name, workspace)
    ctx.ensure(action or f"{rtype}:read", target_of(found))
    return found


def _close_matches(name: str, names: list[str]) -> list[str]:
    import difflib  # not on the path of `get`

    return difflib.get_close_matches(name, names, n=1)


def visible_names(ctx: RequestContext, rtype: str, workspace: str | None = None) -> list[str]:
    """Names of a kind the actor may list: everyone's if granted, else their own."""
    if not ctx.settings_has_store():
        return []
    for everyone in (True, False):
        with contextlib.suppress(RefusedError):
            rows = list_resources(ctx, rtype=rtype, all_owners=everyone, workspace=workspace)
            return sorted(r.name for r in rows)
    return []


def resources_named_or_none(
    ctx: RequestContext, rtype: str, name: str, workspace: str = ""
) -> ResourceRow | None:
    """The stored row of that name, unauthorized: for the service's own decisions only."""
    from entrepot.store import reader as reader_module

    if not ctx.settings_has_store():
        return None
    return reader_module.resources_named(ctx.reader, rtype, [name], workspace).get(name)


def _not_found(ctx: RequestContext, rtype: str, name: str, workspace: str = "") -> NotFoundError:
    """NotFound with the nearest name the actor may see."""
    close = _close_matches(name, visible_names(ctx, rtype, workspace or None))
    where = f" in workspace '{workspace}'" if workspace else ""
    return NotFoundError(
        f"{rtype} '{name}' not found{where}" + (f", did you mean '{close[0]}'?" if close else ""),
        hint=f"list them with: entrepot get -t {rtype} -a",
    )


# --- apply -----------------------------------------------------------------------------------


def load(ctx: RequestContext, options: ApplyOptions) -> list[Document]:
    from entrepot.manifest.loader import LoadOptions, load_paths

    values = {"owner": ctx.user_name, **options.values}
    docs = load_paths(
        options.paths,
        options.recursive,
        LoadOptions(interpolate=options.interpolate, values=values),
    )
    if not docs:
        raise ManifestError(
            "no resources to apply: only comments or empty documents",
            location=Location(", ".join(options.paths)),
            hint="a manifest has name, version, type and the kind's section",
        )
    for doc in docs:
        # Values interpolated into a secret section are secrets: scrub them from output.
        redactor.register(*(i.value for i in doc.interpolated if secret_path(i.path)))
    return docs


def _warn_interpolated_in_clear(docs: list[Document], problems: Problems) -> None:
    """Say which variables went into fields stored and shown in clear (not secret values)."""
    from entrepot.manifest.loader import Interpolated

    by_field: dict[tuple[int, tuple[str | int, ...]], list[Interpolated]] = {}
    for number, doc in enumerate(docs):
        for item in doc.interpolated:
            if not in_secret_section(item.path):
                by_field.setdefault((number, item.path), []).append(item)
    for items in by_field.values():
        names = list(dict.fromkeys(f"${{{item.variable}}}" for item in items))
        problems.warn(
            f"{' and '.join(names)} interpolated into a field stored in clear: its value "
            "is kept as is and shown by 'get -d'",
            items[0].location,
            "only secret values (instance-secret data and files, a v1 depot's "
            "connectionSecret) are encrypted; put credentials there",
        )


def plan(ctx: RequestContext, options: ApplyOptions) -> tuple[list[PlannedResource], list[Problem]]:
    """Load, validate and check every document; raise ManifestError listing all problems."""
    from entrepot.resources.compile import compile_document

    docs = load(ctx, options)
    problems = Problems()
    _warn_interpolated_in_clear(docs, problems)
    used = set().union(*(doc.placeholders for doc in docs))
    for name in sorted(set(options.values) - used):
        problems.warn(
            f"--set {name}=... matched no {{{{{name}}}}} placeholder",
            hint="check the spelling of the placeholder's name",
        )
    planned: list[PlannedResource] = []
    for doc in docs:
        result = compile_document(
            doc, problems, options.workspace, allow_files_outside=options.allow_files_outside
        )
        if result is None:
            continue
        for payload in result.secrets:
            register_secret_values(payload.data, payload.files)
        if result.type == "workflow" and not result.workspace:
            result.workspace = options.workspace
        planned.append(result)
    seen: dict[tuple[str, str, str], PlannedResource] = {}
    for item in planned:
        if item.key in seen:
            first = seen[item.key].document.locate(("name",))
            problems.error(
                f"{item.type} '{item.name}' is defined twice in this apply (first at {first})",
                item.document.locate(("name",)),
            )
        seen[item.key] = item
    if not problems.errors:
        _check_references(ctx, planned, problems, lint=options.lint)
    problems.raise_if_errors()
    return planned, problems.warnings


def _stored(ctx: RequestContext, rtype: str, names: list[str]) -> dict[str, ResourceRow]:
    from entrepot.store import reader as reader_module

    if not names or not ctx.settings_has_store():
        return {}
    return reader_module.resources_named(ctx.reader, rtype, names)


# `apply --lint` validates documents alone: what they reference may not be applied yet.
LINT_HINT = "--lint checks the documents alone; apply will refuse it unless it exists by then"


def _missing(
    problems: Problems, lint: bool, what: str, close: list[str], where: Location, hint: str
) -> None:
    """A reference to nothing: an error, or under --lint a warning."""
    suggestion = f", did you mean '{close[0]}'?" if close else ""
    if lint:
        problems.warn(f"{what} is not applied yet{suggestion}", where, f"{hint}; {LINT_HINT}")
    else:
        problems.error(f"{what} does not exist{suggestion}", where, hint)


def _check_workflow_depots(
    ctx: RequestContext, planned: list[PlannedResource], problems: Problems, lint: bool
) -> None:
    """A scanner's `stackSpec.depot` must name a depot (stored, or in this apply)."""
    workflows = [p for p in planned if p.type == "workflow" and p.refs]
    if not workflows:
        return
    wanted = [r.name for w in workflows for r in w.refs if r.type == "depot"]
    names = set(_stored(ctx, "depot", wanted)) | {p.name for p in planned if p.type == "depot"}
    for workflow in workflows:
        for ref in workflow.refs:
            if ref.type != "depot" or ref.name in names:
                continue
            close = _close_matches(ref.name, visible_names(ctx, "depot"))
            _missing(
                problems,
                lint,
                f"depot '{ref.name}'",
                close,
                workflow.document.locate(ref.path),
                "stackSpec.depot takes dataos://<depot> or a depot's name; list them with: "
                "entrepot get -t depot -a",
            )


def _check_references(
    ctx: RequestContext, planned: list[PlannedResource], problems: Problems, *, lint: bool = False
) -> None:
    """References between resources: a scanner's depot, a depot's secrets (they exist, with an
    acl that says what each is for, one of them for reading). Under `lint`, a reference to a
    resource neither stored nor in the documents is a warning."""
    from entrepot.resources.depot_types import DEPOT_TYPES
    from entrepot.resources.shapes import is_tenant_form, secret_section

    _check_workflow_depots(ctx, planned, problems, lint)
    depots = [p for p in planned if p.type == "depot"]
    if not depots:
        return
    wanted = [r.name for d in depots for r in d.refs]
    secrets = {
        name: (str(body.get("acl") or ""), str(body.get("type", "")))
        for name, row in _stored(ctx, "instance-secret", wanted).items()
        for body in [secret_section(row.manifest or {})]
    }
    secrets.update(
        {
            p.name: (p.acl or "", p.secrets[0].secret_type or "" if p.secrets else "")
            for p in planned
            if p.type == "instance-secret"
        }
    )
    for depot in depots:
        found_acls: list[str] = [s.acl for s in depot.secrets]  # v1 inline credentials
        missing_reference = False
        tenant_form = is_tenant_form(depot.manifest)
        for ref in depot.refs:
            where = depot.document.locate(ref.path)
            if ref.name not in secrets:
                missing_reference = True
                known = visible_names(ctx, "instance-secret") + [
                    p.name for p in planned if p.type == "instance-secret"
                ]
                close = _close_matches(ref.name, sorted(set(known)))
                _missing(
                    problems,
                    lint,
                    f"instance secret '{ref.name}'",
                    close,
                    where,
                    "apply the instance secret first, or in the same apply",
                )
                continue
            own_acl, secret_type = secrets[ref.name]
            acl = _reference_acl(ref, own_acl, secret_type, where, problems)
            if acl is None:
                missing_reference = True  # said why; no second error about acls on top
                continue
            found_acls.append(acl)
            expected = f"{depot.name}-{acl}"
            # A CA certificate is no credential: the naming convention is for credentials. The
            # DataOS 2.0 form has none (a depot may name a scan and a query secret, both read).
            convention = not ref.purpose and not secret_type.startswith("certificate")
            if ref.name != expected and convention:
                problems.warn(
                    f"instance secret '{ref.name}' (acl: {acl}) does not follow the "
                    f"${{depot}}-${{acl}} naming convention",
                    where,
                    f"by convention it is named '{expected}'",
                )
        source_type = DEPOT_TYPES[depot.source_type] if depot.source_type else None
        needs = bool(source_type and source_type.needs_secret)
        # A missing reference is the real problem; no second error about acls on top.
        if (found_acls or needs) and "r" not in found_acls and not missing_reference:
            if tenant_form:
                problems.error(
                    "invalid depot, missing a secret reference with purpose: scan or query",
                    depot.document.locate(("spec", "secrets")),
                    "add a secret for reading to spec.secrets: {id: <tenant>:"
                    f"{depot.name}-r, purpose: query}} (scan and query read; rw alone is not "
                    "enough)",
                )
                continue
            problems.error(
                "invalid depot, missing a secret reference with acl: r",
                depot.document.locate(("depot", "secrets")),
                "reference an instance secret with 'acl: r' (by convention "
                f"'{depot.name}-r') in depot.secrets; an rw secret alone is not enough",
            )


def _reference_acl(
    ref: Ref, own_acl: str, secret_type: str, where: Location, problems: Problems
) -> str | None:
    """What a depot uses a secret for: its purpose (DataOS 2.0: scan, query read; rw writes),
    else the secret's own acl. A secret with neither (a `type: secret` without `acl:` named
    by a v2alpha depot) cannot be placed: an error, and None."""
    if ref.purpose:
        if own_acl and own_acl != ref.acl and not secret_type.startswith("certificate"):
            problems.warn(
                f"instance secret '{ref.name}' has acl: {own_acl}, and this depot uses it for "
                f"purpose: {ref.purpose} (acl {ref.acl}): the purpose decides",
                where,
                f"name a secret with acl: {ref.acl} here, or change the purpose",
            )
        return str(ref.acl)
    if own_acl:
        return own_acl
    problems.error(
        f"secret '{ref.name}' has no acl, so a v2alpha depot's secrets[].name cannot say what "
        "it is for",
        where,
        f"add 'acl: r' (or rw) to the secret's `secret:` section, or write the depot in the "
        f"DataOS 2.0 form, which names a purpose: spec.secrets: [{{id: <tenant>:{ref.name}, "
        "purpose: query}]",
    )
    return None


def apply(ctx: RequestContext, options: ApplyOptions) -> ApplyResult:
    planned, warnings = plan(ctx, options)
    if options.lint:
        outcomes = [Outcome(p.id, "valid", p.workspace) for p in planned]
        return ApplyResult(outcomes, warnings)
    # A dry run on a fresh home creates nothing, not even the lock file.
    lock = not options.dry_run or ctx.settings.home.exists()
    for _attempt in range(MAX_APPLY_ATTEMPTS):
        with ctx.master_key_lock(exclusive=False) if lock else contextlib.nullcontext():
            items, outcomes, audit = _write_items(ctx, planned, options, warnings)
            if options.dry_run:
                return ApplyResult(outcomes, warnings)
            todo = [item for item in items if item.action != "unchanged"]
            try:
                if todo:
                    ctx.store.write(todo, ctx.keyring, ctx.actor.name, audit)
            except ConflictError:
                continue  # someone else wrote in between: re-read and re-plan
            finally:
                ctx.fresh_reader()
        log_outcomes(ctx, outcomes)
        result = ApplyResult(outcomes, warnings)
        if options.verify:
            from entrepot.services import connections

            result.checks = connections.verify_changed(ctx, planned, outcomes, options.timeout)
        if options.run or options.rerun:
            from entrepot.services import workflows

            result.runs = workflows.run_applied(ctx, planned, outcomes, options)
        return result
    raise ConflictError(
        "gave up after repeated concurrent changes to the same resources",
        hint="apply again",
    )


def _authorize(
    ctx: RequestContext,
    p: PlannedResource,
    existing: ResourceRow | None,
    owner: str,
    action: str,
) -> None:
    """May the actor write this resource, owned by `owner`? And use what it references?"""
    target = Target(p.type, p.name, owner, p.layer, p.workspace or None)
    if existing is None:
        ctx.ensure(f"{p.type}:create", target, doing=_doing("create", p, owner, ctx))
    elif action == "unchanged":
        ctx.ensure(f"{p.type}:read", target_of(existing))
    else:
        ctx.ensure(f"{p.type}:update", target_of(existing))
        if owner != existing.owner:
            ctx.ensure(f"{p.type}:update", target, doing=_doing("give", p, owner, ctx))
    if p.type == "depot" and p.refs:
        stored = _stored(ctx, "instance-secret", [r.name for r in p.refs])
        for ref in p.refs:
            if ref.name in stored:  # one in this apply: the actor creates it, so may use it
                ctx.ensure(
                    "instance-secret:read",
                    target_of(stored[ref.name]),
                    doing=f"use instance secret '{ref.name}' in depot '{p.name}'",
                )
    if p.type == "workflow":
        stored_depots = _stored(ctx, "depot", [r.name for r in p.refs if r.type == "depot"])
        for depot in stored_depots.values():
            ctx.ensure("depot:read", target_of(depot))


def _doing(verb: str, p: PlannedResource, owner: str, ctx: RequestContext) -> str:
    whose = "" if owner == ctx.actor.name else f" owned by '{owner}'"
    if verb == "give":
        return f"give {p.type} '{p.name}' to '{owner}'"
    return f"create {p.type} '{p.name}'{whose}"


def _fingerprints(p: PlannedResource, key: bytes) -> dict[str, dict[str, str]]:
    from entrepot.secrets.payload import fingerprint

    out: dict[str, dict[str, str]] = {}
    for payload in p.secrets:
        binding = secret_binding(p.type, p.name, payload.slot)
        out[payload.slot] = {
            item: fingerprint(key, binding, item, value)
            for item, value in payload.fingerprint_items().items()
        }
    return out


def _write_items(
    ctx: RequestContext,
    planned: list[PlannedResource],
    options: ApplyOptions,
    warnings: list[Problem],
) -> tuple[list[WriteItem], list[Outcome], list[dict[str, Any]]]:
    from entrepot.resources.base import USER_ID
    from entrepot.secrets.payload import encode_files
    from entrepot.store import now
    from entrepot.store.store import WriteItem

    user = ctx.actor.name
    store = ctx.store
    # A dry run writes nothing: not even a first master key, fingerprint key or store file.
    readable = store.exists or not options.dry_run
    existing = store.existing([p.key for p in planned]) if readable else {}
    if options.mode != "apply":
        _check_mode(planned, existing, options.mode)
    fp_key = b""
    if any(p.secrets for p in planned):
        if not options.dry_run or (readable and store.has_fingerprint_key()):
            fp_key = store.fingerprint_key(ctx.keyring)
        else:  # nothing stored to compare with: every secret is new anyway
            fp_key = os.urandom(32)
    stamp = now()
    items: list[WriteItem] = []
    outcomes: list[Outcome] = []
    audit: list[dict[str, Any]] = []
    for p in planned:
        fingerprints = _fingerprints(p, fp_key)
        spec_hash = _hash({"version": p.version, "spec": p.spec, "secrets": fingerprints})
        ex = existing.get(p.key)
        owner = p.owner
        if owner is not None and not USER_ID.fullmatch(owner):
            warnings.append(
                Problem(
                    f"owner '{owner}' is not a valid user id; using '{user}'",
                    p.document.locate(("owner",)),
                    severity="warning",
                )
            )
            owner = user
        owner = owner or (ex.owner if ex else user)
        row: dict[str, Any] = {
            "type": p.type,
            "workspace": p.workspace,
            "name": p.name,
            "version": p.version,
            "owner": owner,
            "layer": p.layer,
            "tags": json.dumps(p.tags),
            "description": p.description,
            "manifest": json.dumps(p.manifest, default=str),
            "spec_hash": spec_hash,
            "status": "pending" if p.type == "depot" else "active",
            "status_message": "",
            "source_type": p.source_type,
            "source_path": p.document.source,
            "updated_at": stamp,
            "updated_by": user,
        }
        if ex is None:
            action = "created"
            row.update(generation=1, resource_version=1, created_at=stamp, created_by=user)
        else:
            same_manifest = ex.manifest == json.loads(row["manifest"])
            unchanged = ex.spec_hash == spec_hash and same_manifest and ex.owner == owner
            action = "unchanged" if unchanged else "updated"
            row.update(
                generation=ex.generation + (0 if ex.spec_hash == spec_hash else 1),
                resource_version=ex.resource_version + 1,
            )
            if ex.spec_hash == spec_hash:  # metadata only: the connection is the same
                row.update(status=ex.status, status_message=ex.status_message)
        _authorize(ctx, p, ex, owner, action)
        secrets: list[dict[str, Any]] | None = None
        if p.secrets and (ex is None or ex.fingerprints != fingerprints):
            secrets = [
                {
                    "slot": s.slot,
                    "acl": s.acl,
                    "secret_type": s.secret_type,
                    "binding": secret_binding(p.type, p.name, s.slot),
                    "payload": {"data": s.data, "files": encode_files(s.files)},
                    "keys": sorted([*s.data, *s.files]),
                    "fingerprints": fingerprints[s.slot],
                }
                for s in p.secrets
            ]
        elif not p.secrets and ex is not None and ex.fingerprints:
            secrets = []  # inline credentials removed from a v1 depot
        refs = [(r.type, r.name) for r in p.refs]
        items.append(WriteItem(ex, row, refs, secrets, action))
        outcome = Outcome(p.id, action, p.workspace, owner=owner)
        if action != "unchanged":
            if options.want_diff:
                outcome.diff = _manifest_diff(ex, p, fingerprints)
            audit.append(
                {
                    "at": stamp,
                    "actor": user,
                    "action": "create" if action == "created" else "update",
                    "resource_type": p.type,
                    "resource_name": p.name,
                    "purpose": "apply",
                    "detail": f"{p.id} generation {row['generation']}",
                }
            )
        outcomes.append(outcome)
    return items, outcomes, audit


def _check_mode(
    planned: list[PlannedResource],
    existing: dict[tuple[str, str, str], ResourceRow],
    mode: str,
) -> None:
    """`update` changes existing resources only, `create` makes new ones only: one error per
    resource that breaks the rule, before anything is written."""
    problems = []
    for p in planned:
        where = f" in workspace '{p.workspace}'" if p.workspace else ""
        path = "-" if p.document.source == "<stdin>" else p.document.source
        if mode == "update" and p.key not in existing:
            problems.append(
                Problem(
                    f"{p.type} '{p.name}'{where} does not exist: update changes existing "
                    "resources only",
                    p.document.locate(("name",)),
                    f"create it with: dataos-ctl apply -f {path}",
                )
            )
        elif mode == "create" and p.key in existing:
            problems.append(
                Problem(
                    f"{p.type} '{p.name}'{where} exists already: create makes new resources only",
                    p.document.locate(("name",)),
                    f"change it with: dataos-ctl apply -f {path}",
                )
            )
    if problems:
        error = NotFoundError if mode == "update" else RefusedError
        raise error(problems[0].message, problems=problems)


def log_outcomes(ctx: RequestContext, outcomes: list[Outcome]) -> None:
    from entrepot.logs import get_logger

    log = get_logger(ctx.settings)
    for outcome in outcomes:
        if outcome.action != "unchanged":
            log.info("user=%s %s %s", ctx.actor.name, outcome.action, outcome.id)


# --- delete ----------------------------------------------------------------------------------


def delete(
    ctx: RequestContext, targets: list[tuple[str, str, str]], *, force: bool = False
) -> list[Outcome]:
    """Delete resources by (type, workspace, name): each needs delete on it; refused while
    others depend on them (unless `force`); all in one transaction."""
    from entrepot.store import now

    store = ctx.store
    existing = store.existing(targets)
    for rtype, workspace, name in targets:
        if (rtype, workspace, name) not in existing:
            raise _not_found(ctx, rtype, name, workspace)
    ordered = [existing[t] for t in targets]
    for row in ordered:
        ctx.ensure(f"{row.type}:delete", target_of(row))
    stamp = now()
    audit = [
        {
            "at": stamp,
            "actor": ctx.actor.name,
            "action": "delete",
            "resource_type": e.type,
            "resource_name": e.name,
            "purpose": "delete --force" if force else "delete",
            "detail": f"{e.name}:{e.version}:{e.type}",
        }
        for e in ordered
    ]
    store.delete(ordered, audit, force=force)  # dependants checked in the same transaction
    ctx.fresh_reader()
    outcomes = [Outcome(f"{e.name}:{e.version}:{e.type}", "deleted", e.workspace) for e in ordered]
    log_outcomes(ctx, outcomes)
    return outcomes


def delete_files(
    ctx: RequestContext, options: ApplyOptions, *, force: bool = False
) -> list[Outcome]:
    """`delete -f`: the resources the manifests name (only type and name are read)."""
    from entrepot.manifest.loader import LoadOptions, load_paths

    docs = load_paths(
        options.paths, options.recursive, LoadOptions(interpolate=False, lenient=True)
    )
    targets: list[tuple[str, str, str]] = []
    for doc in docs:
        rtype = str(doc.data.get("type", "")).lower()
        rtype = {"secret": "instance-secret"}.get(rtype, rtype)  # stored as one
        name = doc.data.get("name")
        if not rtype or not isinstance(name, str):
            raise ManifestError(
                "a manifest to delete needs 'type' and 'name'", location=doc.locate(())
            )
        workspace = options.workspace if rtype == "workflow" else ""
        targets.append((rtype, workspace, name))
    # Dependants first, so deleting a depot and its secrets together works in any order.
    targets.sort(key=lambda t: t[0] == "instance-secret")
    return delete(ctx, targets, force=force)


# --- shared helpers --------------------------------------------------------------------------


def register_secret_values(data: dict[str, str], files: dict[str, bytes]) -> None:
    """Scrub these values from every later output of this request; the keys source types
    declare as naming or locating rather than authenticating (a user name, an account name, an
    endpoint suffix such as core.windows.net, which would hide every Azure host name) excepted."""
    from entrepot.resources.depot_types import is_public_secret_key

    redactor.register(*(v for k, v in data.items() if not is_public_secret_key(k)))
    redactor.register(*files.values())


def in_secret_section(path: tuple[str | int, ...]) -> bool:
    """Is this field inside an instance secret's section (`instance-secret:`, or `secret:` of a
    DataOS 2.0 `type: secret`) or a v1 depot's inline credentials? (Their values are
    encrypted; their acl and type only take a few fixed words.)"""
    if path[:1] in (("instance-secret",), ("secret",)):
        return True
    return len(path) > 2 and path[:2] in (
        ("depot", "connectionSecret"),
        ("depot", "connectionSecrets"),
    )


def secret_path(path: tuple[str | int, ...]) -> bool:
    """Is this field inside a secret section (instance-secret data, v1 inline credentials)
    and does it hold a credential (not a user name or an endpoint)?"""
    from entrepot.resources.depot_types import is_public_secret_key

    sections = {"data", "values", "files"}
    if is_public_secret_key(str(path[-1])):
        return False
    if path[:1] in (("instance-secret",), ("secret",)):
        return True
    return in_secret_section(path) and len(path) > 3 and path[3] in sections


def secret_binding(rtype: str, name: str, slot: str) -> str:
    return f"{rtype}/{name}/{slot}"


def _hash(value: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _manifest_diff(
    existing: ResourceRow | None,
    planned: PlannedResource,
    fingerprints: dict[str, dict[str, str]],
) -> str:
    """A unified diff of the sanitised manifests, plus which secret keys changed (never values)."""
    import difflib

    import yaml

    def dump(value: Any) -> list[str]:
        if value is None:
            return []
        text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False)
        return text.splitlines(keepends=True)

    old = dump(existing.manifest) if existing else []
    new = dump(json.loads(json.dumps(planned.manifest, default=str)))
    label = planned.id
    lines = list(difflib.unified_diff(old, new, f"stored/{label}", f"applied/{label}"))
    before = existing.fingerprints if existing else {}
    for slot in sorted(set(before) | set(fingerprints)):
        old_items, new_items = before.get(slot, {}), fingerprints.get(slot, {})
        where = f"{slot} " if slot else ""
        for item in sorted(set(old_items) | set(new_items)):
            if item not in old_items:
                change = "added"
            elif item not in new_items:
                change = "removed"
            elif old_items[item] != new_items[item]:
                change = "changed"
            else:
                continue
            lines.append(f"~ secret {where}{item}: {change} (value hidden)\n")
    return "".join(lines)
