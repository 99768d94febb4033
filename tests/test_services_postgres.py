"""The throwaway PostgreSQL server (scripts/services.py) and the demo's sales_data database."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from scripts.services import PostgresServer, find_postgres_bin_dir

pytestmark = pytest.mark.postgres

DEMO_SQL = Path(__file__).resolve().parents[1] / "demo" / "sales_data.sql"


def _require_postgres() -> None:
    try:
        find_postgres_bin_dir()
    except RuntimeError as error:
        pytest.skip(str(error))


def test_sales_data_loads_and_sales_reader_only_reads(tmp_path: Path) -> None:
    _require_postgres()
    server = PostgresServer(tmp_path / "pg")
    try:
        server.start()
        server.create_role("sales_reader", "reader pass: 'quoted' & %encoded")
        server.create_database("sales_data")
        server.psql(file=DEMO_SQL, database="sales_data")

        with psycopg.connect(
            host=server.host,
            port=server.port,
            user="sales_reader",
            password="reader pass: 'quoted' & %encoded",
            dbname="sales_data",
        ) as conn:
            counts = {}
            for table in ("customers", "products", "orders", "order_items", "order_totals"):
                row = conn.execute(f"SELECT count(*) FROM public.{table}").fetchone()
                assert row is not None
                counts[table] = row[0]
            assert counts == {
                "customers": 200,
                "products": 50,
                "orders": 2000,
                "order_items": 6000,
                "order_totals": 2000,
            }

            row = conn.execute(
                "SELECT (SELECT sum(total) FROM order_totals),"
                " (SELECT sum(quantity * unit_price) FROM order_items),"
                " (SELECT min(total) FROM order_totals)"
            ).fetchone()
            assert row is not None
            view_sum, items_sum, smallest = row
            assert view_sum == items_sum
            assert smallest > 0

            first = conn.execute(
                "SELECT order_id, customer_name FROM order_totals ORDER BY order_id LIMIT 1"
            ).fetchone()
            assert first is not None
            assert first[0] == 1
            assert first[1]

            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(
                    "INSERT INTO customers (name, email, country)"
                    " VALUES ('Eve', 'eve@example.com', 'DE')"
                )

        assert server.psql("SELECT count(*) FROM orders", database="sales_data").strip() == "2000"
    finally:
        server.stop()
    assert not server.is_running()
