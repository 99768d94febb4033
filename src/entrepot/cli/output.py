"""Printing: tables (rich on a terminal, plain pipes otherwise), JSON and YAML; always redacted."""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from entrepot.errors import EntrepotError, ExitCode
from entrepot.secrets.redact import redactor

if TYPE_CHECKING:
    from entrepot.connectors.base import CheckResult
    from entrepot.scanner.runner import RunRecord

# Every command: -h as --help, help text up to 100 columns.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
GET_COLUMNS = ("NAME", "VERSION", "TYPE", "WORKSPACE", "STATUS", "RUNTIME", "OWNER")


def echo(text: str = "", err: bool = False) -> None:
    click.echo(printable(redactor.redact(text)), err=err)


def printable(text: str) -> str:
    """Text any UTF-8 stream takes: bytes of a file name or argument that were not UTF-8
    (which Python keeps as lone surrogates) shown as `\\xNN`."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_terminal() -> bool:
    return sys.stdout.isatty()


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        grid = Table(*columns, box=None, header_style="bold", pad_edge=False)
        for row in rows:
            grid.add_row(*(printable(redactor.redact(cell)) for cell in row))
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


def reveal(value: Any, fmt: str) -> None:
    """The one output that is not redacted: `get --unSanitize`, after the authorization
    function allowed it and every decryption was audited."""
    if fmt == "json":
        text = json.dumps(value, indent=2, default=str)
    else:
        import yaml

        text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip()
    click.echo(printable(text))


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


def run_line(run: RunRecord) -> str:
    """`running postgresdepotscanner:v1:workflow...succeeded (12 datasets: 12 added)`."""
    counts = run.counts
    parts = [f"{counts.get(k, 0)} {k}" for k in ("added", "altered", "restored", "deleted")]
    changes = ", ".join(p for p in parts if not p.startswith("0 ")) or "no change"
    text = f"running({run.workspace}) {run.workflow}:v1:workflow...{run.status} (run {run.id}"
    if run.status == "succeeded":
        text += f": {counts.get('datasets', 0)} datasets, {changes})"
    else:
        text += f")\n  {run.error}\n  see: entrepot log -t workflow -n {run.workflow}"
    return text


@contextmanager
def run_progress() -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on a terminal for workflow runs; nothing when piped."""
    if not (sys.stderr.isatty() and sys.stdout.isatty()):
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("starting", total=None)

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, description=redactor.redact(what), completed=done, total=total)

        yield update


def change_text(detail: dict[str, Any]) -> str:
    parts = []
    for key, label in (("columns_added", "+"), ("columns_removed", "-")):
        if detail.get(key):
            parts.append(f"{label}{', '.join(detail[key])}")
    altered = detail.get("columns_altered") or {}
    for column, fields in altered.items():
        changes = ", ".join(
            f"{name} {change['before']} -> {change['after']}" for name, change in fields.items()
        )
        parts.append(f"~{column} ({changes})")
    if detail.get("changed"):
        parts.append("changed: " + ", ".join(detail["changed"]))
    if detail.get("kind"):
        parts.append(detail["kind"])
    return "; ".join(parts)


def dataset_text(record: dict[str, Any]) -> str:
    """`catalog show` as text: the dataset, its columns, keys and indexes."""
    details = record["details"]
    lines = [f"{record['address']}  ({record['kind']}{', DELETED' if record['deleted'] else ''})"]
    if record.get("description"):
        lines.append(f"  {record['description']}")
    facts = []
    for key in ("owner", "rows", "size", "format", "modified", "partition_of", "partition_key"):
        if details.get(key) not in (None, "", []):
            facts.append(f"{key}: {details[key]}")
    if details.get("inherits"):
        facts.append(f"inherits: {', '.join(details['inherits'])}")
    if facts:
        lines.append("  " + "; ".join(facts))
    columns = details.get("columns", [])
    if columns:
        widths = [
            max([len(str(c.get(k) or "")) for c in columns] + [len(k)]) for k in ("name", "type")
        ]
        lines.append("")
        lines.append(f"  {'COLUMN':<{widths[0]}}  {'TYPE':<{widths[1]}}  NULL  DEFAULT / NOTES")
        for c in columns:
            notes = [str(c["default"])] if c.get("default") else []
            if c.get("on_update"):
                notes.append(f"on update {c['on_update']}")
            for key in ("identity", "generated", "domain_of"):
                if c.get(key):
                    notes.append(f"{key} {c[key]}")
            if c.get("enum"):
                notes.append("enum " + "|".join(c["enum"]))
            if c.get("comment"):
                notes.append(f"-- {c['comment']}")
            null = "yes" if c.get("nullable", True) else "no"
            lines.append(
                f"  {c['name']:<{widths[0]}}  {c.get('type') or '':<{widths[1]}}  {null:<4}  "
                + "  ".join(notes)
            )
    pk = details.get("primary_key")
    if pk:
        lines.append(f"\n  primary key {pk['name']}: ({', '.join(pk['columns'])})")
    for fk in details.get("foreign_keys", []):
        ref = fk["references"]
        lines.append(
            f"  foreign key {fk['name']}: ({', '.join(fk['columns'])}) -> "
            f"{ref['schema']}.{ref['table']} ({', '.join(ref['columns'])})"
        )
    for unique in details.get("unique", []):
        lines.append(f"  unique {unique['name']}: ({', '.join(unique['columns'])})")
    for chk in details.get("checks", []):
        lines.append(f"  check {chk['name']}: {chk['definition']}")
    for index in details.get("indexes", []):
        if index.get("primary"):
            continue
        cols = ", ".join(str(c) for c in index["columns"])
        extra = f" where {index['predicate']}" if index.get("predicate") else ""
        kind = "unique index" if index.get("unique") else "index"
        lines.append(f"  {kind} {index['name']} using {index.get('method')}: ({cols}){extra}")
    if details.get("partitions"):
        lines.append(f"  partitions: {', '.join(details['partitions'])}")
    if details.get("inherited_by"):
        lines.append(f"  inherited by: {', '.join(details['inherited_by'])}")
    if details.get("definition"):
        lines.append("\n  definition:\n    " + details["definition"].replace("\n", "\n    "))
    return "\n".join(lines)


# --- files ---------------------------------------------------------------------------------


class OutputError(EntrepotError):
    """An output file (or stdout) cannot be written. Exit 3 when the path itself is wrong (no
    such folder, a name too long), 5 when the system refuses (permissions, a read-only or full
    file system, /proc)."""


def output_error(where: str, exc: OSError) -> OutputError:
    folder = os.path.dirname(os.path.abspath(where)) if where != "stdout" else ""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR) and folder and not os.path.isdir(folder):
        return OutputError(
            f"cannot write {where}: the folder {folder} does not exist",
            hint="create it first, or choose another --out",
            exit_code=ExitCode.INVALID,
        )
    if exc.errno == errno.ENAMETOOLONG:
        return OutputError(
            f"cannot write {where}: the name is too long for the file system",
            hint="choose a shorter --out",
            exit_code=ExitCode.INVALID,
        )
    reason = exc.strerror or type(exc).__name__
    hint = "choose a folder you can write to" if folder else "check where the output goes"
    return OutputError(f"cannot write {where}: {reason}", hint=hint, exit_code=ExitCode.REFUSED)


@contextmanager
def atomic_file(path: str) -> Iterator[BinaryIO]:
    """A file that appears at `path` complete or not at all: written under a temporary name in
    its folder, renamed over `path` when the block ends, removed if it fails. A device or a
    pipe (`/dev/null`, `/dev/stdout`, a FIFO) is written in place: there is nothing to rename.
    Errors name the path and say why (OutputError)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:  # a name too long, a file where a folder should be, ...
        raise output_error(path, exc) from None
    if info is not None and not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        try:
            handle = open(path, "wb")  # noqa: SIM115 - closed below, errors mapped
        except OSError as exc:
            raise output_error(path, exc) from None
        with writing_to(path), handle:
            yield handle
        return
    if not path or (info is not None and stat.S_ISDIR(info.st_mode)):
        raise OutputError(
            f"cannot write {path!r}: it names a folder, not a file",
            hint="--out FILE, e.g. --out result.csv",
            exit_code=ExitCode.INVALID,
        )
    # A symlink stays one: the file it points to is replaced.
    real = Path(os.path.realpath(path))
    partial = real.with_name(f".{real.name[:100]}.{os.urandom(4).hex()}.partial")
    try:
        # 0o666 less the umask, as open() would create it; O_EXCL: never someone else's file.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        with writing_to(path), os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if info is not None:  # a replaced file keeps its permissions
                os.chmod(partial, stat.S_IMODE(info.st_mode))
            os.replace(partial, real)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextmanager
def writing_to(where: str) -> Iterator[None]:
    """OSErrors of writing to `where` as OutputErrors."""
    try:
        yield
    except BrokenPipeError:  # `| head` stopped reading: not an error; click exits quietly
        raise
    except OSError as exc:
        raise output_error(where, exc) from None
