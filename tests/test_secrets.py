"""Instance secrets: envelope encryption at rest, binding, key rotation, files, audit."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from pathlib import Path

import pytest

from entrepot.errors import RefusedError, StoreError
from entrepot.service import Service
from tests.conftest import run_cli, write

SECRET = """name: {name}
version: v1
type: instance-secret
layer: user
instance-secret:
  type: {type}
  acl: {acl}
  data:
    username: app_user
    password: {password}
"""


def apply_secret(tmp_path: Path, name: str = "postgres-r", password: str = "S3cret-Value-1",
                 acl: str = "r", type: str = "key-value-properties") -> None:  # fmt: skip
    path = write(
        tmp_path / f"{name}.yml",
        SECRET.format(name=name, password=password, acl=acl, type=type),
    )
    result = run_cli("apply", "-f", str(path))
    assert result.exit_code == 0, result.stderr


def db_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("entrepot.db*"))


def test_values_are_encrypted_at_rest_and_never_listed(home: Path, tmp_path: Path) -> None:
    apply_secret(tmp_path, password="Plaintext-Canary-42")
    assert b"Plaintext-Canary-42" not in db_bytes(home)
    assert b"app_user" not in db_bytes(home)
    shown = run_cli("get", "-t", "instance-secret", "-d", "--output", "json")
    [record] = json.loads(shown.stdout)
    assert record["secrets"][0]["keys"] == ["password", "username"]
    assert record["manifest"]["instance-secret"]["data"] == {
        "username": "<hidden>",
        "password": "<hidden>",
    }
    assert "Plaintext-Canary-42" not in shown.output and "app_user" not in shown.output


def test_master_key_is_created_private_on_first_use(home: Path, tmp_path: Path) -> None:
    apply_secret(tmp_path)
    key_file = home / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(base64.urlsafe_b64decode(key_file.read_text().strip())) == 32


def test_master_key_readable_by_others_is_refused(home: Path, tmp_path: Path) -> None:
    apply_secret(tmp_path)
    (home / "master.key").chmod(0o644)
    result = run_cli("apply", "-f", str(write(tmp_path / "b.yml", SECRET.format(
        name="other-r", password="x-y-z-w", acl="r", type="key-value"))))  # fmt: skip
    assert result.exit_code == 6
    assert "readable by others" in result.stderr and "chmod 600" in result.stderr


def test_resolving_decrypts_and_audits(home: Path, tmp_path: Path) -> None:
    apply_secret(tmp_path, password="Resolve-Me-7")
    service = Service()
    secret = service.resolve_secret("postgres-r", "connector check of depot postgres", acl="r")
    assert secret.data == {"username": "app_user", "password": "Resolve-Me-7"}
    assert "Resolve-Me-7" not in repr(secret)
    events = run_cli("admin", "audit", "--output", "json")
    decrypts = [e for e in json.loads(events.stdout) if e["action"] == "decrypt"]
    assert decrypts[0]["actor"] == "alice"
    assert decrypts[0]["resource_name"] == "postgres-r"
    assert decrypts[0]["purpose"] == "connector check of depot postgres"
    with pytest.raises(RefusedError, match="has acl 'r', not 'rw'"):
        service.resolve_secret("postgres-r", "write", acl="rw")


def test_a_ciphertext_moved_to_another_secret_does_not_open(home: Path, tmp_path: Path) -> None:
    apply_secret(tmp_path, name="alpha-r", password="Alpha-Value")
    apply_secret(tmp_path, name="beta-r", password="Beta-Value")
    with sqlite3.connect(home / "entrepot.db") as db:
        ids = dict(db.execute("SELECT name, id FROM resource WHERE type = 'instance-secret'"))
        alpha = db.execute(
            "SELECT data_key_id, ciphertext FROM secret_material WHERE resource_id = ?",
            (ids["alpha-r"],),
        ).fetchone()
        db.execute(
            "UPDATE secret_material SET data_key_id = ?, ciphertext = ? WHERE resource_id = ?",
            (alpha[0], alpha[1], ids["beta-r"]),
        )
    service = Service()
    assert service.resolve_secret("alpha-r", "test").data["password"] == "Alpha-Value"
    with pytest.raises(StoreError, match="does not open"):
        service.resolve_secret("beta-r", "test")


def test_rotate_key_rewraps_every_data_key(home: Path, tmp_path: Path) -> None:
    apply_secret(tmp_path, name="one-r", password="One-Value")
    apply_secret(tmp_path, name="two-r", password="Two-Value")
    old_key = (home / "master.key").read_text()
    with sqlite3.connect(home / "entrepot.db") as db:
        before = dict(db.execute("SELECT id, wrapped FROM data_key"))
    result = run_cli("admin", "rotate-key")
    assert result.exit_code == 0, result.stderr
    assert "re-wrapped 3 data keys" in result.stdout  # two secrets + the fingerprint key
    assert (home / "master.key").read_text() != old_key
    assert not (home / "master.key.next").exists()
    with sqlite3.connect(home / "entrepot.db") as db:
        after = dict(db.execute("SELECT id, wrapped FROM data_key"))
        key_ids = {row[0] for row in db.execute("SELECT master_key_id FROM data_key")}
    assert before.keys() == after.keys()
    assert all(before[k] != after[k] for k in before)
    assert len(key_ids) == 1
    assert Service().resolve_secret("two-r", "test").data["password"] == "Two-Value"
    # Unchanged secrets stay unchanged after a rotation (fingerprints survive it).
    again = run_cli("apply", "-f", str(tmp_path / "one-r.yml"))
    assert again.stdout.strip() == "applying one-r:v1:instance-secret...unchanged"
    # The old key no longer opens anything.
    os.environ["ENTREPOT_MASTER_KEY"] = old_key.strip()
    try:
        with pytest.raises(StoreError, match="not loaded"):
            Service().resolve_secret("one-r", "test")
    finally:
        del os.environ["ENTREPOT_MASTER_KEY"]


def test_master_key_from_environment(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("ENTREPOT_MASTER_KEY", key)
    apply_secret(tmp_path, password="Env-Key-Value")
    assert not (home / "master.key").exists()
    refused = run_cli("admin", "rotate-key")
    assert refused.exit_code == 6 and "ENTREPOT_NEW_MASTER_KEY" in refused.stderr
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("ENTREPOT_NEW_MASTER_KEY", new_key)
    assert run_cli("admin", "rotate-key").exit_code == 0
    monkeypatch.setenv("ENTREPOT_MASTER_KEY", new_key)
    assert Service().resolve_secret("postgres-r", "t").data["password"] == "Env-Key-Value"
    monkeypatch.setenv("ENTREPOT_MASTER_KEY", "not-a-key")
    bad = run_cli("apply", "-f", str(tmp_path / "postgres-r.yml"))
    assert bad.exit_code == 6
    assert "ENTREPOT_MASTER_KEY is not a valid master key" in bad.stderr


def test_files_are_read_relative_to_the_manifest_and_encrypted(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    write(folder / "ca.pem", "-----BEGIN CERTIFICATE-----\nMIIBcertificatebody==\n")
    manifest = write(
        folder / "tls.yml",
        """name: pg-tls
version: v1
type: instance-secret
instance-secret:
  type: certificate
  acl: r
  files:
    rootcert: ca.pem
""",
    )
    result = run_cli("apply", "-f", str(manifest))
    assert result.exit_code == 0, result.stderr
    assert b"MIIBcertificatebody" not in db_bytes(home)
    secret = Service().resolve_secret("pg-tls", "tls")
    assert secret.files["rootcert"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert secret.secret_type == "certificates"  # `certificate` (singular) is accepted too
    # Changing only the file's content is a change of the secret.
    write(folder / "ca.pem", "-----BEGIN CERTIFICATE-----\nMIIBanotherbody==\n")
    assert "...updated" in run_cli("apply", "-f", str(manifest)).stdout


def test_changed_value_updates_and_bumps_generation(home: Path, tmp_path: Path) -> None:
    apply_secret(tmp_path, password="First-Value")
    apply_secret(tmp_path, password="First-Value")
    changed = SECRET.format(
        name="postgres-r", password="Second-Value", acl="r", type="key-value-properties"
    )
    diff = run_cli("diff", "-f", str(write(tmp_path / "changed.yml", changed)))
    assert diff.exit_code == 1
    assert "~ secret data.password: changed (value hidden)" in diff.stdout
    assert "Second-Value" not in diff.output and "First-Value" not in diff.output
    applied = run_cli("apply", "-f", str(tmp_path / "changed.yml"))
    assert applied.stdout.strip() == "applying postgres-r:v1:instance-secret...updated"
    [record] = json.loads(run_cli("get", "-t", "instance-secret", "--output", "json").stdout)
    assert record["generation"] == 2
    assert Service().resolve_secret("postgres-r", "t").data["password"] == "Second-Value"


# --- file modes ------------------------------------------------------------------------------


def test_home_store_and_logs_are_private_whatever_the_umask(home: Path, tmp_path: Path) -> None:
    previous = os.umask(0)  # the loosest umask: every mode below is set on purpose
    try:
        apply_secret(tmp_path)
        # A reader holds the store open, as `get` does: SQLite creates -wal and -shm now.
        with sqlite3.connect(home / "entrepot.db") as db:
            db.execute("SELECT count(*) FROM resource").fetchone()
            modes = {
                path.name: path.stat().st_mode & 0o777
                for path in [home, *home.iterdir(), *(home / "logs").iterdir()]
            }
    finally:
        os.umask(previous)
    assert modes == {
        "home": 0o700,
        "entrepot.db": 0o600,
        "entrepot.db-wal": 0o600,
        "entrepot.db-shm": 0o600,
        "master.key": 0o600,
        "logs": 0o700,
        "entrepot.log": 0o600,
    }


def test_files_an_older_version_left_readable_are_tightened(home: Path, tmp_path: Path) -> None:
    apply_secret(tmp_path)
    for path in (home / "entrepot.db", home / "logs" / "entrepot.log"):
        path.chmod(0o644)
    from entrepot.logs import _configured

    _configured.clear()  # a new process opens the log again
    apply_secret(tmp_path, name="other-r")
    assert (home / "entrepot.db").stat().st_mode & 0o777 == 0o600
    assert (home / "logs" / "entrepot.log").stat().st_mode & 0o777 == 0o600
