"""Runtimes as logs: a workflow run's nodes and their lines, and a depot's history (its
connection checks and the scans that read it) as `log -t depot` shows it.

Reading a depot's history is reading the depot (`depot:read`): its checks are its own, and of
the runs that scanned it only the nodes that scanned it are shown, with their own lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from entrepot.services.context import RequestContext
from entrepot.services.resources import resource

if TYPE_CHECKING:
    from entrepot.store.reader import ResourceRow


@dataclass
class LogNode:
    name: str
    container: str  # `check` for a connection check, `main` for a scanner node
    phase: str  # ok | failed, or a node's status
    started: str
    finished: str
    error: str = ""
    run: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "container": self.container,
            "phase": self.phase,
            "startedAt": self.started or None,
            "finishedAt": self.finished or None,
            "error": self.error or None,
            "run": self.run,
        }


@dataclass
class LogLine:
    at: str
    node: str
    text: str

    def render(self) -> str:
        return f"{self.at} [{self.node}] {self.text}"


@dataclass
class DepotHistory:
    depot: ResourceRow
    nodes: list[LogNode] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)  # oldest first


def find_node(nodes: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """A run's node by its name (`scan-execute`) or its job's (`scan`)."""
    for node in nodes:
        if wanted in (node.get("name"), node.get("job")):
            return node
    return None


def node_lines(log: str, job: str) -> list[tuple[str, str]]:
    """(timestamp, text) of a run log's lines of one job: the runner writes `TS JOB: text`."""
    out = []
    for line in log.splitlines():
        stamp, _, text = line.partition(" ")
        if text.startswith(f"{job}:"):
            out.append((stamp, text))
    return out


def depot_history(ctx: RequestContext, name: str, limit: int = 50) -> DepotHistory:
    """`log -t depot -n NAME`: the depot's last check of each acl, step by step, and the nodes
    of its newest `limit` scanner runs with their lines; needs `depot:read`."""
    from entrepot.store import reader as reader_module

    row = resource(ctx, "depot", name)
    history = DepotHistory(row)
    for check in reader_module.depot_checks(ctx.reader, row.id):
        acl = check["acl"]
        label = f"{name}-check-{acl}"
        phase = "ok" if check["ok"] else "failed"
        history.nodes.append(
            LogNode(
                label,
                "check",
                phase,
                check["checked_at"],
                check["checked_at"],
                "" if check["ok"] else check["summary"],
            )
        )
        at = check["checked_at"]
        outcome = (
            check["summary"]
            if check["ok"]
            else f"failed: {check['summary']} in {check['duration_ms']:.0f} ms"
        )
        history.lines.append(LogLine(at, label, f"check with its {acl} secret: {outcome}"))
        for step in check["steps"]:
            took = "" if step["status"] == "skipped" else f" {step['durationMs']:.0f} ms"
            text = f"  {step['status']} {step['name']}{took}: {step['title']}"
            if step.get("detail"):
                text += f": {step['detail']}"
            history.lines.append(LogLine(at, label, text))
            for extra in ("reason", "hint"):
                if step.get(extra):
                    prefix = "hint: " if extra == "hint" else ""
                    history.lines.append(LogLine(at, label, f"    {prefix}{step[extra]}"))
    for run, refers in reversed(reader_module.depot_runs(ctx.reader, name, limit)):
        for node in run.nodes:
            if node.get("depot", name if refers else None) != name:
                continue
            label = f"{run.workflow}-run{run.id}-{node['name']}"
            history.nodes.append(
                LogNode(
                    label,
                    "main",
                    node["status"],
                    node.get("startedAt") or "",
                    node.get("finishedAt") or "",
                    node.get("error") or "",
                    run.id,
                )
            )
            history.lines += [
                LogLine(stamp, label, text) for stamp, text in node_lines(run.log, node["job"])
            ]
    history.lines.sort(key=lambda line: line.at)  # stable: a check's steps keep their order
    return history
