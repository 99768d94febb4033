"""Scanning object stores (Azurite, S3, GCS) and local folders: collections are folders,
datasets files or hive-partitioned folders, schemas from footers and headers only."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scripts.services import AzuriteServer, GCSServer, S3Server
from tests.conftest import run_cli, write

SALES = pa.table({"order_id": [1, 2, 3], "amount": [9.5, 12.0, 3.25]})
FILES = {
    "landing/sales/month=2020-04/part-0.parquet": "parquet",
    "landing/sales/month=2020-05/part-0.parquet": "parquet",
    "landing/stores.csv": b"store_id,city\n1,Lyon\n2,Lille\n",
    "landing/events.jsonl": b'{"id": 1, "kind": "click"}\n{"id": 2, "kind": "view"}\n',
    "landing/_SUCCESS": b"",
    "elsewhere/ignored.csv": b"a\n1\n",
}


def payload(value: object) -> bytes:
    if value == "parquet":
        buffer = io.BytesIO()
        pq.write_table(SALES, buffer)
        return buffer.getvalue()
    assert isinstance(value, bytes)
    return value


def scan(tmp_path: Path, depot_yaml: str, secret_yaml: str = "") -> dict[str, dict[str, object]]:
    docs = [d for d in (secret_yaml, depot_yaml) if d]
    docs.append(
        """version: v1
name: lakescan
type: workflow
workflow:
  dag:
    - name: scan
      spec:
        stack: scanner:2.0
        stackSpec:
          depot: dataos://lake
"""
    )
    result = run_cli("apply", "-f", str(write(tmp_path / "lake.yml", "---\n".join(docs))))
    assert result.exit_code == 0, result.stderr
    assert "3 datasets, 3 added" in result.stdout
    listing = run_cli("catalog", "ls", "dataos://lake:landing", "--output", "json")
    found = {}
    for row in json.loads(listing.stdout):
        shown = run_cli("catalog", "show", row["address"], "--output", "json")
        found[row["name"]] = json.loads(shown.stdout)
    return found


def check_datasets(found: dict[str, dict[str, object]]) -> None:
    assert sorted(found) == ["events", "sales", "stores"]
    sales = found["sales"]["details"]
    assert isinstance(sales, dict)
    assert found["sales"]["kind"] == "folder"
    assert sales["format"] == "parquet" and sales["files"] == 2
    assert sales["partition_columns"] == ["month"]
    assert [(c["name"], c["type"]) for c in sales["columns"]] == [
        ("order_id", "int64"), ("amount", "double"), ("month", "string"),
    ]  # fmt: skip
    stores = found["stores"]["details"]
    assert isinstance(stores, dict)
    assert found["stores"]["kind"] == "file" and stores["format"] == "csv"
    assert [(c["name"], c["type"]) for c in stores["columns"]] == [
        ("store_id", "int64"), ("city", "string"),
    ]  # fmt: skip
    events = found["events"]["details"]
    assert isinstance(events, dict)
    assert [c["name"] for c in events["columns"]] == ["id", "kind"]


def upload_all(put: Callable[[str, bytes], None]) -> None:
    for key, value in FILES.items():
        put(key, payload(value))


def test_azure(home: Path, tmp_path: Path, azurite: AzuriteServer) -> None:
    from azure.storage.blob import BlobServiceClient

    container = f"lake{uuid.uuid4().hex[:8]}"
    client = BlobServiceClient.from_connection_string(azurite.connection_string)
    box = client.create_container(container)
    try:
        upload_all(lambda key, data: box.upload_blob(key, data))
        found = scan(
            tmp_path,
            f"""name: lake
version: v2alpha
type: depot
depot:
  type: abfss
  secrets: [{{name: lake-r, allkeys: true}}]
  abfss: {{account: {azurite.account_name}, container: {container}, relativePath: /landing,
          endpoint: "{azurite.blob_endpoint}"}}
""",
            f"""name: lake-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{azurestorageaccountkey: "{azurite.account_key}"}}
""",
        )
        check_datasets(found)
    finally:
        box.delete_container()


def test_s3(home: Path, tmp_path: Path, s3: S3Server) -> None:
    import boto3

    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
        aws_access_key_id=s3.access_key_id, aws_secret_access_key=s3.secret_access_key,
    )  # fmt: skip
    client.create_bucket(Bucket=bucket)
    upload_all(lambda key, data: client.put_object(Bucket=bucket, Key=key, Body=data))
    found = scan(
        tmp_path,
        f"""name: lake
version: v2alpha
type: depot
depot:
  type: s3
  secrets: [{{name: lake-r, allkeys: true}}]
  s3: {{bucket: {bucket}, relativePath: landing, endpoint: "{s3.endpoint_url}"}}
""",
        f"""name: lake-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{awsaccesskeyid: {s3.access_key_id}, awssecretaccesskey: "{s3.secret_access_key}"}}
""",
    )
    check_datasets(found)


def test_gcs(home: Path, tmp_path: Path, gcs: GCSServer) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket_name = f"lake-{uuid.uuid4().hex[:8]}"
    client = storage.Client(
        project=gcs.project, credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs.endpoint},
    )  # fmt: skip
    bucket = client.create_bucket(bucket_name)
    upload_all(lambda key, data: bucket.blob(key).upload_from_string(data))
    found = scan(
        tmp_path,
        f"""name: lake
version: v2alpha
type: depot
depot:
  type: gcs
  gcs: {{bucket: {bucket_name}, relativePath: landing, endpoint: "{gcs.endpoint}"}}
""",
    )
    check_datasets(found)


@pytest.mark.parametrize("relative", ["landing", "/landing/"])
def test_local_folder(home: Path, tmp_path: Path, relative: str) -> None:
    root = tmp_path / "files"
    for key, value in FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(payload(value))
    found = scan(
        tmp_path,
        f"""name: lake
version: v2alpha
type: depot
depot:
  type: file
  file: {{path: "{root}", relativePath: "{relative}"}}
""",
    )
    check_datasets(found)
