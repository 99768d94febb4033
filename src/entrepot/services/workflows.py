"""Workflows, as a use case: run one (the scanner stack, in local mode), read its runs.

Running needs `workflow:run` on the workflow and `depot:scan` on the depot it scans (checked
by the connection service's `DepotAccess` the runner receives).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from entrepot.access.decide import Target
from entrepot.services.context import RequestContext
from entrepot.services.resources import Outcome, log_outcomes, resource

if TYPE_CHECKING:
    from entrepot.resources.compile import PlannedResource
    from entrepot.scanner.runner import RunRecord
    from entrepot.services.resources import ApplyOptions
    from entrepot.store.reader import ResourceRow, RunRow


def run_applied(
    ctx: RequestContext,
    planned: list[PlannedResource],
    outcomes: list[Outcome],
    options: ApplyOptions,
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
                run_workflow(
                    ctx,
                    item.name,
                    item.workspace,
                    force_deletes=options.force_deletes,
                    progress=options.progress,
                )
            )
    return runs


def run_workflow(
    ctx: RequestContext,
    name: str,
    workspace: str = "public",
    *,
    force_deletes: bool = False,
    progress: Any = None,
) -> RunRecord:
    from entrepot.scanner.runner import WorkflowRunner
    from entrepot.services.connections import depot_access

    row = resource(ctx, "workflow", name, workspace, action="workflow:run")
    runner = WorkflowRunner(
        depot_access(ctx, "scan"), ctx.store, force_deletes=force_deletes, progress=progress
    )
    record = runner.run(row)
    ctx.fresh_reader()
    log_outcomes(ctx, [Outcome(f"{name}:v1:workflow run {record.id}", record.status)])
    return record


def workflow(ctx: RequestContext, name: str, workspace: str = "public") -> ResourceRow:
    """One workflow with its manifest (`get runtime`), if the actor may read it."""
    from entrepot.store import reader as reader_module

    row = resource(ctx, "workflow", name, workspace)
    reader_module.add_details(ctx.reader, [row])
    return row


def workflow_runs(
    ctx: RequestContext, name: str, workspace: str = "public", limit: int = 20
) -> list[RunRow]:
    """Runs of a workflow, newest first, with their nodes and logs."""
    from entrepot.store import reader as reader_module

    if not ctx.settings_has_store():
        return []
    found = reader_module.resources_named(ctx.reader, "workflow", [name], workspace).get(name)
    if found is not None:
        ctx.ensure("workflow:read", Target("workflow", name, found.owner, found.layer, workspace))
    return reader_module.workflow_runs(ctx.reader, name, workspace, limit)
