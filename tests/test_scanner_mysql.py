"""Scanning MySQL depots against a real MariaDB: information_schema in bulk, filters pushed down."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.services import MariaDBServer
from tests.conftest import mysql_depot_yaml, run_cli, write


@pytest.fixture
def shop(mariadb: MariaDBServer) -> Iterator[str]:
    name = f"shop_{uuid.uuid4().hex[:8]}"
    mariadb.sql(
        f"""
        CREATE DATABASE {name};
        USE {name};
        CREATE TABLE customers (
          id INT AUTO_INCREMENT PRIMARY KEY,
          email VARCHAR(120) NOT NULL COMMENT 'Where receipts go',
          tier ENUM('free', 'gold') NOT NULL DEFAULT 'free',
          UNIQUE KEY uq_email (email)
        ) COMMENT 'Customer accounts';
        CREATE TABLE orders (
          id INT PRIMARY KEY,
          customer_id INT NOT NULL,
          total DECIMAL(10, 2) CHECK (total >= 0),
          total_cents INT AS (total * 100) STORED,
          KEY ix_customer (customer_id),
          CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
            ON DELETE CASCADE
        );
        CREATE TABLE events (id INT, at DATE, PRIMARY KEY (id, at))
          PARTITION BY RANGE (YEAR(at)) (PARTITION p2025 VALUES LESS THAN (2026),
                                          PARTITION pmax VALUES LESS THAN MAXVALUE);
        CREATE VIEW gold AS SELECT id, email FROM customers WHERE tier = 'gold';
        CREATE USER IF NOT EXISTS 'scan_reader'@'%' IDENTIFIED BY 'Scan-Reader-1';
        GRANT SELECT, SHOW VIEW ON {name}.* TO 'scan_reader'@'%';
        """
    )
    yield name
    mariadb.sql(f"DROP DATABASE {name}")


def apply_and_scan(tmp_path: Path, mariadb: MariaDBServer, database: str, config: str) -> str:
    path = write(
        tmp_path / "mysql.yml",
        mysql_depot_yaml("shopdb", mariadb, "scan_reader", "Scan-Reader-1", database)
        + f"""---
version: v1
name: shopscan
type: workflow
workflow:
  dag:
    - name: scan
      spec:
        stack: scanner:2.0
        stackSpec:
          depot: dataos://shopdb
          sourceConfig:
            config:
{config}""",
    )
    result = run_cli("apply", "-f", str(path), "-r")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def show(address: str) -> dict[str, object]:
    result = run_cli("catalog", "show", address, "--output", "json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert isinstance(record, dict)
    return record


def test_everything_is_extracted(
    home: Path, tmp_path: Path, mariadb: MariaDBServer, shop: str
) -> None:
    out = apply_and_scan(tmp_path, mariadb, shop, "              includeViews: true\n")
    assert "4 datasets, 4 added" in out
    customers = show(f"dataos://shopdb:{shop}/customers")
    details = customers["details"]
    assert isinstance(details, dict)
    assert customers["description"] == "Customer accounts"
    columns = {c["name"]: c for c in details["columns"]}
    assert columns["email"]["type"] == "varchar(120)"
    assert columns["email"]["comment"] == "Where receipts go"
    assert columns["tier"]["enum"] == ["free", "gold"]
    assert columns["id"]["identity"] == "auto_increment"
    assert details["primary_key"] == {"name": "PRIMARY", "columns": ["id"]}
    assert details["unique"] == [{"name": "uq_email", "columns": ["email"]}]
    orders = show(f"dataos://shopdb:{shop}/orders")["details"]
    assert isinstance(orders, dict)
    [fk] = orders["foreign_keys"]
    assert fk["references"] == {"schema": shop, "table": "customers", "columns": ["id"]}
    assert fk["on_delete"] == "CASCADE"
    assert [c["definition"] for c in orders["checks"]] == ["CHECK (`total` >= 0)"]
    assert {c["name"]: c.get("generated") for c in orders["columns"]}["total_cents"]
    # ix_customer also serves the foreign key, so MariaDB adds no index of its own for it.
    assert sorted(i["name"] for i in orders["indexes"]) == ["PRIMARY", "ix_customer"]
    events = show(f"dataos://shopdb:{shop}/events")
    assert events["kind"] == "partitioned_table"
    assert events["details"]["partitions"] == ["p2025", "pmax"]  # type: ignore[index]
    gold = show(f"dataos://shopdb:{shop}/gold")
    assert gold["kind"] == "view" and "customers" in str(gold["details"]["definition"])  # type: ignore[index]


def test_filters_and_views(home: Path, tmp_path: Path, mariadb: MariaDBServer, shop: str) -> None:
    out = apply_and_scan(
        tmp_path,
        mariadb,
        shop,
        '              tableFilterPattern:\n                excludes: ["^ev"]\n',
    )
    assert "2 datasets, 2 added" in out  # no view (includeViews: false), no events
    listing = json.loads(
        run_cli("catalog", "ls", f"dataos://shopdb:{shop}", "--output", "json").stdout
    )
    assert [r["name"] for r in listing] == ["customers", "orders"]


def test_views_have_no_description(
    home: Path, tmp_path: Path, mariadb: MariaDBServer, shop: str
) -> None:
    """information_schema gives a view the TABLE_COMMENT 'VIEW' (views take no COMMENT in
    MySQL or MariaDB): that is no description."""
    apply_and_scan(tmp_path, mariadb, shop, "              includeViews: true\n")
    gold = show(f"dataos://shopdb:{shop}/gold")
    assert gold["kind"] == "view" and gold["description"] is None
    text = run_cli("catalog", "show", f"dataos://shopdb:{shop}/gold").stdout
    assert text.splitlines()[1] == ""  # the address line, then straight to the columns
    found = json.loads(run_cli("catalog", "search", "view", "--output", "json").stdout)
    assert found == []
    # A table's real comment is still its description.
    assert show(f"dataos://shopdb:{shop}/customers")["description"] == "Customer accounts"


def test_on_update_current_timestamp_is_kept(
    home: Path, tmp_path: Path, mariadb: MariaDBServer, shop: str
) -> None:
    mariadb.sql(
        """
        CREATE TABLE stamps (
          id INT PRIMARY KEY,
          created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
          updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
          touched_at DATETIME(3) NULL ON UPDATE CURRENT_TIMESTAMP(3)
        );
        """,
        database=shop,
    )
    apply_and_scan(tmp_path, mariadb, shop, "              includeViews: false\n")
    details = show(f"dataos://shopdb:{shop}/stamps")["details"]
    assert isinstance(details, dict)
    columns = {c["name"]: (c["default"], c.get("on_update")) for c in details["columns"]}
    del columns["id"]
    assert columns == {
        "created_at": ("current_timestamp()", None),
        "updated_at": ("current_timestamp()", "current_timestamp()"),
        "touched_at": (None, "current_timestamp(3)"),
    }
    text = run_cli("catalog", "show", f"dataos://shopdb:{shop}/stamps").stdout
    line = next(line for line in text.splitlines() if line.strip().startswith("updated_at"))
    assert line.endswith("current_timestamp()  on update current_timestamp()")


def test_a_rescan_shows_new_estimates(
    home: Path, tmp_path: Path, mariadb: MariaDBServer, shop: str
) -> None:
    """Scanned in full every time: a rescan reports InnoDB's new estimates."""
    config = "              includeViews: false\n"
    apply_and_scan(tmp_path, mariadb, shop, config)
    before = show(f"dataos://shopdb:{shop}/customers")["details"]
    assert isinstance(before, dict) and before["rows"] == 0
    mariadb.sql(
        "INSERT INTO customers (email) SELECT concat('c', seq, '@example.com') "
        "FROM seq_1_to_16044; ANALYZE TABLE customers;",
        database=shop,
    )
    apply_and_scan(tmp_path, mariadb, shop, config)
    after = show(f"dataos://shopdb:{shop}/customers")["details"]
    assert isinstance(after, dict)
    # InnoDB samples pages: an estimate, within a few percent of the 16,044 rows.
    assert abs(after["rows"] - 16044) < 16044 * 0.1
    assert after["size"] > before["size"]
