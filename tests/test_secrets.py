"""Instance secrets: envelope encryption at rest, binding, key rotation, files, audit."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from entrepot.errors import RefusedError, StoreError
from tests.conftest import BIN, local_context, run_cli, run_process, secret_values, write

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


def secret_file(folder: Path, name: str, password: str) -> Path:
    text = SECRET.format(name=name, password=password, acl="r", type="key-value")
    return write(folder / f"{name}.yml", text)


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
    secret = secret_values("postgres-r", "connector check of depot postgres", acl="r")
    assert secret.data == {"username": "app_user", "password": "Resolve-Me-7"}
    assert "Resolve-Me-7" not in repr(secret)
    events = run_cli("admin", "audit", "--output", "json")
    decrypts = [e for e in json.loads(events.stdout) if e["action"] == "decrypt"]
    assert decrypts[0]["actor"] == "alice"
    assert decrypts[0]["resource_name"] == "postgres-r"
    assert decrypts[0]["purpose"] == "connector check of depot postgres"
    with pytest.raises(RefusedError, match="has acl 'r', not 'rw'"):
        secret_values("postgres-r", "write", acl="rw")


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
    assert secret_values("alpha-r").data["password"] == "Alpha-Value"
    with pytest.raises(StoreError, match="does not open"):
        secret_values("beta-r")


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
    assert secret_values("two-r").data["password"] == "Two-Value"
    # Unchanged secrets stay unchanged after a rotation (fingerprints survive it).
    again = run_cli("apply", "-f", str(tmp_path / "one-r.yml"))
    assert again.stdout.strip() == "applying one-r:v1:instance-secret...unchanged"
    # The old key no longer opens anything.
    os.environ["ENTREPOT_MASTER_KEY"] = old_key.strip()
    try:
        with pytest.raises(StoreError, match="not loaded"):
            secret_values("one-r")
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
    assert secret_values("postgres-r").data["password"] == "Env-Key-Value"
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
    secret = secret_values("pg-tls", "tls")
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
    assert secret_values("postgres-r").data["password"] == "Second-Value"


# --- concurrency: rotations and applies at once ----------------------------------------------


def test_concurrent_rotations_and_applies_keep_every_secret_readable(
    home: Path, tmp_path: Path
) -> None:
    """Several `admin rotate-key` and `apply` processes started together: each rotation waits
    for the one before it (a lock), applies never wrap a data key under a retired master key,
    no process ends in an internal error, and every secret opens afterwards."""
    for i in range(3):
        apply_secret(tmp_path, name=f"old{i}-r", password=f"Old-Value-{i}")
    new = [secret_file(tmp_path, f"new{i}-r", f"New-Value-{i}") for i in range(2)]
    changed = secret_file(tmp_path / "changed", "old0-r", "Changed-Value-0")
    commands = [["admin", "rotate-key"]] * 3 + [["apply", "-f", str(p)] for p in [*new, changed]]
    procs = [
        subprocess.Popen(
            [str(BIN / "entrepot"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for args in commands
    ]
    results = []
    for args, proc in zip(commands, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=120)
        results.append((args, proc.returncode, stdout + stderr))
    for args, code, output in results:
        assert code == 0, (args, code, output)
        assert "Traceback" not in output and "internal error" not in output
    rotations = [output for args, _, output in results if args[0] == "admin"]
    assert all("re-wrapped" in output for output in rotations)
    assert not (home / "master.key.next").exists()
    expected = {"old0-r": "Changed-Value-0", "old1-r": "Old-Value-1", "old2-r": "Old-Value-2"}
    expected.update({f"new{i}-r": f"New-Value-{i}" for i in range(2)})
    for name, password in expected.items():
        assert secret_values(name).data["password"] == password
    with local_context() as ctx:
        current = ctx.keyring.current.id
    with sqlite3.connect(home / "entrepot.db") as db:
        wrapped_by = {row[0] for row in db.execute("SELECT master_key_id FROM data_key")}
        rotated = db.execute("SELECT count(*) FROM audit_event WHERE action = 'rotate-key'")
        assert rotated.fetchone()[0] == 3
    assert wrapped_by == {current}


def test_a_rotation_waits_for_a_running_one_then_gives_up(home: Path, tmp_path: Path) -> None:
    """While another process holds the rotation lock, `rotate-key --wait 0.2` exits 5."""
    import fcntl

    apply_secret(tmp_path)
    before = (home / "master.key").read_text()
    with (home / "master.key.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running rotation holds
        result = run_process("admin", "rotate-key", "--wait", "0.2")
    assert result.exit_code == 5, result.output
    assert "error: another key rotation or apply is using the master key (waited 0.2 s)" in (
        result.stderr
    )
    assert "--wait SECONDS" in result.stderr
    assert (home / "master.key").read_text() == before
    after = run_process("admin", "rotate-key", "--wait", "0.2")
    assert after.exit_code == 0, after.output


def test_concurrent_first_applies_agree_on_one_master_key(home: Path, tmp_path: Path) -> None:
    """On a fresh home, applies started together create one master key, not one each."""
    paths = [secret_file(tmp_path, f"s{i}-r", f"First-Value-{i}") for i in range(4)]
    procs = [
        subprocess.Popen(
            [str(BIN / "entrepot"), "apply", "-f", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for path in paths
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    for i in range(4):
        assert secret_values(f"s{i}-r").data["password"] == f"First-Value-{i}"


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
        "master.key.lock": 0o600,
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


def test_redaction_is_kept_per_request_scope() -> None:
    """A server runs many users' requests in one process: each request's secret values scrub
    its own output only (scrubbing another's output would reveal that their text is a secret),
    threads started for the request included, and are forgotten with the request."""
    from concurrent.futures import ThreadPoolExecutor

    from entrepot.secrets.redact import bind_scope, redaction_scope, redactor

    with redaction_scope():
        redactor.register("Alice-Secret-1")
        with ThreadPoolExecutor(1) as pool:
            in_thread = pool.submit(bind_scope(redactor.redact), "x Alice-Secret-1 x").result()
        assert in_thread == "x ****** x"
        with redaction_scope():  # another request, at the same time
            assert redactor.redact("Alice-Secret-1") == "Alice-Secret-1"
            redactor.register("Bob-Secret-22")
        assert redactor.redact("Bob-Secret-22 Alice-Secret-1") == "Bob-Secret-22 ******"
    assert redactor.redact("Alice-Secret-1") == "Alice-Secret-1"  # forgotten with its request
