"""PostgreSQL depots checked against a real server: every step, every failure provoked for real."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from entrepot.connectors.postgresql import connect
from scripts.services import free_port
from tests.conftest import SalesDatabase, depot_connection, run_cli, write

pytestmark = pytest.mark.postgres


def manifests(
    tmp_path: Path,
    postgres: SalesDatabase,
    *,
    name: str = "sales",
    host: str | None = None,
    port: int | None = None,
    database: str = "sales_data",
    user: str | None = None,
    password: str | None = None,
    params: str = "",
    rw: tuple[str, str] | None = None,
) -> Path:
    """An r secret (and optionally an rw one) and a v2alpha depot pointing at the test server."""
    secret = json.dumps(password or postgres.password)  # a JSON string is a YAML string
    docs = [
        f"""name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data:
    username: {user or postgres.reader}
    password: {secret}
"""
    ]
    secrets = f"[{{name: {name}-r, allkeys: true}}"
    if rw is not None:
        docs.append(
            f"""name: {name}-rw
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: rw
  data: {{username: {rw[0]}, password: "{rw[1]}"}}
"""
        )
        secrets += f", {{name: {name}-rw, allkeys: true}}"
    docs.append(
        f"""name: {name}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: {secrets}]
  jdbc:
    subprotocol: postgresql
    host: {host or postgres.host}
    port: {port or postgres.port}
    database: {database}
{params}"""
    )
    return write(tmp_path / f"{name}.yml", "---\n".join(docs))


def checked(name: str = "sales", *extra: str) -> tuple[int, dict[str, object]]:
    result = run_cli("check", "depot", name, "--output", "json", *extra)
    [record] = json.loads(result.stdout)
    return result.exit_code, record


def steps(record: dict[str, object]) -> dict[str, dict[str, str]]:
    items = record["steps"]
    assert isinstance(items, list)
    return {s["name"]: s for s in items}


def test_a_good_connection_passes_every_step(
    home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    applied = run_cli("apply", "-f", str(manifests(tmp_path, postgres)))
    assert applied.exit_code == 0, applied.stderr
    assert "verifying sales...active (ok " in applied.stdout
    code, record = checked()
    assert code == 0 and record["ok"] is True
    by_name = steps(record)
    assert [s["status"] for s in by_name.values()] == [
        "skipped",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
    ]  # fmt: skip  (dns is skipped: the host is an address)
    assert by_name["auth"]["detail"] == "as sales_reader"
    assert by_name["read"]["detail"] == "reads 5 of 5 tables"
    listing = run_cli("get", "-t", "depot")
    row = listing.stdout.splitlines()[2]
    assert "active" in row and "| ok " in row and row.rstrip().endswith("ms")


def test_wrong_password_names_the_key_and_the_secret(
    home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    run_cli("apply", "-f", str(manifests(tmp_path, postgres, password="wrong-Password-1")))
    code, record = checked()
    auth = steps(record)["auth"]
    assert code == 7 and record["summary"] == "auth failed"
    assert auth["reason"] == "password authentication failed for user 'sales_reader'"
    assert "key 'password' of instance secret 'sales-r'" in auth["hint"]
    assert steps(record)["open"]["status"] == "skipped"
    listing = run_cli("get", "-t", "depot")
    assert "error" in listing.stdout and "auth failed" in listing.stdout
    assert "wrong-Password-1" not in listing.output


def test_unknown_database(home: Path, tmp_path: Path, postgres: SalesDatabase) -> None:
    run_cli("apply", "-f", str(manifests(tmp_path, postgres, database="sales_dta")))
    code, record = checked()
    assert code == 7 and record["summary"] == "no database"
    assert steps(record)["auth"]["status"] == "ok"
    assert steps(record)["open"]["reason"] == "database 'sales_dta' does not exist"


def test_closed_port(home: Path, tmp_path: Path, postgres: SalesDatabase) -> None:
    port = free_port()
    run_cli("apply", "-f", str(manifests(tmp_path, postgres, port=port)))
    code, record = checked()
    tcp = steps(record)["tcp"]
    assert code == 7 and record["summary"] == "refused"
    assert f"127.0.0.1:{port} refused the connection" in tcp["reason"]


def test_unresolvable_host_as_in_the_tutorial(
    home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    applied = run_cli(
        "apply", "-f", str(manifests(tmp_path, postgres, host="db.postgres.example.com"))
    )
    assert applied.exit_code == 0  # the depot is valid and stored; its connection is not
    assert "verifying sales...error: dns: host 'db.postgres.example.com' does not resolve" in (
        applied.stderr
    )
    listing = run_cli("get", "-t", "depot")
    assert "error" in listing.stdout and "dns" in listing.stdout


def test_missing_read_permission(home: Path, tmp_path: Path, postgres: SalesDatabase) -> None:
    postgres.server.create_role("no_reader", "No-Reader-Pass-1")
    run_cli(
        "apply",
        "-f",
        str(manifests(tmp_path, postgres, user="no_reader", password="No-Reader-Pass-1")),
    )
    code, record = checked()
    read = steps(record)["read"]
    assert code == 7 and record["summary"] == "no read"
    assert read["reason"] == "user 'no_reader' cannot read any of the 5 tables"
    assert "GRANT SELECT ON ALL TABLES IN SCHEMA public TO no_reader" in read["hint"]


def test_rw_checks_write_privilege_and_r_cannot_write(
    home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    postgres.server.create_role("sales_writer", "Writer-Pass-1")
    postgres.server.psql(
        "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO sales_writer", database="sales_data"
    )
    path = manifests(tmp_path, postgres, rw=("sales_writer", "Writer-Pass-1"))
    run_cli("apply", "-f", str(path))
    code, record = checked("sales", "--acl", "rw")
    assert code == 0, record
    assert steps(record)["write"]["status"] == "ok"
    # The reader account cannot write: its rw probe fails ...
    reader_only = manifests(
        tmp_path, postgres, name="readonly", rw=(postgres.reader, postgres.password)
    )
    run_cli("apply", "-f", str(reader_only))
    code, record = checked("readonly", "--acl", "rw")
    assert code == 7 and record["summary"] == "no write"
    # ... and an r connection is read-only at the source even for an account that can write.
    conn = depot_connection("sales")
    conn.data.update(username="sales_writer", password="Writer-Pass-1")
    with connect(conn) as pg, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        pg.execute("INSERT INTO customers (name, email, country) VALUES ('x', 'x@e.x', 'FR')")


def test_checks_decrypt_only_the_acl_asked_for_and_are_audited(
    home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    path = manifests(tmp_path, postgres, rw=("sales_writer_2", "Other-Pass-1"))
    run_cli("apply", "-f", str(path), "--no-verify")
    assert "pending" in run_cli("get", "-t", "depot").stdout
    checked()
    events = json.loads(run_cli("admin", "audit", "--output", "json").stdout)
    decrypted = [e["resource_name"] for e in events if e["action"] == "decrypt"]
    assert decrypted == ["sales-r"]
    assert events[0]["purpose"] == "check of depot sales" or any(
        e["purpose"] == "check of depot sales" for e in events if e["action"] == "decrypt"
    )


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word: a hung database."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for sock in accepted:
        sock.close()
    server.close()


def test_a_hung_server_fails_at_the_deadline(
    home: Path, tmp_path: Path, postgres: SalesDatabase, silent_server: int
) -> None:
    run_cli("apply", "-f", str(manifests(tmp_path, postgres, port=silent_server)), "--no-verify")
    code, record = checked("sales", "--timeout", "1.5")
    failed = [s for s in steps(record).values() if s["status"] == "failed"]
    assert code == 7 and record["summary"] == "timeout"
    assert failed[0]["name"] == "tls"  # the server never answers the TLS request
    assert failed[0]["reason"] == "no answer within the 1.5 s deadline"
    assert 1.4 <= float(record["durationMs"]) / 1000 < 3.0


def test_a_v1_depot_with_inline_credentials(
    home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    """The DataOS v1 form: `type: JDBC`, `spec:` and `connectionSecret` values in the depot."""
    secret = json.dumps(postgres.password)
    path = write(
        tmp_path / "v1.yml",
        f"""name: legacy
version: v1
type: depot
layer: user
depot:
  type: JDBC
  description: To read the sales database
  external: true
  connectionSecret:
    - acl: r
      type: key-value-properties
      data:
        username: {postgres.reader}
        password: {secret}
  spec:
    subprotocol: "postgresql"
    host: {postgres.host}
    port: {postgres.port}
    database: sales_data
    params:
      sslmode: disable
""",
    )
    applied = run_cli("apply", "-f", str(path))
    assert applied.exit_code == 0, applied.stderr
    assert "verifying legacy...active" in applied.stdout
    detail = run_cli("get", "-t", "depot", "-n", "legacy", "-d")
    assert "last check (r)" in detail.stdout
    assert "skipped tls" in detail.stdout and "sslmode=disable" in detail.stdout
    assert "ok      read" in detail.stdout
    events = json.loads(run_cli("admin", "audit", "--output", "json").stdout)
    decrypts = [e for e in events if e["action"] == "decrypt"]
    assert decrypts[0]["resource_type"] == "depot"
    assert decrypts[0]["detail"] == "connectionSecret[0] keys: password, username"
