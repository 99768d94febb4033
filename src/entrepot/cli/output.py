"""Printing: tables (rich on a terminal, plain pipes otherwise), JSON and YAML; always redacted."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from entrepot.secrets.redact import redactor

if TYPE_CHECKING:
    from entrepot.connectors.base import CheckResult

GET_COLUMNS = ("NAME", "VERSION", "TYPE", "WORKSPACE", "STATUS", "RUNTIME", "OWNER")


def echo(text: str = "", err: bool = False) -> None:
    click.echo(redactor.redact(text), err=err)


def is_terminal() -> bool:
    return sys.stdout.isatty()


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        grid = Table(*columns, box=None, header_style="bold", pad_edge=False)
        for row in rows:
            grid.add_row(*(redactor.redact(cell) for cell in row))
        Console().print(grid)
        return
    echo(plain_table(columns, rows))


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The dataos-ctl layout: centred headers, `|` separators, a dashed rule."""
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    head = " | ".join(c.center(w) for c, w in zip(columns, widths, strict=True))
    rule = "-|-".join("-" * w for w in widths)
    body = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(f"  {line}".rstrip() for line in [head, rule, *body])


def dump(value: Any, fmt: str) -> None:
    if fmt == "json":
        echo(json.dumps(value, indent=2, default=str))
    else:
        import yaml

        echo(yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip())


def check_line(result: CheckResult) -> str:
    """One line after an apply: `verifying postgres...active (ok 12 ms)`."""
    if result.ok:
        return f"verifying {result.depot}...active ({result.summary})"
    state = "pending" if result.unsupported else "error"
    failed = result.failed_step
    text = f"verifying {result.depot}...{state}: {result.message}"
    if failed is not None and failed.hint:
        text += f"\n  hint: {failed.hint}"
    return text


def step_line(step: dict[str, Any]) -> str:
    status = step["status"]
    took = f"{step['durationMs']:.0f} ms" if status != "skipped" else ""
    text = f"  {status:<8}{step['name']:<12}{took:>8}  {step['title']}"
    if step.get("detail"):
        text += f": {step['detail']}"
    if step.get("reason"):
        text += f"\n{'':>30}{step['reason']}"
    if step.get("hint"):
        text += f"\n{'':>30}hint: {step['hint']}"
    return text


def check_block(result: CheckResult) -> str:
    """A check as a user reads it: every step, its time, and why it failed."""
    state = "ok" if result.ok else ("unsupported" if result.unsupported else "FAILED")
    head = (
        f"{result.depot} ({result.source_type}, acl {result.acl}): {state} "
        f"in {result.duration_ms:.0f} ms"
    )
    return "\n".join([head, *(step_line(s.to_dict()) for s in result.steps)])
