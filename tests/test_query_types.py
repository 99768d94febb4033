"""What source column types become in queries (`entrepot query`), against a real PostgreSQL and
a real MariaDB: the types the README's "Column types" list promises, value for value."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from scripts.services import MariaDBServer
from tests.conftest import SalesDatabase, mysql_depot_yaml, run_cli, write

# pagila's film, reduced: a domain over integer (release_year), a domain over numeric(4,2), an
# unconstrained numeric, a numeric(12,2), and a numeric wider than DuckDB's 38 digits.
FILM_SQL = """
CREATE DOMAIN public.year AS integer CHECK (VALUE >= 1901 AND VALUE <= 2155);
CREATE DOMAIN public.rate AS numeric(4,2) CHECK (VALUE >= 0);
CREATE TABLE public.film (
    film_id int PRIMARY KEY,
    release_year public.year,
    rental_rate public.rate,
    weight numeric,
    replacement_cost numeric(12,2),
    serial numeric(50,0)
);
INSERT INTO public.film VALUES
    (1, 2006, 0.99, 12345678901234567890.123456789, 20.99, 12345678901234567890123456789),
    (2, 2006, 4.99, 0.1, 12.99, 1),
    (3, 1999, 2.99, 2, 9.99, 2);
"""


@pytest.fixture(scope="module")
def films(postgres: SalesDatabase) -> str:
    database = f"films_{uuid.uuid4().hex[:8]}"
    postgres.server.create_database(database)
    postgres.server.psql(FILM_SQL, database=database)
    return database


def apply_pagila(tmp_path: Path, postgres: SalesDatabase, database: str) -> None:
    server = postgres.server
    text = f"""name: pagila-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: {server.superuser}, password: "{server.superuser_password}"}}
---
name: pagila
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: pagila-r, allkeys: true}}]
  postgresql: {{host: {server.host}, port: {server.port}, database: {database}}}
"""
    result = run_cli("apply", "-f", str(write(tmp_path / "pagila.yml", text)), "--no-verify")
    assert result.exit_code == 0, result.output


def as_json(sql: str) -> list[dict[str, object]]:
    result = run_cli("query", sql, "--output", "json")
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_postgres_domains_arrive_as_text_and_cast_to_their_base_type(
    home: Path, tmp_path: Path, postgres: SalesDatabase, films: str
) -> None:
    """DuckDB's PostgreSQL scanner knows built-in types, enums and composite types by name; it
    reads a column of any other type, domains included, as text (`column::VARCHAR`)."""
    apply_pagila(tmp_path, postgres, films)
    [types] = as_json(
        "SELECT typeof(release_year) AS y, typeof(rental_rate) AS r FROM pagila.public.film LIMIT 1"
    )
    assert types == {"y": "VARCHAR", "r": "VARCHAR"}
    # So sum() refuses them, as the README says, with DuckDB's own words...
    result = run_cli("query", "SELECT sum(release_year) FROM pagila.public.film")
    assert result.exit_code == 3
    assert "sum(VARCHAR)" in result.stderr
    # ...and a cast to the base type (what `catalog show` lists as domain_of) works.
    rows = as_json(
        "SELECT sum(release_year::INTEGER) AS years, sum(rental_rate::DECIMAL(4,2)) AS rates, "
        "max(release_year::INTEGER) AS newest FROM pagila.public.film"
    )
    # (JSON output writes HUGEINT sums and DECIMALs as strings: no digit is lost.)
    assert rows == [{"years": "6011", "rates": "8.97", "newest": 2006}]


def test_postgres_numerics_beyond_duckdb_decimals_arrive_as_double(
    home: Path, tmp_path: Path, postgres: SalesDatabase, films: str
) -> None:
    """numeric(p,s) with p <= 38 is an exact DECIMAL(p,s); unconstrained numeric and numeric
    wider than 38 digits become DOUBLE: about 16 significant digits."""
    apply_pagila(tmp_path, postgres, films)
    [types] = as_json(
        "SELECT typeof(weight) AS w, typeof(replacement_cost) AS c, typeof(serial) AS s "
        "FROM pagila.public.film LIMIT 1"
    )
    assert types == {"w": "DOUBLE", "c": "DECIMAL(12,2)", "s": "DOUBLE"}
    [row] = as_json(
        "SELECT weight AS w, replacement_cost AS c, serial AS s "
        "FROM pagila.public.film WHERE film_id = 1"
    )
    # 12345678901234567890.123456789 and a 29-digit integer at the source: 16 digits are left
    # (the scanner's conversion may even miss the nearest double by one unit in the last place).
    assert row == {"w": 1.234567890123457e19, "c": "20.99", "s": 1.234567890123457e28}
    exact = (Decimal("12345678901234567890.123456789"), Decimal(12345678901234567890123456789))
    for value, source in zip((row["w"], row["s"]), exact, strict=True):
        assert isinstance(value, float)
        assert Decimal(value) != source and abs(Decimal(value) - source) / source < Decimal("1e-15")
    [total] = as_json("SELECT sum(replacement_cost) AS c, sum(weight) AS w FROM pagila.public.film")
    assert total["c"] == "43.97"  # DECIMAL: exact
    assert total["w"] == row["w"]  # 0.1 and 2 vanish beside it, in a double


@pytest.fixture
def flags(mariadb: MariaDBServer) -> Iterator[str]:
    name = f"flags_{uuid.uuid4().hex[:8]}"
    mariadb.sql(
        f"""
        CREATE DATABASE {name};
        CREATE TABLE {name}.accounts (
          id INT PRIMARY KEY,
          level TINYINT(1) NOT NULL,
          active BOOLEAN NOT NULL,
          verified BIT(1) NOT NULL
        );
        INSERT INTO {name}.accounts VALUES
          (1, 0, FALSE, b'0'), (2, 1, TRUE, b'1'), (3, 2, TRUE, b'1'), (4, -5, FALSE, b'0');
        CREATE USER IF NOT EXISTS 'flags_reader'@'%' IDENTIFIED BY 'Flags-Reader-1';
        GRANT SELECT ON {name}.* TO 'flags_reader'@'%';
        """
    )
    yield name
    mariadb.sql(f"DROP DATABASE {name}")


def test_mysql_tinyint1_stays_an_integer(
    home: Path, tmp_path: Path, mariadb: MariaDBServer, flags: str
) -> None:
    """TINYINT(1) holds -128..127 (MySQL's BOOLEAN is its alias, so the two cannot be told
    apart): queries read it as the integer it is, not as a boolean that would make 2 and -5
    true. BIT(1), which holds only 0 and 1, is a BOOLEAN."""
    text = mysql_depot_yaml("accounts", mariadb, "flags_reader", "Flags-Reader-1", flags)
    result = run_cli("apply", "-f", str(write(tmp_path / "accounts.yml", text)), "--no-verify")
    assert result.exit_code == 0, result.output
    rows = as_json(
        "SELECT id, level, active, verified, typeof(level) AS t_level, "
        "typeof(active) AS t_active, typeof(verified) AS t_verified "
        f"FROM accounts.{flags}.accounts ORDER BY id"
    )
    assert [(r["id"], r["level"], r["active"], r["verified"]) for r in rows] == [
        (1, 0, 0, False),
        (2, 1, 1, True),
        (3, 2, 1, True),
        (4, -5, 0, False),
    ]
    assert {(r["t_level"], r["t_active"], r["t_verified"]) for r in rows} == {
        ("TINYINT", "TINYINT", "BOOLEAN")
    }
    # Filters compare integers, as MySQL itself does.
    assert as_json(f"SELECT count(*) AS n FROM accounts.{flags}.accounts WHERE level > 0") == [
        {"n": 2}
    ]
