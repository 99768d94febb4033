"""`entrepot query` (one statement, any output format) and `entrepot sql` (the shell).

Thin: the engine (entrepot.query.engine) does the work; this module reads the statement, picks
the writer and keeps terminal output bounded. Every cell printed goes through the redactor.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from entrepot.cli.context import request
from entrepot.cli.output import (
    CONTEXT,
    OutputError,
    atomic_file,
    echo,
    is_terminal,
    table,
    writing_to,
)
from entrepot.cli.params import QUERY_TIMEOUT, THREADS, Command
from entrepot.cli.results import (
    csv_converters,
    csv_schema,
    python_values,
    renamed,
    unique_names,
)
from entrepot.errors import EntrepotError, ExitCode, Location
from entrepot.query.inputs import MAX_THREADS, MAX_TIMEOUT, decode_sql, text_problem
from entrepot.secrets.redact import redactor

if TYPE_CHECKING:
    from entrepot.query.engine import Engine
    from entrepot.services.context import RequestContext

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
                type=QUERY_TIMEOUT,
                default=300.0,
                show_default=True,
                help=f"Cancel a statement after this many seconds (0: no limit; at most "
                f"{MAX_TIMEOUT}).",
            ),
            click.option("--memory-limit", help="DuckDB memory limit, e.g. 2GB (default 80% RAM)."),
            click.option(
                "--threads",
                type=THREADS,
                help=f"Engine threads (1 to {MAX_THREADS}; default: cores).",
            ),
        ]
    ):
        func = option(func)
    return func


def make_engine(
    ctx: RequestContext, acl: str, timeout: float, memory_limit: str | None, threads: int | None
) -> Engine:
    from entrepot.query.engine import Options
    from entrepot.services import query as query_service

    options = Options(acl=acl, timeout=timeout or None, memory_limit=memory_limit, threads=threads)
    return query_service.engine(ctx, options)


@click.command("query", cls=Command, context_settings=CONTEXT)
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
    stack = contextlib.ExitStack()  # the request context, closed after the engine
    ctx = stack.enter_context(request())
    engine = make_engine(ctx, acl, timeout, memory_limit, threads)
    try:
        # The file is opened before the statement runs: a --out that cannot be written fails
        # at once, and a failed statement leaves nothing behind.
        with atomic_file(out) if out else contextlib.nullcontext(None) as target:
            reader = engine.execute(sql)
            write_result(reader, fmt, target, max_rows)
    except KeyboardInterrupt:
        raise EntrepotError(
            "the statement was cancelled (Ctrl-C)", exit_code=ExitCode.CANCELLED
        ) from None
    except EntrepotError as error:
        if path and not isinstance(error, OutputError):  # which file; DuckDB's "LINE n:"
            for problem in error.problems:  # counts within the statement
                problem.location = problem.location or Location(path)
        raise
    finally:
        engine.close()
        stack.close()
    if out:
        echo(f"wrote {out}", err=True)


# A statement file larger than this is not SQL someone wrote (or is /dev/zero).
MAX_SQL_BYTES = 64 * 1024 * 1024


def _read_statement(statement: str | None, path: str | None) -> str:
    if statement and path:
        raise EntrepotError("give a statement or -f FILE, not both", exit_code=ExitCode.USAGE)
    if path:
        try:
            with open(path, "rb") as fh:  # a FIFO too: -f <(generate-sql)
                raw = fh.read(MAX_SQL_BYTES + 1)
        except OSError as exc:
            raise EntrepotError(
                f"cannot read the SQL file: {exc.strerror or type(exc).__name__}",
                location=Location(path),
                hint="-f takes a file of SQL text",
            ) from None
        return _decoded(raw, path)
    if statement:
        return statement
    if not sys.stdin.isatty():
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:  # a text stream without bytes underneath (embedding, tests)
            return sys.stdin.read()
        return _decoded(stdin.read(MAX_SQL_BYTES + 1), "<stdin>")
    raise EntrepotError(
        "no SQL given", hint='entrepot query "SELECT 1" (or -f FILE)', exit_code=ExitCode.USAGE
    )


def _decoded(raw: bytes, source: str) -> str:
    if len(raw) > MAX_SQL_BYTES:
        raise EntrepotError(
            f"the SQL is larger than {MAX_SQL_BYTES // (1024 * 1024)} MiB",
            location=Location(source),
            hint="-f takes a file of SQL text",
        )
    return decode_sql(raw, source)


def write_result(reader: Any, fmt: str, target: BinaryIO | None, max_rows: int) -> None:
    """Stream the batches to the format, into `target` or stdout; only the terminal table is
    bounded. Column names are made unique first (as DuckDB does when it writes a result)."""
    names = list(reader.schema.names)
    for change in renamed(names):
        echo(f"note: duplicate column name renamed: {change}", err=True)
    if fmt == "table":
        _print_table(reader, unique_names(names), max_rows, target)
        return
    with writing_to("stdout") if target is None else contextlib.nullcontext():
        _write(reader, fmt, target or sys.stdout.buffer)


def _write(reader: Any, fmt: str, fh: BinaryIO) -> None:
    import pyarrow as pa

    names = unique_names(reader.schema.names)
    if fmt == "parquet":
        schema = pa.schema([f.with_name(n) for f, n in zip(reader.schema, names, strict=True)])
        with _parquet_writer(fh, schema) as writer:
            for batch in reader:
                writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        converters = csv_converters(reader.schema)
        schema = csv_schema(reader.schema, converters)
        with pacsv.CSVWriter(fh, schema) as writer:
            for batch in reader:
                columns = [
                    convert(column) if convert else column
                    for column, convert in zip(batch.columns, converters, strict=True)
                ]
                writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
    else:  # json: one array of objects, written as the batches arrive
        import json

        first = True
        fh.write(b"[")
        for batch in reader:
            columns = [python_values(column) for column in batch.columns]
            for values in zip(*columns, strict=True):
                fh.write(b"\n  " if first else b",\n  ")
                row = dict(zip(names, values, strict=True))
                fh.write(redactor.redact(json.dumps(row, default=str)).encode())
                first = False
        fh.write(b"\n]\n" if not first else b"]\n")
    fh.flush()


def _parquet_writer(fh: BinaryIO, schema: Any) -> Any:
    """A parquet writer for `schema`, or which column parquet cannot hold (before any byte)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetWriter(fh, schema)
    except pa.ArrowNotImplementedError:
        for field in schema:
            try:
                pq.ParquetWriter(io.BytesIO(), pa.schema([field])).close()
            except pa.ArrowNotImplementedError:
                raise EntrepotError(
                    f"parquet cannot hold column '{field.name}' ({field.type})",
                    hint=f'cast it in the statement, e.g. CAST("{field.name}" AS VARCHAR)',
                ) from None
        raise


def _print_table(reader: Any, columns: list[str], max_rows: int, target: BinaryIO | None) -> None:
    rows: list[list[str]] = []
    more = False
    for batch in reader:
        values = [python_values(column) for column in batch.columns]
        for row in zip(*values, strict=True):
            if len(rows) >= max_rows:
                more = True
                break
            rows.append([_cell(v) for v in row])
        if more:
            reader.close()  # stop reading the source: the rest will not be shown
            break
    if target is not None:
        from entrepot.cli.output import plain_table

        target.write((redactor.redact(plain_table(columns, rows)) + "\n").encode())
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


@click.command("sql", cls=Command, context_settings=CONTEXT)
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

    stack = contextlib.ExitStack()  # the request context, closed after the engine
    ctx = stack.enter_context(request())
    engine = make_engine(ctx, acl, timeout, memory_limit, threads)
    interactive = sys.stdin.isatty()
    if interactive:
        _setup_readline(ctx, engine, load_settings().home / "sql_history")
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
            problem = text_problem(text)
            if problem is not None:  # DuckDB would crash on it, or stop reading at a NUL
                echo(f"error: the SQL {problem}", err=True)
                continue
            try:
                write_result(engine.execute(text), "table", None, max_rows)
            except EntrepotError as error:
                echo(error.render(), err=True)
            except KeyboardInterrupt:
                echo("cancelled", err=True)
    finally:
        engine.close()
        stack.close()
        if interactive:
            _save_history(load_settings().home / "sql_history")


def _lines(interactive: bool, prompt: Any) -> Iterator[str]:
    while True:
        try:
            line = input(prompt()) if interactive else _read_line()
        except EOFError:
            return
        except KeyboardInterrupt:
            echo("", err=True)
            continue
        if not interactive and line == "":
            return
        yield line.rstrip("\n")


def _read_line() -> str:
    """A line of piped input; bytes that are not UTF-8 are kept (as lone surrogates) for the
    statement's check to name, rather than failing the read."""
    stdin = getattr(sys.stdin, "buffer", None)
    if stdin is None:
        return sys.stdin.readline()
    return bytes(stdin.readline()).decode("utf-8", "surrogateescape")


class Completer:
    """Completion of depots, schemas, tables and columns, from the catalog (no decryption)."""

    def __init__(self, ctx: RequestContext, engine: Engine) -> None:
        self.ctx = ctx
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
        from entrepot.services import catalog

        parts = prefix.split(".")
        names: list[str] = []
        try:
            if len(parts) == 1 and parts[0] in self.engine.depot_names():
                names = [c["collection"] for c in catalog.collections(self.ctx, parts[0])]
            elif len(parts) == 2:
                rows = catalog.datasets(self.ctx, parts[0], parts[1])
                names = [d["name"] for d in rows]
            elif len(parts) == 3:
                found = catalog.dataset(self.ctx, Address(*parts))
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


def _setup_readline(ctx: RequestContext, engine: Engine, history: Path) -> None:
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return
    completer = Completer(ctx, engine)
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
