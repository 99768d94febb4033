"""entrepot.spark.read against a real local Spark session (pyspark, Java 17) and the session's
PostgreSQL, through the Debian PostgreSQL JDBC jar, and MariaDB (a MySQL depot) through the Debian
MariaDB Connector/J jar; object stores through a `file` depot.

The Spark session starts once for the module (about 6.5 s). hadoop-azure and hadoop-aws are not
on the classpath (no Maven offline), so for abfss and s3 only the Hadoop configuration a read sets
is checked: `test_*_configuration_shape`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import entrepot.spark
from entrepot.errors import EntrepotError, NotFoundError
from entrepot.query.spark import SparkReadError
from scripts.services import MariaDBServer
from tests.conftest import SalesDatabase, audit_events, mysql_depot_yaml, run_cli, write

pytestmark = pytest.mark.postgres

JDBC_JAR = "/usr/share/java/postgresql.jar"
# Debian has no MySQL Connector/J; MariaDB Connector/J (libmariadb-java) reads MySQL depots.
MARIADB_JAR = "/usr/share/java/mariadb-java-client.jar"
MARIADB_DRIVER = {"driver": "org.mariadb.jdbc.Driver"}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("entrepot-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.jars", f"{JDBC_JAR},{MARIADB_JAR}")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    yield session
    session.stop()


def apply(tmp_path: Path, text: str, name: str = "manifest") -> None:
    result = run_cli("apply", "-f", str(write(tmp_path / f"{name}.yml", text)), "--no-verify")
    assert result.exit_code == 0, result.output


def pg_depot(
    tmp_path: Path,
    db: SalesDatabase,
    name: str = "postgres",
    password: str = "",
    database: str = "sales_data",
) -> None:
    apply(
        tmp_path,
        f"""name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: {db.reader}, password: "{password or db.password}"}}
---
name: {name}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: {name}-r, allkeys: true}}]
  postgresql: {{host: {db.host}, port: {db.port}, database: {database}}}
""",
        name,
    )


def scan(tmp_path: Path, depot: str) -> None:
    path = write(
        tmp_path / f"{depot}-scan.yml",
        f"""version: v1
name: {depot}scan
type: workflow
workflow:
  dag:
    - name: {depot}scanjob
      spec:
        stack: scanner:2.0
        compute: runnable-default
        stackSpec:
          depot: dataos://{depot}
""",
    )
    result = run_cli("apply", "-f", str(path))
    assert result.exit_code == 0, result.output


def pg_rows(db: SalesDatabase, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(
        host=db.host, port=db.port, dbname="sales_data", user=db.reader, password=db.password
    ) as conn:
        return list(conn.execute(sql).fetchall())


def plan(frame: Any, mode: str = "formatted") -> str:
    """What df.explain(mode) prints."""
    text: str = frame._sc._jvm.PythonSQLUtils.explainString(frame._jdf.queryExecution(), mode)
    return text


def decryptions() -> list[dict[str, Any]]:
    return [e for e in audit_events(limit=50) if e["action"] == "decrypt"]


@pytest.fixture
def sales(home: Path, tmp_path: Path, postgres: SalesDatabase) -> SalesDatabase:
    pg_depot(tmp_path, postgres)
    return postgres


# --- PostgreSQL through JDBC --------------------------------------------------------------------


def test_reads_a_table_with_the_same_rows_as_psycopg(spark: Any, sales: SalesDatabase) -> None:
    frame = entrepot.spark.read(spark, "dataos://postgres:public/orders")
    assert frame.columns == ["id", "customer_id", "ordered_at", "status"]
    got = sorted((r.id, r.customer_id, r.ordered_at.timestamp(), r.status) for r in frame.collect())
    want = [
        (i, c, at.timestamp(), s)
        for i, c, at, s in pg_rows(
            sales, "SELECT id, customer_id, ordered_at, status FROM public.orders ORDER BY id"
        )
    ]
    assert len(want) == 2000
    assert got == want
    assert frame.rdd.getNumPartitions() == 1


def test_a_filter_is_pushed_down_to_postgresql(spark: Any, sales: SalesDatabase) -> None:
    frame = entrepot.spark.read(spark, "dataos://postgres:public/orders")
    paid = frame.filter(frame.status == "paid").select("id")
    text = plan(paid)
    assert "PushedFilters: [*IsNotNull(status), *EqualTo(status,paid)]" in text, text
    got = sorted(r.id for r in paid.collect())
    assert got == [r[0] for r in pg_rows(sales, "SELECT id FROM orders WHERE status = 'paid'")]
    assert 0 < len(got) < 2000


def test_partitioned_read_uses_the_catalogs_primary_key(
    spark: Any, sales: SalesDatabase, tmp_path: Path
) -> None:
    with pytest.raises(EntrepotError) as info:  # not scanned: no key to pick
        entrepot.spark.read(spark, "dataos://postgres:public/orders", num_partitions=4)
    assert "has not been scanned" in str(info.value)
    assert "partition_column=" in info.value.render()

    scan(tmp_path, "postgres")
    frame = entrepot.spark.read(spark, "dataos://postgres:public/orders", num_partitions=4)
    assert frame.rdd.getNumPartitions() == 4
    text = plan(frame)
    assert "numPartitions=4" in text, text
    sizes = frame.rdd.glom().map(len).collect()
    assert len(sizes) == 4 and all(size > 0 for size in sizes) and sum(sizes) == 2000
    assert sorted(r.id for r in frame.select("id").collect()) == list(range(1, 2001))

    # order_items' key has two columns: no column to pick.
    with pytest.raises(EntrepotError, match="no single-column integer primary key"):
        entrepot.spark.read(spark, "dataos://postgres:public/order_items", num_partitions=2)


def test_partitioned_read_with_explicit_column_and_bounds(spark: Any, sales: SalesDatabase) -> None:
    frame = entrepot.spark.read(
        spark,
        "dataos://postgres:public/order_items",
        partition_column="order_id",
        num_partitions=3,
        lower_bound=1,
        upper_bound=2000,
    )
    assert frame.rdd.getNumPartitions() == 3
    got = sorted((r.order_id, r.product_id, r.quantity) for r in frame.collect())
    want = pg_rows(sales, "SELECT order_id, product_id, quantity FROM order_items ORDER BY 1, 2")
    assert got == [tuple(r) for r in want]
    # A column without bounds: one min/max query fetches them.
    bounded = entrepot.spark.read(
        spark, "dataos://postgres:public/customers", partition_column="id", num_partitions=2
    )
    assert bounded.rdd.getNumPartitions() == 2
    assert bounded.count() == 200


def test_the_password_stays_out_of_plans_and_logs_and_the_read_is_audited(
    spark: Any,
    sales: SalesDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = sales.password
    with caplog.at_level(logging.DEBUG, logger="py4j"):
        frame = entrepot.spark.read(spark, "dataos://postgres:public/customers")
        plans = "\n".join(plan(frame, mode) for mode in ("simple", "extended", "formatted"))
        assert frame.filter(frame.id > 100).count() == 100
    assert "JDBCRelation" in plans
    assert password not in plans
    # py4j logged the commands it sent (the password among them), scrubbed.
    sent = [r.getMessage() for r in caplog.records if "Command to send" in r.getMessage()]
    assert sent and any("******" in line for line in sent)
    assert password not in caplog.text
    # The analyzed plan (what the SQL tab and event log record) names the relation, not its
    # options; where Spark does print an options map, `password` matches spark.redaction.regex.
    relation = frame._jdf.queryExecution().analyzed().toString()
    assert 'JDBCRelation("public"."customers")' in relation and password not in relation

    assert [(e["resource_name"], e["purpose"]) for e in decryptions()] == [
        ("postgres-r", "spark read of dataos://postgres:public/customers")
    ]


def test_the_jdbc_session_is_read_only_and_odd_names_are_quoted(
    spark: Any, home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    database = f"spark_{uuid.uuid4().hex[:8]}"
    postgres.server.create_database(database)
    postgres.server.psql(
        f"""CREATE SCHEMA "Odd ""Schema";
        CREATE VIEW "Odd ""Schema"."Session.Settings" AS
          SELECT current_setting('default_transaction_read_only') AS read_only,
                 current_setting('application_name') AS application;
        GRANT USAGE ON SCHEMA "Odd ""Schema" TO {postgres.reader};
        GRANT SELECT ON ALL TABLES IN SCHEMA "Odd ""Schema" TO {postgres.reader};""",
        database=database,
    )
    pg_depot(tmp_path, postgres, name="odd", database=database)
    frame = entrepot.spark.read(spark, 'dataos://odd:Odd "Schema/Session.Settings')
    assert [tuple(r) for r in frame.collect()] == [("on", "entrepot")]


def test_reads_a_mysql_depot_read_only_with_filters_pushed_down(
    spark: Any, home: Path, tmp_path: Path, mariadb: MariaDBServer
) -> None:
    """A MySQL depot (MariaDB here, through MariaDB Connector/J and `options=` naming its
    driver): the rows, the filter in the plan, and a session the source holds read-only."""
    database = f"spark_{uuid.uuid4().hex[:8]}"
    mariadb.sql(
        f"""
        CREATE DATABASE {database};
        CREATE TABLE {database}.tiers (customer_id INT PRIMARY KEY, tier VARCHAR(10));
        INSERT INTO {database}.tiers VALUES (1, 'gold'), (2, 'free'), (4, 'gold');
        CREATE FUNCTION {database}.session_read_only() RETURNS INT RETURN @@tx_read_only;
        CREATE VIEW {database}.session AS SELECT {database}.session_read_only() AS read_only;
        CREATE USER IF NOT EXISTS 'spark_user'@'%' IDENTIFIED BY 'Spark-User-1';
        GRANT SELECT, EXECUTE, SHOW VIEW ON {database}.* TO 'spark_user'@'%';
        """
    )
    try:
        apply(tmp_path, mysql_depot_yaml("crm", mariadb, "spark_user", "Spark-User-1"))
        frame = entrepot.spark.read(spark, f"dataos://crm:{database}/tiers", options=MARIADB_DRIVER)
        assert sorted(tuple(r) for r in frame.collect()) == [(1, "gold"), (2, "free"), (4, "gold")]
        gold = frame.filter(frame.tier == "gold").select("customer_id")
        assert "*EqualTo(tier,gold)" in plan(gold), plan(gold)
        assert sorted(r.customer_id for r in gold.collect()) == [1, 4]
        session = entrepot.spark.read(
            spark, f"dataos://crm:{database}/session", options=MARIADB_DRIVER
        )
        assert [tuple(r) for r in session.collect()] == [(1,)]
        text = plan(gold, "extended")
        assert "Spark-User-1" not in text
    finally:
        mariadb.sql(f"DROP DATABASE {database}; DROP USER IF EXISTS 'spark_user'@'%';")


def test_a_wrong_password_is_an_error_without_the_password(
    spark: Any, home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    wrong = "Wrong-Password-4711"
    pg_depot(tmp_path, postgres, name="badpg", password=wrong)
    with pytest.raises(SparkReadError) as info:
        entrepot.spark.read(spark, "dataos://badpg:public/orders")
    text = info.value.render()
    assert "password authentication failed" in text
    assert "entrepot check depot badpg" in text
    assert wrong not in text and info.value.__cause__ is None


def test_a_missing_table_is_an_error(spark: Any, sales: SalesDatabase) -> None:
    with pytest.raises(SparkReadError) as info:
        entrepot.spark.read(spark, "dataos://postgres:public/nosuch")
    assert "nosuch" in str(info.value)
    assert sales.password not in info.value.render()


# --- user errors ---------------------------------------------------------------------------------


def test_an_unknown_depot_says_which_one_is_close(spark: Any, sales: SalesDatabase) -> None:
    with pytest.raises(NotFoundError) as info:
        entrepot.spark.read(spark, "dataos://postgress:public/orders")
    assert "depot 'postgress' not found, did you mean 'postgres'?" in info.value.render()
    assert "hint: list them with: entrepot get -t depot -a" in info.value.render()


def test_an_address_without_a_dataset_is_refused(spark: Any, sales: SalesDatabase) -> None:
    for address in ("dataos://postgres:public", "dataos://postgres"):
        with pytest.raises(EntrepotError) as info:
            entrepot.spark.read(spark, address)
        assert "is not a dataset address" in str(info.value)
        assert "dataos://depot:collection/dataset" in info.value.render()
    assert decryptions() == []


def test_an_unsupported_depot_type_is_refused_before_decrypting(
    spark: Any, home: Path, tmp_path: Path
) -> None:
    apply(
        tmp_path,
        """name: snow-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {username: analyst, password: Snow-Secret-123}
---
name: snow
version: v2alpha
type: depot
depot:
  type: snowflake
  secrets: [{name: snow-r, allkeys: true}]
  snowflake: {warehouse: WH, url: abc.snowflakecomputing.com, database: SALES}
""",
    )
    with pytest.raises(EntrepotError) as info:
        entrepot.spark.read(spark, "dataos://snow:public/orders")
    assert str(info.value) == (
        "depot 'snow' is of type 'snowflake', which Spark reads do not support: no connector "
        "serves depot type 'snowflake' yet"
    )
    # The types whose connectors declare Spark reads, in the registry's order.
    assert "supported types: postgresql, mysql, abfss, wasbs, s3, gcs, file" in info.value.render()
    assert decryptions() == []


# --- object stores -------------------------------------------------------------------------------


def test_a_file_depot_reads_parquet_csv_and_hive_partitions(
    spark: Any, home: Path, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    orders = pa.table({"id": [1, 2, 3], "amount": [9.5, 20.0, 7.25]})
    for region, part in (("eu", orders.slice(0, 2)), ("us", orders.slice(2))):
        folder = root / "sales" / "orders" / f"region={region}"
        folder.mkdir(parents=True)
        pq.write_table(part, folder / "part-0.parquet")
    pq.write_table(
        pa.table({"id": [1, 2], "day": [date(2024, 1, 1), date(2024, 1, 2)]}),
        root / "sales" / "customers.parquet",
    )
    (root / "sales" / "products.csv").write_text("sku,price\nA-1,3.5\nB-2,4\n")
    apply(
        tmp_path,
        f"""name: lake
version: v2alpha
type: depot
depot:
  type: file
  file: {{path: "{root}"}}
""",
    )
    # Not scanned yet: path/collection/dataset, parquet, hive partitions discovered.
    frame = entrepot.spark.read(spark, "dataos://lake:sales/orders")
    assert sorted(frame.columns) == ["amount", "id", "region"]
    got = sorted((r.id, r.amount, r.region) for r in frame.collect())
    assert got == [(1, 9.5, "eu"), (2, 20.0, "eu"), (3, 7.25, "us")]
    assert "PartitionFilters: [isnotnull(region" in plan(frame.filter(frame.region == "us"))

    # A single file has an extension the address leaves out: the scanned catalog has its path
    # and its format.
    scan(tmp_path, "lake")
    customers = entrepot.spark.read(spark, "dataos://lake:sales/customers")
    assert [(r.id, r.day) for r in customers.orderBy("id").collect()] == [
        (1, date(2024, 1, 1)),
        (2, date(2024, 1, 2)),
    ]
    products = entrepot.spark.read(
        spark, "dataos://lake:sales/products", options={"inferSchema": "true"}
    )
    assert [(r.sku, r.price) for r in products.orderBy("sku").collect()] == [
        ("A-1", 3.5),
        ("B-2", 4.0),
    ]
    with pytest.raises(SparkReadError, match="Path does not exist"):
        entrepot.spark.read(spark, "dataos://lake:sales/nosuch")


def test_abfss_configuration_shape(spark: Any, home: Path, tmp_path: Path) -> None:
    """Configuration shape only: hadoop-azure is not on this classpath, so the read stops at
    Spark's "No FileSystem for scheme" after the keys are set."""
    key = "QWNjb3VudEtleUZvclRlc3RzMTIzNDU2Nzg5MA=="
    apply(
        tmp_path,
        f"""name: thirdparty-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{azurestorageaccountkey: "{key}"}}
---
name: thirdparty
version: v2alpha
type: depot
depot:
  type: abfss
  secrets: [{{name: thirdparty-r, allkeys: true}}]
  abfss: {{account: acmelake, container: dropzone001, relativePath: large_dataset_20200511}}
""",
    )
    hadoop = spark._jsc.hadoopConfiguration()
    name = "fs.azure.account.key.acmelake.dfs.core.windows.net"
    try:
        with pytest.raises(SparkReadError) as info:
            entrepot.spark.read(spark, "dataos://thirdparty:large_dataset_20200511/sales")
        assert hadoop.get(name) == key
        text = info.value.render()
        assert "SecureAzureBlobFileSystem not found" in text
        assert "add org.apache.hadoop:hadoop-azure" in text and key not in text
    finally:
        hadoop.unset(name)


def test_s3_configuration_shape(spark: Any, home: Path, tmp_path: Path) -> None:
    """Configuration shape only: hadoop-aws (S3A) is not on this classpath. Keys are per bucket,
    so depots on other buckets keep their own credentials in one session."""
    secret = "S3-Secret-Key-For-Tests-0123456789"
    apply(
        tmp_path,
        f"""name: lake3-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{awsaccesskeyid: AKIATESTKEY, awssecretaccesskey: "{secret}"}}
---
name: lake3
version: v2alpha
type: depot
depot:
  type: s3
  secrets: [{{name: lake3-r, allkeys: true}}]
  s3: {{bucket: acme-lake, region: eu-west-1, endpoint: "http://127.0.0.1:9"}}
""",
    )
    hadoop = spark._jsc.hadoopConfiguration()
    base = "fs.s3a.bucket.acme-lake"
    expected = {
        f"{base}.access.key": "AKIATESTKEY",
        f"{base}.secret.key": secret,
        f"{base}.endpoint.region": "eu-west-1",
        f"{base}.endpoint": "http://127.0.0.1:9",
        f"{base}.path.style.access": "true",
        f"{base}.connection.ssl.enabled": "false",
    }
    try:
        with pytest.raises(SparkReadError) as info:
            entrepot.spark.read(spark, "dataos://lake3:raw/events", format="json")
        assert {k: hadoop.get(k) for k in expected} == expected
        assert hadoop.get("fs.s3a.secret.key") is None  # nothing global
        text = info.value.render()
        assert "S3AFileSystem not found" in text and "add org.apache.hadoop:hadoop-aws" in text
        assert secret not in text
    finally:
        for name in expected:
            hadoop.unset(name)
