"""The CLI as a user runs it: get/apply/diff/delete flags, schema, templates, help, completion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from entrepot.cli.main import cli as click_group
from entrepot.resources.depot_types import DEPOT_TYPES
from tests.conftest import TUTORIAL, add_user, run_cli, run_process, write

SECRET = """name: {name}
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: u, password: Cli-Pass-1}}
"""
DEPOT = """name: {name}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: {secret}, allkeys: true}}]
  postgresql: {{host: h.example.com, database: db}}
"""


def apply_pair(tmp_path: Path, name: str, user: str | None = None) -> None:
    path = write(
        tmp_path / f"{name}.yml",
        SECRET.format(name=f"{name}-r") + "---\n" + DEPOT.format(name=name, secret=f"{name}-r"),
    )
    env = {"ENTREPOT_USER": user} if user else None
    result = run_cli("apply", "-f", str(path), env=env)
    assert result.exit_code == 0, result.stderr


def names(*args: str) -> list[str]:
    result = run_cli("get", *args, "--output", "json")
    assert result.exit_code == 0, result.stderr
    return [r["name"] for r in json.loads(result.stdout)]


def test_get_shows_your_own_resources_unless_all(home: Path, tmp_path: Path) -> None:
    apply_pair(tmp_path, "mine")
    add_user("bob")  # a plain user: roles:id:user manages their own resources
    apply_pair(tmp_path, "theirs", user="bob")
    assert names("-t", "depot") == ["mine"]
    assert names("-t", "depot", "-a") == ["mine", "theirs"]
    assert names("-t", "depot", "-o", "bob") == ["theirs"]
    assert names("-t", "depot", "-a", "-n", "theirs") == ["theirs"]
    assert names("-a") == ["mine", "theirs", "mine-r", "theirs-r"]
    as_yaml = run_cli("get", "-t", "depot", "-a", "--output", "yaml")
    assert [r["owner"] for r in yaml.safe_load(as_yaml.stdout)] == ["alice", "bob"]
    long_form = run_cli("resource", "get", "-t", "depot", "-a")
    assert long_form.exit_code == 0 and "theirs" in long_form.stdout


def test_get_details_show_key_names_and_references(home: Path, tmp_path: Path) -> None:
    apply_pair(tmp_path, "pg")
    result = run_cli("get", "-t", "depot", "-n", "pg", "-d")
    assert "references:" in result.stdout and "pg-r" in result.stdout
    secret = run_cli("get", "-t", "instance-secret", "-d")
    assert "dependents:" in secret.stdout and "depot:v2alpha:pg" in secret.stdout
    assert "- password" in secret.stdout and "Cli-Pass-1" not in secret.output


def test_dry_run_and_lint_write_nothing(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "pair.yml",
        SECRET.format(name="pg-r") + "---\n" + DEPOT.format(name="pg", secret="pg-r"),
    )
    dry = run_cli("apply", "-f", str(path), "--dry-run")
    assert dry.stdout.splitlines() == [
        "applying pg-r:v1:instance-secret...created (dry run)",
        "applying pg:v2alpha:depot...created (dry run)",
    ]
    lint = run_cli("apply", "-f", str(path), "-l")
    assert lint.stdout.splitlines() == [
        "applying pg-r:v1:instance-secret...valid",
        "applying pg:v2alpha:depot...valid",
    ]
    assert names("-a") == []
    assert not (home / "master.key").exists()


def test_diff_exit_codes(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "s.yml", SECRET.format(name="pg-r"))
    first = run_cli("diff", "-f", str(path))
    assert first.exit_code == 1 and "created: pg-r:v1:instance-secret" in first.stdout
    run_cli("apply", "-f", str(path))
    same = run_cli("diff", "-f", str(path))
    assert (same.exit_code, same.stdout) == (0, "")
    write(tmp_path / "s.yml", SECRET.format(name="pg-r").replace("layer", "x") + "layer: system\n")
    changed = run_cli("diff", "-f", str(path))
    assert changed.exit_code == 1
    assert "+layer: system" in changed.stdout
    broken = run_cli("diff", "-f", str(tmp_path / "nope.yml"))
    assert broken.exit_code == 3 and "no such file" in broken.stderr


def test_schema_validates_the_tutorial_manifests(home: Path) -> None:
    for kind, files in {
        "depot": ["depot_manifest.yml"],
        "instance-secret": ["instance_secret.yml"],
        "workflow": ["scanner.yml"],
    }.items():
        result = run_cli("schema", kind)
        assert result.exit_code == 0
        schema = json.loads(result.stdout)
        for name in files:
            manifest = yaml.safe_load((TUTORIAL / name).read_text())
            jsonschema.validate(manifest, schema)
    depot_schema = json.loads(run_cli("schema", "depot", "-v", "v2alpha").stdout)
    bad = yaml.safe_load((TUTORIAL / "depot_manifest.yml").read_text())
    bad["depot"]["jdbc"]["prot"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, depot_schema)


@pytest.mark.parametrize("source_type", sorted(DEPOT_TYPES))
def test_every_template_applies_once_filled(
    home: Path, tmp_path: Path, source_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli("template", "depot", source_type, "-n", "demo")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for var in set(re.findall(r"\$\{([A-Z0-9_]+)\}", text)):
        monkeypatch.setenv(var, "template-value")
    for file_key in re.findall(r"\./(\w+)\.json", text):
        write(tmp_path / f"{file_key}.json", "{}")
    path = write(tmp_path / "template.yml", text)
    applied = run_cli("apply", "-f", str(path), "--no-verify")
    assert applied.exit_code == 0, applied.stderr
    assert applied.stderr == ""  # the template follows every convention: no warning
    assert "applying demo:v2alpha:depot...created" in applied.stdout


def test_template_lists_types_and_rejects_unknown(home: Path) -> None:
    listing = run_cli("template", "depot")
    assert "postgresql" in listing.stdout and "abfss" in listing.stdout
    unknown = run_cli("template", "depot", "postgress")
    assert unknown.exit_code == 3 and "unknown depot type 'postgress'" in unknown.stderr


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("BAD NAME!", "a depot name uses only lowercase letters (a-z) and digits (0-9)"),
        ("my-depot", "a depot name uses only lowercase letters (a-z) and digits (0-9)"),
        ("1sales", "and starts with a letter"),
        ("a" * 49, "at most 48 characters (49 given)"),
        ("a" * 46, "its secret '" + "a" * 46 + "-rw' would be longer than 48 characters"),
    ],
)
def test_template_refuses_a_name_its_manifest_could_not_use(
    home: Path, name: str, rule: str
) -> None:
    result = run_cli("template", "depot", "postgresql", "-n", name)
    assert result.exit_code == 3, result.output
    assert f"-n/--name: error: invalid name '{name}': " in result.stderr
    assert rule in result.stderr
    assert "hint: for example -n " in result.stderr
    assert result.stdout == ""  # no manifest that would not apply
    assert "Traceback" not in result.output


def test_template_takes_the_longest_name_that_applies(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "a" * 45
    result = run_cli("template", "depot", "postgresql", "-n", name)
    assert result.exit_code == 0, result.stderr
    for var in set(re.findall(r"\$\{([A-Z0-9_]+)\}", result.stdout)):
        monkeypatch.setenv(var, "template-value")
    applied = run_cli("apply", "--lint", "-f", str(write(tmp_path / "t.yml", result.stdout)))
    assert applied.exit_code == 0, applied.stderr
    assert f"applying {name}-rw:v1:instance-secret...valid" in applied.stdout


def _commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import click

    assert isinstance(group, click.Group)
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out.extend(_commands(command, (*prefix, name)))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("command", _commands(click_group), ids=" ".join)
def test_every_command_has_help_with_examples(home: Path, command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_usage_errors_are_clear(home: Path) -> None:
    result = run_cli("get", "-t", "depots")
    assert result.exit_code == 2
    assert "'depots' is not one of" in result.stderr and "Traceback" not in result.output
    missing = run_cli("delete")
    assert missing.exit_code == 2
    assert "give -t TYPE -n NAME, -i NAME:VERSION:TYPE, or -f PATH" in missing.stderr


def test_console_scripts_and_completion(home: Path) -> None:
    version = run_process("--version", program="dataos-ctl")
    assert version.exit_code == 0 and "0.1.0" in version.stdout
    script = run_process("completion", "bash")
    assert "_ENTREPOT_COMPLETE" in script.stdout
    words = run_process(
        env={"_ENTREPOT_COMPLETE": "bash_complete", "COMP_WORDS": "entrepot ap", "COMP_CWORD": "1"}
    )
    assert "apply" in words.stdout


def test_stdin_manifest(home: Path) -> None:
    result = run_cli("apply", "-f", "-", stdin=SECRET.format(name="piped-r"))
    assert result.stdout.strip() == "applying piped-r:v1:instance-secret...created"
    assert names("-t", "instance-secret") == ["piped-r"]


def test_a_terminal_gets_a_rich_table_and_a_pipe_plain_text(home: Path, tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    apply_pair(tmp_path, "pg")
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "entrepot"), "get", "-t", "depot"],
        stdout=child_fd,
        stderr=child_fd,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main_fd)
    screen = b"".join(chunks).decode()
    assert "NAME" in screen and "pg" in screen
    assert "|" not in screen  # rich draws columns, not pipes
    piped = run_process("get", "-t", "depot")
    assert " | " in piped.stdout


def test_every_manifest_kind_can_be_listed_deleted_and_described(home: Path) -> None:
    """The CLI's type choices are written out (importing the kinds would slow `get` down):
    each kind apply takes must be one of them."""
    from entrepot.resources.compile import RESOURCE_TYPES

    for kind in RESOURCE_TYPES:
        listed = run_cli("get", "-t", kind)
        assert listed.exit_code == 0, listed.output
        gone = run_cli("delete", "-t", kind, "-n", "nothing")
        assert gone.exit_code == 4, gone.output
        assert f"{kind} 'nothing' not found" in gone.stderr
        described = run_cli("schema", kind)
        assert described.exit_code == 0 and json.loads(described.stdout)["title"], kind
