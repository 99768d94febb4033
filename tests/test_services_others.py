"""The throwaway MariaDB, Azurite, S3 (moto) and GCS servers (scripts/services.py) serve real
clients: pymysql, azure-storage-blob, boto3 and google-cloud-storage."""

from __future__ import annotations

import boto3
import pymysql
import pytest
from azure.storage.blob import BlobServiceClient
from botocore.exceptions import ClientError
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from scripts.services import AzuriteServer, GCSServer, MariaDBServer, S3Server


def test_mariadb_user_connects_over_tcp_and_queries(mariadb: MariaDBServer) -> None:
    password = "app-pw-Quoted'&%\\"
    mariadb.create_database("inventory")
    mariadb.create_user("app", password)
    mariadb.grant("app", "inventory", "SELECT, INSERT, CREATE")
    assert mariadb.sql("SELECT 1;") == "1\n"

    connection = pymysql.connect(
        host=mariadb.host,
        port=mariadb.port,
        user="app",
        password=password,
        database="inventory",
        connect_timeout=10,
    )
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50))")
        cursor.execute("INSERT INTO items VALUES (1, 'café'), (2, 'thé')")
        connection.commit()
        cursor.execute("SELECT name FROM items ORDER BY id")
        assert cursor.fetchall() == (("café",), ("thé",))
        cursor.execute("SELECT CURRENT_USER()")
        assert cursor.fetchone() == ("app@%",)

    with pytest.raises(pymysql.err.OperationalError) as denied:
        pymysql.connect(
            host=mariadb.host, port=mariadb.port, user="app", password="wrong", connect_timeout=10
        )
    assert denied.value.args[0] == 1045  # ER_ACCESS_DENIED_ERROR


def test_azurite_container_upload_and_list(azurite: AzuriteServer) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container("depot")
    container.upload_blob("reports/2024/q1.csv", b"id,amount\n1,10\n")
    container.upload_blob("reports/2024/q2.csv", b"id,amount\n2,20\n")
    names = [blob.name for blob in container.list_blobs(name_starts_with="reports/")]
    assert names == ["reports/2024/q1.csv", "reports/2024/q2.csv"]
    downloaded = container.download_blob("reports/2024/q1.csv").readall()
    assert downloaded == b"id,amount\n1,10\n"
    assert [c.name for c in service.list_containers()] == ["depot"]


def test_s3_bucket_put_and_list(s3: S3Server) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        region_name=s3.region,
    )
    client.create_bucket(Bucket="depot-bucket")
    client.put_object(Bucket="depot-bucket", Key="raw/orders.json", Body=b'{"id": 1}')
    listing = client.list_objects_v2(Bucket="depot-bucket", Prefix="raw/")
    assert [item["Key"] for item in listing["Contents"]] == ["raw/orders.json"]
    body = client.get_object(Bucket="depot-bucket", Key="raw/orders.json")["Body"].read()
    assert body == b'{"id": 1}'


def test_s3_rejects_a_wrong_secret_key_and_an_unknown_key(s3: S3Server) -> None:
    wrong_secret = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key="not-the-secret",
        region_name=s3.region,
    )
    with pytest.raises(ClientError) as error:
        wrong_secret.list_buckets()
    assert error.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    unknown_key = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id="AKIAUNKNOWNKEY000000",
        aws_secret_access_key=s3.secret_access_key,
        region_name=s3.region,
    )
    with pytest.raises(ClientError) as error:
        unknown_key.list_buckets()
    assert error.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_gcs_bucket_upload_and_list(gcs: GCSServer) -> None:
    client = storage.Client(
        project=gcs.project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs.endpoint},
    )
    bucket = client.create_bucket("depot-bucket")
    bucket.blob("exports/a.parquet").upload_from_string(b"PAR1-a")
    bucket.blob("exports/b.parquet").upload_from_string(b"PAR1-b")
    names = [blob.name for blob in client.list_blobs("depot-bucket", prefix="exports/")]
    assert names == ["exports/a.parquet", "exports/b.parquet"]
    assert bucket.blob("exports/b.parquet").download_as_bytes() == b"PAR1-b"
