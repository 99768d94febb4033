"""Federated SQL: depots as DuckDB catalogs over a real PostgreSQL and a real Azurite.

What a user sees: results, pushdown (from the SQL the source received), the read-only rule and
its pass-through loopholes closed, writes with --acl rw, the sandbox, limits, the shell.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scripts.services import AzuriteServer, MariaDBServer, S3Server
from tests.conftest import (
    SalesDatabase,
    add_user,
    local_context,
    mysql_depot_yaml,
    run_cli,
    write,
)

WRITER = "query_writer"
WRITER_PW = "writer-pw-Quoted'&%"


@dataclass
class Shop:
    sales: SalesDatabase
    database: str

    def psql(self, sql: str) -> str:
        return self.sales.server.psql(sql, database=self.database).strip()


@pytest.fixture(scope="module")
def shop(postgres: SalesDatabase) -> Iterator[Shop]:
    """A database of its own (the tests write to it), owned by a role that may write: the
    read path must refuse writes by itself, not thanks to the grants."""
    server = postgres.server
    database = f"shop_{uuid.uuid4().hex[:8]}"
    if not server.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{WRITER}'").strip():
        server.create_role(WRITER, WRITER_PW)
    server.create_database(database, owner=WRITER)
    shop = Shop(postgres, database)
    server.psql(
        "CREATE TABLE public.customers (id int PRIMARY KEY, name text, email text, country text);"
        "INSERT INTO public.customers SELECT g, 'name ' || g, 'c' || g || '@example.com', "
        "  CASE WHEN g % 2 = 0 THEN 'FR' ELSE 'DE' END FROM generate_series(1, 500) g;"
        f"ALTER TABLE public.customers OWNER TO {WRITER};",
        database=database,
    )
    yield shop


def depot_yaml(shop: Shop, name: str = "shop", rw: bool = False) -> str:
    secrets = [f"{{name: {name}-r, allkeys: true}}"]
    docs = [
        f"""name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: {WRITER}, password: "{WRITER_PW}"}}
"""
    ]
    if rw:
        secrets.append(f"{{name: {name}-rw, allkeys: true}}")
        docs.append(docs[0].replace(f"{name}-r\n", f"{name}-rw\n").replace("acl: r", "acl: rw"))
    docs.append(
        f"""name: {name}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{", ".join(secrets)}]
  postgresql: {{host: {shop.sales.host}, port: {shop.sales.port}, database: {shop.database}}}
"""
    )
    return "---\n".join(docs)


def apply(tmp_path: Path, text: str) -> None:
    result = run_cli("apply", "-f", str(write(tmp_path / f"{uuid.uuid4().hex}.yml", text)))
    assert result.exit_code == 0, result.output


def query(*args: str) -> tuple[int, str, str]:
    result = run_cli("query", *args)
    return result.exit_code, result.stdout, result.stderr


def as_json(sql: str) -> list[dict[str, object]]:
    code, out, err = query(sql, "--output", "json")
    assert code == 0, err
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def test_depots_are_catalogs_and_addresses_are_tables(
    home: Path, tmp_path: Path, shop: Shop
) -> None:
    apply(tmp_path, depot_yaml(shop))
    rows = as_json("SELECT country, count(*) AS n FROM shop.public.customers GROUP BY 1 ORDER BY 1")
    assert rows == [{"country": "DE", "n": 250}, {"country": "FR", "n": 250}]
    by_address = as_json('SELECT name FROM "dataos://shop:public/customers" WHERE id = 7')
    assert by_address == [{"name": "name 7"}]
    code, out, _ = query("SELECT * FROM shop.public.customers WHERE id <= 3")
    assert code == 0 and "c2@example.com" in out
    # Every decryption is audited, with what it was for.
    audit = run_cli("admin", "audit", "--output", "json")
    assert "query of depot shop" in audit.stdout


def test_filters_and_projections_reach_the_source(home: Path, tmp_path: Path, shop: Shop) -> None:
    apply(tmp_path, depot_yaml(shop))
    server = shop.sales.server
    server.psql(f"ALTER ROLE {WRITER} SET log_statement = 'all'")
    try:
        offset = server.log_file.stat().st_size
        rows = as_json("SELECT email FROM shop.public.customers WHERE id = 42")
        assert rows == [{"email": "c42@example.com"}]
        log = server.log_file.read_bytes()[offset:].decode(errors="replace")
    finally:
        server.psql(f"ALTER ROLE {WRITER} RESET log_statement")
    copies = [line for line in log.splitlines() if "COPY (SELECT" in line]
    assert copies, log
    sent = copies[-1]
    assert '"email"' in sent and "\"id\" = '42'" in sent, sent  # the filter and the column...
    assert '"name"' not in sent and '"country"' not in sent, sent  # ...and nothing else


def test_cross_depot_join_postgres_and_azure_parquet(
    home: Path, tmp_path: Path, shop: Shop, azurite: AzuriteServer
) -> None:
    from azure.storage.blob import BlobServiceClient

    container = f"drop{uuid.uuid4().hex[:8]}"
    box = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    try:
        for month, ids in (("2020-04", [1, 2, 3]), ("2020-05", [3, 4])):
            buffer = io.BytesIO()
            pq.write_table(pa.table({"customer_id": ids, "amount": [10.0] * len(ids)}), buffer)
            box.upload_blob(f"zone/sales/month={month}/part-0.parquet", buffer.getvalue())
        box.upload_blob("zone/stores.csv", b"store_id,city\n1,Lyon\n2,Lille\n")
        apply(
            tmp_path,
            depot_yaml(shop)
            + f"""---
name: lake-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{azurestorageaccountkey: "{azurite.account_key}"}}
---
name: lake
version: v2alpha
type: depot
depot:
  type: abfss
  secrets: [{{name: lake-r, allkeys: true}}]
  abfss: {{account: {azurite.account_name}, container: {container}, relativePath: zone,
          endpoint: "{azurite.blob_endpoint}"}}
""",
        )
        # Not scanned yet: the datasets are found by listing the depot.
        rows = as_json(
            "SELECT c.name, s.month, sum(s.amount) AS total "
            "FROM shop.public.customers c JOIN lake.zone.sales s ON s.customer_id = c.id "
            "GROUP BY ALL ORDER BY c.name, s.month"
        )
        assert [(r["name"], r["month"], r["total"]) for r in rows] == [
            ("name 1", "2020-04", 10.0), ("name 2", "2020-04", 10.0),
            ("name 3", "2020-04", 10.0), ("name 3", "2020-05", 10.0),
            ("name 4", "2020-05", 10.0),
        ]  # fmt: skip
        assert as_json('SELECT city FROM "dataos://lake:zone/stores" ORDER BY 1') == [
            {"city": "Lille"},
            {"city": "Lyon"},
        ]
        # Scanned: the catalog's datasets are the tables.
        apply(
            tmp_path,
            """version: v1
name: lakescan
type: workflow
workflow:
  dag:
    - name: scan
      spec: {stack: "scanner:2.0", stackSpec: {depot: dataos://lake}}
""",
        )
        assert as_json("SELECT count(*) AS n FROM lake.zone.sales") == [{"n": 5}]
        code, _, err = query("SELECT * FROM lake.zone.nothing_here")
        assert code == 3 and "nothing_here" in err
        # COPY ... TO a depot: refused without an rw secret, even with --acl rw...
        copy = (
            "COPY (SELECT id, name FROM shop.public.customers WHERE country = 'FR') "
            "TO 'dataos://lake:zone/fr/customers.parquet' (FORMAT parquet)"
        )
        code, _, err = query(copy, "--acl", "rw")
        assert code == 5 and "depot 'lake' has no rw secret" in err, err
        # ...and written with one, while `shop` (r only) is read in the same statement.
        apply(
            tmp_path,
            f"""name: lake-rw
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: rw
  data: {{azurestorageaccountkey: "{azurite.account_key}"}}
---
name: lake
version: v2alpha
type: depot
depot:
  type: abfss
  secrets: [{{name: lake-r, allkeys: true}}, {{name: lake-rw, allkeys: true}}]
  abfss: {{account: {azurite.account_name}, container: {container}, relativePath: zone,
          endpoint: "{azurite.blob_endpoint}"}}
""",
        )
        code, _, err = query(copy, "--acl", "rw")
        assert code == 0, err
        written = box.download_blob("zone/fr/customers.parquet").readall()
        assert pq.read_table(io.BytesIO(written)).num_rows == 250
        assert as_json("SELECT count(*) AS n FROM lake.zone.fr") == [{"n": 250}]
    finally:
        box.delete_container()


def test_the_read_path_cannot_write(home: Path, tmp_path: Path, shop: Shop) -> None:
    apply(tmp_path, depot_yaml(shop, rw=True))
    attempts = [
        "INSERT INTO shop.public.customers VALUES (9001, 'x', 'x', 'x')",
        "CREATE TABLE shop.public.copy AS SELECT * FROM shop.public.customers",
        "DELETE FROM shop.public.customers",
        "COPY (SELECT 1) TO 'dataos://shop:public/out.csv'",
        "CALL postgres_execute('shop', 'CREATE TABLE public.evil (a int)')",
        "SELECT * FROM postgres_execute('shop', 'DROP TABLE public.customers')",
        "SELECT * FROM postgres_query('shop', 'SELECT 1; DROP TABLE public.customers')",
        "SELECT * FROM postgres_scan('dbname=postgres', 'public', 'customers')",
        "ATTACH 'dbname=postgres' AS other (TYPE postgres)",
        "SET enable_external_access = true",
    ]
    for sql in attempts:
        code, out, err = query(sql)
        assert code in (3, 5), (sql, out, err)
        assert "Traceback" not in err
    code, _, err = query("INSERT INTO shop.public.customers VALUES (9001, 'x', 'x', 'x')")
    assert code == 5 and "read-only by default" in err and "--acl rw" in err
    assert shop.psql("SELECT count(*) FROM public.customers") == "500"
    assert shop.psql("SELECT to_regclass('public.evil') IS NULL") == "t"


def test_writes_need_rw_and_the_rw_secret(home: Path, tmp_path: Path, shop: Shop) -> None:
    apply(tmp_path, depot_yaml(shop, name="readonly"))  # an r secret only
    code, _, err = query(
        "INSERT INTO readonly.public.customers VALUES (1, 'x', 'x', 'x')", "--acl", "rw"
    )
    assert code == 5 and "no rw secret" in err, err
    apply(tmp_path, depot_yaml(shop, name="writable", rw=True))
    table = f"copy_{uuid.uuid4().hex[:6]}"
    code, _, err = query(
        f"CREATE TABLE writable.public.{table} AS "
        "SELECT * FROM writable.public.customers WHERE country = 'FR'",
        "--acl",
        "rw",
    )
    assert code == 0, err
    assert shop.psql(f"SELECT count(*) FROM public.{table}") == "250"
    code, _, err = query(
        f"INSERT INTO writable.public.{table} VALUES (9001, 'new', 'n@example.com', 'IT')",
        "--acl",
        "rw",
    )
    assert code == 0, err
    assert shop.psql(f"SELECT name FROM public.{table} WHERE id = 9001") == "new"
    # Only the owner (or Manage All Dataset) writes: a data-dev reads everyone's, writes none.
    add_user("mallory", "roles:id:data-dev")
    result = run_cli(
        "query",
        f"DELETE FROM writable.public.{table}",
        "--acl",
        "rw",
        env={"ENTREPOT_USER": "mallory"},
    )
    assert result.exit_code == 5 and "may not write" in result.stderr
    assert shop.psql(f"SELECT count(*) FROM public.{table}") == "251"


def test_the_engine_is_sandboxed(home: Path, tmp_path: Path, shop: Shop) -> None:
    apply(tmp_path, depot_yaml(shop))
    master = home / "master.key"
    assert master.exists()
    for sql in (
        f"SELECT * FROM read_text('{master}')",
        f"SELECT * FROM read_blob('{home / 'entrepot.db'}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/*')",
        f"SELECT * FROM read_text('{master}'), shop.public.customers LIMIT 1",
        "SELECT * FROM duckdb_secrets(redact = false)",
        "INSTALL httpfs",
        "LOAD httpfs",
    ):
        code, out, err = query(sql)
        assert code in (3, 5), (sql, out, err)
    code, out, err = query(
        "SELECT name, secret_string FROM duckdb_secrets() "
        "WHERE EXISTS (SELECT 1 FROM shop.public.customers)"  # names the depot: it is attached
    )
    assert code == 0 and WRITER_PW not in out and "redacted" in out


def test_limits_and_output_formats(home: Path, tmp_path: Path, shop: Shop) -> None:
    apply(tmp_path, depot_yaml(shop))
    code, _, err = query(
        "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b",
        "--timeout",
        "0.5",
    )
    assert code == 8 and "longer than 0.5 s" in err, err
    code, _, err = query(
        "SELECT count(DISTINCT range::VARCHAR || 'x') FROM range(3000000)", "--memory-limit", "20MB"
    )
    assert code == 8 and "Out of Memory" in err and "--memory-limit" in err, err
    code, _, err = query("SELECT 1", "--memory-limit", "lots")
    assert code == 2 and "--memory-limit" in err
    code, out, err = query("SELECT id FROM shop.public.customers ORDER BY id", "--max-rows", "3")
    assert code == 0 and out.split() == ["id", "--", "1", "2", "3"]
    assert "first 3 rows shown" in err
    sql = "SELECT id, name FROM shop.public.customers ORDER BY id"
    out_file = tmp_path / "all.parquet"
    code, _, err = query(sql, "--output", "parquet", "--out", str(out_file))
    assert code == 0, err
    assert pq.read_table(out_file).num_rows == 500
    code, out, _ = query(sql, "--output", "csv")
    assert out.splitlines()[:2] == ['"id","name"', '1,"name 1"'] and len(out.splitlines()) == 501
    sql_file = write(
        tmp_path / "q.sql", "-- a report\nSELECT count(*) AS n\nFROM shop.public.customers;\n"
    )
    code, out, _ = query("-f", str(sql_file), "--output", "json")
    assert json.loads(out) == [{"n": 500}]
    bad_file = write(tmp_path / "bad.sql", "SELECT 1;\nSELEC 2;\n")
    code, _, err = query("-f", str(bad_file))
    assert code == 3 and err.startswith(f"{bad_file}: error:") and "syntax error" in err, err
    code, _, err = query("SELEC 1")
    assert code == 3 and "syntax error" in err.lower()
    code, _, err = query("SELECT * FROM shpo.public.customers")
    assert code == 3 and "shop" in err  # the hint lists the depots


def test_sdk_sql_stream_and_read(home: Path, tmp_path: Path, shop: Shop) -> None:
    import entrepot
    import entrepot.errors

    apply(tmp_path, depot_yaml(shop))
    with entrepot.Client(home) as client:
        table = client.sql("SELECT id, country FROM shop.public.customers WHERE id <= 10")
        assert isinstance(table, pa.Table) and table.num_rows == 10
        assert table.to_pandas()["country"].tolist()[:2] == ["DE", "FR"]
        batches = list(client.stream("SELECT * FROM range(300000)"))
        assert len(batches) > 1 and sum(b.num_rows for b in batches) == 300000
        assert client.read("dataos://shop:public/customers").num_rows == 500
        with pytest.raises(entrepot.errors.RefusedError):
            client.sql("DROP TABLE shop.public.customers")


def test_the_sql_shell(home: Path, tmp_path: Path, shop: Shop) -> None:
    from entrepot.cli.query import Completer, make_engine

    apply(tmp_path, depot_yaml(shop))
    result = run_cli(
        "sql",
        stdin="SELECT count(*) AS n\n  FROM shop.public.customers;\nSELECT * FROM nope.a.b;\n"
        "SELECT 41 + 1 AS answer;\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "500" in result.stdout and "42" in result.stdout  # an error does not end the shell
    assert "nope" in result.stderr
    # Completion comes from the catalog: scan, then complete each level.
    apply(
        tmp_path,
        """version: v1
name: shopscan
type: workflow
workflow:
  dag:
    - name: scan
      spec: {stack: "scanner:2.0", stackSpec: {depot: dataos://shop}}
""",
    )
    with local_context() as ctx:
        completer = Completer(ctx, make_engine(ctx, "r", 10, None, None))
        assert "shop" in completer.candidates("sh")
        assert completer.candidates("shop.pu") == ["shop.public"]
        assert completer.candidates("shop.public.cu") == ["shop.public.customers"]
        assert completer.candidates("shop.public.customers.em") == ["shop.public.customers.email"]


def test_mysql_depot_joins_postgres(
    home: Path, tmp_path: Path, shop: Shop, mariadb: MariaDBServer
) -> None:
    """A MySQL (MariaDB) depot is a catalog whose schemas are its databases; read-only too."""
    database = f"crm_{uuid.uuid4().hex[:8]}"
    mariadb.sql(
        f"""
        CREATE DATABASE {database};
        CREATE TABLE {database}.tiers (customer_id INT PRIMARY KEY, tier VARCHAR(10));
        INSERT INTO {database}.tiers VALUES (1, 'gold'), (2, 'free'), (4, 'gold');
        CREATE USER IF NOT EXISTS 'crm_user'@'%' IDENTIFIED BY 'Crm-User-1';
        GRANT ALL PRIVILEGES ON {database}.* TO 'crm_user'@'%';
        """
    )
    try:
        apply(
            tmp_path,
            depot_yaml(shop) + "---\n" + mysql_depot_yaml("crm", mariadb, "crm_user", "Crm-User-1"),
        )
        rows = as_json(
            f"SELECT c.name FROM shop.public.customers c JOIN crm.{database}.tiers t "
            "ON t.customer_id = c.id WHERE t.tier = 'gold' ORDER BY c.id"
        )
        assert rows == [{"name": "name 1"}, {"name": "name 4"}]
        # Pushdown, from the server's own general log: the filter and the one column asked for
        # reach MariaDB; the other column does not.
        mariadb.sql("SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1;")
        try:
            rows = as_json(f"SELECT count(*) AS n FROM crm.{database}.tiers WHERE tier = 'gold'")
            sent = mariadb.sql(
                "SELECT argument FROM mysql.general_log WHERE command_type = 'Execute' "
                f"AND argument LIKE '%`{database}`.`tiers`%'"
            )
        finally:
            mariadb.sql("SET GLOBAL general_log = 0; TRUNCATE TABLE mysql.general_log;")
        assert rows == [{"n": 2}]
        assert sent.strip().startswith("SELECT"), sent
        assert "WHERE `tier` = 'gold'" in sent, sent  # the filter...
        assert "`customer_id`" not in sent, sent  # ...and no column the statement does not need
        for sql in (
            f"INSERT INTO crm.{database}.tiers VALUES (9, 'x')",
            f"CALL mysql_execute('crm', 'DROP TABLE {database}.tiers')",
            f"SELECT * FROM mysql_query('crm', 'SELECT * FROM {database}.tiers')",
        ):
            code, _, err = query(sql)
            assert code == 5, (sql, err)
        assert mariadb.sql(f"SELECT count(*) FROM {database}.tiers").split()[-1] == "3"
    finally:
        mariadb.sql(f"DROP DATABASE {database}")


def test_s3_and_local_folder_depots(home: Path, tmp_path: Path, s3: S3Server) -> None:
    """httpfs over moto's S3 (signature checked) and a `file` depot: the same tables."""
    import boto3

    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
        aws_access_key_id=s3.access_key_id, aws_secret_access_key=s3.secret_access_key,
    )  # fmt: skip
    client.create_bucket(Bucket=bucket)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2, 3], "amount": [1.5, 2.5, 3.5]}), buffer)
    client.put_object(Bucket=bucket, Key="landing/sales/part-0.parquet", Body=buffer.getvalue())
    folder = tmp_path / "files" / "landing"
    folder.mkdir(parents=True)
    (folder / "stores.csv").write_text("store_id,city\n1,Lyon\n2,Lille\n")
    (folder / "events.jsonl").write_text('{"id": 1, "kind": "click"}\n{"id": 3, "kind": "view"}\n')
    apply(
        tmp_path,
        f"""name: lake-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{awsaccesskeyid: {s3.access_key_id}, awssecretaccesskey: "{s3.secret_access_key}"}}
---
name: lake
version: v2alpha
type: depot
depot:
  type: s3
  secrets: [{{name: lake-r, allkeys: true}}]
  s3: {{bucket: {bucket}, relativePath: landing, endpoint: "{s3.endpoint_url}"}}
---
name: local
version: v2alpha
type: depot
depot:
  type: file
  file: {{path: "{tmp_path / "files"}", relativePath: landing}}
""",
    )
    rows = as_json(
        "SELECT s.id, s.amount, l.city FROM lake.landing.sales s "
        "LEFT JOIN local.landing.stores l ON l.store_id = s.id ORDER BY s.id"
    )
    assert rows == [
        {"id": 1, "amount": 1.5, "city": "Lyon"},
        {"id": 2, "amount": 2.5, "city": "Lille"},
        {"id": 3, "amount": 3.5, "city": None},
    ]
    assert as_json("SELECT kind FROM local.landing.events WHERE id = 3") == [{"kind": "view"}]
    # The local depot's folder is readable; its neighbours are not.
    (tmp_path / "files" / "private.csv").write_text("a\n1\n")
    code, _, err = query(
        f"SELECT * FROM read_csv('{tmp_path / 'files' / 'private.csv'}'), local.landing.stores"
    )
    assert code == 5 and "Permission" in err


def test_ctrl_c_cancels_the_running_statement(home: Path) -> None:
    """SIGINT while DuckDB computes: the statement stops, exit 130, no traceback."""
    import os
    import signal
    import subprocess
    import time

    from tests.conftest import BIN

    proc = subprocess.Popen(
        [str(BIN / "entrepot"), "query", "--timeout", "0",
         "SELECT sum(a.range * b.range) FROM range(400000) a, range(400000) b"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ENTREPOT_HOME": str(home)},
    )  # fmt: skip
    try:
        # Wait for the state, not for a time: the process has used a second of CPU, so it is
        # past its imports and inside the statement (a cross join of 1.6e11 rows).
        stat = Path(f"/proc/{proc.pid}/stat")
        while proc.poll() is None:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[11]) + int(fields[12]) >= os.sysconf("SC_CLK_TCK"):
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err


def test_the_sql_shell_on_a_terminal(home: Path, tmp_path: Path) -> None:
    """A real pseudo-terminal: prompt, a result, Tab completion of a depot, history saved."""
    import os
    import pty
    import select
    import subprocess
    import time

    from tests.conftest import BIN

    manifest = """name: warehouse-r
version: v1
type: instance-secret
instance-secret: {type: key-value-properties, acl: r, data: {username: u, password: p}}
---
name: warehouse
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{name: warehouse-r}]
  postgresql: {host: 127.0.0.1, port: 1, database: dw}
"""
    applied = run_cli("apply", "--no-verify", "-f", str(write(tmp_path / "dw.yml", manifest)))
    assert applied.exit_code == 0, applied.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "entrepot"), "sql"], stdin=slave, stdout=slave, stderr=slave,
        env={**os.environ, "ENTREPOT_HOME": str(home), "TERM": "dumb"}, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""

    def read_until(token: bytes) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + 30
        start = len(seen)
        while token not in seen[start:]:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"waited for {token!r}; the terminal shows {seen!r}"
            seen += os.read(master, 4096)
        return seen[start:]

    try:
        read_until(b"entrepot> ")
        os.write(master, b"SELECT 40 + 2 AS answer;\n")
        assert b"42" in read_until(b"entrepot> ")
        os.write(master, b"SELECT * FROM wareh\t")
        read_until(b"warehouse")  # completed from the depots
        os.write(master, b"\x15.exit\n")  # Ctrl-U clears the line, then leave
        proc.wait(timeout=30)
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 0
    history = (home / "sql_history").read_text()
    assert "SELECT 40 + 2 AS answer;" in history
    assert (home / "sql_history").stat().st_mode & 0o077 == 0


def test_extension_signatures_are_checked_once_per_file(home: Path, tmp_path: Path) -> None:
    """DuckDB verifies each extension file's signature once; a tampered copy is refused."""
    import duckdb

    from entrepot.query.engine import VerifiedExtensions, extension_path

    real = extension_path("postgres")
    VerifiedExtensions(home).ensure(real)
    record = home / "cache" / "duckdb-extensions.json"
    assert str(real) in json.loads(record.read_text())
    content = bytearray(real.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one byte in the middle of the code
    tampered = tmp_path / "postgres_scanner.duckdb_extension"
    tampered.write_bytes(bytes(content))
    with pytest.raises(duckdb.Error):
        VerifiedExtensions(home).ensure(tampered)
    assert str(tampered) not in json.loads(record.read_text())
