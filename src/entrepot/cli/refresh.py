"""`-r/--refresh` of `get` and `get runtime`: fetch, print, and print again whenever what was
fetched changed, every `--refreshRate` seconds, until a condition holds (a workflow's run has
ended) or Ctrl-C.

`wait` is the one pause between two fetches: a module attribute, so that a test drives the loop
by replacing it (change the store, or end the loop) instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from entrepot.cli.output import echo, is_terminal

T = TypeVar("T")

wait: Callable[[float], None] = time.sleep


def refresh(
    fetch: Callable[[], T],
    show: Callable[[T], None],
    *,
    rate: float,
    key: Callable[[T], str],
    done: Callable[[T], bool] = lambda _data: False,
    until: str = "until Ctrl-C",
) -> None:
    """Print `show(fetch())` now, then again each time `key` of a new fetch differs, every
    `rate` seconds, until `done` of a fetch holds or Ctrl-C (which ends the command normally:
    exit 0, as the end of a refresh is no failure)."""
    last: str | None = None
    try:
        while True:
            data = fetch()
            mark = key(data)
            if mark != last:
                if last is not None and is_terminal():
                    import click

                    click.clear()
                elif last is not None:
                    echo(f"\n--- {time.strftime('%H:%M:%S')}: changed ---")
                show(data)
            if done(data):
                return
            if last is None:
                echo(f"refreshing every {rate:g} s, {until}", err=True)
            last = mark
            wait(rate)
    except KeyboardInterrupt:
        echo("stopped refreshing", err=True)
