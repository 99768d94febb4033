"""The read-only promise and the query sandbox, tried as an attacker would.

Every attempt runs against real servers with accounts that *can* write, and the source is
checked afterwards: a refusal must come from Entrepôt, not from the grants. The rules these
tests enforce are written down in docs/query-sandbox.md.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from entrepot.query import sandbox
from entrepot.query.engine import EXTENSIONS, extension_path
from scripts.services import MariaDBServer, S3Server
from tests.conftest import BIN, mysql_depot_yaml, write

# ruff: noqa: F811 (arguments named `shop` are the fixture imported below)
from tests.test_query import (  # noqa: F401 (shop: the fixture, used by name)
    WRITER,
    WRITER_PW,
    Shop,
    apply,
    as_json,
    depot_yaml,
    query,
    shop,
)

PWNED = "CREATE TABLE public.pwned (i int)"


def serialized(sql: str) -> str:
    """DuckDB's JSON parse tree of a statement (what json_execute_serialized_sql runs)."""
    row = duckdb.sql(f"SELECT json_serialize_sql('{sql.replace(chr(39), chr(39) * 2)}')").fetchone()
    assert row is not None
    return str(row[0])


def bypasses(depot: str, writes: str, scan: str) -> list[str]:
    """Ways to send `writes` to a source past a read-only attach, as reported and beyond."""
    inner = f"SELECT * FROM postgres_execute(''{depot}'', ''{writes}'')"
    hidden = serialized(f"SELECT * FROM postgres_execute('{depot}', '{writes}')")
    return [
        # The report: quoted, and the transaction's read-only default undone by the SQL itself.
        f"""SELECT * FROM "postgres_execute"('{depot}', 'COMMIT; BEGIN READ WRITE; {writes}; """
        f"""COMMIT; BEGIN'), {scan}""",
        f"SELECT * FROM system.main.postgres_execute('{depot}', '{writes}')",
        f"SELECT * FROM \"POSTGRES_EXECUTE\"('{depot}', '{writes}')",
        f"SELECT * FROM postgres_execute /* a comment */ ('{depot}', '{writes}')",
        f"SELECT * FROM postgres_execute('{depot}', '{writes}', use_transaction = false)",
        f"SELECT * FROM postgres_query('{depot}', 'SELECT 1')",
        f"SELECT * FROM query('{inner}')",
        f"SELECT * FROM {scan} WHERE EXISTS (SELECT * FROM query('{inner}'))",
        f"SELECT * FROM query_table('{scan}')",
        f"SELECT * FROM json_execute_serialized_sql('{hidden.replace(chr(39), chr(39) * 2)}')",
        f"PRAGMA json_execute_serialized_sql('{hidden.replace(chr(39), chr(39) * 2)}')",
        f"CALL postgres_execute('{depot}', '{writes}')",
        f"EXPLAIN ANALYZE SELECT * FROM postgres_execute('{depot}', '{writes}')",
        f"WITH x AS (SELECT * FROM postgres_execute('{depot}', '{writes}')) SELECT * FROM x",
        # In rw mode, a macro or a view would hide the call from the statement that uses it.
        f"CREATE TEMP MACRO m() AS TABLE SELECT * FROM postgres_execute('{depot}', '{writes}')",
        f"CREATE VIEW v AS SELECT * FROM postgres_execute('{depot}', '{writes}')",
        f"INSERT INTO {scan} SELECT * FROM postgres_execute('{depot}', '{writes}')",
    ]


@pytest.mark.parametrize("acl", ["r", "rw"])
def test_pass_through_cannot_write_a_postgresql_source(
    home: Path, tmp_path: Path, shop: Shop, acl: str
) -> None:
    """postgres_execute & co. are unavailable in every mode: the account could write."""
    apply(tmp_path, depot_yaml(shop, rw=True))
    dsn = f"host={shop.sales.host} port={shop.sales.port} dbname={shop.database}"
    attempts = [
        *bypasses("shop", PWNED, "shop.public.customers"),
        # A connection string of the caller's: a connection past the sandbox.
        f"SELECT * FROM postgres_scan('{dsn} user={WRITER} password=x', 'public', 'customers')",
        f"SELECT * FROM postgres_scan_pushdown('{dsn}', 'public', 'customers')",
        f"SELECT * FROM postgres_attach('{dsn}')",
    ]
    for sql in attempts:
        code, out, err = query(sql, "--acl", acl)
        assert code == 5, (sql, out, err)
        assert "Traceback" not in err
        if "CALL" not in sql and "PRAGMA" not in sql:
            assert "is not available" in err or "writes, and queries are read-only" in err, err
    assert shop.psql("SELECT to_regclass('public.pwned') IS NULL") == "t"
    assert shop.psql("SELECT count(*) FROM public.customers") == "500"
    # The depot itself still reads, in both modes.
    code, out, err = query("SELECT count(*) AS n FROM shop.public.customers", "--acl", acl)
    assert code == 0 and "500" in out, err


def test_pass_through_cannot_write_a_mysql_source(
    home: Path, tmp_path: Path, mariadb: MariaDBServer
) -> None:
    database = f"crm_{uuid.uuid4().hex[:8]}"
    mariadb.sql(
        f"""
        CREATE DATABASE {database};
        CREATE TABLE {database}.tiers (customer_id INT PRIMARY KEY, tier VARCHAR(10));
        INSERT INTO {database}.tiers VALUES (1, 'gold');
        CREATE USER IF NOT EXISTS 'crm_writer'@'%' IDENTIFIED BY 'Crm-Writer-1';
        GRANT ALL PRIVILEGES ON {database}.* TO 'crm_writer'@'%';
        """
    )
    try:
        apply(tmp_path, mysql_depot_yaml("crm", mariadb, "crm_writer", "Crm-Writer-1"))
        writes = f"CREATE TABLE {database}.pwned (i int)"
        for acl in ("r", "rw"):
            for sql in (
                f"SELECT * FROM mysql_execute('crm', '{writes}')",
                f"SELECT * FROM \"MYSQL_EXECUTE\"('crm', '{writes}')",
                f"SELECT * FROM system.main.mysql_query('crm', 'SELECT 1'), crm.{database}.tiers",
                f"SELECT * FROM query('SELECT * FROM mysql_execute(''crm'', ''{writes}'')')",
                "SELECT * FROM mysql_debug_execution_plan('crm', 'SELECT 1')",
                "CALL mysql_execute('crm', 'SET SESSION TRANSACTION READ WRITE')",
            ):
                code, _, err = query(sql, "--acl", acl)
                assert code == 5, (acl, sql, err)
        tables = mariadb.sql(
            f"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{database}'"
        )
        assert tables.split()[-1] == "1"
        assert as_json(f"SELECT tier FROM crm.{database}.tiers") == [{"tier": "gold"}]
    finally:
        mariadb.sql(f"DROP DATABASE {database}")


def test_the_bound_plan_catches_what_a_view_hides(shop: Shop) -> None:
    """Gate 3 alone: a view made outside the engine wraps postgres_query; the statement that
    uses it names no function, and its plan is refused."""
    con = duckdb.connect(config=sandbox.base_config() | {"allow_unsigned_extensions": True})
    try:
        con.execute(f"LOAD '{extension_path('postgres')}'")
        password = WRITER_PW.replace("'", "''")
        con.execute(
            f"CREATE TEMPORARY SECRET s (TYPE postgres, HOST '{shop.sales.host}', "
            f"PORT {shop.sales.port}, DATABASE '{shop.database}', USER '{WRITER}', "
            f"PASSWORD '{password}')"
        )
        con.execute("ATTACH '' AS shop (TYPE postgres, SECRET s, READ_ONLY)")
        con.execute("CREATE VIEW hidden AS SELECT * FROM postgres_query('shop', 'SELECT 1 AS a')")
        gate = sandbox.Sandbox("rw")
        [statement] = gate.check("SELECT * FROM hidden")  # gates 1 and 2 see nothing
        with pytest.raises(sandbox.RefusedError, match="postgres_query"):
            gate.check_plan(con, statement)
        [plain] = gate.check("SELECT count(*) FROM shop.public.customers")
        gate.check_plan(con, plain)  # an attached table's scan is fine
        gate.close()
    finally:
        con.close()


def test_every_scanner_function_is_known() -> None:
    """An extension upgrade that adds a function fails here, not silently in production."""
    con = duckdb.connect(config=sandbox.base_config() | {"allow_unsigned_extensions": True})
    before = {r[0] for r in con.execute("SELECT function_name FROM duckdb_functions()").fetchall()}
    for name in EXTENSIONS:
        con.execute(f"LOAD '{extension_path(name)}'")
    added = con.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() "
        "WHERE function_type IN ('table', 'table_macro', 'pragma')"
    ).fetchall()
    con.close()
    # Table functions the extensions add, which a statement may call: none sends SQL.
    readers = {"azure_glob", "read_blob", "read_text"}
    for (name,) in added:
        if name in before or name in readers or not name.startswith(("postgres", "pg_", "mysql")):
            continue
        assert sandbox.refused_function(name), name
    for name in ("query", "query_table", "json_execute_serialized_sql", "parquet_scan"):
        assert name in before
    assert not sandbox.refused_function("read_parquet")
    assert not sandbox.refused_function("pg_typeof")  # DuckDB's PostgreSQL-compatible macro


def test_explain_analyze_is_judged_by_what_it_runs(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "files" / "coll1"
    folder.mkdir(parents=True)
    (folder / "t.csv").write_text("a\n1\n")
    apply(
        tmp_path,
        f"""name: files
version: v2alpha
type: depot
depot:
  type: file
  file: {{path: "{tmp_path / "files"}"}}
""",
    )
    for sql in (
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'dataos://files:coll1/x.csv'",
        "EXPLAIN (ANALYZE, FORMAT json) COPY (SELECT 1) TO 'dataos://files:coll1/x.csv'",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{folder / 'x.csv'}'",
        "EXPLAIN ANALYZE INSERT INTO files.coll1.t VALUES (2)",
    ):
        code, _, err = query(sql)
        assert code == 5 and "read-only by default" in err, (sql, err)
    assert sorted(p.name for p in folder.iterdir()) == ["t.csv"]
    # Explaining a read is a read, with or without ANALYZE.
    code, out, err = query("EXPLAIN SELECT * FROM files.coll1.t")
    assert code == 0 and "READ_CSV" in out.upper(), err
    code, out, err = query("EXPLAIN ANALYZE SELECT count(*) FROM files.coll1.t")
    assert code == 0, err


def test_rw_copy_writes_only_into_a_writable_depot(
    home: Path, tmp_path: Path, s3: S3Server
) -> None:
    """With --acl rw, a COPY target spelled as a raw URL, or with `..`, inside a depot that
    stays read-only (no rw secret) is refused; the r account could write it."""
    import boto3

    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
        aws_access_key_id=s3.access_key_id, aws_secret_access_key=s3.secret_access_key,
    )  # fmt: skip
    client.create_bucket(Bucket=bucket)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2]}), buffer)
    client.put_object(Bucket=bucket, Key="archive/old/part-0.parquet", Body=buffer.getvalue())
    keys = f'{{awsaccesskeyid: {s3.access_key_id}, awssecretaccesskey: "{s3.secret_access_key}"}}'

    def depot(name: str, prefix: str, acls: list[str]) -> str:
        secrets = ", ".join(f"{{name: {name}-{acl}, allkeys: true}}" for acl in acls)
        docs = [
            f"name: {name}-{acl}\nversion: v1\ntype: instance-secret\ninstance-secret:\n"
            f"  type: key-value-properties\n  acl: {acl}\n  data: {keys}\n"
            for acl in acls
        ]
        docs.append(
            f"name: {name}\nversion: v2alpha\ntype: depot\ndepot:\n  type: s3\n"
            f"  secrets: [{secrets}]\n"
            f'  s3: {{bucket: {bucket}, relativePath: {prefix}, endpoint: "{s3.endpoint_url}"}}\n'
        )
        return "---\n".join(docs)

    apply(
        tmp_path, depot("lake", "open", ["r", "rw"]) + "---\n" + depot("archive", "archive", ["r"])
    )
    for target in (
        "dataos://archive:archive/x.parquet",
        f"s3://{bucket}/archive/x.parquet",
        f"s3://{bucket}/open/../archive/x.parquet",
    ):
        code, _, err = query(
            f"COPY (SELECT * FROM archive.archive.old) TO '{target}' (FORMAT parquet)",
            "--acl",
            "rw",
        )
        assert code == 5 and "depot 'archive' has no rw secret" in err, (target, err)
    code, _, err = query(
        "COPY (SELECT * FROM archive.archive.old) TO 'dataos://lake:open/copy.parquet' "
        "(FORMAT parquet)",
        "--acl",
        "rw",
    )
    assert code == 0, err
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == ["archive/old/part-0.parquet", "open/copy.parquet"]


def test_the_working_directory_cannot_open_the_sandbox(home: Path, tmp_path: Path) -> None:
    """DuckDB lets statements use its temporary directory, `.tmp` under the working directory by
    default: a `.tmp` symlink to $ENTREPOT_HOME printed master.key. Sessions have none now."""
    run_in = tmp_path / "work"
    run_in.mkdir()
    (run_in / ".tmp").symlink_to(home, target_is_directory=True)
    apply(tmp_path, "name: x-r\nversion: v1\ntype: instance-secret\ninstance-secret:\n"
          "  type: key-value-properties\n  acl: r\n  data: {password: canary-9f2}\n")  # fmt: skip
    key = (home / "master.key").read_text().strip()
    for sql in (
        "SELECT * FROM read_text('.tmp/master.key')",
        f"SELECT * FROM read_text('{run_in}/.tmp/master.key')",
        "SELECT * FROM glob('.tmp/*')",
        "COPY (SELECT 1) TO '.tmp/planted.csv'",
    ):
        proc = subprocess.run(
            [str(BIN / "entrepot"), "query", "--acl", "rw", sql],
            capture_output=True, text=True, cwd=run_in, timeout=60,
            env={**os.environ, "ENTREPOT_HOME": str(home)},
        )  # fmt: skip
        assert proc.returncode == 5, (sql, proc.stdout, proc.stderr)
        assert key not in proc.stdout + proc.stderr
    assert not (home / "planted.csv").exists()
    code, out, _ = query("SELECT current_setting('temp_directory') AS t", "--output", "json")
    assert code == 0 and json.loads(out) == [{"t": ""}]


def test_import_database_is_refused_before_it_reads_anything(home: Path, tmp_path: Path) -> None:
    """DuckDB expands IMPORT DATABASE while parsing: parsing now happens on a locked
    connection, so the folder's SQL never runs."""
    folder = tmp_path / "dump"
    folder.mkdir()
    planted = tmp_path / "planted.csv"
    (folder / "schema.sql").write_text(f"COPY (SELECT 1) TO '{planted}';\n")
    (folder / "load.sql").write_text("")
    for acl in ("r", "rw"):
        code, _, err = query(f"IMPORT DATABASE '{folder}'", "--acl", acl)
        assert code == 5 and "IMPORT DATABASE is not allowed" in err, err
    assert not planted.exists()


def test_a_file_depot_cannot_expose_entrepots_own_files(home: Path, tmp_path: Path) -> None:
    apply(
        tmp_path,
        f"""name: everything
version: v2alpha
type: depot
depot:
  type: file
  file: {{path: "{home.parent}"}}
""",
    )
    code, _, err = query(f"SELECT * FROM read_text('{home / 'master.key'}'), everything.x.y")
    assert code == 5 and "overlaps Entrepôt's own files" in err, err
    write(home.parent / "data" / "t.csv", "a\n1\n")
    code, _, err = query('SELECT * FROM "dataos://everything:data/t"')
    assert code == 5 and "overlaps" in err
