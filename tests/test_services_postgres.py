"""The throwaway PostgreSQL server (scripts/services.py) and the demo's sales_data database."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import SalesDatabase

pytestmark = pytest.mark.postgres


def test_sales_data_loads_and_sales_reader_only_reads(postgres: SalesDatabase) -> None:
    with psycopg.connect(
        host=postgres.host,
        port=postgres.port,
        user=postgres.reader,
        password=postgres.password,
        dbname="sales_data",
    ) as conn:
        counts = {}
        for table in ("customers", "products", "orders", "order_items", "order_totals"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            counts[table] = row[0]
        assert counts == {
            "customers": 200,
            "products": 50,
            "orders": 2000,
            "order_items": 6000,
            "order_totals": 2000,
        }
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO customers (name, email, country) VALUES ('x', 'x@x', 'FR')")
