"""`entrepot export trino`: one Trino catalog per depot, secrets only as ${ENV:...} references,
their values in an env file created with mode 0600. No live service is needed: depots are
applied with --no-verify, and the files are checked against Trino's documented property names.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from entrepot.connectors import get_connector
from entrepot.connectors.base import ResolvedConnection
from entrepot.resources.depot_types import AzureBlock, PostgresqlBlock, S3Block
from tests.conftest import run_cli, write

# A canary with every character a naive quoting would break on: quotes, $, `, \, blanks.
CANARY = "Trino-Canary-7f3a'\"$HOME`id`\\ x"
ACCOUNT_KEY = "QUJDRA==Trino-Canary-Key"
SECRET_KEY = "Trino-Canary-S3-Secret"

# --- Trino's documented catalog property names, per connector ----------------------------------
# JDBC connectors: the catalog example and "Configuration" section of
#   https://trino.io/docs/current/connector/postgresql.html
#   https://trino.io/docs/current/connector/mysql.html
JDBC_PROPERTIES = {"connector.name", "connection-url", "connection-user", "connection-password"}
# Hive connector (object storage): https://trino.io/docs/current/connector/hive.html, and
HIVE_PROPERTIES = {
    "connector.name",
    # https://trino.io/docs/current/object-storage/metastores.html
    # (general properties; "Thrift metastore configuration properties")
    "hive.metastore",
    "hive.metastore.uri",
    # https://trino.io/docs/current/object-storage/file-system-s3.html
    # ("General configuration", "Authentication")
    "fs.s3.enabled",
    "s3.endpoint",
    "s3.region",
    "s3.path-style-access",
    "s3.aws-access-key",
    "s3.aws-secret-key",
    # https://trino.io/docs/current/object-storage/file-system-azure.html
    # ("General configuration", "Access key authentication"); fs.azure.enabled is the current
    # name of fs.native-azure.enabled (FileSystemConfig keeps the old one as a legacy name)
    "fs.azure.enabled",
    "azure.auth-type",
    "azure.access-key",
    "azure.endpoint",
    # https://trino.io/docs/current/object-storage/file-system-gcs.html
    # ("General configuration", "Authentication")
    "fs.gcs.enabled",
    "gcs.project-id",
    "gcs.json-key",
}
# Not on a documentation page, in Trino's source only (said here rather than hidden in the list
# above): the file metastore, plugin/trino-hive/.../metastore/file/FileHiveMetastoreConfig.java
# (`hive.metastore=file`), and lib/trino-filesystem-gcs/.../GcsFileSystemConfig.java.
HIVE_SOURCE_ONLY = {"hive.metastore.catalog.dir", "gcs.endpoint"}
DOCUMENTED = {"postgresql": JDBC_PROPERTIES, "mysql": JDBC_PROPERTIES, "hive": HIVE_PROPERTIES}
SECRET_PROPERTIES = {
    "connection-user",
    "connection-password",
    "s3.aws-access-key",
    "s3.aws-secret-key",
    "azure.access-key",
    "gcs.json-key",
}


def secret_doc(name: str, data: dict[str, str]) -> str:
    body = ", ".join(f"{key}: {json.dumps(value)}" for key, value in data.items())
    return f"""name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{{body}}}
"""


def depot_doc(name: str, kind: str, block_key: str, block: str) -> str:
    return f"""name: {name}
version: v2alpha
type: depot
depot:
  type: {kind}
  secrets: [{{name: {name}-r, allkeys: true}}]
  {block_key}: {block}
"""


DEPOTS = [
    secret_doc("postgres", {"username": "max_postgres_user", "password": CANARY}),
    depot_doc(
        "postgres",
        "postgresql",
        "jdbc",
        "{subprotocol: postgresql, host: db.example.com, port: 5433, database: sales_data, "
        "params: {sslmode: require}}",
    ),
    secret_doc("shop", {"username": "reader", "password": CANARY}),
    depot_doc(
        "shop",
        "mysql",
        "mysql",
        "{host: my.example.com, database: shop, params: {tls: verify_identity}}",
    ),
    secret_doc("landing", {"awsaccesskeyid": "AKIATRINO", "awssecretaccesskey": SECRET_KEY}),
    depot_doc(
        "landing",
        "S3",
        "s3",
        "{bucket: landing-zone, relativePath: /raw/orders, "
        "region: eu-west-1, endpoint: 'http://127.0.0.1:9000'}",
    ),
    secret_doc(
        "lake", {"azurestorageaccountname": "mockdataos", "azurestorageaccountkey": ACCOUNT_KEY}
    ),
    depot_doc(
        "lake",
        "ABFSS",
        "abfss",
        "{account: mockdataos, container: dropzone001, relativePath: /large_dataset_20200511}",
    ),
    secret_doc(
        "emulated",
        {"azurestorageaccountname": "devstoreaccount1", "azurestorageaccountkey": ACCOUNT_KEY},
    ),
    depot_doc(
        "emulated",
        "ABFSS",
        "abfss",
        "{account: devstoreaccount1, container: box, "
        "endpoint: 'http://127.0.0.1:10000/devstoreaccount1'}",
    ),
    secret_doc("exports", {"projectid": "my-project"}),
    depot_doc("exports", "GCS", "gcs", "{bucket: exports-bkt, relativePath: daily}"),
    secret_doc("warehouse", {"username": "analyst", "password": CANARY}),
    depot_doc(
        "warehouse",
        "snowflake",
        "snowflake",
        "{warehouse: COMPUTE_WH, url: abc123.snowflakecomputing.com, database: SALES}",
    ),
]
EXPORTED = ["exports", "lake", "landing", "postgres", "shop"]


@pytest.fixture
def depots(home: Path, tmp_path: Path) -> Path:
    path = write(tmp_path / "depots.yml", "---\n".join(DEPOTS))
    applied = run_cli("apply", "-f", str(path), "--no-verify", "--disable-interpolation")
    assert applied.exit_code == 0, applied.output
    return tmp_path / "trino" / "etc" / "catalog"


def read_properties(path: Path) -> dict[str, str]:
    """Our files hold `key=value` lines and `#` comments only (no continuations)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key not in out, line
            out[key] = value
    return out


def sourced(env_file: Path) -> dict[str, str]:
    """The variables a POSIX shell sets when it sources the env file, as Trino's start script
    would: proves the quoting, not just our own parser."""
    script = f'set -a; . "{env_file}"; set +a; env -0'
    proc = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, env={"PATH": "/usr/bin:/bin"}, check=True
    )
    pairs = (item.partition("=") for item in proc.stdout.decode().split("\0") if item)
    return {key: value for key, _, value in pairs if key.startswith("ENTREPOT_")}


def export(catalog_dir: Path, *args: str) -> Any:
    return run_cli("export", "trino", "--dir", str(catalog_dir), *args)


def test_one_catalog_per_depot_with_documented_properties(depots: Path) -> None:
    result = export(depots)
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in depots.glob("*.properties")) == EXPORTED
    catalogs = {p.stem: read_properties(p) for p in depots.glob("*.properties")}

    postgres = catalogs["postgres"]
    assert postgres["connector.name"] == "postgresql"
    assert postgres["connection-url"] == (
        "jdbc:postgresql://db.example.com:5433/sales_data?sslmode=require"
        "&ApplicationName=trino-entrepot&options=-c%20default_transaction_read_only%3Don"
    )
    shop = catalogs["shop"]
    assert shop["connector.name"] == "mysql"
    assert shop["connection-url"] == "jdbc:mysql://my.example.com:3306/?sslMode=VERIFY_IDENTITY"

    landing = catalogs["landing"]
    assert landing == {
        "connector.name": "hive",
        "hive.metastore": "file",
        "hive.metastore.catalog.dir": "s3://landing-zone/raw/orders/.trino-metastore",
        "fs.s3.enabled": "true",
        "s3.region": "eu-west-1",
        "s3.endpoint": "http://127.0.0.1:9000",
        "s3.path-style-access": "true",
        "s3.aws-access-key": "${ENV:ENTREPOT_LANDING_ACCESS_KEY}",
        "s3.aws-secret-key": "${ENV:ENTREPOT_LANDING_SECRET_KEY}",
    }
    lake = catalogs["lake"]
    assert lake["fs.azure.enabled"] == "true" and lake["azure.auth-type"] == "ACCESS_KEY"
    assert lake["hive.metastore.catalog.dir"] == (
        "abfss://dropzone001@mockdataos.dfs.core.windows.net/large_dataset_20200511/"
        ".trino-metastore"
    )
    assert "azure.endpoint" not in lake  # the default cloud
    exports = catalogs["exports"]
    assert exports["fs.gcs.enabled"] == "true" and exports["gcs.project-id"] == "my-project"
    assert "gcs.json-key" not in exports  # no key in the secret: Trino's default credentials

    for depot, properties in catalogs.items():
        documented = DOCUMENTED[properties["connector.name"]]
        allowed = documented | (HIVE_SOURCE_ONLY if documented is HIVE_PROPERTIES else set())
        assert set(properties) <= allowed, (depot, set(properties) - allowed)
        prefix = "ENTREPOT_" + depot.upper()
        for key in SECRET_PROPERTIES & set(properties):
            assert re.fullmatch(rf"\$\{{ENV:{prefix}_[A-Z0-9_]+\}}", properties[key]), key
        for key, value in properties.items():
            if key not in SECRET_PROPERTIES:
                assert "${ENV:" not in value, key


def test_env_file_is_private_and_holds_the_values(depots: Path) -> None:
    result = export(depots)
    assert result.exit_code == 0, result.output
    env_file = depots.parent / "entrepot-trino.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert sourced(env_file) == {
        "ENTREPOT_POSTGRES_USER": "max_postgres_user",
        "ENTREPOT_POSTGRES_PASSWORD": CANARY,
        "ENTREPOT_SHOP_USER": "reader",
        "ENTREPOT_SHOP_PASSWORD": CANARY,
        "ENTREPOT_LANDING_ACCESS_KEY": "AKIATRINO",
        "ENTREPOT_LANDING_SECRET_KEY": SECRET_KEY,
        "ENTREPOT_LAKE_ACCOUNT_KEY": ACCOUNT_KEY,
    }
    # every reference a catalog makes is defined by the env file, and nothing else is
    referenced = {
        name
        for path in depots.glob("*.properties")
        for name in re.findall(r"\$\{ENV:([A-Z0-9_]+)\}", path.read_text())
    }
    assert referenced == set(sourced(env_file))
    assert f"wrote {env_file} (7 variables, mode 0600)" in result.stdout


def test_secret_values_never_leave_the_env_file(depots: Path) -> None:
    env_file = str(depots.parent / "secrets" / "trino.env")
    result = export(depots, "--env-file", env_file)
    assert result.exit_code == 0, result.output
    texts = [p.read_text() for p in depots.iterdir()] + [result.stdout, result.stderr]
    dry = export(depots, "--dry-run", "--env-file", env_file)
    as_json = export(depots, "--output", "json", "--env-file", env_file)
    texts += [dry.stdout, dry.stderr, as_json.stdout, as_json.stderr]
    for text in texts:
        for secret in (CANARY, ACCOUNT_KEY, SECRET_KEY, "Trino-Canary"):
            assert secret not in text
    assert CANARY in sourced(depots.parent / "secrets" / "trino.env").values()
    assert not (depots.parent / "entrepot-trino.env").exists()  # --env-file was used instead


def test_decryption_is_audited(depots: Path) -> None:
    assert export(depots).exit_code == 0
    audit = run_cli("admin", "audit", "-n", "100", "--output", "json")
    purposes = {(e["resource_name"], e["purpose"]) for e in json.loads(audit.stdout)}
    assert ("postgres-r", "trino export") in purposes
    assert ("warehouse-r", "trino export") not in purposes  # skipped before any decryption


def test_unsupported_depots_are_skipped_with_a_reason(depots: Path, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    local = "name: local\nversion: v2alpha\ntype: depot\ndepot:\n  type: file\n"
    local += f'  file: {{path: "{folder}"}}\n'
    applied = run_cli("apply", "-f", str(write(tmp_path / "local.yml", local)), "--no-verify")
    assert applied.exit_code == 0, applied.output
    result = export(depots)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # The reason is the connector's declaration; the list, the types that declare Trino.
    exporting = "(Trino catalogs: postgresql, mysql, abfss, wasbs, s3, gcs)"
    assert (
        "skipped warehouse (snowflake): no Trino rendering for depot type 'snowflake': no "
        f"connector serves depot type 'snowflake' yet {exporting}"
    ) in lines
    assert (
        "skipped local (file): no Trino rendering for depot type 'file': Trino reads a local "
        "folder only from a mount shared by all its nodes, which entrepot does not render yet "
        f"{exporting}"
    ) in lines
    assert not (depots / "local.properties").exists()
    [emulated] = [line for line in lines if line.startswith("skipped emulated (abfss): ")]
    assert "http://127.0.0.1:10000/devstoreaccount1" in emulated and "Azurite" in emulated
    assert not (depots / "warehouse.properties").exists()
    assert not (depots / "emulated.properties").exists()
    assert f"wrote {depots / 'postgres.properties'} (postgresql, depot type postgresql)" in lines


def test_unknown_depot_is_an_error(depots: Path) -> None:
    result = export(depots, "postgress")
    assert result.exit_code == 4
    assert "depot 'postgress' not found, did you mean 'postgres'?" in result.stderr
    assert not depots.exists()  # nothing written


def test_an_env_file_that_is_not_a_regular_file_is_refused(depots: Path) -> None:
    """A FIFO (or, for root, /dev/null) is never replaced by a file of secrets, nor opened."""
    fifo = depots.parent / "secrets.fifo"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    result = export(depots, "--env-file", str(fifo))
    assert result.exit_code == 3, result.output
    assert f"cannot write {fifo}: it exists and is not a regular file" in result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert not depots.exists()  # the env file comes first: no catalog without its secrets


def test_rerun_overwrites_cleanly_and_atomically(
    depots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = depots.parent / "entrepot-trino.env"
    write(env_file, "ENTREPOT_GONE_PASSWORD='stale'\n").chmod(0o644)
    write(depots / "postgres.properties", "half a fi")

    def no_chmod(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("files are created with their mode, never chmod-ed after")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    assert export(depots).exit_code == 0
    first = {p.name: p.read_bytes() for p in depots.parent.rglob("*") if p.is_file()}
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # a new file, not the 0644 one
    assert "ENTREPOT_GONE_PASSWORD" not in sourced(env_file)  # a full export rewrites it
    assert read_properties(depots / "postgres.properties")["connector.name"] == "postgresql"
    assert export(depots).exit_code == 0
    second = {p.name: p.read_bytes() for p in depots.parent.rglob("*") if p.is_file()}
    assert first == second  # same input, same bytes
    assert not [p for p in depots.parent.rglob("*.tmp")]  # no temporary file left behind


def test_exporting_some_depots_keeps_the_others_secrets(depots: Path) -> None:
    assert export(depots).exit_code == 0
    env_file = depots.parent / "entrepot-trino.env"
    before = sourced(env_file)
    result = export(depots, "postgres")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("wrote ")
    assert sourced(env_file) == before
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_dry_run_prints_and_writes_nothing(depots: Path) -> None:
    result = export(depots, "postgres", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "connector.name=postgresql" in result.stdout
    assert "connection-password=${ENV:ENTREPOT_POSTGRES_PASSWORD}" in result.stdout
    assert "ENTREPOT_POSTGRES_PASSWORD='<hidden>'" in result.stdout
    assert f"would write {depots / 'postgres.properties'}" in result.stdout
    assert not depots.parent.exists()


def test_json_output_lists_catalogs_and_skips(depots: Path) -> None:
    result = export(depots, "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [c["depot"] for c in report["catalogs"]] == EXPORTED
    assert {s["depot"] for s in report["skipped"]} == {"emulated", "warehouse"}
    postgres = report["catalogs"][EXPORTED.index("postgres")]
    assert postgres["env"] == ["ENTREPOT_POSTGRES_PASSWORD", "ENTREPOT_POSTGRES_USER"]


# --- renderings the CLI test does not reach --------------------------------------------------


def resolved(source_type: str, config: Any, data: dict[str, str]) -> ResolvedConnection:
    return ResolvedConnection("dep", source_type, "r", config, data, secret_names=["dep-r"])


def test_thrift_metastore_and_sovereign_azure_cloud() -> None:
    connector = get_connector("abfss")
    assert connector is not None
    block = AzureBlock(
        account="acct",
        container="box",
        endpoint="https://acct.blob.core.chinacloudapi.cn/",
        metastoreUrl="thrift://metastore.example.com:9083",
    )
    props = connector.trino(resolved("abfss", block, {"azurestorageaccountkey": "k"}), "P")
    assert props["azure.endpoint"] == "core.chinacloudapi.cn"
    assert props["hive.metastore"] == "thrift"
    assert props["hive.metastore.uri"] == "thrift://metastore.example.com:9083"
    assert set(props) <= HIVE_PROPERTIES


def test_s3_without_keys_uses_trinos_default_chain() -> None:
    connector = get_connector("s3")
    assert connector is not None
    conn = resolved("s3", S3Block(bucket="bkt"), {})
    props = connector.trino(conn, "P")
    assert "s3.aws-access-key" not in props and connector.trino_env(conn, "P") == {}
    assert props["hive.metastore.catalog.dir"] == "s3://bkt/.trino-metastore"


def test_postgres_verify_full_trusts_the_jvm_store() -> None:
    connector = get_connector("postgresql")
    assert connector is not None
    block = PostgresqlBlock(
        host="db", database="d", params={"sslmode": "verify-full", "sslrootcert": "/tmp/ca.pem"}
    )
    url = connector.trino(resolved("postgresql", block, {}), "P")["connection-url"]
    assert "sslrootcert" not in url
    assert "sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory" in url
