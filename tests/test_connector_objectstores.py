"""Bucket-like depots checked against real local servers: Azure Blob Storage (Azurite) for
`abfss` and `wasbs`, S3 (moto, which checks signatures), GCS (an emulator) and local folders.
Every failure is provoked for real."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from scripts.services import AzuriteServer, GCSServer, S3Server, free_port
from tests.conftest import TUTORIAL, run_cli, write

PROBE = ".entrepot-write-probe-"
CSV = b"id,name,country\n1,Ada,FR\n2,Grace,US\n"


def parquet_bytes() -> bytes:
    table = pa.table({"id": [1, 2, 3], "amount": [12.5, 99.0, 3.2]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def apply(path: Path, *extra: str, env: dict[str, str] | None = None) -> None:
    applied = run_cli("apply", "-f", str(path), "--no-verify", *extra, env=env)
    assert applied.exit_code == 0, applied.output


def checked(name: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("check", "depot", name, "--output", "json", "--timeout", "5", *extra)
    [record] = json.loads(result.stdout)
    return result.exit_code, record


def steps(record: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {s["name"]: s for s in record["steps"]}


def statuses(record: dict[str, Any]) -> dict[str, str]:
    return {name: step["status"] for name, step in steps(record).items()}


GOOD_OVER_HTTP = {
    "dns": "skipped",  # the endpoint's host is an address
    "tcp": "ok",
    "tls": "skipped",  # http:// endpoint
    "auth": "ok",
    "open": "ok",
    "list": "ok",
    "read": "ok",
}


def secrets_docs(name: str, data: dict[str, str], rw: bool) -> tuple[list[str], str]:
    """An r instance secret (and an rw one with the same data) and the depot's `secrets:`."""
    body = ", ".join(f"{key}: {json.dumps(value)}" for key, value in data.items())
    acls = ("r", "rw") if rw else ("r",)
    docs = [
        f"""name: {name}-{acl}
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: {acl}
  data: {{{body}}}
"""
        for acl in acls
    ]
    refs = ", ".join(f"{{name: {name}-{acl}, allkeys: true}}" for acl in acls)
    return docs, f"[{refs}]"


def assert_refused(record: dict[str, Any], code: int, port: int) -> None:
    tcp = steps(record)["tcp"]
    assert code == 7 and record["summary"] == "refused", tcp
    assert tcp["status"] == "failed"
    assert f"127.0.0.1:{port} refused the connection" in tcp["reason"]
    assert steps(record)["auth"]["status"] == "skipped"


# --- Azure Blob Storage (Azurite), abfss and wasbs ----------------------------------------------

CONTAINER = "dropzone001"
AZURE_PREFIX = "large_dataset_20200511"
AZURE_BLOBS = {
    f"{AZURE_PREFIX}/_SUCCESS": b"",  # empty: the read probe skips it
    f"{AZURE_PREFIX}/customers.csv": CSV,
    f"{AZURE_PREFIX}/sales/part-0.parquet": parquet_bytes(),
    "elsewhere/not-listed.csv": CSV,  # outside relativePath
}
AZURE_TYPES = pytest.mark.parametrize("kind", ["abfss", "wasbs"])


@pytest.fixture(scope="module")
def dropzone(azurite: AzuriteServer) -> Iterator[ContainerClient]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(CONTAINER)
    if container.exists():
        container.delete_container()
    container.create_container()
    for name, content in AZURE_BLOBS.items():
        container.upload_blob(name, content)
    yield container
    container.delete_container()  # the Azurite server is shared by the session


def azure_manifests(
    tmp_path: Path,
    azurite: AzuriteServer,
    *,
    kind: str = "abfss",
    name: str = "lake",
    container: str = CONTAINER,
    key: str | None = None,
    endpoint: str | None = None,
    rw: bool = False,
) -> Path:
    data = {
        "azurestorageaccountname": azurite.account_name,
        "azurestorageaccountkey": key or azurite.account_key,
    }
    docs, refs = secrets_docs(name, data, rw)
    docs.append(
        f"""name: {name}
version: v2alpha
type: depot
depot:
  type: {kind.upper()}
  external: true
  secrets: {refs}
  {kind}:
    account: {azurite.account_name}
    container: {container}
    relativePath: /{AZURE_PREFIX}
    format: parquet
    endpointSuffix: core.windows.net
    endpoint: {endpoint or azurite.blob_endpoint}
"""
    )
    return write(tmp_path / f"{name}.yml", "---\n".join(docs))


@AZURE_TYPES
def test_azure_good_connection(
    home: Path, tmp_path: Path, azurite: AzuriteServer, dropzone: ContainerClient, kind: str
) -> None:
    applied = run_cli("apply", "-f", str(azure_manifests(tmp_path, azurite, kind=kind)))
    assert applied.exit_code == 0, applied.output
    assert "verifying lake...active (ok " in applied.stdout
    code, record = checked("lake")
    assert code == 0 and record["ok"] is True, record
    assert record["type"] == kind and record["summary"].startswith("ok ")
    assert statuses(record) == GOOD_OVER_HTTP
    by_name = steps(record)
    assert by_name["open"]["title"] == f"open container {CONTAINER}"
    assert by_name["auth"]["detail"] == f"as account {azurite.account_name}"
    assert by_name["list"]["title"] == f"list objects under '{AZURE_PREFIX}/'"
    assert by_name["list"]["detail"] == f"3 objects, e.g. {AZURE_PREFIX}/_SUCCESS"
    assert by_name["read"]["detail"] == f"read {AZURE_PREFIX}/customers.csv"
    assert "write" not in by_name  # acl r: no write probe


@AZURE_TYPES
def test_azure_wrong_account_key(
    home: Path, tmp_path: Path, azurite: AzuriteServer, dropzone: ContainerClient, kind: str
) -> None:
    wrong = base64.b64encode(b"not-the-account-key-" * 3).decode()
    apply(azure_manifests(tmp_path, azurite, kind=kind, key=wrong))
    code, record = checked("lake")
    auth = steps(record)["auth"]
    assert code == 7 and record["summary"] == "auth failed", auth
    assert auth["status"] == "failed"
    assert f"rejected the key for account '{azurite.account_name}'" in auth["reason"]
    assert "key 'azurestorageaccountkey' of instance secret 'lake-r'" in auth["hint"]
    assert steps(record)["open"]["status"] == "skipped"
    assert wrong not in json.dumps(record)


@AZURE_TYPES
def test_azure_unknown_container(
    home: Path, tmp_path: Path, azurite: AzuriteServer, dropzone: ContainerClient, kind: str
) -> None:
    apply(azure_manifests(tmp_path, azurite, kind=kind, container="dropzone002"))
    code, record = checked("lake")
    opened = steps(record)["open"]
    assert code == 7 and record["summary"] == "not found", opened
    assert steps(record)["auth"]["status"] == "ok"  # the key is right: only the container is not
    assert opened["status"] == "failed"
    assert "container 'dropzone002'" in opened["reason"]
    assert "does not exist" in opened["reason"]
    assert steps(record)["list"]["status"] == "skipped"


@AZURE_TYPES
def test_azure_closed_port(home: Path, tmp_path: Path, azurite: AzuriteServer, kind: str) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/{azurite.account_name}"
    apply(azure_manifests(tmp_path, azurite, kind=kind, endpoint=endpoint))
    code, record = checked("lake")
    assert_refused(record, code, port)


@AZURE_TYPES
def test_azure_rw_writes_and_deletes_a_probe(
    home: Path, tmp_path: Path, azurite: AzuriteServer, dropzone: ContainerClient, kind: str
) -> None:
    apply(azure_manifests(tmp_path, azurite, kind=kind, rw=True))
    code, record = checked("lake", "--acl", "rw")
    assert code == 0 and record["acl"] == "rw", record
    write_step = steps(record)["write"]
    assert write_step["status"] == "ok"
    assert write_step["detail"].startswith(f"wrote and deleted {AZURE_PREFIX}/{PROBE}")
    names = {blob.name for blob in dropzone.list_blobs()}
    assert names == set(AZURE_BLOBS)  # the probe is gone


def test_the_tutorial_azure_depot_against_azurite(
    home: Path, tmp_path: Path, azurite: AzuriteServer, dropzone: ContainerClient
) -> None:
    """The tutorial's v1 ABFSS depot as written, plus only an `endpoint` pointing at Azurite."""
    original = (TUTORIAL / "azure_depot.yml").read_text()
    assert "endpoint" not in original
    depot = original.replace("  spec:\n", f"  spec:\n    endpoint: {azurite.blob_endpoint}\n")
    assert depot.count("endpoint:") == 1
    secrets = "---\n".join(
        f"""name: thirdparty-{acl}
version: v1
type: instance-secret
layer: user
instance-secret:
  type: key-value-properties
  acl: {acl}
  data:
    azurestorageaccountname: $AZURE_ACCOUNT
    azurestorageaccountkey: $AZURE_KEY
"""
        for acl in ("r", "rw")
    )
    env = {"AZURE_ACCOUNT": azurite.account_name, "AZURE_KEY": azurite.account_key}
    applied = run_cli(
        "apply",
        "-f", str(write(tmp_path / "thirdparty-secrets.yml", secrets)),
        "-f", str(write(tmp_path / "azure_depot.yml", depot)),
        "--set", "owner=alice",
        "--timeout", "5",
        env=env,
    )  # fmt: skip
    assert applied.exit_code == 0, applied.output
    assert "applying thirdparty:v1:depot...created" in applied.stdout
    assert "verifying thirdparty...active (ok " in applied.stdout
    code, record = checked("thirdparty")
    assert code == 0 and record["type"] == "abfss", record
    assert statuses(record) == GOOD_OVER_HTTP
    assert steps(record)["list"]["detail"] == f"3 objects, e.g. {AZURE_PREFIX}/_SUCCESS"
    code, record = checked("thirdparty", "--acl", "rw")
    assert code == 0 and steps(record)["write"]["status"] == "ok", record
    assert {blob.name for blob in dropzone.list_blobs()} == set(AZURE_BLOBS)


# --- S3 (moto, signatures enforced) -------------------------------------------------------------

BUCKET = "entrepot-landing"
S3_PREFIX = "raw/orders"
S3_OBJECTS = {
    f"{S3_PREFIX}/2024-01.csv": CSV,
    f"{S3_PREFIX}/2024-02.parquet": parquet_bytes(),
    "other/not-listed.csv": CSV,
}


def s3_client(s3: S3Server) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        region_name=s3.region,
    )


def s3_keys(s3: S3Server) -> set[str]:
    listing = s3_client(s3).list_objects_v2(Bucket=BUCKET)
    return {item["Key"] for item in listing.get("Contents", [])}


@pytest.fixture(scope="module")
def landing(s3: S3Server) -> Iterator[str]:
    client = s3_client(s3)
    client.create_bucket(Bucket=BUCKET)
    for key, body in S3_OBJECTS.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    yield BUCKET
    for key in s3_keys(s3):
        client.delete_object(Bucket=BUCKET, Key=key)
    client.delete_bucket(Bucket=BUCKET)


def s3_manifests(
    tmp_path: Path,
    s3: S3Server,
    *,
    name: str = "landing",
    bucket: str = BUCKET,
    awsaccesskeyid: str | None = None,
    awssecretaccesskey: str | None = None,
    endpoint: str | None = None,
    rw: bool = False,
) -> Path:
    data = {
        "awsaccesskeyid": awsaccesskeyid or s3.access_key_id,
        "awssecretaccesskey": awssecretaccesskey or s3.secret_access_key,
    }
    docs, refs = secrets_docs(name, data, rw)
    docs.append(
        f"""name: {name}
version: v2alpha
type: depot
depot:
  type: S3
  external: true
  secrets: {refs}
  s3:
    scheme: s3a
    bucket: {bucket}
    relativePath: /{S3_PREFIX}
    format: parquet
    region: {s3.region}
    endpoint: {endpoint or s3.endpoint_url}
"""
    )
    return write(tmp_path / f"{name}.yml", "---\n".join(docs))


def test_s3_good_connection(home: Path, tmp_path: Path, s3: S3Server, landing: str) -> None:
    applied = run_cli("apply", "-f", str(s3_manifests(tmp_path, s3)))
    assert applied.exit_code == 0, applied.output
    assert "verifying landing...active (ok " in applied.stdout
    code, record = checked("landing")
    assert code == 0 and record["ok"] is True, record
    assert record["type"] == "s3" and record["summary"].startswith("ok ")
    assert statuses(record) == GOOD_OVER_HTTP
    by_name = steps(record)
    assert by_name["auth"]["detail"] == f"as access key {s3.access_key_id[:4]}…"
    assert by_name["open"]["title"] == f"open bucket {BUCKET}"
    assert by_name["list"]["detail"] == f"2 objects, e.g. {S3_PREFIX}/2024-01.csv"
    assert by_name["read"]["detail"] == f"read {S3_PREFIX}/2024-01.csv"


@pytest.mark.parametrize("wrong", ["awssecretaccesskey", "awsaccesskeyid"])
def test_s3_wrong_credentials(
    home: Path, tmp_path: Path, s3: S3Server, landing: str, wrong: str
) -> None:
    """A wrong secret key (SignatureDoesNotMatch) or an unknown key id (InvalidAccessKeyId)."""
    if wrong == "awssecretaccesskey":
        apply(s3_manifests(tmp_path, s3, awssecretaccesskey="not-the-Secret-Key-1"))
    else:
        apply(s3_manifests(tmp_path, s3, awsaccesskeyid="AKIAUNKNOWNKEY000000"))
    code, record = checked("landing")
    auth = steps(record)["auth"]
    assert code == 7 and record["summary"] == "auth failed", auth
    assert auth["status"] == "failed"
    assert "rejected the credentials" in auth["reason"]
    assert f"key '{wrong}' of instance secret 'landing-r'" in auth["hint"]
    assert steps(record)["open"]["status"] == "skipped"
    assert "not-the-Secret-Key-1" not in json.dumps(record)


def test_s3_unknown_bucket(home: Path, tmp_path: Path, s3: S3Server, landing: str) -> None:
    apply(s3_manifests(tmp_path, s3, bucket="entrepot-no-such-bucket"))
    code, record = checked("landing")
    opened = steps(record)["open"]
    assert code == 7 and record["summary"] == "not found", opened
    assert steps(record)["auth"]["status"] == "ok"
    assert opened["status"] == "failed"
    assert opened["reason"] == "bucket 'entrepot-no-such-bucket' does not exist"


def test_s3_closed_port(home: Path, tmp_path: Path, s3: S3Server) -> None:
    port = free_port()
    apply(s3_manifests(tmp_path, s3, endpoint=f"http://127.0.0.1:{port}"))
    code, record = checked("landing")
    assert_refused(record, code, port)


def test_s3_rw_writes_and_deletes_a_probe(
    home: Path, tmp_path: Path, s3: S3Server, landing: str
) -> None:
    apply(s3_manifests(tmp_path, s3, rw=True))
    code, record = checked("landing", "--acl", "rw")
    assert code == 0 and record["acl"] == "rw", record
    write_step = steps(record)["write"]
    assert write_step["status"] == "ok"
    assert write_step["detail"].startswith(f"wrote and deleted {S3_PREFIX}/{PROBE}")
    assert s3_keys(s3) == set(S3_OBJECTS)  # the probe is gone


# --- Google Cloud Storage (emulator) ------------------------------------------------------------
# The emulator accepts any credentials (the connector uses anonymous ones with `projectid` alone),
# so there is no wrong-credential test here: that path needs the real Google API.

GCS_BUCKET = "entrepot-exports"
GCS_PREFIX = "exports/2024"
GCS_OBJECTS = {
    f"{GCS_PREFIX}/a.csv": CSV,
    f"{GCS_PREFIX}/b.parquet": parquet_bytes(),
    "scratch/not-listed.csv": CSV,
}


def gcs_client(gcs: GCSServer) -> storage.Client:
    return storage.Client(
        project=gcs.project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs.endpoint},
    )


def gcs_names(gcs: GCSServer) -> set[str]:
    return {blob.name for blob in gcs_client(gcs).list_blobs(GCS_BUCKET)}


@pytest.fixture(scope="module")
def exports(gcs: GCSServer) -> Iterator[str]:
    bucket = gcs_client(gcs).create_bucket(GCS_BUCKET)
    for name, content in GCS_OBJECTS.items():
        bucket.blob(name).upload_from_string(content)
    yield GCS_BUCKET
    bucket.delete(force=True)


def gcs_manifests(
    tmp_path: Path,
    gcs: GCSServer,
    *,
    name: str = "exports",
    bucket: str = GCS_BUCKET,
    endpoint: str | None = None,
    rw: bool = False,
) -> Path:
    docs, refs = secrets_docs(name, {"projectid": gcs.project}, rw)
    docs.append(
        f"""name: {name}
version: v2alpha
type: depot
depot:
  type: GCS
  external: true
  secrets: {refs}
  gcs:
    bucket: {bucket}
    relativePath: {GCS_PREFIX}
    format: parquet
    endpoint: {endpoint or gcs.endpoint}
"""
    )
    return write(tmp_path / f"{name}.yml", "---\n".join(docs))


def test_gcs_good_connection(home: Path, tmp_path: Path, gcs: GCSServer, exports: str) -> None:
    applied = run_cli("apply", "-f", str(gcs_manifests(tmp_path, gcs)))
    assert applied.exit_code == 0, applied.output
    assert "verifying exports...active (ok " in applied.stdout
    code, record = checked("exports")
    assert code == 0 and record["ok"] is True, record
    assert record["type"] == "gcs" and record["summary"].startswith("ok ")
    assert statuses(record) == GOOD_OVER_HTTP
    by_name = steps(record)
    assert by_name["auth"]["detail"] == "anonymous"
    assert by_name["list"]["detail"] == f"2 objects, e.g. {GCS_PREFIX}/a.csv"
    assert by_name["read"]["detail"] == f"read {GCS_PREFIX}/a.csv"


def test_gcs_unknown_bucket(home: Path, tmp_path: Path, gcs: GCSServer, exports: str) -> None:
    apply(gcs_manifests(tmp_path, gcs, bucket="entrepot-no-such-bucket"))
    code, record = checked("exports")
    opened = steps(record)["open"]
    assert code == 7 and record["summary"] == "not found", opened
    assert steps(record)["auth"]["status"] == "ok"
    assert opened["status"] == "failed"
    assert opened["reason"] == "bucket 'entrepot-no-such-bucket' does not exist"


def test_gcs_closed_port(home: Path, tmp_path: Path, gcs: GCSServer) -> None:
    port = free_port()
    apply(gcs_manifests(tmp_path, gcs, endpoint=f"http://127.0.0.1:{port}"))
    code, record = checked("exports")
    assert_refused(record, code, port)


def test_gcs_rw_writes_and_deletes_a_probe(
    home: Path, tmp_path: Path, gcs: GCSServer, exports: str
) -> None:
    apply(gcs_manifests(tmp_path, gcs, rw=True))
    code, record = checked("exports", "--acl", "rw")
    assert code == 0 and record["acl"] == "rw", record
    write_step = steps(record)["write"]
    assert write_step["status"] == "ok"
    assert write_step["detail"].startswith(f"wrote and deleted {GCS_PREFIX}/{PROBE}")
    assert gcs_names(gcs) == set(GCS_OBJECTS)  # the probe is gone


def test_gcs_depot_is_active_yet_query_refuses_it_with_the_declared_reason(
    home: Path, tmp_path: Path, gcs: GCSServer, exports: str
) -> None:
    """DuckDB reads GCS with HMAC keys, not the service-account key a gcs depot holds, and the
    gcs connector declares no DuckDB capability: `entrepot query` says so, for the table and
    the path spellings alike, before the depot's secret is decrypted. The depot itself is
    valid and its check passes."""
    applied = run_cli("apply", "-f", str(gcs_manifests(tmp_path, gcs)))
    assert "verifying exports...active (ok " in applied.stdout, applied.output
    for sql in (
        "SELECT * FROM exports.exports.b",
        "SELECT * FROM read_csv('dataos://exports:exports/2024/a.csv')",
    ):
        result = run_cli("query", sql)
        assert result.exit_code == 3, result.output
        assert result.stdout == ""
        assert (
            "depot 'exports' is of type gcs, which the embedded engine cannot query: DuckDB "
            "reads GCS with HMAC keys, not the service-account JSON key a gcs depot holds"
        ) in result.stderr
        assert "hint: supported: postgresql, mysql, abfss, wasbs, s3, file" in result.stderr
    audit = run_cli("admin", "audit", "-n", "100", "--output", "json")
    purposes = {(e["resource_name"], e["purpose"]) for e in json.loads(audit.stdout)}
    assert ("exports-r", "verify after apply of depot exports") in purposes
    assert ("exports-r", "query of depot exports") not in purposes


# --- local files --------------------------------------------------------------------------------


def file_manifest(tmp_path: Path, folder: Path, *, name: str = "localfiles") -> Path:
    return write(
        tmp_path / f"{name}.yml",
        f"""name: {name}
version: v2alpha
type: depot
depot:
  type: file
  file:
    path: {folder.parent}
    relativePath: {folder.name}
    format: parquet
""",
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "lake" / "sales"
    (data / "2024").mkdir(parents=True)
    (data / "customers.csv").write_bytes(CSV)
    pq.write_table(pa.table({"id": [1, 2], "amount": [1.5, 2.5]}), data / "2024" / "part-0.parquet")
    return data


def test_file_good_connection(home: Path, tmp_path: Path, folder: Path) -> None:
    applied = run_cli("apply", "-f", str(file_manifest(tmp_path, folder)))
    assert applied.exit_code == 0, applied.output
    assert "verifying localfiles...active (ok " in applied.stdout
    code, record = checked("localfiles")
    assert code == 0 and record["ok"] is True, record
    assert record["type"] == "file" and record["summary"].startswith("ok ")
    assert statuses(record) == {"open": "ok", "list": "ok", "read": "ok"}
    by_name = steps(record)
    assert by_name["open"]["detail"] == str(folder)
    assert by_name["list"]["detail"] == "2 data files"
    assert by_name["read"]["detail"] == "read 2024/part-0.parquet"


def test_file_missing_folder(home: Path, tmp_path: Path, folder: Path) -> None:
    missing = folder.parent / "salez"
    apply(file_manifest(tmp_path, missing))
    code, record = checked("localfiles")
    opened = steps(record)["open"]
    assert code == 7 and record["summary"] == "not found", opened
    assert opened["status"] == "failed"
    assert opened["reason"] == f"folder {missing} does not exist"
    assert steps(record)["list"]["status"] == "skipped"


def test_file_rw_writes_and_deletes_a_probe(home: Path, tmp_path: Path, folder: Path) -> None:
    before = sorted(folder.rglob("*"))
    apply(file_manifest(tmp_path, folder))
    code, record = checked("localfiles", "--acl", "rw")
    assert code == 0 and record["acl"] == "rw", record
    assert steps(record)["write"]["status"] == "ok"
    assert sorted(folder.rglob("*")) == before  # the probe is gone


# --- every depot at once ------------------------------------------------------------------------


def test_check_all_over_a_mix_of_sources(
    home: Path,
    tmp_path: Path,
    azurite: AzuriteServer,
    dropzone: ContainerClient,
    s3: S3Server,
    landing: str,
    folder: Path,
) -> None:
    apply(azure_manifests(tmp_path, azurite))
    apply(s3_manifests(tmp_path, s3, bucket="entrepot-no-such-bucket"))
    apply(file_manifest(tmp_path, folder))
    snowflake = write(
        tmp_path / "warehouse.yml",
        """name: warehouse-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {username: analyst, password: "Snow-Pass-1"}
---
name: warehouse
version: v2alpha
type: depot
depot:
  type: snowflake
  secrets: [{name: warehouse-r, allkeys: true}]
  snowflake:
    warehouse: COMPUTE_WH
    url: abc123.snowflakecomputing.com
    database: SALES
    account: ORG-ACCT
    role: ANALYST
""",
    )
    apply(snowflake)  # apply() passes --no-verify
    result = run_cli("check", "depot", "-a", "--output", "json", "--timeout", "5")
    assert result.exit_code == 7, result.output
    records = {r["depot"]: r for r in json.loads(result.stdout)}
    assert sorted(records) == ["lake", "landing", "localfiles", "warehouse"]
    assert records["lake"]["ok"] is True and records["lake"]["summary"].startswith("ok ")
    assert records["localfiles"]["ok"] is True
    assert records["localfiles"]["summary"].startswith("ok ")
    assert records["landing"]["ok"] is False and records["landing"]["summary"] == "not found"
    warehouse = records["warehouse"]
    assert warehouse["ok"] is False and warehouse["summary"] == "unsupported"
    assert warehouse["type"] == "snowflake"
    [step] = warehouse["steps"]
    assert "no connector serves depot type 'snowflake'" in step["reason"]
