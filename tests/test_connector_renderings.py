"""One credential model, many consumers: each connector renders a resolved connection for
DuckDB, Spark and Trino. Trino catalogs reference secrets as ${ENV:...}, never inline."""

from __future__ import annotations

import pytest

from entrepot.connectors import get_connector, served_types
from entrepot.connectors.base import ResolvedConnection
from entrepot.resources.depot_types import (
    AzureBlock,
    FileBlock,
    GcsBlock,
    MysqlBlock,
    PostgresqlBlock,
    S3Block,
)

SECRET = "Render-Secret-9"
CONNECTIONS = {
    "postgresql": (PostgresqlBlock(host="db", port=5433, database="sales"),
                   {"username": "u", "password": SECRET}),
    "mysql": (MysqlBlock(host="my", database="shop"), {"username": "u", "password": SECRET}),
    "abfss": (AzureBlock(account="acct", container="box", relativePath="/data"),
              {"azurestorageaccountkey": SECRET}),
    "wasbs": (AzureBlock(account="acct", container="box"), {"azurestorageaccountkey": SECRET}),
    "s3": (S3Block(bucket="bkt", relativePath="in", endpoint="http://127.0.0.1:9000"),
           {"awsaccesskeyid": "AKIA1", "awssecretaccesskey": SECRET}),
    "gcs": (GcsBlock(bucket="bkt"), {}),
    "file": (FileBlock(path="/srv/files"), {}),
}  # fmt: skip


def resolved(source_type: str) -> ResolvedConnection:
    config, data = CONNECTIONS[source_type]
    return ResolvedConnection("dep", source_type, "r", config, dict(data), secret_names=["s"])


def test_every_served_type_has_a_sample() -> None:
    assert sorted(CONNECTIONS) == served_types()


@pytest.mark.parametrize("source_type", sorted(CONNECTIONS))
def test_duckdb_and_spark_renderings(source_type: str) -> None:
    """Each rendering has the shape the connector's declared storage promises its consumer:
    a database is attached by DuckDB's scanner and read by Spark over JDBC (`url`); objects
    are files under a `path`, for both."""
    connector = get_connector(source_type)
    assert connector is not None
    declared = connector.capabilities
    conn = resolved(source_type)
    spark = connector.spark(conn)
    if declared.storage == "relational":
        assert spark["url"].startswith("jdbc:") and "path" not in spark
    else:
        assert declared.storage == "objects" and "url" not in spark
        assert spark["path"]
    if declared.duckdb is None:
        with pytest.raises(NotImplementedError):
            connector.duckdb(conn)
    else:
        duck = connector.duckdb(conn)
        assert duck["type"] in ("postgres", "mysql", "azure", "s3", "file")
        assert ("path" in duck) == (declared.storage == "objects")
    assert SECRET not in repr(conn)


def test_postgresql_renderings() -> None:
    connector = get_connector("postgresql")
    assert connector is not None
    conn = resolved("postgresql")
    assert connector.spark(conn)["url"] == "jdbc:postgresql://db:5433/sales"
    duck = connector.duckdb(conn)
    assert duck["secret"]["PASSWORD"] == SECRET and duck["read_only"] is True


@pytest.mark.parametrize("source_type", ["postgresql", "mysql", "abfss", "s3"])
def test_trino_catalogs_never_inline_a_secret(source_type: str) -> None:
    connector = get_connector(source_type)
    assert connector is not None
    properties = connector.trino(resolved(source_type), "DEP")
    assert properties["connector.name"] in ("postgresql", "mysql", "hive")
    assert SECRET not in "".join(properties.values())
    assert any(value.startswith("${ENV:DEP_") for value in properties.values())


def test_unserved_types_have_no_connector() -> None:
    assert get_connector("snowflake") is None
