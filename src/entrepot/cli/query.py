"""`entrepot query` (one statement, any output format) and `entrepot sql` (the shell).

Thin: the engine (entrepot.query.engine) does the work; this module reads the statement, picks
the writer and keeps terminal output bounded. Every cell printed goes through the redactor.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from entrepot.cli.output import CONTEXT, echo, is_terminal, table
from entrepot.errors import EntrepotError, ExitCode, Location
from entrepot.secrets.redact import redactor

if TYPE_CHECKING:
    from entrepot.query.engine import Engine

FORMATS = ["table", "csv", "json", "parquet"]


def engine_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--acl",
                type=click.Choice(["r", "rw"]),
                default="r",
                show_default=True,
                help="rw allows INSERT, CREATE TABLE AS and COPY ... TO a depot (its rw secret).",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0),
                default=300.0,
                show_default=True,
                help="Cancel a statement after this many seconds (0: no limit).",
            ),
            click.option("--memory-limit", help="DuckDB memory limit, e.g. 2GB (default 80% RAM)."),
            click.option("--threads", type=click.IntRange(1), help="Engine threads."),
        ]
    ):
        func = option(func)
    return func


def make_engine(acl: str, timeout: float, memory_limit: str | None, threads: int | None) -> Engine:
    from entrepot.query.engine import Engine, Options
    from entrepot.service import Service

    return Engine(
        Service(),
        Options(acl=acl, timeout=timeout or None, memory_limit=memory_limit, threads=threads),
    )


@click.command("query", context_settings=CONTEXT)
@click.argument("statement", required=False)
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False), help="Read SQL from a file.")
@click.option("--output", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write the result to a file.")
@click.option(
    "--max-rows",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    help="Rows printed as a table (csv, json and parquet write every row).",
)
@engine_options
def query(
    statement: str | None,
    path: str | None,
    fmt: str,
    out: str | None,
    max_rows: int,
    acl: str,
    timeout: float,
    memory_limit: str | None,
    threads: int | None,
) -> None:
    """Run SQL over depots: each depot is a catalog, each collection a schema.

    \b
    Examples:
      entrepot query "SELECT * FROM postgres.public.orders LIMIT 10"
      entrepot query 'SELECT * FROM "dataos://postgres:public/orders"'
      entrepot query -f report.sql --output parquet --out report.parquet
    """
    sql = _read_statement(statement, path)
    if fmt == "parquet" and out is None and is_terminal():
        raise EntrepotError(
            "parquet is binary: it is not printed to a terminal",
            hint="add --out FILE, or pipe the output",
            exit_code=ExitCode.USAGE,
        )
    engine = make_engine(acl, timeout, memory_limit, threads)
    try:
        reader = engine.execute(sql)
        write_result(reader, fmt, out, max_rows)
    except KeyboardInterrupt:
        raise EntrepotError(
            "the statement was cancelled (Ctrl-C)", exit_code=ExitCode.CANCELLED
        ) from None
    except EntrepotError as error:
        if path:  # which file; DuckDB's own "LINE n:" counts within the statement
            for problem in error.problems:
                problem.location = problem.location or Location(path)
        raise
    finally:
        engine.close()


def _read_statement(statement: str | None, path: str | None) -> str:
    if statement and path:
        raise EntrepotError("give a statement or -f FILE, not both", exit_code=ExitCode.USAGE)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise EntrepotError(
                f"cannot read {path}: {type(exc).__name__}",
                hint="a UTF-8 text file of SQL",
                exit_code=ExitCode.USAGE,
            ) from None
    if statement:
        return statement
    if not sys.stdin.isatty():
        return sys.stdin.read()
    raise EntrepotError(
        "no SQL given", hint='entrepot query "SELECT 1" (or -f FILE)', exit_code=ExitCode.USAGE
    )


def write_result(reader: Any, fmt: str, out: str | None, max_rows: int) -> None:
    """Stream the batches to the format; only the terminal table is bounded."""
    if fmt == "table":
        _print_table(reader, max_rows, out)
        return
    if out is None:
        _write(reader, fmt, sys.stdout.buffer)
        return
    target = Path(out)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as fh:
            _write(reader, fmt, fh)
        partial.replace(target)  # nothing half-written: the file appears complete or not at all
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    echo(f"wrote {out}", err=True)


def _write(reader: Any, fmt: str, fh: BinaryIO) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(fh, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        with pacsv.CSVWriter(fh, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    else:  # json: one array of objects, written as the batches arrive
        import json

        first = True
        fh.write(b"[")
        for batch in reader:
            for row in batch.to_pylist():
                fh.write(b"\n  " if first else b",\n  ")
                fh.write(redactor.redact(json.dumps(row, default=str)).encode())
                first = False
        fh.write(b"\n]\n" if not first else b"]\n")
    fh.flush()


def _print_table(reader: Any, max_rows: int, out: str | None) -> None:
    rows: list[list[str]] = []
    more = False
    for batch in reader:
        for row in batch.to_pylist():
            if len(rows) >= max_rows:
                more = True
                break
            rows.append([_cell(v) for v in row.values()])
        if more:
            reader.close()  # stop reading the source: the rest will not be shown
            break
    columns = list(reader.schema.names)
    if out:
        from entrepot.cli.output import plain_table

        Path(out).write_text(redactor.redact(plain_table(columns, rows)) + "\n")
        return
    table(columns, rows)
    sys.stdout.flush()  # the footer (stderr) after the rows, also when both go to one pipe
    if more:
        echo(
            f"(first {max_rows:,} rows shown; --max-rows N for more, --output csv for all)",
            err=True,
        )
    else:
        echo(f"({len(rows):,} row{'s' if len(rows) != 1 else ''})", err=True)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    return str(value)


# --- the shell ------------------------------------------------------------------------------


@click.command("sql", context_settings=CONTEXT)
@engine_options
@click.option("--max-rows", type=click.IntRange(0), default=100, show_default=True)
def sql_shell(
    acl: str, timeout: float, memory_limit: str | None, threads: int | None, max_rows: int
) -> None:
    """An interactive SQL shell over depots, with history and completion.

    Statements end with `;`. Tab completes depots, schemas, tables and columns from the
    catalog. `.exit` or Ctrl-D leaves; Ctrl-C cancels the running statement.

    \b
    Examples:
      entrepot sql
      echo "SELECT count(*) FROM postgres.public.orders;" | entrepot sql
    """
    from entrepot.config import load_settings

    engine = make_engine(acl, timeout, memory_limit, threads)
    interactive = sys.stdin.isatty()
    if interactive:
        _setup_readline(engine, load_settings().home / "sql_history")
    buffer: list[str] = []

    def prompt() -> str:
        return "   ...> " if buffer else "entrepot> "

    try:
        for line in _lines(interactive, prompt):
            if not buffer and line.strip() in (".exit", ".quit", "exit", "quit"):
                break
            buffer.append(line)
            text = "\n".join(buffer).strip()
            if not text.endswith(";"):
                continue
            buffer = []
            try:
                write_result(engine.execute(text), "table", None, max_rows)
            except EntrepotError as error:
                echo(error.render(), err=True)
            except KeyboardInterrupt:
                echo("cancelled", err=True)
    finally:
        engine.close()
        if interactive:
            _save_history(load_settings().home / "sql_history")


def _lines(interactive: bool, prompt: Any) -> Iterator[str]:
    while True:
        try:
            line = input(prompt()) if interactive else sys.stdin.readline()
        except EOFError:
            return
        except KeyboardInterrupt:
            echo("", err=True)
            continue
        if not interactive and line == "":
            return
        yield line.rstrip("\n")


class Completer:
    """Completion of depots, schemas, tables and columns, from the catalog (no decryption)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, list[str]] = {}
        self._matches: list[str] = []

    def candidates(self, text: str) -> list[str]:
        parts = text.split(".")
        prefix = ".".join(parts[:-1])
        top = len(parts) == 1
        names = self.engine.depot_names() + _KEYWORDS if top else self._children(prefix)
        last = parts[-1].lower()
        head = f"{prefix}." if prefix else ""
        return sorted({head + n for n in names if n.lower().startswith(last)})

    def complete(self, text: str, state: int) -> str | None:
        if state == 0:
            try:
                self._matches = self.candidates(text)
            except Exception:  # completion must never break the prompt
                self._matches = []
        return self._matches[state] if state < len(self._matches) else None

    def _children(self, prefix: str) -> list[str]:
        if prefix in self._cache:
            return self._cache[prefix]
        from entrepot.catalog.model import Address

        parts = prefix.split(".")
        service = self.engine.service
        names: list[str] = []
        try:
            if len(parts) == 1 and parts[0] in self.engine.depot_names():
                names = [c["collection"] for c in service.catalog("collections", parts[0])]
            elif len(parts) == 2:
                rows = service.catalog("datasets", parts[0], parts[1])
                names = [d["name"] for d in rows]
            elif len(parts) == 3:
                found = service.catalog("dataset", Address(*parts))
                names = [c["name"] for c in (found.get("details") or {}).get("columns", [])]
        except EntrepotError:
            names = []
        self._cache[prefix] = names
        return names


_KEYWORDS = [
    "SELECT",
    "FROM",
    "WHERE",
    "JOIN",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "WITH",
    "COUNT(*)",
]


def _setup_readline(engine: Engine, history: Path) -> None:
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return
    completer = Completer(engine)
    readline.set_completer(completer.complete)
    readline.set_completer_delims(" \t\n,()=<>;'")
    readline.parse_and_bind("tab: complete")
    with contextlib.suppress(OSError):
        readline.read_history_file(history)


def _save_history(history: Path) -> None:
    try:
        import readline

        history.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(history)
        history.chmod(0o600)
    except (ImportError, OSError):
        pass
