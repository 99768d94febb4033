"""`entrepot get` with authorization taken out: the "access control off" side of the access
target in bench/apply_get.py. Not a product feature; a measuring device.

    .venv/bin/python bench/get_unauthorized.py [--only NAMES_FILE] get -t depot -a --output json

The whole CLI runs as `entrepot` runs it (same interpreter start, imports, click parsing, request
context, reader, output), except `services.resources.list_resources`, replaced by what it does
minus authorization: one `store.reader.list_resources` query a kind with no visibility filter
(and `add_details` with -d). So neither the actor (no users query), nor the authorizer (no
grants or policies read and compiled), nor a decision, nor the SQL filter is paid for.

`--only NAMES_FILE` keeps only the rows named in that file (whitespace-separated) after the
query, so this prints exactly the rows the authorized listing prints: the comparison is then
between two processes printing the same bytes. Filtering a list of names through a set costs
microseconds; it is charged to this side.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def main() -> None:
    from entrepot.services import resources as service
    from entrepot.store import reader as reader_module

    argv = sys.argv[1:]
    only: frozenset[str] | None = None
    if argv[:1] == ["--only"]:
        only = frozenset(Path(argv[1]).read_text().split())
        argv = argv[2:]

    def list_resources(
        ctx: Any,
        *,
        rtype: str | None = None,
        name: str | None = None,
        owner: str | None = None,
        all_owners: bool = False,
        workspace: str | None = None,
        details: bool = False,
    ) -> list[Any]:
        if owner is None and not all_owners:
            owner = ctx.user_name  # your own, as `get` without -a shows
        rows: list[Any] = []
        for kind in (rtype,) if rtype else service.KINDS:
            rows += reader_module.list_resources(
                ctx.reader, rtype=kind, name=name, owner=owner, workspace=workspace
            )
        if only is not None:
            rows = [row for row in rows if row.name in only]
        if details and rows:
            reader_module.add_details(ctx.reader, rows)
        return rows

    service.list_resources = list_resources
    from entrepot.cli.main import main as cli

    sys.argv = ["entrepot", *argv]
    cli()


if __name__ == "__main__":
    main()
