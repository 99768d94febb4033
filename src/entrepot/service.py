"""The one API every front end calls (CLI, and later the REST server and the Python SDK).

A `Service` applies, lists, diffs and deletes resources, rotates the master key and resolves
secrets (audited). Front ends parse arguments and print; every rule and every store access is
here or below. Heavy modules (pydantic models, SQLAlchemy, cryptography) are imported inside the
methods that need them, so `get` stays fast.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from entrepot.config import Settings, ensure_private_dir, load_settings
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

if TYPE_CHECKING:
    from entrepot.connectors.base import CheckResult, ResolvedConnection
    from entrepot.manifest.loader import Document
    from entrepot.resources.compile import PlannedResource
    from entrepot.scanner.runner import RunRecord
    from entrepot.secrets.crypto import Keyring, MasterKey
    from entrepot.store import reader as reader_module
    from entrepot.store.reader import ResourceRow
    from entrepot.store.store import Store, WriteItem

MAX_APPLY_ATTEMPTS = 8
# How long a key rotation or an apply waits for a rotation running in another process.
KEY_LOCK_WAIT = 60.0


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


@dataclass
class Outcome:
    id: str
    action: str  # created | updated | unchanged | valid | deleted
    workspace: str = ""
    diff: str = ""


@dataclass
class ApplyResult:
    outcomes: list[Outcome]
    warnings: list[Problem]
    checks: list[CheckResult] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(o.action in ("created", "updated") for o in self.outcomes)


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


class Service:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._store: Store | None = None
        self._keyring: Keyring | None = None

    @property
    def user(self) -> str:
        return self.settings.user

    @property
    def store(self) -> Store:
        if self._store is None:
            from entrepot.store.store import Store

            self._store = Store(self.settings)
        return self._store

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            from entrepot.secrets.crypto import Keyring

            if not os.environ.get("ENTREPOT_MASTER_KEY"):
                ensure_private_dir(self.settings.home)
            self._keyring = Keyring.load(self.settings.home)
        return self._keyring

    @contextlib.contextmanager
    def _master_key_lock(self, *, exclusive: bool, wait: float = KEY_LOCK_WAIT) -> Iterator[None]:
        """Hold the master key file still: exclusively to rotate it, shared to wrap new data
        keys under it. The keyring is (re)loaded under the lock, so an apply never wraps a data
        key under a master key that a rotation has just retired.

        A key given in ENTREPOT_MASTER_KEY is the operator's to switch: no file, no lock.
        """
        from entrepot.secrets import crypto

        if os.environ.get("ENTREPOT_MASTER_KEY"):
            yield
            return
        ensure_private_dir(self.settings.home)
        with crypto.master_key_lock(self.settings.home, exclusive=exclusive, wait=wait):
            self._keyring = None
            try:
                yield
            finally:
                self._keyring = None  # later readers reload: the key may change after this

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # --- reading ----------------------------------------------------------------------------

    def list_resources(
        self,
        *,
        rtype: str | None = None,
        name: str | None = None,
        owner: str | None = None,
        all_owners: bool = False,
        workspace: str | None = None,
        details: bool = False,
    ) -> list[ResourceRow]:
        """`get`: your own resources unless `all_owners`; `owner` picks someone else's."""
        from entrepot.store import reader

        if owner is None and not all_owners:
            owner = self.user
        conn = reader.open_reader(self.settings)
        try:
            rows = reader.list_resources(
                conn, rtype=rtype, name=name, owner=owner, workspace=workspace
            )
            if details and rows:
                reader.add_details(conn, rows)
        finally:
            conn.close()
        return rows

    # --- apply ------------------------------------------------------------------------------

    def load(self, options: ApplyOptions) -> list[Document]:
        from entrepot.manifest.loader import LoadOptions, load_paths

        values = {"owner": self.user, **options.values}
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
            redactor.register(*(i.value for i in doc.interpolated if _secret_path(i.path)))
        return docs

    @staticmethod
    def _warn_interpolated_in_clear(docs: list[Document], problems: Problems) -> None:
        """Say which variables went into fields stored and shown in clear (not secret values)."""
        from entrepot.manifest.loader import Interpolated

        by_field: dict[tuple[int, tuple[str | int, ...]], list[Interpolated]] = {}
        for number, doc in enumerate(docs):
            for item in doc.interpolated:
                if not _in_secret_section(item.path):
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

    def plan(self, options: ApplyOptions) -> tuple[list[PlannedResource], list[Problem]]:
        """Load, validate and check every document; raise ManifestError listing all problems."""
        from entrepot.resources.compile import compile_document

        docs = self.load(options)
        problems = Problems()
        self._warn_interpolated_in_clear(docs, problems)
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
                _register_secret_values(payload.data, payload.files)
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
            self._check_references(planned, problems)
        problems.raise_if_errors()
        return planned, problems.warnings

    def _stored_secrets(self) -> dict[str, tuple[str, str]]:
        """name -> (acl, secret type) of every stored instance secret."""
        if not self.store.exists:
            return {}
        return {
            name: (str(body.get("acl", "")), str(body.get("type", "")))
            for name, body in self.store.sections_of("instance-secret").items()
        }

    def _check_workflow_depots(self, planned: list[PlannedResource], problems: Problems) -> None:
        """A scanner's `stackSpec.depot` must name a depot (stored, or in this apply)."""
        workflows = [p for p in planned if p.type == "workflow" and p.refs]
        if not workflows:
            return
        names = set(self.store.sections_of("depot")) if self.store.exists else set()
        names |= {p.name for p in planned if p.type == "depot"}
        for workflow in workflows:
            for ref in workflow.refs:
                if ref.type != "depot" or ref.name in names:
                    continue
                close = difflib.get_close_matches(ref.name, sorted(names), n=1)
                problems.error(
                    f"depot '{ref.name}' does not exist"
                    + (f", did you mean '{close[0]}'?" if close else ""),
                    workflow.document.locate(ref.path),
                    "stackSpec.depot takes dataos://<depot> or a depot's name; list them with: "
                    "entrepot get -t depot -a",
                )

    def _check_references(self, planned: list[PlannedResource], problems: Problems) -> None:
        from entrepot.resources.depot_types import DEPOT_TYPES

        self._check_workflow_depots(planned, problems)
        depots = [p for p in planned if p.type == "depot"]
        if not depots:
            return
        secrets = self._stored_secrets()
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
            for ref in depot.refs:
                where = depot.document.locate(ref.path)
                if ref.name not in secrets:
                    missing_reference = True
                    close = difflib.get_close_matches(ref.name, sorted(secrets), n=1)
                    problems.error(
                        f"instance secret '{ref.name}' does not exist"
                        + (f", did you mean '{close[0]}'?" if close else ""),
                        where,
                        "apply the instance secret first, or in the same apply",
                    )
                    continue
                acl, secret_type = secrets[ref.name]
                found_acls.append(acl)
                expected = f"{depot.name}-{acl}"
                # A CA certificate is no credential: the naming convention is for credentials.
                if ref.name != expected and not secret_type.startswith("certificate"):
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
                problems.error(
                    "invalid depot, missing a secret reference with acl: r",
                    depot.document.locate(("depot", "secrets")),
                    "reference an instance secret with 'acl: r' (by convention "
                    f"'{depot.name}-r') in depot.secrets; an rw secret alone is not enough",
                )

    def apply(self, options: ApplyOptions) -> ApplyResult:
        planned, warnings = self.plan(options)
        if options.lint:
            outcomes = [Outcome(p.id, "valid", p.workspace) for p in planned]
            return ApplyResult(outcomes, warnings)
        # A dry run on a fresh home creates nothing, not even the lock file.
        lock = not options.dry_run or self.settings.home.exists()
        for _attempt in range(MAX_APPLY_ATTEMPTS):
            with self._master_key_lock(exclusive=False) if lock else contextlib.nullcontext():
                items, outcomes, audit = self._write_items(planned, options, warnings)
                if options.dry_run:
                    return ApplyResult(outcomes, warnings)
                todo = [item for item in items if item.action != "unchanged"]
                try:
                    if todo:
                        self.store.write(todo, self.keyring, self.user, audit)
                except ConflictError:
                    continue  # someone else wrote in between: re-read and re-plan
            self._log_outcomes(outcomes)
            result = ApplyResult(outcomes, warnings)
            if options.verify:
                result.checks = self._verify_changed(planned, outcomes, options.timeout)
            if options.run or options.rerun:
                result.runs = self._run_applied(planned, outcomes, options)
            return result
        raise ConflictError(
            "gave up after repeated concurrent changes to the same resources",
            hint="apply again",
        )

    def _fingerprints(self, planned: PlannedResource, key: bytes) -> dict[str, dict[str, str]]:
        from entrepot.secrets.crypto import fingerprint

        out: dict[str, dict[str, str]] = {}
        for payload in planned.secrets:
            binding = _binding(planned.type, planned.name, payload.slot)
            out[payload.slot] = {
                item: fingerprint(key, binding, item, value)
                for item, value in payload.fingerprint_items().items()
            }
        return out

    def _write_items(
        self, planned: list[PlannedResource], options: ApplyOptions, warnings: list[Problem]
    ) -> tuple[list[WriteItem], list[Outcome], list[dict[str, Any]]]:
        from entrepot.resources.base import USER_ID
        from entrepot.secrets.crypto import encode_files
        from entrepot.store import now
        from entrepot.store.store import WriteItem

        store = self.store
        # A dry run writes nothing: not even a first master key, fingerprint key or store file.
        readable = store.exists or not options.dry_run
        existing = store.existing([p.key for p in planned]) if readable else {}
        fp_key = b""
        if any(p.secrets for p in planned):
            if not options.dry_run or (readable and store.has_fingerprint_key()):
                fp_key = store.fingerprint_key(self.keyring)
            else:  # nothing stored to compare with: every secret is new anyway
                fp_key = os.urandom(32)
        stamp = now()
        items: list[WriteItem] = []
        outcomes: list[Outcome] = []
        audit: list[dict[str, Any]] = []
        for p in planned:
            fingerprints = self._fingerprints(p, fp_key)
            spec_hash = _hash({"version": p.version, "spec": p.spec, "secrets": fingerprints})
            ex = existing.get(p.key)
            owner = p.owner
            if owner is not None and not USER_ID.fullmatch(owner):
                warnings.append(
                    Problem(
                        f"owner '{owner}' is not a valid user id; using '{self.user}'",
                        p.document.locate(("owner",)),
                        severity="warning",
                    )
                )
                owner = self.user
            owner = owner or (ex.owner if ex else self.user)
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
                "updated_by": self.user,
            }
            if ex is None:
                action = "created"
                row.update(generation=1, resource_version=1, created_at=stamp, created_by=self.user)
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
            secrets: list[dict[str, Any]] | None = None
            if p.secrets and (ex is None or ex.fingerprints != fingerprints):
                secrets = [
                    {
                        "slot": s.slot,
                        "acl": s.acl,
                        "secret_type": s.secret_type,
                        "binding": _binding(p.type, p.name, s.slot),
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
            outcome = Outcome(p.id, action, p.workspace)
            if action != "unchanged":
                if options.want_diff:
                    outcome.diff = _manifest_diff(ex, p, fingerprints)
                audit.append(
                    {
                        "at": stamp,
                        "actor": self.user,
                        "action": "create" if action == "created" else "update",
                        "resource_type": p.type,
                        "resource_name": p.name,
                        "purpose": "apply",
                        "detail": f"{p.id} generation {row['generation']}",
                    }
                )
            outcomes.append(outcome)
        return items, outcomes, audit

    def _log_outcomes(self, outcomes: list[Outcome]) -> None:
        from entrepot.logs import get_logger

        log = get_logger(self.settings)
        for outcome in outcomes:
            if outcome.action != "unchanged":
                log.info("user=%s %s %s", self.user, outcome.action, outcome.id)

    # --- workflows --------------------------------------------------------------------------

    def _run_applied(
        self, planned: list[PlannedResource], outcomes: list[Outcome], options: ApplyOptions
    ) -> list[RunRecord]:
        """Run workflows this apply created or changed (all of them with -r), in local mode.
        Scheduled workflows wait for their schedule (a server) unless -r asks for a run now."""
        runs = []
        for item, outcome in zip(planned, outcomes, strict=True):
            if item.type != "workflow":
                continue
            changed = outcome.action in ("created", "updated")
            scheduled = bool(item.manifest.get("workflow", {}).get("schedule"))
            if options.rerun or (changed and not scheduled):
                runs.append(
                    self.run_workflow(
                        item.name,
                        item.workspace,
                        force_deletes=options.force_deletes,
                        progress=options.progress,
                    )
                )
        return runs

    def run_workflow(
        self,
        name: str,
        workspace: str = "public",
        *,
        force_deletes: bool = False,
        progress: Any = None,
    ) -> RunRecord:
        from entrepot.scanner.runner import WorkflowRunner

        rows = [
            row
            for row in self.list_resources(
                rtype="workflow", name=name, all_owners=True, details=True
            )
            if row.workspace == workspace
        ]
        if not rows:
            raise NotFoundError(
                f"workflow '{name}' not found in workspace '{workspace}'",
                hint="list them with: entrepot get -t workflow -a -w " + workspace,
            )
        runner = WorkflowRunner(self, force_deletes=force_deletes, progress=progress)
        record = runner.run(rows[0])
        self._log_outcomes([Outcome(f"{name}:v1:workflow run {record.id}", record.status)])
        return record

    def workflow_runs(
        self, name: str, workspace: str = "public", limit: int = 20
    ) -> list[reader_module.RunRow]:
        """Runs of a workflow, newest first, with their nodes and logs."""
        from entrepot.store import reader

        conn = reader.open_reader(self.settings)
        try:
            return reader.workflow_runs(conn, name, workspace, limit)
        finally:
            conn.close()

    # --- the catalog (Metis) ------------------------------------------------------------------

    def catalog(self, what: str, *args: Any, **kwargs: Any) -> Any:
        """Read the catalog: `what` is sources, collections, datasets, dataset, history or
        search (the functions of entrepot.catalog.read, on a fresh read connection)."""
        from entrepot.catalog import read
        from entrepot.store import reader

        function = getattr(read, what)
        conn = reader.open_reader(self.settings)
        try:
            return function(conn, *args, **kwargs)
        finally:
            conn.close()

    # --- connection checks --------------------------------------------------------------------

    def _verify_changed(
        self, planned: list[PlannedResource], outcomes: list[Outcome], timeout: float
    ) -> list[CheckResult]:
        """After an apply: check depots created or changed, and those whose secrets changed."""
        from entrepot.store import reader

        changed = {
            (p.type, p.name)
            for p, o in zip(planned, outcomes, strict=True)
            if o.action in ("created", "updated")
        }
        depots = {name for rtype, name in changed if rtype == "depot"}
        secrets = [name for rtype, name in changed if rtype == "instance-secret"]
        if secrets:
            conn = reader.open_reader(self.settings)
            try:
                for name in secrets:
                    for dependent in reader.dependents_of(conn, "instance-secret", name):
                        rtype, _, dname = dependent.split(":", 2)
                        if rtype == "depot":
                            depots.add(dname)
            finally:
                conn.close()
        if not depots:
            return []
        return self.check_depots(sorted(depots), timeout=timeout, purpose="verify after apply")

    def check_depots(
        self,
        names: list[str] | None = None,
        *,
        acl: str = "r",
        timeout: float = 10.0,
        purpose: str = "check",
    ) -> list[CheckResult]:
        """Check depots' connections concurrently, each within `timeout`; store the results.

        `names=None` checks every depot. Credentials are decrypted (and audited) here, in
        memory, for the acl asked for only.
        """
        from concurrent.futures import ThreadPoolExecutor

        from entrepot.connectors import capabilities, get_connector
        from entrepot.connectors.base import run_check, unsupported
        from entrepot.store import now

        rows = self.list_resources(rtype="depot", all_owners=True, details=True)
        if names is not None:
            by_name = {row.name: row for row in rows}
            missing = [n for n in names if n not in by_name]
            if missing:
                close = difflib.get_close_matches(missing[0], sorted(by_name), n=1)
                raise NotFoundError(
                    f"depot '{missing[0]}' not found"
                    + (f", did you mean '{close[0]}'?" if close else ""),
                    hint="list them with: entrepot get -t depot -a",
                )
            rows = [by_name[n] for n in names]
        # Decrypt in this thread (the store is here); connect concurrently, each on a deadline.
        results: list[CheckResult] = []
        runs: list[tuple[int, Any, ResolvedConnection]] = []
        for row in rows:
            connector = get_connector(row.source_type or "")
            if connector is None or not capabilities(row.source_type or "").check:
                results.append(unsupported(row.name, row.source_type or "?", acl))
                continue
            try:
                conn = self.resolve_connection(row, acl, f"{purpose} of depot {row.name}")
            except MissingCredentialError as exc:
                results.append(_credential_failure(row, acl, str(exc)))
                continue
            runs.append((len(results), connector, conn))
            results.append(None)  # type: ignore[arg-type]  # filled below
        if runs:
            with ThreadPoolExecutor(max_workers=min(32, len(runs))) as pool:
                futures = [
                    (index, pool.submit(run_check, connector, conn, timeout))
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
        self.store.save_checks(saved)
        return results

    def depot(self, name: str) -> ResourceRow:
        """One depot's row (manifest and connection details), or NotFound naming the nearest."""
        rows = self.list_resources(rtype="depot", all_owners=True, details=True)
        by_name = {row.name: row for row in rows}
        if name in by_name:
            return by_name[name]
        close = difflib.get_close_matches(name, sorted(by_name), n=1)
        raise NotFoundError(
            f"depot '{name}' not found" + (f", did you mean '{close[0]}'?" if close else ""),
            hint="list them with: entrepot get -t depot -a",
        )

    def resolve_connection(self, row: ResourceRow, acl: str, purpose: str) -> ResolvedConnection:
        """A depot's connection with the credentials for `acl`, decrypted in memory (audited).

        Reading uses the depot's `r` secrets only; writing its `rw` secrets (and, for TLS, any
        `certificates` secret). v1 inline `connectionSecret` entries count the same way.
        """
        from entrepot.connectors.base import ResolvedConnection
        from entrepot.resources.depot_types import connection_config
        from entrepot.store import reader

        manifest = row.manifest or {}
        depot_type, config = connection_config(manifest)
        conn = ResolvedConnection(row.name, depot_type.name, acl, config)
        refs = [str(ref["name"]) for ref in manifest["depot"].get("secrets") or []]
        inline = manifest["depot"].get("connectionSecret") or manifest["depot"].get(
            "connectionSecrets"
        )
        store = reader.open_reader(self.settings)
        try:
            stored = reader.instance_secrets(store, refs)
            for name in refs:
                if name not in stored:
                    raise MissingCredentialError(
                        f"instance secret '{name}' referenced by depot '{row.name}' does not exist"
                    )
                secret_id, secret_manifest = stored[name]
                body = secret_manifest.get("instance-secret", {})
                secret_acl = str(body.get("acl"))
                is_certificate = str(body.get("type", "")).startswith("certificate")
                if secret_acl != acl and not (acl == "rw" and is_certificate):
                    continue
                conn.secret_names.append(name)
                data, files, _ = self._decrypt(
                    store, secret_id, "instance-secret", name, "", purpose
                )
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
                data, files, _ = self._decrypt(store, row.id, "depot", row.name, slot, purpose)
                conn.secret_names.append(f"{row.name} {slot}")
                for key, value in data.items():
                    conn.data.setdefault(key, value)
                    conn.key_sources.setdefault(key, f"{row.name} (inline {slot})")
                for key, content in files.items():
                    conn.files.setdefault(key, content)
        finally:
            store.close()
        return conn

    # --- delete -----------------------------------------------------------------------------

    def delete(
        self,
        targets: list[tuple[str, str, str]],
        *,
        force: bool = False,
    ) -> list[Outcome]:
        """Delete resources by (type, workspace, name); refuse while others depend on them."""
        from entrepot.store import now, reader

        existing = self.store.existing(targets)
        missing = [t for t in targets if t not in existing]
        if missing:
            rtype, _, name = missing[0]
            names = sorted(self.store.sections_of(rtype))
            close = difflib.get_close_matches(name, names, n=1)
            raise NotFoundError(
                f"{rtype} '{name}' not found" + (f", did you mean '{close[0]}'?" if close else ""),
                hint=f"list them with: entrepot get -t {rtype} -a",
            )
        doomed = {(t, n) for t, _, n in targets}
        conn = reader.open_reader(self.settings)
        try:
            if not force:
                for rtype, _, name in targets:
                    users = [
                        d
                        for d in reader.dependents_of(conn, rtype, name)
                        if (d.split(":")[0], d.split(":")[2]) not in doomed
                    ]
                    if users:
                        raise RefusedError(
                            "cannot delete resource, it is a dependency of "
                            + ", ".join(f"'{u}'" for u in users),
                            hint="delete the dependants first, or pass --force",
                        )
        finally:
            conn.close()
        stamp = now()
        ordered = [existing[t] for t in targets]
        audit = [
            {
                "at": stamp,
                "actor": self.user,
                "action": "delete",
                "resource_type": e.type,
                "resource_name": e.name,
                "purpose": "delete --force" if force else "delete",
                "detail": f"{e.name}:{e.version}:{e.type}",
            }
            for e in ordered
        ]
        self.store.delete(ordered, audit)
        outcomes = [
            Outcome(f"{e.name}:{e.version}:{e.type}", "deleted", e.workspace) for e in ordered
        ]
        self._log_outcomes(outcomes)
        return outcomes

    def delete_files(self, options: ApplyOptions, *, force: bool = False) -> list[Outcome]:
        """`delete -f`: the resources the manifests name (only type and name are read)."""
        from entrepot.manifest.loader import LoadOptions, load_paths

        docs = load_paths(
            options.paths, options.recursive, LoadOptions(interpolate=False, lenient=True)
        )
        targets: list[tuple[str, str, str]] = []
        for doc in docs:
            rtype = str(doc.data.get("type", "")).lower()
            name = doc.data.get("name")
            if not rtype or not isinstance(name, str):
                raise ManifestError(
                    "a manifest to delete needs 'type' and 'name'", location=doc.locate(())
                )
            workspace = options.workspace if rtype == "workflow" else ""
            targets.append((rtype, workspace, name))
        # Dependants first, so deleting a depot and its secrets together works in any order.
        targets.sort(key=lambda t: t[0] == "instance-secret")
        return self.delete(targets, force=force)

    # --- secrets ----------------------------------------------------------------------------

    def resolve_secret(self, name: str, purpose: str, *, acl: str | None = None) -> ResolvedSecret:
        """Decrypt an instance secret for a consumer. Every call is written to the audit trail."""
        from entrepot.store import reader

        store = reader.open_reader(self.settings)
        try:
            found = reader.instance_secrets(store, [name]).get(name)
            if found is None:
                raise NotFoundError(f"instance secret '{name}' not found")
            secret_id, manifest = found
            stored_acl = str(manifest.get("instance-secret", {}).get("acl", ""))
            if acl is not None and stored_acl != acl:
                raise RefusedError(
                    f"instance secret '{name}' has acl '{stored_acl}', not '{acl}'",
                    hint="reads use the depot's r secret; writes its rw secret",
                )
            data, files, secret_type = self._decrypt(
                store, secret_id, "instance-secret", name, "", purpose
            )
        finally:
            store.close()
        return ResolvedSecret(name, stored_acl, secret_type, data, files)

    def _decrypt(
        self,
        store: reader_module.Reader,
        resource_id: int,
        rtype: str,
        name: str,
        slot: str,
        purpose: str,
    ) -> tuple[dict[str, str], dict[str, bytes], str | None]:
        """Open one slot of secret material, register its values for redaction, audit it."""
        from entrepot.errors import StoreError
        from entrepot.secrets import crypto
        from entrepot.store import now, reader

        binding = _binding(rtype, name, slot)
        material = reader.secret_material(store, resource_id, slot)
        if material is None:
            raise StoreError(f"no secret material for '{binding}'")
        if material["master_key_id"] not in self.keyring.keys:
            self._keyring = None  # a rotation finished since the keyring was loaded: reload
        # The data key is bound to the binding it was created for: a row moved elsewhere fails.
        dek = crypto.unwrap_key(
            self.keyring.get(material["master_key_id"]), bytes(material["wrapped"]), binding
        )
        payload = crypto.decrypt_payload(dek, bytes(material["ciphertext"]), binding)
        secret_type = material["secret_type"]
        data = {k: str(v) for k, v in payload.get("data", {}).items()}
        files = crypto.decode_files(payload.get("files", {}))
        _register_secret_values(data, files)
        keys = ", ".join(sorted([*data, *files]))
        reader.record_audit(
            store,
            [
                {
                    "at": now(),
                    "actor": self.user,
                    "action": "decrypt",
                    "resource_type": rtype,
                    "resource_name": name,
                    "purpose": purpose,
                    "detail": f"{slot} keys: {keys}" if slot else f"keys: {keys}",
                }
            ],
        )
        return data, files, secret_type

    def rotate_master_key(self, wait: float = KEY_LOCK_WAIT) -> tuple[int, str]:
        """Re-wrap every data key under a new master key. Returns (count, new key id).

        With the key in `master.key`, one rotation runs at a time (a lock file); another waits
        up to `wait` seconds for it, then is refused (RefusedError, exit 5).
        """
        from entrepot.errors import StoreError
        from entrepot.secrets import crypto

        if not os.environ.get("ENTREPOT_MASTER_KEY"):
            with self._master_key_lock(exclusive=True, wait=wait):
                # Under the lock: the keyring and any `master.key.next` are the current ones.
                new_key = crypto.begin_rotation(self.settings.home)
                count = self._rewrap(new_key)
                crypto.finish_rotation(self.settings.home)
            return count, new_key.id
        raw = os.environ.get("ENTREPOT_NEW_MASTER_KEY")
        if not raw:
            raise StoreError(
                "the master key comes from ENTREPOT_MASTER_KEY, so the new one must too",
                hint="set ENTREPOT_NEW_MASTER_KEY to a new key, rotate, then make it "
                "ENTREPOT_MASTER_KEY",
            )
        new_key = crypto.MasterKey.parse(raw, "ENTREPOT_NEW_MASTER_KEY")
        count = self._rewrap(new_key)
        self._keyring = None
        return count, new_key.id

    def _rewrap(self, new_key: MasterKey) -> int:
        from entrepot.store import now

        keyring = self.keyring
        keyring.keys[new_key.id] = new_key
        audit = {
            "at": now(),
            "actor": self.user,
            "action": "rotate-key",
            "resource_type": None,
            "resource_name": None,
            "purpose": f"master key {keyring.current.id} -> {new_key.id}",
        }
        return self.store.rotate(keyring, new_key, audit)

    def audit_events(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.store.audit_events(limit)


def _register_secret_values(data: dict[str, str], files: dict[str, bytes]) -> None:
    """Scrub these values from every later output of this process (identities excepted)."""
    from entrepot.secrets.redact import IDENTIFIER_KEYS

    redactor.register(*(v for k, v in data.items() if k.lower() not in IDENTIFIER_KEYS))
    redactor.register(*files.values())


class MissingCredentialError(Exception):
    """A depot's credentials cannot be assembled (a referenced secret is gone)."""


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


def _in_secret_section(path: tuple[str | int, ...]) -> bool:
    """Is this field inside an instance secret's section or a v1 depot's inline credentials?
    (Their values are encrypted; their acl and type only take a few fixed words.)"""
    if path[:1] == ("instance-secret",):
        return True
    return len(path) > 2 and path[:2] in (
        ("depot", "connectionSecret"),
        ("depot", "connectionSecrets"),
    )


def _secret_path(path: tuple[str | int, ...]) -> bool:
    """Is this field inside a secret section (instance-secret data, v1 inline credentials)?"""
    from entrepot.secrets.redact import IDENTIFIER_KEYS

    sections = {"data", "values", "files"}
    if str(path[-1]).lower() in IDENTIFIER_KEYS:
        return False
    if path[:1] == ("instance-secret",):
        return True
    return _in_secret_section(path) and len(path) > 3 and path[3] in sections


def _binding(rtype: str, name: str, slot: str) -> str:
    return f"{rtype}/{name}/{slot}"


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _manifest_diff(
    existing: ResourceRow | None,
    planned: PlannedResource,
    fingerprints: dict[str, dict[str, str]],
) -> str:
    """A unified diff of the sanitised manifests, plus which secret keys changed (never values)."""
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
