"""Read depot datasets into Spark: `entrepot.spark.read(spark, "dataos://postgres:public/orders")`.

Pass your own SparkSession (entrepot never imports pyspark); the result is a lazy pyspark
DataFrame using the depot's connection:

    from pyspark.sql import SparkSession
    import entrepot.spark

    jar = "/usr/share/java/postgresql.jar"  # Debian: libpostgresql-jdbc-java
    spark = SparkSession.builder.config("spark.jars", jar).getOrCreate()
    orders = entrepot.spark.read(spark, "dataos://postgres:public/orders", num_partitions=8)

Database depots (postgresql, mysql) read through Spark's JDBC source, split into `num_partitions`
on `partition_column` (default: the table's integer primary key from the catalog) between
`lower_bound` and `upper_bound` (default: its min and max, one query). Object-store depots (abfss,
wasbs, s3, gcs, file) set the depot's credentials in the session's Hadoop configuration and read
the dataset's files (`format`: from the catalog, else parquet). The `r` secret is decrypted in
memory and audited ("spark read of ADDRESS").

A thin front end: it builds the request context (the local acting user's, unless given one) and
calls the service layer (`services.query.spark_read`); the implementation is
`entrepot.query.spark`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from entrepot.query.spark import DEFAULT_FETCHSIZE  # light: pyspark is never imported by entrepot

if TYPE_CHECKING:
    from entrepot.services.context import RequestContext

__all__ = ["read"]


def read(
    spark: Any,
    address: str,
    *,
    partition_column: str | None = None,
    num_partitions: int | None = None,
    lower_bound: int | str | None = None,
    upper_bound: int | str | None = None,
    fetchsize: int = DEFAULT_FETCHSIZE,
    format: str | None = None,
    options: dict[str, str] | None = None,
    ctx: RequestContext | None = None,
) -> Any:
    """A pyspark DataFrame over the dataset at `address` (dataos://depot:collection/dataset).

    `options`: extra reader options (JDBC properties, csv `inferSchema`, ...). `ctx`: the
    request context to read as; default: the local acting user's ($ENTREPOT_USER, else the OS
    user), for $ENTREPOT_HOME. Raises `entrepot.errors.EntrepotError` (with a hint) for an
    unknown depot, an address that is not a dataset, an unsupported depot type, a depot or
    dataset the user may not read, or a read Spark cannot set up (message redacted).
    """
    from entrepot.services import query

    read_options = dict(
        partition_column=partition_column,
        num_partitions=num_partitions,
        lower_bound=lower_bound,
        upper_bound=upper_bound,
        fetchsize=fetchsize,
        format=format,
        options=options,
    )
    if ctx is not None:
        return query.spark_read(ctx, spark, address, **read_options)
    from entrepot.config import load_settings
    from entrepot.services import identity

    with identity.for_local_user(load_settings(), front_end="sdk") as own:
        return query.spark_read(own, spark, address, **read_options)
