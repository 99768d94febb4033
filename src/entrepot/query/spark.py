"""Spark reads of depot datasets: the connection a depot describes, handed to the caller's session.

`read(spark, "dataos://postgres:public/orders")` returns a lazy DataFrame:

- relational depots (postgresql, mysql): Spark's JDBC source with the connector's rendering (url,
  driver, user, password), `dbtable` quoted for the source, a `fetchsize` (pgJDBC otherwise
  buffers whole results), and partitioning options: given, or for `num_partitions > 1` without a
  column the dataset's single-column integer primary key from the catalog, with its bounds from
  one min/max query;
- object stores (abfss, wasbs, s3, gcs, file): the connector's Hadoop keys set on the session's
  Hadoop configuration, then `path/collection/dataset` (or the catalog's path for a scanned
  dataset) read in the catalog's format (default parquet), with hive partition discovery.

pyspark is never imported here: the caller's session is used through its own methods. Depots,
their catalog entries and credentials come through the `DepotAccess` it is handed (the front end
`entrepot.spark.read` gets one from `services.query.spark_read`): the `r` secret is decrypted in
memory by services/connections.py (audited, and registered with the redactor). The password
reaches Spark only as the JDBC `password` option, which its JDBC plans do not print (a test
checks every explain mode); py4j's debug log lines and our errors go through the redactor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from entrepot.catalog.model import Address
from entrepot.connectors import capabilities, types_with
from entrepot.errors import EntrepotError, MissingCredentialError, NotFoundError
from entrepot.query.locate import ObjectRoot
from entrepot.secrets.redact import redactor

if TYPE_CHECKING:
    from entrepot.connectors.base import ResolvedConnection
    from entrepot.services.connections import DepotAccess

FORMATS = ("parquet", "csv", "json", "orc", "avro", "text")
# Catalog column types a partition column may have (PostgreSQL and MySQL spellings).
INTEGER_TYPES = frozenset(
    {"smallint", "integer", "int", "bigint", "int2", "int4", "int8", "tinyint", "mediumint"}
)
DEFAULT_FETCHSIZE = 10_000
# Where each object store's Hadoop filesystem lives, for the hint when Spark lacks it.
FILESYSTEM_JARS = {
    "abfss": "org.apache.hadoop:hadoop-azure (matching the session's Hadoop version)",
    "wasbs": "org.apache.hadoop:hadoop-azure (matching the session's Hadoop version)",
    "s3": "org.apache.hadoop:hadoop-aws (matching the session's Hadoop version)",
    "gcs": "com.google.cloud.bigdataoss:gcs-connector (shaded, hadoop3)",
}
JDBC_JARS = {
    "postgresql": "/usr/share/java/postgresql.jar (Debian: libpostgresql-jdbc-java) or "
    "spark.jars.packages=org.postgresql:postgresql:42.7.4",
    "mysql": "spark.jars.packages=com.mysql:mysql-connector-j:9.1.0, or MariaDB Connector/J "
    "(Debian: libmariadb-java, /usr/share/java/mariadb-java-client.jar) with "
    "options={'driver': 'org.mariadb.jdbc.Driver'}",
}


class SparkReadError(EntrepotError):
    """Spark could not set up the read; the message is redacted."""


@dataclass
class Partitioning:
    column: str
    num_partitions: int
    lower: str
    upper: str


def read(
    spark: Any,
    address: str,
    *,
    access: DepotAccess,
    partition_column: str | None = None,
    num_partitions: int | None = None,
    lower_bound: int | str | None = None,
    upper_bound: int | str | None = None,
    fetchsize: int = DEFAULT_FETCHSIZE,
    format: str | None = None,
    options: dict[str, str] | None = None,
) -> Any:
    """A pyspark DataFrame over the dataset at `address` (dataos://depot:collection/dataset).

    `access`: the depot access of the request (for the purpose "spark"), which authorizes,
    decrypts and audits. `options`: extra reader options (JDBC properties, csv
    `inferSchema`, ...). Raises `entrepot.errors.EntrepotError` (with a hint) for an unknown
    depot, an address that is not a dataset, an unsupported depot type, a depot or dataset
    the user may not read, or a read Spark cannot set up (message redacted).
    """
    addr = Address.parse(address)
    if addr.collection is None or addr.dataset is None:
        raise EntrepotError(
            f"'{addr}' is not a dataset address",
            hint="Spark reads one dataset: dataos://depot:collection/dataset "
            "(e.g. dataos://postgres:public/orders); list them with: entrepot catalog ls "
            f"dataos://{addr.depot}",
        )
    if num_partitions is not None and num_partitions < 1:
        raise EntrepotError("num_partitions must be at least 1", hint="e.g. num_partitions=8")
    _redact_py4j_logs()
    row = access.depot(addr.depot)
    access.ensure_dataset(str(addr))
    source_type = row.source_type or ""
    declared = capabilities(source_type)
    if not declared.spark:
        raise EntrepotError(
            f"depot '{addr.depot}' is of type '{source_type}', which Spark reads do not "
            f"support: {declared.why_not('spark')}",
            hint=f"supported types: {', '.join(types_with('spark'))}",
        )
    conn = _resolve(access, row, addr)
    if declared.storage == "relational":
        if format is not None:
            raise EntrepotError(
                f"format= applies to object-store depots; '{addr.depot}' is {source_type}",
                hint="leave format out for a database table",
            )
        return _read_jdbc(
            spark, access, addr, conn, partition_column, num_partitions,
            lower_bound, upper_bound, fetchsize, options or {},
        )  # fmt: skip
    if partition_column is not None or num_partitions is not None:
        raise EntrepotError(
            "partition_column= and num_partitions= apply to database depots",
            hint="object-store reads are split by file; repartition the DataFrame if needed",
        )
    return _read_files(spark, access, addr, conn, format, options or {})


def _resolve(access: DepotAccess, row: Any, addr: Address) -> ResolvedConnection:
    from entrepot.connectors.base import MissingCredential

    try:
        return access.connection(row, "r", purpose=f"spark read of {addr}")
    except (MissingCredential, MissingCredentialError) as exc:
        raise EntrepotError(
            str(exc), hint=f"check the depot's r secrets: entrepot get -t depot -n {addr.depot} -d"
        ) from None


def _rendering(conn: ResolvedConnection, addr: Address) -> dict[str, str]:
    from entrepot.connectors import get_connector
    from entrepot.connectors.base import MissingCredential

    connector = get_connector(conn.source_type)
    if connector is None:  # pragma: no cover - read() let declared Spark types through only
        raise EntrepotError(f"no connector for depot type '{conn.source_type}'")
    try:
        return connector.spark(conn)
    except MissingCredential as exc:
        raise EntrepotError(
            str(exc), hint=f"check the depot's r secrets: entrepot get -t depot -n {addr.depot} -d"
        ) from None
    except NotImplementedError:
        raise EntrepotError(
            f"no Spark rendering for depot type '{conn.source_type}' yet",
            hint="read it through entrepot query instead",
        ) from None


# --- relational depots --------------------------------------------------------------------------


def quote_identifier(source_type: str, name: str) -> str:
    if source_type == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def _read_jdbc(
    spark: Any,
    access: DepotAccess,
    addr: Address,
    conn: ResolvedConnection,
    partition_column: str | None,
    num_partitions: int | None,
    lower_bound: int | str | None,
    upper_bound: int | str | None,
    fetchsize: int,
    extra: dict[str, str],
) -> Any:
    assert addr.collection is not None and addr.dataset is not None
    rendering = _rendering(conn, addr)
    table = (
        f"{quote_identifier(conn.source_type, addr.collection)}."
        f"{quote_identifier(conn.source_type, addr.dataset)}"
    )
    base = {**rendering, "fetchsize": str(fetchsize), **extra}
    partitioning = None
    wants_split = partition_column is not None or (num_partitions or 1) > 1
    if wants_split:
        column = partition_column or _integer_key(access, addr)
        parts = num_partitions or _default_parallelism(spark)
        lower, upper = lower_bound, upper_bound
        if parts > 1 and (lower is None or upper is None):
            low, high = _bounds(spark, base, conn.source_type, table, column, addr)
            lower = low if lower is None else lower
            upper = high if upper is None else upper
        if lower is not None and upper is not None and parts > 1:
            partitioning = Partitioning(column, parts, str(lower), str(upper))
    reader = spark.read.format("jdbc")
    for key, value in base.items():
        reader = reader.option(key, value)
    reader = reader.option("dbtable", table)
    if partitioning is not None:
        reader = (
            reader.option("partitionColumn", partitioning.column)
            .option("numPartitions", str(partitioning.num_partitions))
            .option("lowerBound", partitioning.lower)
            .option("upperBound", partitioning.upper)
        )
    return _load(reader, addr, conn)


def _integer_key(access: DepotAccess, addr: Address) -> str:
    """The dataset's single-column integer primary key, from the catalog."""
    hint = "pass partition_column= (an integer, date or timestamp column)"
    try:
        entry = access.catalog_entry(addr)
    except NotFoundError:
        raise EntrepotError(
            f"num_partitions > 1 needs a partition column, and '{addr}' has not been scanned "
            "to pick its primary key",
            hint=f"{hint}, or scan the depot first (a scanner workflow)",
        ) from None
    details = entry.get("details") or {}
    key = (details.get("primary_key") or {}).get("columns") or []
    types = {c.get("name"): str(c.get("type") or "") for c in details.get("columns") or []}
    if len(key) == 1 and types.get(key[0], "").lower().split("(")[0].split()[0] in INTEGER_TYPES:
        return str(key[0])
    raise EntrepotError(
        f"num_partitions > 1 needs a partition column, and '{addr}' has no single-column integer "
        "primary key in the catalog",
        hint=hint,
    )


def _default_parallelism(spark: Any) -> int:
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect has no SparkContext
        raise EntrepotError(
            "partition_column= needs num_partitions= with this session",
            hint="e.g. num_partitions=8",
        ) from None


def _bounds(
    spark: Any, base: dict[str, str], source_type: str, table: str, column: str, addr: Address
) -> tuple[Any, Any]:
    """min and max of the partition column, in one query through the same JDBC connection."""
    quoted = quote_identifier(source_type, column)
    query = f"SELECT min({quoted}) AS lo, max({quoted}) AS hi FROM {table}"
    reader = spark.read.format("jdbc")
    for key, value in base.items():
        reader = reader.option(key, value)
    frame = _load(reader.option("query", query), addr, None)
    try:
        row = frame.collect()[0]
    except Exception as exc:
        raise _spark_error(exc, addr, None) from None
    return row[0], row[1]


# --- object stores ------------------------------------------------------------------------------


def _read_files(
    spark: Any,
    access: DepotAccess,
    addr: Address,
    conn: ResolvedConnection,
    fmt: str | None,
    extra: dict[str, str],
) -> Any:
    assert addr.collection is not None and addr.dataset is not None
    rendering = dict(_rendering(conn, addr))
    objects = ObjectRoot.of(rendering.pop("path"), conn)
    entry = access.scanned(addr)
    if entry is not None:  # the scanned path: its file name may carry an extension
        location = objects.key_url(str(entry["details"]["path"]))
        catalog_format = entry["details"].get("format") or None
    else:
        location, catalog_format = objects.url(addr.collection, addr.dataset), None
    fmt = (fmt or catalog_format or getattr(conn.config, "format", None) or "parquet").lower()
    if "," in fmt or fmt not in FORMATS:
        raise EntrepotError(
            f"cannot read '{addr}' as '{fmt}'",
            hint="pass format= one of "
            + ", ".join(FORMATS)
            + (" (the dataset mixes formats)" if "," in fmt else ""),
        )
    if rendering:
        hadoop = _hadoop_configuration(spark)
        for key, value in rendering.items():
            hadoop.set(key, value)
    reader = spark.read.format(fmt)
    defaults = {"header": "true"} if fmt == "csv" else {}
    for key, value in {**defaults, **extra}.items():
        reader = reader.option(key, value)
    return _load(reader, addr, conn, path=location)


def _hadoop_configuration(spark: Any) -> Any:
    try:
        return spark._jsc.hadoopConfiguration()
    except AttributeError:
        raise EntrepotError(
            "this Spark session has no Hadoop configuration to set the depot's credentials on "
            "(Spark Connect?)",
            hint="use a classic SparkSession, or set the keys in the cluster's configuration",
        ) from None


# --- errors and logs ----------------------------------------------------------------------------


def _load(
    reader: Any, addr: Address, conn: ResolvedConnection | None, path: str | None = None
) -> Any:
    """reader.load(), with Spark's errors turned into a redacted SparkReadError."""
    try:
        return reader.load(path) if path is not None else reader.load()
    except Exception as exc:
        raise _spark_error(exc, addr, conn) from None


def _spark_error(exc: Exception, addr: Address, conn: ResolvedConnection | None) -> EntrepotError:
    """Spark's error as one line, with its root cause (pyspark keeps the JVM's cause chain in
    `_cause`: "[FAILED_JDBC.CONNECTION] ..." caused by "PSQLException: FATAL: password ...")."""
    messages: list[str] = []
    current: Any = exc
    while current is not None and len(messages) < 10:
        text = str(getattr(current, "_desc", None) or current)
        text = text.split("\n\nJVM stacktrace:", 1)[0]
        # py4j: "An error occurred while calling o71.load.\n: java.lang...: message"
        lines = [ln.strip().lstrip(": ").strip() for ln in text.splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith(("An error occurred while", "at "))]
        if lines:
            messages.append(redactor.redact(lines[0]))
        current = getattr(current, "_cause", None)
    summary = messages[0] if messages else type(exc).__name__
    if len(messages) > 1 and messages[-1] not in summary:
        summary = f"{summary} (cause: {messages[-1]})"
    everything = " ".join(messages).lower()
    source_type = conn.source_type if conn is not None else ""
    hint = f"check the dataset exists: entrepot catalog ls dataos://{addr.depot}"
    missing_class = (
        "classnotfoundexception" in everything or "no filesystem for scheme" in everything
    )
    if missing_class and source_type in JDBC_JARS:
        hint = f"put the JDBC driver on the session's classpath: {JDBC_JARS[source_type]}"
    elif missing_class and source_type in FILESYSTEM_JARS:
        hint = f"the session lacks the filesystem: add {FILESYSTEM_JARS[source_type]} to spark.jars"
    elif "authentication failed" in everything or "access denied" in everything:
        hint = f"check the depot's credentials: entrepot check depot {addr.depot}"
    elif "connection" in everything and capabilities(source_type).storage == "relational":
        hint = f"check the depot's connection: entrepot check depot {addr.depot}"
    return SparkReadError(f"spark could not read '{addr}': {summary[:600]}", hint=hint)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redactor.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = _RedactingFilter()


def _redact_py4j_logs() -> None:
    """py4j logs every command it sends (the JDBC password among them) at DEBUG: scrub them."""
    for name in ("py4j.clientserver", "py4j.java_gateway"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
