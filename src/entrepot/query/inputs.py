"""What front ends (the CLI, the Python SDK) check before they hand a statement or a limit to
the engine, so that a mistake is a clear error rather than a crash deep inside DuckDB or a
thread that cannot start.

Imports nothing heavy: the CLI uses the limits in its option types, at start-up.
"""

from __future__ import annotations

import math
from typing import Any

from entrepot.errors import EntrepotError, ExitCode, Location

# --timeout: 0 is no limit; beyond a week a number is a mistake (inf, 1e308), and
# threading.Timer cannot wait much past 2**33 seconds anyway.
MAX_TIMEOUT = 7 * 24 * 3600
# --threads: DuckDB starts them all at once; 100,000 exhaust the process's threads (even the
# statement timer's then fails to start). 1024 covers the largest machines.
MAX_THREADS = 1024


def check_limits(timeout: Any, threads: Any) -> None:
    """Refuse a timeout or a thread count the engine cannot honour, naming the accepted range."""
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or math.isnan(timeout)
        or not 0 <= timeout <= MAX_TIMEOUT
    ):
        raise EntrepotError(
            f"timeout {timeout!r} is not a number of seconds from 0 to {MAX_TIMEOUT}",
            hint="0 or None: no limit",
            exit_code=ExitCode.USAGE,
        )
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS
    ):
        raise EntrepotError(
            f"threads {threads!r} is not a whole number from 1 to {MAX_THREADS}",
            hint="None: DuckDB's default, one per core",
            exit_code=ExitCode.USAGE,
        )


def utf8_problem(raw: bytes) -> tuple[str, int] | None:
    """Why `raw` is not UTF-8 text without NUL characters, as a predicate ("is not valid
    UTF-8 (...)", "contains a NUL character (...)"), and the byte offset; else None."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte offset {exc.start})",
            exc.start,
        )
    offset = raw.find(b"\x00")
    if offset >= 0:  # DuckDB would silently read a statement only up to it
        return f"contains a NUL character (at byte offset {offset})", offset
    return None


def text_problem(text: str) -> str | None:
    """Why `text` is not UTF-8 text without NUL characters, as a predicate, or None. Python
    hands over command line arguments and file names that are not UTF-8 with each bad byte as
    a lone surrogate (surrogateescape): this finds them and names the original byte."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        return f"contains an unpaired surrogate (at character {exc.start})"
    problem = utf8_problem(raw)
    return problem[0] if problem else None


def decode_sql(raw: bytes, source: str) -> str:
    """SQL read from a file or stdin as text; else an error naming where (line, column and byte
    offset) it stops being UTF-8 text."""
    problem = utf8_problem(raw)
    if problem is None:
        return raw.decode("utf-8").removeprefix("\ufeff")
    message, offset = problem
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    raise EntrepotError(
        f"the SQL {message}",
        location=Location(source, line, column),
        hint="save the SQL as UTF-8 text",
    )


def check_statement(statement: Any) -> None:
    """A statement handed to the SDK must be text DuckDB reads whole."""
    if not isinstance(statement, str):
        raise EntrepotError(
            f"a statement is text, not {type(statement).__name__}",
            hint='client.sql("SELECT 1")',
            exit_code=ExitCode.USAGE,
        )
    problem = text_problem(statement)
    if problem is not None:
        raise EntrepotError(f"the SQL {problem}", hint="pass the statement as UTF-8 text")
