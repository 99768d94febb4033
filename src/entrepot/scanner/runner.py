"""Run a workflow: its jobs in dependency order, each recorded as a node of the run."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, update

from entrepot.catalog.merge import MergeOptions, merge_scan, merge_unchanged, stored_signature
from entrepot.catalog.model import Pattern, ScanFilters
from entrepot.connectors.base import ScanFailed
from entrepot.errors import EntrepotError
from entrepot.resources.compile import depot_name
from entrepot.resources.shapes import depot_section
from entrepot.resources.workflow import ScannerStackSpec, WorkflowSpec
from entrepot.store import now
from entrepot.store.tables import workflow_run

if TYPE_CHECKING:
    from entrepot.services.connections import DepotAccess
    from entrepot.store.reader import ResourceRow
    from entrepot.store.store import Store

Progress = Callable[[str, int, int], None]  # (what, steps done, steps in all)
SCANNER_STEPS = ("resolve", "extract", "commit")


@dataclass
class RunRecord:
    id: int
    workflow: str
    workspace: str
    status: str
    started_at: str
    finished_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    nodes: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "workspace": self.workspace,
            "status": self.status,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "counts": self.counts,
            "error": self.error,
            "nodes": self.nodes,
        }


def _options_marker(options: MergeOptions) -> str:
    """The deletion options are part of what a skipped (unchanged) scan must not change."""
    return f"/{int(options.mark_deleted)}{int(options.from_filter_only)}{options.threshold:g}"


def _since(stored: str | None, options: MergeOptions) -> str | None:
    """The source's own signature of the last full scan, if it ran with these options."""
    marker = _options_marker(options)
    if stored is None or not stored.endswith(marker):
        return None
    return stored[: -len(marker)]


def _redact(text: str) -> str:
    from entrepot.secrets.redact import redactor

    return redactor.redact(text)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a scanner job. Building and merging 10,000 datasets
    allocates millions of dicts, lists and tuples and no cycles, yet each allocation burst
    makes the collector walk the growing heap again (a quarter of the job's Python time at
    10,000 tables). Whatever cycles the job leaves are collected once it is re-enabled."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def job_order(spec: WorkflowSpec) -> list[Any]:
    """Jobs sorted so each comes after its dependencies (the DAG is validated acyclic)."""
    done: set[str] = set()
    ordered = []
    pending = list(spec.dag)
    while pending:
        ready = [job for job in pending if set(job.dependencies) <= done]
        for job in ready:
            ordered.append(job)
            done.add(job.name)
        pending = [job for job in pending if job.name not in done]
    return ordered


class WorkflowRunner:
    def __init__(
        self,
        access: DepotAccess,
        store: Store,
        *,
        force_deletes: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.access = access  # the depots, their credentials (authorized, audited)
        self.store = store  # the catalog and the run records are written here
        self.force_deletes = force_deletes
        self.progress = progress or (lambda what, done, total: None)

    def run(self, row: ResourceRow) -> RunRecord:
        spec = WorkflowSpec.model_validate((row.manifest or {})["workflow"])
        store = self.store
        started = now()
        with store.transaction() as conn:
            result = conn.execute(
                insert(workflow_run).values(
                    workspace=row.workspace,
                    workflow=row.name,
                    generation=row.generation,
                    status="running",
                    started_at=started,
                    counts="{}",
                    nodes="[]",
                    log="",
                )
            )
            run_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        record = RunRecord(run_id, row.name, row.workspace, "running", started)
        jobs = job_order(spec)
        total = len(jobs) * len(SCANNER_STEPS)
        failed: set[str] = set()
        for index, job in enumerate(jobs):
            node: dict[str, Any] = {
                "name": f"{job.name}-execute",
                "job": job.name,
                "stack": job.spec.stack,
                "status": "pending",
            }
            record.nodes.append(node)
            if failed & set(job.dependencies):
                node["status"] = "skipped"
                node["error"] = "a job it depends on failed"
                self._log(record, f"{job.name}: skipped, a dependency failed")
                failed.add(job.name)
                continue
            node["startedAt"] = now()
            node["status"] = "running"
            self._save(record)  # `get runtime -r` in another process follows the nodes
            base = index * len(SCANNER_STEPS)
            try:
                if not job.spec.stack.startswith("scanner:"):
                    raise EntrepotError(
                        f"stack '{job.spec.stack}' cannot run in local mode yet",
                        hint="local mode runs scanner stacks",
                    )
                with _collector_paused():
                    counts = self._scanner_job(record, job, node, base, total)
                node["status"] = "succeeded"
                node["counts"] = counts
                for key, value in counts.items():
                    record.counts[key] = record.counts.get(key, 0) + value
            except Exception as exc:  # the run is recorded as failed, whatever went wrong
                if isinstance(exc, ScanFailed):
                    message = exc.reason + (f" (hint: {exc.hint})" if exc.hint else "")
                elif isinstance(exc, EntrepotError):
                    message = exc.render()
                else:
                    message = f"{type(exc).__name__}: {exc}"
                node["status"] = "failed"
                node["error"] = _redact(message)
                failed.add(job.name)
                self._log(record, f"{job.name}: failed: {node['error']}")
            node["finishedAt"] = now()
            self._save(record)
        record.status = "failed" if failed else "succeeded"
        if failed:
            record.error = "; ".join(
                f"{n['job']}: {n['error']}" for n in record.nodes if n["status"] == "failed"
            )
        record.finished_at = now()
        self.progress("done", total, total)
        self._save(record)
        return record

    def _log(self, record: RunRecord, line: str) -> None:
        record.log.append(f"{now()} {_redact(line)}")

    def _scanner_job(
        self, record: RunRecord, job: Any, node: dict[str, Any], base: int, total: int
    ) -> dict[str, int]:
        stack = ScannerStackSpec.model_validate(job.spec.stackSpec)
        config = stack.sourceConfig.config if stack.sourceConfig else None
        name = depot_name(stack.depot)
        node["depot"] = name  # `log -t depot` finds the nodes that scanned a depot
        self.progress(f"{job.name}: resolving depot {name}", base, total)
        depot = self.access.depot(name)  # deleted since the apply: NotFound; not ours: Forbidden
        from entrepot.connectors import capabilities, get_connector, types_with

        connector = get_connector(depot.source_type or "")
        declared = capabilities(depot.source_type or "")
        if connector is None or not declared.scan:
            raise ScanFailed(
                declared.why_not("scan"), f"scanners today: {', '.join(types_with('scan'))}"
            )
        conn = self.access.connection(depot, "r", f"scan by workflow {record.workflow}")
        filters = ScanFilters(
            databases=Pattern.of(config.databaseFilterPattern if config else None),
            schemas=Pattern.of(config.schemaFilterPattern if config else None),
            tables=Pattern.of(config.tableFilterPattern if config else None),
            include_views=bool(config and config.includeViews),
        )
        source = str(depot_section(depot.manifest or {}).get("source") or depot.name)
        options = MergeOptions(
            mark_deleted=bool(config and config.markDeletedTables),
            from_filter_only=bool(config and config.markDeletedTablesfromFilterOnly),
            filters=filters,
            threshold=config.markDeletedThreshold if config else 0.5,
            force=self.force_deletes,
        )
        with self.store.engine.connect() as db:
            since = stored_signature(db, source) if self.store.exists else None
        self.progress(f"{job.name}: extracting metadata from {name}", base + 1, total)
        started = time.perf_counter()
        timeout = config.statementTimeout if config else 300.0
        scan = connector.scan(conn, filters, timeout, since=_since(since, options))
        took = time.perf_counter() - started
        if scan.unchanged:
            self._log(
                record,
                f"{job.name}: the catalog of depot {name} is unchanged since the last full "
                f"scan (signature {str(scan.signature)[:12]}, {took:.2f} s)",
            )
        else:
            self._log(
                record,
                f"{job.name}: extracted {len(scan.datasets)} datasets in "
                f"{len(scan.collections)} collections from depot {name} in {took:.2f} s "
                f"({scan.queries} queries)",
            )
        for collection, why in scan.skipped:
            warning = f"{job.name}: skipped {collection}: {why}"
            record.warnings.append(warning)
            self._log(record, warning)
        for warning in scan.warnings:
            record.warnings.append(f"{job.name}: {warning}")
            self._log(record, f"{job.name}: {warning}")
        self.progress(f"{job.name}: committing {len(scan.datasets)} datasets", base + 2, total)
        if scan.signature:
            scan.signature += _options_marker(options)
        with self.store.transaction() as db:
            if scan.unchanged:
                merged = merge_unchanged(
                    db,
                    source=source,
                    depot=depot.name,
                    source_type=depot.source_type or "",
                    run_id=record.id,
                    now=now(),
                    estimates=scan.estimates,
                )
            else:
                merged = merge_scan(
                    db,
                    source=source,
                    depot=depot.name,
                    source_type=depot.source_type or "",
                    scan=scan,
                    options=options,
                    run_id=record.id,
                    now=now(),
                )
        if scan.unchanged:
            self._log(
                record,
                f"{job.name}: refreshed the estimated rows and size of {merged.refreshed} "
                f"of {merged.unchanged} datasets",
            )
        for warning in merged.warnings:
            record.warnings.append(f"{job.name}: {warning}")
            self._log(record, f"{job.name}: {warning}")
        # The scan's own duration as the issue defines it: from connecting to the source to the
        # catalog committed (not the process start, the manifest or the run record around it).
        scanned = time.perf_counter() - started
        node["scanSeconds"] = round(scanned, 3)
        self._log(record, f"{job.name}: scanned: connect to catalog committed in {scanned:.2f} s")
        seen = merged.unchanged if scan.unchanged else len(scan.datasets)
        counts = {"datasets": seen, "skipped": len(scan.skipped)}
        counts.update(merged.counts())
        self._log(
            record,
            f"{job.name}: catalog source {source}: "
            + ", ".join(f"{k} {v}" for k, v in counts.items()),
        )
        return counts

    def _save(self, record: RunRecord) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                update(workflow_run)
                .where(workflow_run.c.id == record.id)
                .values(
                    status=record.status,
                    finished_at=record.finished_at,
                    counts=json.dumps(record.counts),
                    error=record.error,
                    nodes=json.dumps(record.nodes),
                    log="\n".join(record.log),
                )
            )
