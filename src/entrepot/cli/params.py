"""What every command accepts: the click classes all commands are made with, and the option
types that bound numbers.

Every command (`cls=Command`, or any command of a `Group`) checks its arguments' text once
they are parsed: a value that is not UTF-8 (Python hands such argv bytes over as lone
surrogates) or holds a NUL would otherwise crash the first library it reaches (SQLite, DuckDB,
the file system) and end in an internal error. File and folder paths may be any bytes the file
system takes; only a NUL, which no argument of a real command line can hold, is refused in
them, before parsing (click's own path checks would crash on it).
"""

from __future__ import annotations

import math
import os
from typing import Any

import click

from entrepot.query.inputs import MAX_THREADS, MAX_TIMEOUT, text_problem


def check_text(ctx: click.Context, command: click.Command) -> None:
    for param in command.get_params(ctx):
        value = ctx.params.get(param.name or "")
        values = value if isinstance(value, (tuple, list)) else (value,)
        for item in values:
            if isinstance(item, os.PathLike):
                item = os.fspath(item)
            if not isinstance(item, str):
                continue
            if isinstance(param.type, click.Path):
                continue  # any bytes the file system takes (a NUL was refused before parsing)
            problem = text_problem(item)
            if problem is not None:
                raise click.BadParameter(f"the value {problem}", ctx=ctx, param=param)


def check_nul(args: list[str]) -> None:
    """No argument of a real command line holds a NUL (C strings end there); one handed over
    in-process would crash the first file-system call (click's own path checks included)."""
    for arg in args:
        if "\x00" in arg:
            raise click.UsageError(f"an argument contains a NUL character: {arg!r}")


class Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        check_nul(args)
        rest = super().parse_args(ctx, args)
        check_text(ctx, self)
        return rest


class Group(click.Group):
    command_class = Command
    group_class = type  # sub-groups are Groups too

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        check_nul(args)
        rest = super().parse_args(ctx, args)
        check_text(ctx, self)
        return rest


class Seconds(click.FloatRange):
    """A number of seconds within a range. click's FloatRange lets `nan` through (every
    comparison with it is false), and `inf`, `1e308` where there is no upper bound."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(
                f"{value!r} is not a number of seconds from {self.min:g} to {self.max:g}",
                param,
                ctx,
            )
        return number


QUERY_TIMEOUT = Seconds(0, MAX_TIMEOUT)
THREADS = click.IntRange(1, MAX_THREADS)
