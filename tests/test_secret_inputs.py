"""What goes into a secret from a manifest: `files:` read safely, values as written, and
`${VAR}` interpolation that never reads entrepot's own settings nor stores secrets in clear.

Each test applies through the CLI as a user does and reads back what the store kept (values by
the connection service, the rest by `get`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from entrepot.resources.compile import MAX_SECRET_FILE_BYTES
from entrepot.secrets.redact import redactor
from tests.conftest import BIN, Result, depot_connection, run_cli, secret_values, write

SECRET_WITH_FILE = """\
name: pg-tls
version: v1
type: instance-secret
instance-secret:
  type: certificates
  acl: r
  files:
    rootcert: {path}
"""
FILE_LINE = 8  # the line of `rootcert:` above
CERT = "-----BEGIN CERTIFICATE-----\nMIIBsecretfilebody==\n-----END CERTIFICATE-----\n"


def stored_ids() -> list[str]:
    redactor.clear()
    result = run_cli("get", "-a", "--output", "json")
    assert result.exit_code == 0, result.output
    return sorted(record["id"] for record in json.loads(result.stdout))


def refused(result: Result) -> None:
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert stored_ids() == []


def run_bounded(*args: str) -> Result:
    """The CLI in a process that cannot hang this test nor eat this machine's memory: a read of
    /dev/zero or of a FIFO fails the test (timeout, a 2 GiB address-space limit set by the
    shell's ulimit) instead of stalling it."""
    proc = subprocess.run(
        ["sh", "-c", 'ulimit -v 2097152 && exec "$0" "$@"', str(BIN / "entrepot"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# --- files: ------------------------------------------------------------------------------------


def test_a_fifo_is_refused_without_waiting_for_a_writer(home: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "ca.pem")
    manifest = write(tmp_path / "tls.yaml", SECRET_WITH_FILE.format(path="ca.pem"))
    result = run_bounded("apply", "-f", str(manifest))
    assert (
        f"{manifest}:{FILE_LINE}:5: error: instance-secret.files.rootcert: file 'ca.pem' is a "
        "named pipe (FIFO), not a regular file" in result.stderr
    )
    assert "hint: 'files' takes regular files" in result.stderr
    refused(result)


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["apply", "dry-run"])
def test_a_device_is_refused_without_reading_it(
    home: Path, tmp_path: Path, dry_run: list[str]
) -> None:
    (tmp_path / "zero").symlink_to("/dev/zero")
    manifest = write(tmp_path / "tls.yaml", SECRET_WITH_FILE.format(path="zero"))
    result = run_bounded("apply", *dry_run, "--allow-files-outside", "-f", str(manifest))
    assert (
        f"{manifest}:{FILE_LINE}:5: error: instance-secret.files.rootcert: file 'zero' is a "
        "character device, not a regular file" in result.stderr
    )
    refused(result)


def test_a_folder_is_refused(home: Path, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    manifest = write(tmp_path / "tls.yaml", SECRET_WITH_FILE.format(path="certs"))
    result = run_cli("apply", "-f", str(manifest))
    assert "file 'certs' is a folder, not a regular file" in result.stderr
    refused(result)


def test_a_file_over_the_limit_is_refused_and_one_at_the_limit_accepted(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "big.pem").write_bytes(b"x" * (MAX_SECRET_FILE_BYTES + 1))
    (tmp_path / "ok.pem").write_bytes(b"y" * MAX_SECRET_FILE_BYTES)
    big = write(tmp_path / "big.yaml", SECRET_WITH_FILE.format(path="big.pem"))
    result = run_cli("apply", "-f", str(big))
    assert (
        f"{big}:{FILE_LINE}:5: error: instance-secret.files.rootcert: file 'big.pem' is larger "
        f"than {MAX_SECRET_FILE_BYTES} bytes" in result.stderr
    )
    refused(result)
    ok = write(tmp_path / "ok.yaml", SECRET_WITH_FILE.format(path="ok.pem"))
    assert run_cli("apply", "-f", str(ok)).exit_code == 0
    assert secret_values("pg-tls").files["rootcert"] == b"y" * (1 << 20)


def _outside(tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A `files:` path written as `how` that leads to tmp_path/elsewhere/ca.pem (or ~/ca.pem),
    outside the manifest's folder tmp_path/manifests."""
    target = write(tmp_path / "elsewhere" / "ca.pem", CERT)
    folder = tmp_path / "manifests"
    folder.mkdir()
    if how == "absolute":
        return str(target)
    if how == "dotdot":
        return "../elsewhere/ca.pem"
    if how == "symlink":
        (folder / "ca.pem").symlink_to(target)
        return "ca.pem"
    assert how == "home"
    home_dir = tmp_path / "user-home"
    write(home_dir / "ca.pem", CERT)
    monkeypatch.setenv("HOME", str(home_dir))
    return "~/ca.pem"


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "home"])
def test_a_file_outside_the_manifest_folder_needs_the_flag(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    path = _outside(tmp_path, how, monkeypatch)
    manifest = write(tmp_path / "manifests" / "tls.yaml", SECRET_WITH_FILE.format(path=path))
    result = run_cli("apply", "-f", str(manifest))
    assert (
        f"{manifest}:{FILE_LINE}:5: error: instance-secret.files.rootcert: file '{path}' is "
        f"outside the manifest's folder {tmp_path / 'manifests'}" in result.stderr
    )
    assert "hint: keep secret files in the manifest's folder" in result.stderr
    assert "--allow-files-outside" in result.stderr
    refused(result)
    assert run_cli("diff", "-f", str(manifest)).exit_code == 3
    allowed = run_cli("apply", "--allow-files-outside", "-f", str(manifest))
    assert "applying pg-tls:v1:instance-secret...created" in allowed.stdout, allowed.output
    assert secret_values("pg-tls").files["rootcert"] == CERT.encode()


def test_files_inside_the_folder_need_no_flag(home: Path, tmp_path: Path) -> None:
    write(tmp_path / "certs" / "real.pem", CERT)
    (tmp_path / "link.pem").symlink_to(tmp_path / "certs" / "real.pem")  # leads inside
    manifest = write(
        tmp_path / "tls.yaml",
        SECRET_WITH_FILE.format(path="certs/../certs/real.pem") + "    link: ./link.pem\n",
    )
    result = run_cli("apply", "-f", str(manifest))
    assert result.exit_code == 0, result.output
    files = secret_values("pg-tls").files
    assert files == {"rootcert": CERT.encode(), "link": CERT.encode()}


def test_the_flag_is_documented_in_help() -> None:
    for command in ("apply", "diff"):
        result = run_cli(command, "--help")
        assert "--allow-files-outside" in result.stdout
        assert "outside the manifest's folder" in " ".join(result.stdout.split())


# --- secret values are the text written ----------------------------------------------------------

YAML_11_VALUES = [
    "0123",  # octal in YAML 1.1: 83
    "0x1F",  # hexadecimal: 31
    "1_000",  # underscores: 1000
    "0b101",  # binary: 5
    "190:20:30",  # sexagesimal: 685230
    "+12",
    "-0",
    "1.5e+3",  # 1500.0
    "1.50",  # 1.5
    ".inf",
    "-.Inf",
    ".NaN",
    "yes",  # true
    "No",  # false
    "on",
    "OFF",
    "true",
    "2024-01-01",  # a date
    "2001-12-14t21:59:43.10-05:00",  # a timestamp
]


@pytest.mark.parametrize("value", YAML_11_VALUES)
def test_an_instance_secret_value_is_the_text_written(
    home: Path, tmp_path: Path, value: str
) -> None:
    text = (
        "name: pg-r\nversion: v1\ntype: instance-secret\ninstance-secret:\n"
        f"  type: key-value\n  acl: r\n  data:\n    password: {value}\n"
        f"    pin: {{{{pin}}}}\n"  # an unquoted placeholder, filled by --set, is read as YAML
    )
    path = write(tmp_path / "s.yaml", text)
    result = run_cli("apply", "-f", str(path), "--set", f"pin={value}")
    assert result.exit_code == 0, result.output
    data = secret_values("pg-r").data
    assert data == {"password": value, "pin": value}
    # Written the same, quoted or not: nothing to change on the next apply.
    quoted = write(tmp_path / "q.yaml", text.replace(f"password: {value}", f"password: '{value}'"))
    again = run_cli("apply", "-f", str(quoted), "--set", f"pin={value}")
    assert again.stdout.strip() == "applying pg-r:v1:instance-secret...unchanged", again.output


def test_inline_connection_secret_values_are_the_text_written(home: Path, tmp_path: Path) -> None:
    text = """\
name: legacy
version: v1
type: depot
depot:
  type: ELASTICSEARCH
  connectionSecret:
    - acl: r
      type: key-value-properties
      data: {username: elastic, password: 0123}
    - acl: rw
      values: {username: admin, password: 0x1F, token: 2024-01-01}
  spec: {nodes: ["localhost:9200"]}
"""
    result = run_cli("apply", "--no-verify", "-f", str(write(tmp_path / "d.yaml", text)))
    assert result.exit_code == 0, result.output
    assert depot_connection("legacy", "r").data == {
        "username": "elastic",
        "password": "0123",
    }
    assert depot_connection("legacy", "rw").data == {
        "username": "admin",
        "password": "0x1F",
        "token": "2024-01-01",
    }


def test_a_file_named_like_a_number_is_read_by_its_name(home: Path, tmp_path: Path) -> None:
    write(tmp_path / "0123", CERT)
    manifest = write(tmp_path / "tls.yaml", SECRET_WITH_FILE.format(path="0123"))
    assert run_cli("apply", "-f", str(manifest)).exit_code == 0
    assert secret_values("pg-tls").files["rootcert"] == CERT.encode()


# --- ${VAR} interpolation ------------------------------------------------------------------------

SECRET_TEMPLATE = """\
name: pg-r
version: v1
type: instance-secret
description: {description}
instance-secret:
  type: key-value
  acl: r
  data:
    password: {password}
"""


@pytest.mark.parametrize(
    ("field", "reference", "variable"),
    [
        ("description", "${ENTREPOT_STORE_URL}", "ENTREPOT_STORE_URL"),
        ("description", "$ENTREPOT_STORE_URL", "ENTREPOT_STORE_URL"),
        ("description", "'db at ${ENTREPOT_STORE_URL}'", "ENTREPOT_STORE_URL"),
        ("password", "${ENTREPOT_MASTER_KEY}", "ENTREPOT_MASTER_KEY"),
        ("description", "${ENTREPOT_NOT_SET_ANYWHERE:-fallback}", "ENTREPOT_NOT_SET_ANYWHERE"),
    ],
)
def test_entrepot_variables_are_never_interpolated(
    home: Path, tmp_path: Path, field: str, reference: str, variable: str
) -> None:
    values = {"description": "plain", "password": "Pw-Value-1", field: reference}
    path = write(tmp_path / "s.yaml", SECRET_TEMPLATE.format(**values))
    line, column = (4, 14) if field == "description" else (9, 15)
    store_url = "postgresql+psycopg://admin:Store-Password-77@db.example/entrepot"
    master_key = "yH1mYbDsqhF4VbO_Q4cA1SBpEdIcbK9xRkcZzZxgGJY="
    env = {"ENTREPOT_STORE_URL": store_url, "ENTREPOT_MASTER_KEY": master_key}
    result = run_cli("apply", "--lint", "-f", str(path), env=env)
    path_text = "description" if field == "description" else "instance-secret.data.password"
    assert (
        f"{path}:{line}:{column}: error: {path_text}: environment variable '{variable}' cannot "
        "be interpolated: ENTREPOT_* variables configure entrepot itself" in result.stderr
    ), result.stderr
    assert (
        f"hint: write the value itself, or export a variable of your own; $${{{variable}}} "
        f"keeps the text '${{{variable}}}' as written" in result.stderr
    )
    assert "Store-Password-77" not in result.output and master_key not in result.output
    assert result.exit_code == 3
    assert "Traceback" not in result.output


def test_get_never_shows_the_store_password(home: Path, tmp_path: Path) -> None:
    """The issue's case: `description: ${ENTREPOT_STORE_URL}` then `get -d`."""
    path = write(tmp_path / "s.yaml", SECRET_TEMPLATE.format(
        description="${ENTREPOT_STORE_URL}", password="Pw-Value-1"))  # fmt: skip
    env = {"ENTREPOT_STORE_URL": f"sqlite:///{home / 'entrepot.db'}?password=Store-Pw-88"}
    result = run_cli("apply", "-f", str(path), env=env)
    assert result.exit_code == 3, result.output
    shown = run_cli("get", "-a", "-d")
    assert "Store-Pw-88" not in shown.output
    assert stored_ids() == []


def test_a_literal_dollar_entrepot_text_is_kept(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", SECRET_TEMPLATE.format(
        description="'see $${ENTREPOT_HOME}'", password="Pw-Value-1"))  # fmt: skip
    result = run_cli("apply", "-f", str(path))
    assert result.exit_code == 0, result.output
    redactor.clear()
    [record] = json.loads(run_cli("get", "-a", "--output", "json").stdout)
    assert record["description"] == "see ${ENTREPOT_HOME}"


def test_interpolating_a_field_stored_in_clear_warns(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", SECRET_TEMPLATE.format(
        description="'${TEAM} credentials, $TEAM'", password="${PG_PASSWORD}"))  # fmt: skip
    env = {"TEAM": "finance", "PG_PASSWORD": "Interpolated-Pw-5"}
    result = run_cli("apply", "-f", str(path), env=env)
    assert result.exit_code == 0, result.output
    assert (
        f"{path}:4:14: warning: description: ${{TEAM}} interpolated into a field stored in "
        "clear: its value is kept as is and shown by 'get -d'" in result.stderr
    )
    assert "hint: only secret values" in result.stderr
    assert result.stderr.count("warning:") == 1  # nothing about the password: it is encrypted
    assert "Interpolated-Pw-5" not in result.output and "finance" not in result.stderr


def test_interpolated_depot_fields_warn_and_are_kept(home: Path, tmp_path: Path) -> None:
    text = """\
name: postgres-r
version: v1
type: instance-secret
instance-secret: {type: key-value-properties, acl: r, data: {username: u, password: p-1234}}
---
name: postgres
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{name: postgres-r, allkeys: true}]
  postgresql:
    host: $PG_HOST
    database: ${PG_DB}_${REGION}
"""
    path = write(tmp_path / "all.yaml", text)
    env = {"PG_HOST": "db.internal", "PG_DB": "sales", "REGION": "eu"}
    result = run_cli("apply", "--no-verify", "-f", str(path), env=env)
    assert result.exit_code == 0, result.output
    assert f"{path}:13:11: warning: depot.postgresql.host: ${{PG_HOST}} interpolated" in (
        result.stderr
    )
    assert (
        f"{path}:14:15: warning: depot.postgresql.database: ${{PG_DB}} and ${{REGION}} "
        "interpolated" in result.stderr
    )
    lint = run_cli("apply", "--lint", "-f", str(path), env=env)
    assert lint.stderr.count("warning:") == 2


def test_the_tutorial_secret_gives_no_interpolation_warning(home: Path, tmp_path: Path) -> None:
    """`acl: ${ACCESS_CONTROL_LIST}` is inside the secret's section (and takes r or rw only)."""
    from tests.conftest import TUTORIAL

    env = {"ACCESS_CONTROL_LIST": "r", "POSTGRES_USERNAME": "u", "POSTGRES_PASSWORD": "pw-1234"}
    result = run_cli("apply", "-f", str(TUTORIAL / "instance_secret.yml"), env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
