"""Every broken manifest in tests/corpus/broken/ is refused with a positioned, helpful message.

Each corpus file starts with comment lines saying what the user must see:

    # expect: 9:5                 (first line may be a position: FILE:9:5 must be in stderr)
    # expect: some message        (a substring of stderr)
    # reject: some text           (must not appear in stdout or stderr)
    # env: NAME=value             (set for this case)
    # unset: NAME                 (removed from the environment for this case)
    # args: --set host=x          (extra arguments to `apply`)
    # exit: 3                     (expected exit code, 3 unless given)
    # lint: some warning          (a reference to what is not applied yet: `apply --lint`,
                                   which checks documents alone, passes with this warning)

Every case also checks: no traceback, no secret marker (CORPUS-SECRET-*) in the output, and
nothing written to the store.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from entrepot.manifest.loader import MAX_MANIFEST_BYTES
from tests.conftest import Result, run_cli, write

CORPUS = Path(__file__).parent / "corpus" / "broken"
CASES = sorted(CORPUS.glob("*.yaml"))
POSITION = re.compile(r"\d+:\d+")
MARKER = "CORPUS-SECRET"
INVALID = 3


@dataclass
class Case:
    path: Path
    position: str | None = None
    expects: list[str] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    exit_code: int = INVALID
    lint_warnings: list[str] = field(default_factory=list)


def parse_case(path: Path) -> Case:
    """Read the leading comment lines (the file itself may hold invalid UTF-8 further down)."""
    case = Case(path)
    text = path.read_bytes().decode("utf-8", errors="replace")
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].strip().partition(":")
        value = value.strip()
        if not sep:
            continue
        if key == "expect":
            if not case.expects and case.position is None and POSITION.fullmatch(value):
                case.position = value
            else:
                case.expects.append(value)
        elif key == "reject":
            case.rejects.append(value)
        elif key == "env":
            name, _, env_value = value.partition("=")
            case.env[name.strip()] = env_value.strip()
        elif key == "unset":
            case.unset.append(value)
        elif key == "args":
            case.args.extend(shlex.split(value))
        elif key == "exit":
            case.exit_code = int(value)
        elif key == "lint":
            case.lint_warnings.append(value)
    return case


def stored() -> list[dict[str, object]]:
    result = run_cli("get", "-a", "--output", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def assert_refused(result: Result, exit_code: int = INVALID) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    assert MARKER not in result.output, "a secret value was printed"
    assert stored() == [], "nothing may be written when a manifest is invalid"


def assert_messages(case: Case, result: Result) -> None:
    """Each expected text is in stderr (not merely in the file's name, which stderr repeats)."""
    messages = result.stderr.replace(str(case.path), "<file>")
    for expected in case.expects:
        assert expected in messages, f"missing {expected!r} in:\n{result.stderr}"
    for unwanted in case.rejects:
        assert unwanted not in result.output, f"unexpected {unwanted!r} in:\n{result.output}"


def test_corpus_is_well_formed() -> None:
    assert len(CASES) >= 35
    numbers = [path.name.split("_", 1)[0] for path in CASES]
    assert len(set(numbers)) == len(numbers), "corpus numbers must be unique"
    for path in CASES:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.yaml", path.name), path.name
        assert parse_case(path).expects, f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", CASES, ids=[path.name for path in CASES])
def test_broken_manifest_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    case = parse_case(path)
    for name in case.unset:
        monkeypatch.delenv(name, raising=False)
    result = run_cli("apply", "-f", str(path), *case.args, env=case.env)
    if case.position is not None:
        assert f"{path}:{case.position}:" in result.stderr, result.stderr
    assert_messages(case, result)
    assert " error: " in result.stderr
    assert_refused(result, case.exit_code)


@pytest.mark.parametrize("path", CASES, ids=[path.name for path in CASES])
def test_broken_manifest_fails_lint_too(
    home: Path, monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    """`apply --lint` reports the same problem, and writes nothing either; a reference to a
    resource not applied yet is a warning there (lint checks the documents alone)."""
    case = parse_case(path)
    for name in case.unset:
        monkeypatch.delenv(name, raising=False)
    result = run_cli("apply", "--lint", "-f", str(path), *case.args, env=case.env)
    if case.lint_warnings:
        messages = result.stderr.replace(str(case.path), "<file>")
        for expected in case.lint_warnings:
            assert expected in messages, f"missing {expected!r} in:\n{result.stderr}"
        assert " error: " not in result.stderr and " warning: " in result.stderr
        assert_refused(result, 0)
        return
    assert_messages(case, result)
    assert_refused(result, case.exit_code)


def _padded_secret(size: int) -> str:
    head = (
        "name: postgres-r\nversion: v1\ntype: instance-secret\n"
        "instance-secret:\n  type: key-value\n  acl: r\n  data:\n    password: CORPUS-SECRET-99\n"
    )
    line = "# " + "x" * 97 + "\n"
    return head + line * (size // len(line) + 1)


def test_file_over_the_size_limit_is_refused(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "huge.yaml", _padded_secret(MAX_MANIFEST_BYTES))
    assert path.stat().st_size > MAX_MANIFEST_BYTES
    result = run_cli("apply", "-f", str(path))
    assert f"{path}: error: file is larger than {MAX_MANIFEST_BYTES} bytes" in result.stderr
    assert "ENTREPOT_MAX_MANIFEST_BYTES" in result.stderr
    assert_refused(result)


def test_stdin_over_the_size_limit_is_refused(home: Path) -> None:
    result = run_cli("apply", "-f", "-", stdin=_padded_secret(MAX_MANIFEST_BYTES))
    assert f"<stdin>: error: file is larger than {MAX_MANIFEST_BYTES} bytes" in result.stderr
    assert_refused(result)


def test_file_at_the_size_limit_is_accepted(home: Path, tmp_path: Path) -> None:
    text = _padded_secret(MAX_MANIFEST_BYTES)[:MAX_MANIFEST_BYTES]
    path = tmp_path / "big.yaml"
    path.write_text(text.rsplit("\n", 1)[0] + "\n")
    assert path.stat().st_size <= MAX_MANIFEST_BYTES
    result = run_cli("apply", "--lint", "-f", str(path))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("value", ["abc", "-1", "0", "4MiB", "1.5", "9" * 5000])
def test_a_manifest_size_limit_that_is_no_number_is_refused(
    home: Path, tmp_path: Path, value: str
) -> None:
    path = write(tmp_path / "s.yaml", GOOD_SECRET)
    result = run_cli("apply", "-f", str(path), env={"ENTREPOT_MAX_MANIFEST_BYTES": value})
    assert (
        f"{path}: error: ENTREPOT_MAX_MANIFEST_BYTES is '{value[:40]}', not a number of bytes "
        "above 0" in result.stderr
    )
    assert "hint: set it to a whole number of bytes" in result.stderr
    assert_refused(result)


def test_the_manifest_size_limit_is_read_from_the_environment(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", GOOD_SECRET)
    size = path.stat().st_size
    small = run_cli("apply", "-f", str(path), env={"ENTREPOT_MAX_MANIFEST_BYTES": str(size - 1)})
    assert f"error: file is larger than {size - 1} bytes" in small.stderr
    assert_refused(small)
    exact = run_cli("apply", "-f", str(path), env={"ENTREPOT_MAX_MANIFEST_BYTES": str(size)})
    assert exact.exit_code == 0, exact.output


# --- all or nothing -----------------------------------------------------------------------------

GOOD_SECRET = """\
name: postgres-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data:
    username: reader
    password: CORPUS-SECRET-101
"""

BROKEN_DEPOT = """\
name: postgres
version: v2alpha
type: depot
depot:
  type: postgresql
  external: true
  secrets:
    - name: postgres-r
  postgresql:
    host: db.example.com
    prot: 5432
    database: sales
"""


def test_multi_document_file_with_one_broken_document_writes_nothing(
    home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "both.yaml", GOOD_SECRET + "---\n" + BROKEN_DEPOT)
    result = run_cli("apply", "-f", str(path))
    assert f"{path}:21:5: error: depot.postgresql.prot: unknown field 'prot'" in result.stderr
    assert "did you mean 'port'?" in result.stderr
    assert "created" not in result.stdout
    assert_refused(result)


def test_directory_with_one_broken_file_writes_nothing(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    write(folder / "secret.yaml", GOOD_SECRET)
    broken = write(folder / "depots" / "postgres.yaml", BROKEN_DEPOT)
    result = run_cli("apply", "-f", str(folder), "-R")
    assert f"{broken}:11:5: error: depot.postgresql.prot: unknown field 'prot'" in result.stderr
    assert "created" not in result.stdout
    assert_refused(result)


def test_broken_update_leaves_the_stored_resource_untouched(home: Path, tmp_path: Path) -> None:
    assert run_cli("apply", "-f", str(write(tmp_path / "s.yaml", GOOD_SECRET))).exit_code == 0
    before = run_cli("get", "-a", "-d", "--output", "json").stdout
    changed = GOOD_SECRET.replace("version: v1\n", "version: v1\ndescription: changed\n")
    path = write(tmp_path / "update.yaml", changed + "---\n" + BROKEN_DEPOT)
    result = run_cli("apply", "-f", str(path))
    assert result.exit_code == INVALID, result.output
    assert "Traceback" not in result.output
    assert MARKER not in result.output
    assert run_cli("get", "-a", "-d", "--output", "json").stdout == before


def test_every_problem_of_every_file_is_reported_at_once(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    first = write(folder / "a.yaml", GOOD_SECRET.replace("acl: r", "acl: x"))
    second = write(folder / "b.yaml", BROKEN_DEPOT.replace("type: postgresql", "type: postgress"))
    result = run_cli("apply", "-f", str(folder))
    assert f"{first}:6:3: error: instance-secret.acl: expected one of 'r' or 'rw'" in result.stderr
    assert f"{second}:5:3: error: depot.type: unknown depot type 'postgress'" in result.stderr
    assert_refused(result)


def test_stdin_errors_are_positioned(home: Path) -> None:
    result = run_cli("apply", "-f", "-", stdin=GOOD_SECRET.replace("acl: r", "acl: x"))
    assert "<stdin>:6:3: error: instance-secret.acl: expected one of 'r' or 'rw'" in result.stderr
    assert_refused(result)
