"""What goes into a secret from a manifest: `files:` read safely, values as written, and
`${VAR}` interpolation that never reads entrepot's own settings nor stores secrets in clear.

Each test applies through the CLI as a user does and reads back what the store kept (values by
`Service.resolve_secret`, the rest by `get`).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from entrepot.resources.compile import MAX_SECRET_FILE_BYTES
from entrepot.secrets.redact import redactor
from entrepot.service import Service
from tests.conftest import BIN, Result, run_cli, write

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


def run_bounded(*args: str, cwd: Path | None = None) -> Result:
    """The CLI in a process that cannot hang this test nor eat this machine's memory: a read of
    /dev/zero or of a FIFO fails the test (timeout, memory limit) instead of stalling it."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run(
        [str(BIN / "entrepot"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
        cwd=cwd,
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
    assert Service().resolve_secret("pg-tls", "test").files["rootcert"] == b"y" * (1 << 20)


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
    assert Service().resolve_secret("pg-tls", "test").files["rootcert"] == CERT.encode()


def test_files_inside_the_folder_need_no_flag(home: Path, tmp_path: Path) -> None:
    write(tmp_path / "certs" / "real.pem", CERT)
    (tmp_path / "link.pem").symlink_to(tmp_path / "certs" / "real.pem")  # leads inside
    manifest = write(
        tmp_path / "tls.yaml",
        SECRET_WITH_FILE.format(path="certs/../certs/real.pem") + "    link: ./link.pem\n",
    )
    result = run_cli("apply", "-f", str(manifest))
    assert result.exit_code == 0, result.output
    files = Service().resolve_secret("pg-tls", "test").files
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
    data = Service().resolve_secret("pg-r", "test").data
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
    service = Service()
    [row] = service.list_resources(rtype="depot", all_owners=True, details=True)
    assert service.resolve_connection(row, "r", "test").data == {
        "username": "elastic",
        "password": "0123",
    }
    assert service.resolve_connection(row, "rw", "test").data == {
        "username": "admin",
        "password": "0x1F",
        "token": "2024-01-01",
    }


def test_a_file_named_like_a_number_is_read_by_its_name(home: Path, tmp_path: Path) -> None:
    write(tmp_path / "0123", CERT)
    manifest = write(tmp_path / "tls.yaml", SECRET_WITH_FILE.format(path="0123"))
    assert run_cli("apply", "-f", str(manifest)).exit_code == 0
    assert Service().resolve_secret("pg-tls", "test").files["rootcert"] == CERT.encode()
