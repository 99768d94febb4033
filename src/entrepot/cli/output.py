"""Printing: tables (rich on a terminal, plain pipes otherwise), JSON and YAML; always redacted."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from entrepot.secrets.redact import redactor

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
