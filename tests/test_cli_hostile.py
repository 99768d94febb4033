"""Every command of the CLI, given hostile arguments, ends in a clear message and a documented
exit code: never an internal error (exit 70), never a Python traceback.

The commands are found by walking the click tree, so a command added later is covered without
touching this file. Each parameter of each command is given, in turn, values a user (or a
script gone wrong) can pass: empty, very long, not UTF-8 (as Python hands over such argv bytes,
surrogate-escaped), a NUL, numbers that are not (inf, nan, 1e308, huge), missing files, /proc
and /dev/zero as paths, unknown depot names; the other required parameters get an ordinary
value. The store holds a depot that cannot be reached, a local-folder depot and a workflow, so
the commands get past "not found" into their real work.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from entrepot.cli import main as cli_main
from entrepot.cli.params import Command, Group
from entrepot.secrets.redact import redactor
from tests.conftest import ENV_CLEAR, make_device, run_cli, write

# Exit codes of the README's table (70 is the one that must never appear).
DOCUMENTED = {0, 1, 2, 3, 4, 5, 6, 7, 8, 130}

NOT_UTF8 = b"caf\xe9-\xff".decode("utf-8", "surrogateescape")  # what Python makes of such argv
LONG = "x" * 5000
TEXTS = [
    "",
    LONG,
    NOT_UTF8,
    "a\x00b",
    "/proc",
    "zero",  # a private /dev/zero (see hostile_home): a regression must not replace the real one
    "/proc/self/mem",
    "-",
    "no-such-file.yml",
    "nodepot",
    "dataos://nodepot:c/d",
]
NUMBERS = ["inf", "-inf", "nan", "1e308", "-1", "0", "9" * 40, "", NOT_UTF8]
CHOICES = ["", LONG, NOT_UTF8, "a\x00b"]
# Exit 70s known and not fixed yet (none).
KNOWN: list[list[str]] = []


def known(line: list[str]) -> bool:
    return any(
        line[i : i + len(part)] == part for part in KNOWN for i in range(len(line) - len(part) + 1)
    )


# A valid value for a required parameter while another one is being tried; anything else
# gets "x".
ORDINARY = {
    "statement": "SELECT 1",
    "names": "pg",
    "name": "pg",
    "address": "dataos://lake:landing/sales",
    "words": "sales",
    "paths": "manifests.yml",
    "source_type": "postgresql",
}

MANIFESTS = """name: pg-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: u, password: Hostile-Pass-1}}
---
name: pg
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: pg-r, allkeys: true}}]
  postgresql: {{host: 127.0.0.1, port: 1, database: db}}
---
name: lake
version: v2alpha
type: depot
depot:
  type: file
  file: {{path: "{root}", relativePath: landing}}
---
version: v1
name: lakescanner
type: workflow
workflow:
  dag:
    - name: scan
      spec:
        stack: scanner:2.0
        compute: runnable-default
        stackSpec:
          depot: dataos://lake
"""


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli_main.cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def hostile_values(param: click.Parameter) -> list[str]:
    kind = param.type
    if isinstance(kind, click.Choice):
        return CHOICES
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return NUMBERS
    return TEXTS


def ordinary(param: click.Parameter) -> str:
    if isinstance(param.type, click.Choice):
        return str(param.type.choices[0])
    return ORDINARY.get(param.name or "", "x")


def command_lines(path: tuple[str, ...]) -> Iterator[list[str]]:
    """The command with each parameter, in turn, given each hostile value."""
    command = command_at(path)
    params = [p for p in command.params if p.name not in ("help", "version")]
    if not params:
        yield list(path)
    for tried in params:
        if isinstance(tried, click.Option) and (tried.is_flag or tried.count):
            continue
        for value in hostile_values(tried):
            line = list(path)
            for param in params:
                if param is tried:
                    given = value
                elif param.required:
                    given = ordinary(param)
                else:
                    continue
                if isinstance(param, click.Option):
                    line += [param.opts[0], given]
                else:
                    line.append(given)
            yield line


ALL = list(commands(cli_main.cli))


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One home for every command: a depot that cannot be reached, a local-folder depot with
    a dataset, a workflow that scanned it. The working folder is a scratch folder, so files a
    command writes (export trino's etc/catalog) stay in it."""
    root = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENTREPOT_HOME", str(root / "home"))
        patch.setenv("ENTREPOT_USER", "alice")
        for name in ENV_CLEAR:
            patch.delenv(name, raising=False)
        patch.chdir(root)
        redactor.clear()
        make_device(root / "zero", 5)
        write(root / "files" / "landing" / "sales.csv", "id,amount\n1,2.5\n")
        write(root / "manifests.yml", MANIFESTS.format(root=root / "files"))
        applied = run_cli("apply", "-f", "manifests.yml", "--no-verify")
        assert applied.exit_code == 0, applied.output
        yield root
    # A device given as output (export --env-file zero) is never replaced by a file.
    assert stat.S_ISCHR(os.stat(root / "zero").st_mode)


def test_every_command_is_covered() -> None:
    """Each command class checks its arguments' text (cli/params.py): new commands use it."""
    assert len(ALL) > 20
    for path in ALL:
        assert isinstance(command_at(path), (Command, Group)), " ".join(path)


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_hostile_arguments_never_end_in_a_traceback(
    hostile_home: Path, path: tuple[str, ...]
) -> None:
    failures = []
    for line in command_lines(path):
        if known(line):
            continue
        result = run_cli(*line)
        if result.exit_code not in DOCUMENTED or "Traceback" in result.output:
            failures.append(f"{line!r} -> {result.exit_code}: {result.output[-600:]}")
    assert not failures, "\n".join(failures)


STDIN_READERS = [["query"], ["sql"], ["apply", "-f", "-"], ["diff", "-f", "-"]]
STDINS = [
    b"SELECT \xff\xfe 1;\n",
    b"SELECT 1\x00;\n",
    b"\x00" * 1000,
    b"SELECT '" + b"x" * 200_000 + b"';",
    b"",
]


@pytest.mark.parametrize("line", STDIN_READERS, ids=" ".join)
def test_hostile_stdin_never_ends_in_a_traceback(hostile_home: Path, line: list[str]) -> None:
    failures = []
    for data in STDINS:
        result = run_cli(*line, stdin=data)
        if result.exit_code not in DOCUMENTED or "Traceback" in result.output:
            failures.append(
                f"{line!r} < {data[:20]!r} -> {result.exit_code}: {result.output[-600:]}"
            )
    assert not failures, "\n".join(failures)
