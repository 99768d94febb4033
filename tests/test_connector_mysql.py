"""MySQL depots checked against a real MariaDB: every step, every failure provoked for real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from entrepot.connectors.mysql import connect
from scripts.services import MariaDBServer, free_port
from tests.conftest import depot_connection, run_cli, write

DATABASE = "shop"


@dataclass
class Shop:
    """The `shop` database and its accounts: a reader, a writer, and one without privileges."""

    server: MariaDBServer
    reader: str = "shop_reader"
    reader_password: str = "Reader-pw-Quoted'&%"
    writer: str = "shop_writer"
    writer_password: str = "Writer-Pass-1"
    nobody: str = "shop_nobody"
    nobody_password: str = "Nobody-Pass-1"


@pytest.fixture(scope="module")
def shop(mariadb: MariaDBServer) -> Iterator[Shop]:
    shop = Shop(mariadb)
    mariadb.sql(
        f"""
        DROP DATABASE IF EXISTS {DATABASE};
        CREATE DATABASE {DATABASE};
        USE {DATABASE};
        CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(50), country CHAR(2));
        CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10, 2));
        INSERT INTO customers VALUES (1, 'Ada', 'FR'), (2, 'Grace', 'US'), (3, 'Linus', 'FI');
        INSERT INTO orders VALUES (10, 1, 12.50), (11, 2, 99.00), (12, 1, 3.20);
        DROP USER IF EXISTS {shop.reader}, {shop.writer}, {shop.nobody};
        """
    )
    mariadb.create_user(shop.reader, shop.reader_password)
    mariadb.grant(shop.reader, DATABASE, "SELECT")
    mariadb.create_user(shop.writer, shop.writer_password)
    mariadb.grant(shop.writer, DATABASE, "SELECT, INSERT")
    mariadb.create_user(shop.nobody, shop.nobody_password)
    yield shop
    mariadb.sql(
        f"DROP DATABASE IF EXISTS {DATABASE}; "
        f"DROP USER IF EXISTS {shop.reader}, {shop.writer}, {shop.nobody};"
    )


def manifests(
    tmp_path: Path,
    shop: Shop,
    *,
    name: str = "shop",
    host: str | None = None,
    port: int | None = None,
    database: str = DATABASE,
    user: str | None = None,
    password: str | None = None,
    rw: tuple[str, str] | None = None,
) -> Path:
    """An r secret (and optionally an rw one) and a v2alpha mysql depot on the test server."""
    docs = [
        f"""name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data:
    username: {user or shop.reader}
    password: {json.dumps(password or shop.reader_password)}
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
  data: {{username: {rw[0]}, password: {json.dumps(rw[1])}}}
"""
        )
        secrets += f", {{name: {name}-rw, allkeys: true}}"
    docs.append(
        f"""name: {name}
version: v2alpha
type: depot
depot:
  type: mysql
  secrets: {secrets}]
  mysql:
    host: {host or shop.server.host}
    port: {port or shop.server.port}
    database: {database}
"""
    )
    return write(tmp_path / f"{name}.yml", "---\n".join(docs))


def apply(path: Path) -> None:
    applied = run_cli("apply", "-f", str(path), "--no-verify")
    assert applied.exit_code == 0, applied.output


def checked(name: str = "shop", *extra: str) -> tuple[int, dict[str, object]]:
    result = run_cli("check", "depot", name, "--output", "json", "--timeout", "5", *extra)
    [record] = json.loads(result.stdout)
    return result.exit_code, record


def steps(record: dict[str, object]) -> dict[str, dict[str, str]]:
    items = record["steps"]
    assert isinstance(items, list)
    return {s["name"]: s for s in items}


def statuses(record: dict[str, object]) -> dict[str, str]:
    return {name: step["status"] for name, step in steps(record).items()}


def test_a_good_connection_passes_every_step(home: Path, tmp_path: Path, shop: Shop) -> None:
    applied = run_cli("apply", "-f", str(manifests(tmp_path, shop)))
    assert applied.exit_code == 0, applied.stderr
    assert "verifying shop...active (ok " in applied.stdout
    code, record = checked()
    assert code == 0 and record["ok"] is True, record
    assert str(record["summary"]).startswith("ok ")
    assert record["type"] == "mysql" and record["acl"] == "r"
    assert statuses(record) == {
        "dns": "skipped",  # the host is an address
        "tcp": "ok",
        "tls": "skipped",  # no params.tls
        "auth": "ok",
        "open": "ok",
        "list": "ok",
        "read": "ok",
    }
    by_name = steps(record)
    assert by_name["dns"]["detail"] == f"{shop.server.host} is an address"
    assert by_name["auth"]["detail"] == f"as {shop.reader}"
    assert (
        by_name["open"]["detail"].startswith("server ") and "MariaDB" in by_name["open"]["detail"]
    )
    assert by_name["read"]["detail"] == "reads 2 tables"
    row = run_cli("get", "-t", "depot").stdout.splitlines()[2]
    assert "active" in row and "| ok " in row and row.rstrip().endswith("ms")


def test_wrong_password_names_the_key_and_the_secret(
    home: Path, tmp_path: Path, shop: Shop
) -> None:
    apply(manifests(tmp_path, shop, password="wrong-Password-1"))
    code, record = checked()
    auth = steps(record)["auth"]
    assert code == 7 and record["summary"] == "auth failed"
    assert auth["status"] == "failed"
    assert f"access denied for user '{shop.reader}'" in auth["reason"]
    assert "key 'password' of instance secret 'shop-r'" in auth["hint"]
    assert steps(record)["open"]["status"] == "skipped"
    listing = run_cli("get", "-t", "depot")
    assert "error" in listing.stdout and "auth failed" in listing.stdout
    assert "wrong-Password-1" not in listing.output


def test_unknown_database(home: Path, tmp_path: Path, shop: Shop) -> None:
    apply(manifests(tmp_path, shop, database="shopp"))
    code, record = checked()
    opened = steps(record)["open"]
    assert code == 7 and record["summary"] == "no database", opened
    assert steps(record)["auth"]["status"] == "ok"
    assert opened["status"] == "failed"
    assert "database 'shopp' does not exist" in opened["reason"]
    assert "database field" in opened["hint"]
    assert steps(record)["list"]["status"] == "skipped"


def test_closed_port(home: Path, tmp_path: Path, shop: Shop) -> None:
    port = free_port()
    apply(manifests(tmp_path, shop, port=port))
    code, record = checked()
    tcp = steps(record)["tcp"]
    assert code == 7 and record["summary"] == "refused"
    assert tcp["status"] == "failed"
    assert f"127.0.0.1:{port} refused the connection" in tcp["reason"]
    assert steps(record)["auth"]["status"] == "skipped"


def test_unresolvable_host(home: Path, tmp_path: Path, shop: Shop) -> None:
    applied = run_cli(
        "apply", "-f", str(manifests(tmp_path, shop, host="db.mysql.example.com")), "--timeout", "5"
    )
    assert applied.exit_code == 0  # the depot is valid and stored; its connection is not
    assert "verifying shop...error: dns: host 'db.mysql.example.com' does not resolve" in (
        applied.stderr
    )
    code, record = checked()
    dns = steps(record)["dns"]
    assert code == 7 and record["summary"] == "dns"
    assert (
        dns["status"] == "failed"
        and "host 'db.mysql.example.com' does not resolve" in (dns["reason"])
    )
    assert steps(record)["tcp"]["status"] == "skipped"


def test_missing_read_permission(home: Path, tmp_path: Path, shop: Shop) -> None:
    apply(manifests(tmp_path, shop, user=shop.nobody, password=shop.nobody_password))
    code, record = checked()
    failed = [s for s in steps(record).values() if s["status"] == "failed"]
    assert code == 7 and record["summary"] in ("no read", "no access"), record
    [step] = failed
    assert steps(record)["auth"]["status"] == "ok"  # the account exists and logs in
    assert shop.nobody in step["reason"] and DATABASE in step["reason"]
    assert f"GRANT SELECT ON {DATABASE}.* TO '{shop.nobody}'" in step["hint"]


def test_rw_checks_write_privilege_and_r_cannot_write(
    home: Path, tmp_path: Path, shop: Shop
) -> None:
    apply(manifests(tmp_path, shop, rw=(shop.writer, shop.writer_password)))
    code, record = checked("shop", "--acl", "rw")
    assert code == 0, record
    assert record["acl"] == "rw"
    assert steps(record)["auth"]["detail"] == f"as {shop.writer}"  # the rw secret, not the r one
    assert steps(record)["write"]["status"] == "ok"
    # The reader account cannot write: its rw probe fails ...
    apply(manifests(tmp_path, shop, name="readonly", rw=(shop.reader, shop.reader_password)))
    code, record = checked("readonly", "--acl", "rw")
    write_step = steps(record)["write"]
    assert code == 7 and record["summary"] == "no write"
    assert write_step["status"] == "failed" and shop.reader in write_step["reason"]
    assert steps(record)["read"]["status"] == "ok"
    # ... and an r connection is read-only at the source even for an account that can write.
    conn = depot_connection("shop")
    assert conn.data["username"] == shop.reader  # only the r secret was read
    conn.data.update(username=shop.writer, password=shop.writer_password)
    with connect(conn) as my, my.cursor() as cursor:
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cursor.execute("INSERT INTO customers VALUES (99, 'Eve', 'DE')")
        assert denied.value.args[0] == 1792  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
        cursor.execute("SELECT COUNT(*) FROM customers")
        assert cursor.fetchone() == (3,)
