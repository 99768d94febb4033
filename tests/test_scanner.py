"""Scanner workflows against a real PostgreSQL: runs, the catalog, history, the deletion
fail-safe, filters, privileges, timeouts and a source that dies mid-scan."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import BIN, TUTORIAL, SalesDatabase, run_cli, write

pytestmark = pytest.mark.postgres


@dataclass
class Source:
    database: str
    postgres: SalesDatabase

    def sql(self, statement: str) -> None:
        self.postgres.server.psql(statement, database=self.database)


@pytest.fixture
def source(postgres: SalesDatabase) -> Iterator[Source]:
    """A fresh database per test, readable by `scan_reader`, with a few tables."""
    name = f"scan_{uuid.uuid4().hex[:10]}"
    postgres.server.create_database(name)
    src = Source(name, postgres)
    src.sql(
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'scan_reader') THEN
            CREATE ROLE scan_reader LOGIN PASSWORD 'Scan-Reader-1';
          END IF;
        END $$;
        CREATE SCHEMA sales;
        CREATE TABLE sales.customers (id int PRIMARY KEY, email text NOT NULL UNIQUE);
        COMMENT ON TABLE sales.customers IS 'Customer accounts';
        COMMENT ON COLUMN sales.customers.email IS 'Where receipts go';
        CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int REFERENCES sales.customers);
        CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE id > 100;
        CREATE TABLE public.audit_log (at timestamptz, line text);
        GRANT USAGE ON SCHEMA sales TO scan_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA sales, public TO scan_reader;
        """
    )
    yield src


def apply_depot(tmp_path: Path, src: Source, name: str = "shop") -> None:
    path = write(
        tmp_path / "depot.yml",
        f"""name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: scan_reader, password: Scan-Reader-1}}
---
name: {name}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: {name}-r, allkeys: true}}]
  postgresql:
    host: {src.postgres.host}
    port: {src.postgres.port}
    database: {src.database}
""",
    )
    result = run_cli("apply", "-f", str(path), "--no-verify")
    assert result.exit_code == 0, result.stderr


def scanner(tmp_path: Path, depot: str = "shop", config: str = "", name: str = "shopscan") -> Path:
    block = ""
    if config:
        block = "          sourceConfig:\n            config:\n" + "".join(
            f"              {line}\n" for line in config.strip().splitlines()
        )
    return write(
        tmp_path / f"{name}.yml",
        f"""version: v1
name: {name}
type: workflow
workflow:
  dag:
    - name: {name}job
      spec:
        stack: scanner:2.0
        compute: runnable-default
        stackSpec:
          depot: dataos://{depot}
{block}""",
    )


def run(path: Path, *extra: str) -> tuple[int, str, str]:
    result = run_cli("apply", "-f", str(path), *extra)
    return result.exit_code, result.stdout, result.stderr


def addresses(depot: str = "shop", *extra: str) -> list[str]:
    listing = run_cli("catalog", "ls", f"dataos://{depot}", "--deleted", "--output", "json", *extra)
    return [
        r["address"] + (" (deleted)" if r["deleted"] else "") for r in json.loads(listing.stdout)
    ]


def test_the_tutorial_scanner_scans_the_demo_database(
    home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    env = {"POSTGRES_USERNAME": postgres.reader, "POSTGRES_PASSWORD": postgres.password,
           "ACCESS_CONTROL_LIST": "r"}  # fmt: skip
    manifests = TUTORIAL.parent.parent.parent / "demo" / "manifests"
    local = ["--set", f"pg_host={postgres.host}", "--set", f"pg_port={postgres.port}"]
    assert (
        run_cli("apply", "-f", str(manifests / "postgres-instance-secret.yml"), env=env).exit_code
        == 0
    )
    assert (
        run_cli("apply", "-f", str(manifests / "postgres-depot.yml"), *local, env=env).exit_code
        == 0
    )
    corrected = write(
        tmp_path / "scanner.yml",
        (TUTORIAL / "scanner.yml")
        .read_text()
        .replace("dataos://postgresdepot", "dataos://postgres"),
    )
    code, out, err = run(corrected)
    assert code == 0, err
    assert "applying(public) postgresdepotscanner:v1:workflow...created" in out
    assert (
        "running(public) postgresdepotscanner:v1:workflow...succeeded (run 1: 4 datasets, " in out
    )
    listing = run_cli("get", "-t", "workflow").stdout.splitlines()[2]
    cells = [c.strip() for c in listing.split("|")]
    assert cells[:6] == ["postgresdepotscanner", "v1", "workflow", "public", "active", "succeeded"]
    assert addresses("postgres") == [
        "dataos://postgres:public/customers",
        "dataos://postgres:public/order_items",
        "dataos://postgres:public/orders",
        "dataos://postgres:public/products",
    ]  # views are included only with includeViews, as in DataOS
    runtime = run_cli("get", "runtime", "-t", "workflow", "-n", "postgresdepotscanner")
    assert "postgresdepotjob-execute" in runtime.stdout and "succeeded" in runtime.stdout
    log = run_cli("log", "-t", "workflow", "-n", "postgresdepotscanner")
    assert "-------------------LOGS-------------------" in log.stdout
    assert "extracted 4 datasets in 1 collections from depot postgres" in log.stdout
    show = run_cli("catalog", "show", "dataos://postgres:public/order_items")
    assert "primary key order_items_pkey: (order_id, product_id)" in show.stdout
    assert "foreign key order_items_order_id_fkey: (order_id) -> public.orders (id)" in show.stdout


def test_rescans_record_history(home: Path, tmp_path: Path, source: Source) -> None:
    apply_depot(tmp_path, source)
    path = scanner(tmp_path, config="includeViews: true")
    code, out, _ = run(path)
    assert code == 0 and "4 datasets, 4 added" in out
    code, out, _ = run(path, "-r")
    assert code == 0 and "4 datasets, no change" in out
    source.sql(
        "ALTER TABLE sales.orders ADD COLUMN total numeric(10,2); "
        "ALTER TABLE sales.customers ALTER COLUMN email DROP NOT NULL; "
        "CREATE TABLE sales.refunds (id int); GRANT SELECT ON sales.refunds TO scan_reader;"
    )
    code, out, _ = run(path, "-r")
    assert "5 datasets, 1 added, 2 altered" in out
    history = json.loads(run_cli("catalog", "history", "dataos://shop:sales/orders",
                                 "--output", "json").stdout)  # fmt: skip
    assert [h["change"] for h in history] == ["altered", "added"]
    assert history[0]["detail"]["columns_added"] == ["total"]
    text = run_cli("catalog", "history", "dataos://shop:sales/customers").stdout
    assert "~email (nullable False -> True)" in text


def test_deleted_tables_and_the_fail_safe(home: Path, tmp_path: Path, source: Source) -> None:
    source.sql(
        "CREATE SCHEMA bulk; "
        + "".join(f"CREATE TABLE bulk.t{i} (id int); " for i in range(20))
        + "GRANT USAGE ON SCHEMA bulk TO scan_reader;"
    )
    apply_depot(tmp_path, source)
    keep = scanner(tmp_path, config="markDeletedTables: false")
    assert run(keep)[0] == 0
    source.sql("DROP TABLE sales.orders CASCADE")
    code, out, _ = run(keep, "-r")
    assert "no change" in out  # without markDeletedTables, nothing is marked deleted
    marking = scanner(tmp_path, config="markDeletedTables: true")
    code, out, _ = run(marking)
    assert code == 0 and "1 deleted" in out
    assert "dataos://shop:sales/orders (deleted)" in addresses()
    # 14 of the 22 remaining would vanish at once: held back, until forced.
    source.sql("".join(f"DROP TABLE bulk.t{i}; " for i in range(14)))
    code, out, err = run(marking, "-r")
    assert code == 0 and "no change" in out
    assert "not marking 14 of 22 datasets deleted (64% > 50% at once)" in err
    assert "--force-deletes" in err
    code, out, err = run(marking, "-r", "--force-deletes")
    assert "14 deleted" in out
    # A table that comes back is restored.
    source.sql("CREATE TABLE sales.orders (id int); GRANT SELECT ON sales.orders TO scan_reader")
    code, out, _ = run(marking, "-r")
    assert "1 restored" in out


def test_filters_are_pushed_down(home: Path, tmp_path: Path, source: Source) -> None:
    apply_depot(tmp_path, source)
    path = scanner(
        tmp_path,
        config="""schemaFilterPattern:
  includes: ["^sales$"]
tableFilterPattern:
  excludes: ["^ord"]
includeViews: true""",
    )
    assert run(path)[0] == 0
    assert addresses() == ["dataos://shop:sales/big_orders", "dataos://shop:sales/customers"]


def test_a_schema_without_privileges_is_reported_and_kept(
    home: Path, tmp_path: Path, source: Source
) -> None:
    source.sql("CREATE SCHEMA hr; CREATE TABLE hr.salaries (id int); GRANT USAGE ON SCHEMA hr TO "
               "scan_reader; GRANT SELECT ON hr.salaries TO scan_reader")  # fmt: skip
    apply_depot(tmp_path, source)
    path = scanner(tmp_path, config="markDeletedTables: true")
    assert run(path)[0] == 0
    assert "dataos://shop:hr/salaries" in addresses()
    source.sql("REVOKE USAGE ON SCHEMA hr FROM scan_reader")
    code, _out, err = run(path, "-r")
    assert code == 0
    assert "skipped hr: the account lacks USAGE privilege on this schema" in err
    assert "dataos://shop:hr/salaries" in addresses()  # not scanned, so not deleted


def test_a_statement_timeout_fails_the_run_and_keeps_the_catalog(
    home: Path, tmp_path: Path, source: Source
) -> None:
    apply_depot(tmp_path, source)
    assert run(scanner(tmp_path))[0] == 0
    before = addresses()
    code, _out, err = run(scanner(tmp_path, config="statementTimeout: 0.001", name="hasty"))
    assert code == 8
    assert "running(public) hasty:v1:workflow...failed" in err
    assert "the source cancelled a catalog query after 0.001 s (statement_timeout)" in err
    assert addresses() == before
    runtime = run_cli("get", "-t", "workflow", "-n", "hasty").stdout
    assert "failed" in runtime


def test_the_source_dies_mid_scan(home: Path, tmp_path: Path, source: Source) -> None:
    """A superuser holds a lock the scan's first query needs; once the scan waits on it, its
    session is terminated: the run fails and the catalog keeps the last good scan."""
    apply_depot(tmp_path, source)
    path = scanner(tmp_path)
    assert run(path)[0] == 0
    before = addresses()
    server = source.postgres.server
    with psycopg.connect(
        host=server.host, port=server.port, user="postgres",
        password=server.superuser_password, dbname=source.database, autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute("BEGIN")
        # Comments: the first catalog query reads them; opening a session does not.
        admin.execute("LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE")
        scan = subprocess.Popen(
            [str(BIN / "entrepot"), "apply", "-f", str(path), "-r"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            pid = None
            deadline = time.monotonic() + 30
            while pid is None and time.monotonic() < deadline:  # the scan's state, polled
                with psycopg.connect(
                    host=server.host, port=server.port, user="postgres",
                    password=server.superuser_password, dbname="postgres", autocommit=True,
                ) as probe:  # fmt: skip
                    row = probe.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s "
                        "AND application_name = 'entrepot' AND wait_event_type = 'Lock'",
                        (source.database,),
                    ).fetchone()
                pid = row[0] if row else None
            assert pid is not None, "the scan never waited on the lock"
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        finally:
            admin.execute("ROLLBACK")
        _out, err = scan.communicate(timeout=60)
    assert scan.returncode == 8, err
    assert "...failed" in err and "Traceback" not in err
    assert addresses() == before


def test_catalog_search_ranks_names_first(home: Path, tmp_path: Path, source: Source) -> None:
    apply_depot(tmp_path, source)
    assert run(scanner(tmp_path))[0] == 0
    found = json.loads(run_cli("catalog", "search", "customer", "--output", "json").stdout)
    assert [r["address"] for r in found] == [
        "dataos://shop:sales/customers",  # the name
        "dataos://shop:sales/orders",  # a column: customer_id
    ]
    assert "column customer_id" in found[1]["matched"]
    by_comment = json.loads(run_cli("catalog", "search", "receipts", "--output", "json").stdout)
    assert by_comment[0]["matched"] == "comment of email"
    missing = run_cli("catalog", "show", "dataos://shop:sales/custmers")
    assert missing.exit_code == 4 and "did you mean 'customers'?" in missing.stderr


def test_scheduled_workflows_wait_and_the_source_name_is_kept(
    home: Path, tmp_path: Path, source: Source
) -> None:
    apply_depot(tmp_path, source)
    depot = (
        (tmp_path / "depot.yml")
        .read_text()
        .replace("  type: postgresql\n", "  type: postgresql\n  source: shopsource\n")
    )
    assert (
        run_cli("apply", "-f", str(write(tmp_path / "d2.yml", depot)), "--no-verify").exit_code == 0
    )
    path = scanner(tmp_path)
    text = path.read_text().replace(
        "workflow:\n", "workflow:\n  schedule:\n    cron: '0 2 * * *'\n", 1
    )
    write(path, text)
    code, out, _ = run(path)
    assert code == 0 and "running" not in out  # a schedule runs it (a server), not the apply
    assert run_cli("get", "runtime", "-t", "workflow", "-n", "shopscan").stderr.startswith(
        "no runs yet"
    )
    code, out, _ = run(path, "-r")
    assert code == 0 and "succeeded" in out
    sources = json.loads(run_cli("catalog", "ls", "--output", "json").stdout)
    assert [(s["source"], s["depot"]) for s in sources] == [("shopsource", "shop")]


def test_an_unchanged_catalog_is_not_scanned_again(
    home: Path, tmp_path: Path, source: Source
) -> None:
    apply_depot(tmp_path, source)
    path = scanner(tmp_path, config="markDeletedTables: true")
    assert run(path)[0] == 0
    source.sql("ANALYZE; VACUUM sales.orders")  # statistics move in place: not a change
    code, out, _ = run(path, "-r")
    assert code == 0 and "3 datasets, no change" in out
    log = run_cli("log", "-t", "workflow", "-n", "shopscan").stdout
    assert "is unchanged since the last full scan" in log
    source.sql("COMMENT ON TABLE sales.orders IS 'One row per checkout'")
    code, out, _ = run(path, "-r")
    assert "3 datasets, 1 altered" in out  # a comment is a change: a full scan sees it
    # Other deletion options make the next run a full scan again.
    other = scanner(tmp_path, config="markDeletedTables: false")
    run(other, "-r")
    assert "extracted 3 datasets" in run_cli("log", "-t", "workflow", "-n", "shopscan").stdout


def test_a_role_limited_to_one_connection_is_scanned_on_one_session(
    home: Path, tmp_path: Path, source: Source
) -> None:
    """A first scan runs the catalog queries on two sessions; a role allowed a single one is
    scanned all the same, the second session's queries run on the first."""
    apply_depot(tmp_path, source)
    source.sql("ALTER ROLE scan_reader CONNECTION LIMIT 1")
    try:
        code, _out, err = run(scanner(tmp_path))
    finally:
        source.sql("ALTER ROLE scan_reader CONNECTION LIMIT -1")
    assert code == 0, err
    assert addresses() == [
        "dataos://shop:public/audit_log",
        "dataos://shop:sales/customers",
        "dataos://shop:sales/orders",
    ]
    shown = json.loads(
        run_cli("catalog", "show", "dataos://shop:sales/orders", "--output", "json").stdout
    )
    assert shown["details"]["foreign_keys"][0]["references"]["table"] == "customers"


def show(address: str) -> dict[str, object]:
    result = run_cli("catalog", "show", address, "--output", "json")
    assert result.exit_code == 0, result.stderr
    record: dict[str, object] = json.loads(result.stdout)
    return record


def test_a_rescan_refreshes_row_estimates_and_sizes(
    home: Path, tmp_path: Path, source: Source
) -> None:
    """ANALYZE rewrites no catalog row version, so the catalog signature stays and the rescan
    takes its unchanged path: the estimates must be refreshed there too."""
    source.sql(
        # No autovacuum on it: only the test's ANALYZE measures the table.
        "CREATE TABLE sales.rentals (id int PRIMARY KEY, rented_on date) "
        "  WITH (autovacuum_enabled = false);"
        "INSERT INTO sales.rentals SELECT g, DATE '2005-05-24' + g % 90 "
        "  FROM generate_series(1, 16044) g;"
        "GRANT SELECT ON sales.rentals TO scan_reader"
    )
    apply_depot(tmp_path, source)
    path = scanner(tmp_path)
    assert run(path)[0] == 0
    # Never analyzed: PostgreSQL knows neither its rows nor its size yet (not 0 bytes).
    details = show("dataos://shop:sales/rentals")["details"]
    assert isinstance(details, dict)
    assert (details["rows"], details["size"]) == (None, None)

    source.sql("ANALYZE sales.rentals")
    code, out, _ = run(path, "-r")
    assert code == 0 and "4 datasets, no change" in out
    log = run_cli("log", "-t", "workflow", "-n", "shopscan").stdout
    assert "is unchanged since the last full scan" in log  # still the cheap path
    pages = source.postgres.server.psql(
        "SELECT relpages FROM pg_class WHERE oid = 'sales.rentals'::regclass",
        database=source.database,
    )
    details = show("dataos://shop:sales/rentals")["details"]
    assert isinstance(details, dict)
    assert details["rows"] == 16044  # ANALYZE reads every row of so small a table
    assert details["size"] == int(pages.strip()) * 8192 > 0
    text = run_cli("catalog", "show", "dataos://shop:sales/rentals").stdout
    assert f"rows: 16044; size: {details['size']}" in text
    listing = json.loads(run_cli("catalog", "ls", "dataos://shop:sales", "--output", "json").stdout)
    assert {r["name"]: r["rows"] for r in listing}["rentals"] == 16044
    # Estimates move silently: no history entry.
    history = json.loads(
        run_cli("catalog", "history", "dataos://shop:sales/rentals", "--output", "json").stdout
    )
    assert [h["change"] for h in history] == ["added"]

    source.sql("INSERT INTO sales.rentals SELECT g, NULL FROM generate_series(16045, 20000) g;"
               "ANALYZE sales.rentals")  # fmt: skip
    assert run(path, "-r")[0] == 0
    details = show("dataos://shop:sales/rentals")["details"]
    assert isinstance(details, dict) and details["rows"] == 20000


def test_inheritance_children_are_linked_to_their_parents(
    home: Path, tmp_path: Path, source: Source
) -> None:
    """pagila's payment_p2007_0x: partitions made with INHERITS before declarative
    partitioning, linked both ways as declarative partitions are."""
    source.sql(
        """
        CREATE TABLE sales.payment (payment_id int, amount numeric(5,2), paid_at timestamp);
        CREATE TABLE sales.payment_p2007_01 (
          CHECK (paid_at >= '2007-01-01' AND paid_at < '2007-02-01')) INHERITS (sales.payment);
        CREATE TABLE sales.payment_p2007_02 (
          CHECK (paid_at >= '2007-02-01' AND paid_at < '2007-03-01')) INHERITS (sales.payment);
        CREATE TABLE public.audited (audited_by text);
        -- two parents, in declared order, one in another schema
        CREATE TABLE sales.refund (reason text) INHERITS (sales.payment, public.audited);
        GRANT SELECT ON ALL TABLES IN SCHEMA sales, public TO scan_reader;
        """
    )
    apply_depot(tmp_path, source)
    assert run(scanner(tmp_path))[0] == 0
    parent = show("dataos://shop:sales/payment")["details"]
    assert isinstance(parent, dict)
    assert parent["inherited_by"] == [
        "sales.payment_p2007_01",
        "sales.payment_p2007_02",
        "sales.refund",
    ]
    child = show("dataos://shop:sales/payment_p2007_01")["details"]
    assert isinstance(child, dict)
    assert child["inherits"] == ["sales.payment"]
    assert "partition_of" not in child  # no declarative partition: no bound
    refund = show("dataos://shop:sales/refund")["details"]
    assert isinstance(refund, dict)
    assert refund["inherits"] == ["sales.payment", "public.audited"]
    audited = show("dataos://shop:public/audited")["details"]
    assert isinstance(audited, dict) and audited["inherited_by"] == ["sales.refund"]
    text = run_cli("catalog", "show", "dataos://shop:sales/payment_p2007_01").stdout
    assert "inherits: sales.payment" in text
    text = run_cli("catalog", "show", "dataos://shop:sales/payment").stdout
    assert "inherited by: sales.payment_p2007_01, sales.payment_p2007_02, sales.refund" in text
