"""Every depot source type: its connection block, its spellings, and the secret keys it uses.

One table (`DEPOT_TYPES`) drives validation, `entrepot template depot <type>`, the JSON Schema and,
later, the connector registry. Field names and secret keys follow the DataOS reference (section 1.4
of shared/reference/dataos.md). `endpoint` on object stores is ours: private endpoints, sovereign
clouds and emulators need an explicit one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from entrepot.resources.base import Params, Port, Required, Strict, Text


class Block(Strict):
    """A connection block (`depot.<type>:` in v2alpha, `depot.spec:` in v1)."""


class JdbcBlock(Block):
    subprotocol: Required = Field(description="JDBC sub-protocol.", examples=["postgresql"])
    host: Required = Field(description="Database host name.", examples=["db.example.com"])
    port: Port | None = Field(None, description="Database port.", examples=[5432])
    database: str | None = Field(None, description="Database name.", examples=["sales_data"])
    params: Params | None = Field(None, description="Driver parameters.", examples=[{}])


class PostgresqlBlock(Block):
    subprotocol: str | None = Field(None, description="'postgresql' when written as jdbc.")
    host: Required = Field(
        description="PostgreSQL host name.", examples=["db.postgres.example.com"]
    )
    port: Port = Field(5432, description="PostgreSQL port.", examples=[5432])
    database: Required = Field(description="Database to connect to.", examples=["sales_data"])
    params: Params | None = Field(
        None, description="libpq parameters such as sslmode.", examples=[{"sslmode": "prefer"}]
    )


class MysqlBlock(Block):
    subprotocol: str | None = Field("mysql", description="'mysql'.")
    host: Required = Field(
        description="MySQL or MariaDB host name.", examples=["mysql.example.com"]
    )
    port: Port = Field(3306, description="MySQL port.", examples=[3306])
    database: str | None = Field(None, description="Database (schema) to use.", examples=["shop"])
    params: Params | None = Field(None, description="Driver parameters.", examples=[{}])


class MssqlBlock(Block):
    subprotocol: str | None = Field("sqlserver", description="'sqlserver'.")
    host: Required = Field(description="SQL Server host name.", examples=["mssql.example.com"])
    port: Port = Field(1433, description="SQL Server port.", examples=[1433])
    database: Required = Field(description="Database name.", examples=["sales"])
    params: Params | None = Field(
        None, description="Driver parameters.", examples=[{"encrypt": "false"}]
    )


class OracleBlock(Block):
    subprotocol: str | None = Field("oracle:thin", description="'oracle:thin'.")
    host: Required = Field(description="Oracle host name.", examples=["oracle.example.com"])
    port: Port = Field(1521, description="Listener port.", examples=[1521])
    service: Required = Field(description="Service name.", examples=["ORCLPDB1"])
    params: Params | None = Field(None, description="Driver parameters.", examples=[{}])


class RedshiftBlock(Block):
    subprotocol: str | None = Field("redshift", description="'redshift'.")
    host: Required = Field(
        description="Cluster endpoint.", examples=["cluster.redshift.amazonaws.com"]
    )
    port: Port = Field(5439, description="Port.", examples=[5439])
    database: Required = Field(description="Database name.", examples=["dev"])
    bucket: str | None = Field(None, description="S3 bucket for unloads.", examples=["tmp-bucket"])
    relativePath: str | None = Field(None, description="Path inside the bucket.", examples=["/"])
    scheme: str | None = None
    params: Params | None = None


class SnowflakeBlock(Block):
    warehouse: Required = Field(description="Warehouse.", examples=["COMPUTE_WH"])
    url: Required = Field(description="Account URL.", examples=["abc123.snowflakecomputing.com"])
    database: Required = Field(description="Database.", examples=["SALES"])
    account: str | None = Field(None, description="Account identifier.", examples=["ORG-ACCT"])
    role: str | None = Field(None, description="Role to use.", examples=["ANALYST"])
    schema_: str | None = Field(None, alias="schema", description="Default schema.")
    params: Params | None = None


class BigqueryBlock(Block):
    project: Required = Field(description="Google Cloud project id.", examples=["my-project"])
    temporaryBucket: str | None = None
    persistentBucket: str | None = None
    params: Params | None = None


class ObjectStoreBlock(Block):
    relativePath: str | None = Field(
        None, description="Folder inside the bucket or container.", examples=["/data"]
    )
    format: str | None = Field(
        None, description="Data format (parquet, csv, json, delta, iceberg).", examples=["parquet"]
    )
    icebergCatalogType: str | None = None
    metastoreUrl: str | None = None
    endpoint: str | None = Field(
        None,
        description="Explicit service endpoint (private endpoint, emulator); a host name "
        "without a scheme means https.",
        examples=["https://s3.us-gov-east-1.amazonaws.com"],
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        # The DataOS docs write `endpoint: s3.us-gov-east-1.amazonaws.com`: a host name, which
        # every client would otherwise read as a path or refuse. Services of that kind speak
        # https; an emulator on plain http says so with http://.
        if value and "://" not in value:
            return f"https://{value}"
        return value


def _bucket_name(value: str) -> str:
    """S3 and GCS bucket names: 3-63 lowercase letters, digits, dots and hyphens."""
    if not BUCKET_NAME.fullmatch(value):
        raise ValueError(
            f"invalid bucket name '{value}': 3 to 63 lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _container_name(value: str) -> str:
    """Azure rejects other container names with a puzzling error; say it at apply time."""
    if not CONTAINER_NAME.fullmatch(value) or "--" in value:
        raise ValueError(
            f"invalid container name '{value}': 3 to 63 lowercase letters, digits and single "
            "hyphens, starting and ending with a letter or digit"
        )
    return value


BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
CONTAINER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]|\$root|\$web")
BucketName = Annotated[str, AfterValidator(_bucket_name)]
ContainerName = Annotated[str, AfterValidator(_container_name)]


class S3Block(ObjectStoreBlock):
    scheme: str | None = Field("s3a", description="s3 or s3a.")
    bucket: BucketName = Field(description="Bucket name.", examples=["my-bucket"])
    region: str | None = Field(None, description="AWS region.", examples=["us-east-1"])


class AzureBlock(ObjectStoreBlock):
    account: Required = Field(description="Storage account name.", examples=["mystorageaccount"])
    container: ContainerName = Field(description="Container name.", examples=["dropzone001"])
    endpointSuffix: str | None = Field(
        None, description="Endpoint suffix (sovereign clouds).", examples=["core.windows.net"]
    )


class GcsBlock(ObjectStoreBlock):
    bucket: BucketName = Field(description="Bucket name.", examples=["my-bucket"])


class FileBlock(ObjectStoreBlock):
    path: Required = Field(description="Local folder holding the files.", examples=["/data/files"])


class KafkaBlock(Block):
    brokers: list[str] = Field(description="Bootstrap brokers.", examples=[["broker1:9092"]])
    schemaRegistryUrl: str | None = None
    params: Params | None = None


class NodesBlock(Block):
    nodes: list[str] = Field(description="Cluster nodes (host:port).", examples=[["node1:9200"]])
    params: Params | None = None


class MongodbBlock(Block):
    subprotocol: str = Field("mongodb", description="mongodb or mongodb+srv.")
    nodes: list[str] = Field(description="Nodes (host:port).", examples=[["mongo1:27017"]])
    params: Params | None = None


class EventhubBlock(Block):
    endpoint: Required = Field(
        description="Namespace endpoint.", examples=["sb://my-namespace.servicebus.windows.net/"]
    )
    params: Params | None = None


class PulsarBlock(Block):
    adminUrl: Required = Field(description="Admin service URL.", examples=["http://pulsar:8080"])
    serviceUrl: Required = Field(
        description="Broker service URL.", examples=["pulsar://pulsar:6650"]
    )
    tenant: str | None = Field(None, description="Tenant.", examples=["public"])
    params: Params | None = None


class PrestoBlock(Block):
    host: Required = Field(description="Coordinator host.", examples=["presto.example.com"])
    port: Port = Field(8080, description="Port.", examples=[8080])
    catalog: str | None = None
    schema_: str | None = Field(None, alias="schema")
    params: Params | None = None


class RedisBlock(Block):
    host: Required = Field(description="Redis host.", examples=["redis.example.com"])
    port: Port = Field(6379, description="Port.", examples=[6379])
    db: int | None = Field(None, description="Database number.", examples=[0])


class HttpBlock(Block):
    baseUrl: Required = Field(description="Base URL.", examples=["https://api.example.com"])
    headers: dict[str, Text] | None = None
    queryParams: dict[str, Text] | None = None


@dataclass(frozen=True)
class DepotType:
    """A source type: how `depot.type` spells it, its block model and the secret keys it uses."""

    name: str
    block: type[Block]
    block_keys: tuple[str, ...]
    category: str
    secret_keys: tuple[str, ...] = ()  # keys a connector needs from the instance secret
    optional_secret_keys: tuple[str, ...] = ()
    secret_files: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    # Keys of its secret that name (a user, an account, a project) or locate (an endpoint)
    # rather than authenticate: printed in hints and errors as they are, never masked. Every
    # other key of a secret is a credential (see `PUBLIC_SECRET_KEYS`).
    public_keys: tuple[str, ...] = ()

    @property
    def needs_secret(self) -> bool:
        return bool(self.secret_keys or self.secret_files)


_USERPASS = ("username", "password")
_AZURE = ("azurestorageaccountname", "azurestorageaccountkey")
_USER = ("username",)
_AZURE_PUBLIC = ("azurestorageaccountname", "azureendpointsuffix")

DEPOT_TYPES: dict[str, DepotType] = {
    t.name: t
    for t in [
        DepotType(
            "postgresql",
            PostgresqlBlock,
            ("postgresql", "jdbc"),
            "relational",
            _USERPASS,
            aliases=("postgres",),
            public_keys=("username", "user"),
        ),
        DepotType(
            "mysql", MysqlBlock, ("mysql", "jdbc"), "relational", _USERPASS, public_keys=_USER
        ),
        DepotType(
            "mssql",
            MssqlBlock,
            ("jdbc", "mssql"),
            "relational",
            _USERPASS,
            aliases=("sqlserver",),
            public_keys=_USER,
        ),
        DepotType(
            "oracle", OracleBlock, ("oracle", "jdbc"), "relational", _USERPASS, public_keys=_USER
        ),
        DepotType("jdbc", JdbcBlock, ("jdbc",), "relational", _USERPASS, public_keys=_USER),
        DepotType(
            "redshift",
            RedshiftBlock,
            ("redshift",),
            "warehouse",
            _USERPASS,
            ("awsaccesskeyid", "awssecretaccesskey"),
            public_keys=_USER,
        ),
        DepotType(
            "snowflake",
            SnowflakeBlock,
            ("snowflake",),
            "warehouse",
            ("username",),
            ("password", "auth_mode", "passphrase", "key"),
            public_keys=("username", "auth_mode"),
        ),
        DepotType(
            "bigquery",
            BigqueryBlock,
            ("bigquery",),
            "warehouse",
            ("projectid", "email"),
            secret_files=("json_keyfile",),
            public_keys=("projectid", "email"),
        ),
        DepotType(
            "s3",
            S3Block,
            ("s3",),
            "lake",
            (),
            ("accesskeyid", "secretkey", "awsaccesskeyid", "awssecretaccesskey", "awsendpoint"),
            public_keys=("awsendpoint",),
        ),
        DepotType(
            "abfss",
            AzureBlock,
            ("abfss",),
            "lake",
            _AZURE,
            ("azureendpointsuffix",),
            public_keys=_AZURE_PUBLIC,
        ),
        DepotType(
            "wasbs",
            AzureBlock,
            ("wasbs",),
            "lake",
            _AZURE,
            ("azureendpointsuffix",),
            public_keys=_AZURE_PUBLIC,
        ),
        DepotType(
            # Credentials optional: public buckets and emulators are read anonymously; a
            # service account's key goes in `files: {gcskey_json: key.json}`.
            "gcs",
            GcsBlock,
            ("gcs",),
            "lake",
            (),
            ("projectid", "email"),
            public_keys=("projectid", "project", "email"),
        ),
        DepotType("file", FileBlock, ("file",), "lake"),
        DepotType(
            "kafka",
            KafkaBlock,
            ("kafka",),
            "streaming",
            (),
            (
                "security_protocol",
                "sasl_mechanism",
                "trust_store_type",
                "trust_store_password",
                "username",
                "password",
            ),
            public_keys=("security_protocol", "sasl_mechanism", "trust_store_type", "username"),
        ),
        DepotType(
            "eventhub",
            EventhubBlock,
            ("eventhub",),
            "streaming",
            ("eh_shared_access_key_name", "eh_shared_access_key"),
            public_keys=("eh_shared_access_key_name",),
        ),
        DepotType("pulsar", PulsarBlock, ("pulsar",), "streaming"),
        DepotType(
            "elasticsearch",
            NodesBlock,
            ("elasticsearch",),
            "nosql",
            (),
            _USERPASS,
            public_keys=_USER,
        ),
        DepotType(
            "opensearch", NodesBlock, ("opensearch",), "nosql", (), _USERPASS, public_keys=_USER
        ),
        DepotType("mongodb", MongodbBlock, ("mongodb",), "nosql", _USERPASS, public_keys=_USER),
        DepotType(
            "presto", PrestoBlock, ("presto",), "warehouse", (), _USERPASS, public_keys=_USER
        ),
        DepotType("redis", RedisBlock, ("redis",), "nosql", (), ("password",)),
        DepotType("http", HttpBlock, ("http",), "api", ()),
    ]
}

# Which values of a secret are not secret. A secret is not bound to one source type (any depot
# may reference it), so this is every type's public keys, less any key some type declares as a
# credential: a key of both kinds stays masked. Keys no type declares are credentials.
CREDENTIAL_SECRET_KEYS = frozenset(
    key
    for t in DEPOT_TYPES.values()
    for key in (*t.secret_keys, *t.optional_secret_keys, *t.secret_files)
    if key not in t.public_keys
)
PUBLIC_SECRET_KEYS = (
    frozenset(key for t in DEPOT_TYPES.values() for key in t.public_keys) - CREDENTIAL_SECRET_KEYS
)


def is_public_secret_key(key: str) -> bool:
    """Does this key of a secret name or locate something, rather than authenticate?"""
    return key.lower() in PUBLIC_SECRET_KEYS


# `jdbc` + `subprotocol` names a more specific type when we know one.
JDBC_SUBPROTOCOLS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlserver": "mssql",
    "oracle": "oracle",
    "oracle:thin": "oracle",
    "redshift": "redshift",
}

ALL_BLOCK_KEYS: tuple[str, ...] = tuple(
    sorted({key for t in DEPOT_TYPES.values() for key in t.block_keys})
)


def lookup_type(raw: str) -> DepotType | None:
    """Case-insensitive: `POSTGRESQL`, `postgresql` and `postgres` are one type."""
    key = raw.strip().lower()
    if key in DEPOT_TYPES:
        return DEPOT_TYPES[key]
    for depot_type in DEPOT_TYPES.values():
        if key in depot_type.aliases:
            return depot_type
    return None


def effective_type(declared: DepotType, subprotocol: str | None) -> DepotType:
    """`type: jdbc` with `subprotocol: postgresql` is a PostgreSQL depot."""
    if declared.name == "jdbc" and subprotocol:
        mapped = JDBC_SUBPROTOCOLS.get(subprotocol.strip().lower())
        if mapped:
            return DEPOT_TYPES[mapped]
    return declared


def connection_config(manifest: dict[str, Any]) -> tuple[DepotType, Block]:
    """The source type and validated connection block of a stored (valid) depot manifest, in
    any of its forms (v1, v2alpha, the DataOS 2.0 `spec:`)."""
    from entrepot.resources.shapes import depot_section

    spec = depot_section(manifest)
    declared = lookup_type(str(spec["type"]))
    if declared is None:  # pragma: no cover - stored manifests were validated
        raise ValueError(f"unknown depot type {spec['type']!r}")
    if manifest.get("version") == "v1":
        block = spec["spec"]
    else:
        block = next(spec[key] for key in ALL_BLOCK_KEYS if spec.get(key) is not None)
    subprotocol = block.get("subprotocol") if isinstance(block, dict) else None
    depot_type = effective_type(declared, str(subprotocol) if subprotocol else None)
    return depot_type, depot_type.block.model_validate(block)
