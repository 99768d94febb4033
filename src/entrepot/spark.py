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
memory and audited ("spark read of ADDRESS"). The implementation is `entrepot.query.spark`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from entrepot.service import Service

__all__ = ["read"]


def read(
    spark: Any,
    address: str,
    *,
    service: Service | None = None,
    partition_column: str | None = None,
    num_partitions: int | None = None,
    lower_bound: int | str | None = None,
    upper_bound: int | str | None = None,
    fetchsize: int = 10_000,
    format: str | None = None,  # the name Spark uses
    options: dict[str, str] | None = None,
) -> Any:
    """A pyspark DataFrame over the dataset at `address` (dataos://depot:collection/dataset).

    `service`: an `entrepot.service.Service` to resolve the depot with (default: a new one for
    $ENTREPOT_HOME). `options`: extra reader options (JDBC properties, csv `inferSchema`, ...).
    Raises `entrepot.errors.EntrepotError` (with a hint) for an unknown depot, an address that is
    not a dataset, an unsupported depot type, or a read Spark cannot set up (message redacted).
    """
    from entrepot.query.spark import read as read_dataset

    return read_dataset(
        spark,
        address,
        service=service,
        partition_column=partition_column,
        num_partitions=num_partitions,
        lower_bound=lower_bound,
        upper_bound=upper_bound,
        fetchsize=fetchsize,
        format=format,
        options=options,
    )
