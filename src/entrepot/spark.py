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

from entrepot.query.spark import read  # light: pyspark is never imported by entrepot

__all__ = ["read"]
