"""Amazon S3 and S3-compatible stores (`s3`), through boto3.

Secret keys: `awsaccesskeyid` / `awssecretaccesskey` (DataOS also writes `accesskeyid` /
`secretkey`); without them, the default AWS credential chain. `endpoint` points at an
S3-compatible server (MinIO, Ceph, a local test server); `region` defaults to us-east-1.
"""

from __future__ import annotations

from typing import Any, ClassVar

from entrepot.connectors.base import ResolvedConnection, StepFailed
from entrepot.connectors.capabilities import Capabilities, DuckDBSupport
from entrepot.connectors.objectstore import (
    Objects,
    ObjectStoreConnector,
    http_status,
    prefix_of,
    trino_metastore,
)
from entrepot.resources.depot_types import S3Block

ACCESS_KEY = ("awsaccesskeyid", "accesskeyid", "aws_access_key_id")
SECRET_KEY = ("awssecretaccesskey", "secretkey", "aws_secret_access_key")
AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId",
              "AuthFailure", "InvalidToken", "ExpiredToken"}  # fmt: skip


def _config(conn: ResolvedConnection) -> S3Block:
    assert isinstance(conn.config, S3Block)
    return conn.config


def endpoint_url(conn: ResolvedConnection) -> str:
    cfg = _config(conn)
    if cfg.endpoint:
        return cfg.endpoint.rstrip("/")
    region = cfg.region or "us-east-1"
    return f"https://s3.{region}.amazonaws.com"


class S3Connector(ObjectStoreConnector):
    source_types: ClassVar[tuple[str, ...]] = ("s3",)
    label = "Amazon S3"
    capabilities = Capabilities(
        storage="objects",
        check=True,
        scan=True,
        duckdb=DuckDBSupport(extension="httpfs"),
        spark=True,
        trino=True,
    )

    def endpoint(self, conn: ResolvedConnection) -> str:
        return endpoint_url(conn)

    def container(self, conn: ResolvedConnection) -> str:
        return _config(conn).bucket

    def client(self, conn: ResolvedConnection, timeout: float) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StepFailed(
                "the S3 connector needs boto3", "pip install 'entrepot[s3]'", "not installed"
            ) from None
        cfg = _config(conn)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url(conn),
            region_name=cfg.region or "us-east-1",
            aws_access_key_id=conn.optional(*ACCESS_KEY),
            aws_secret_access_key=conn.optional(*SECRET_KEY),
            config=Config(
                connect_timeout=max(1.0, timeout),
                read_timeout=max(1.0, timeout),
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path" if cfg.endpoint else "auto"},
            ),
        )

    def authenticate(self, client: Any, conn: ResolvedConnection) -> str:
        # Not head_bucket: a HEAD answer has no body, so a wrong key would read as a bare 403
        # instead of SignatureDoesNotMatch / InvalidAccessKeyId.
        client.list_objects_v2(Bucket=self.container(conn), MaxKeys=1)
        key_id = conn.optional(*ACCESS_KEY)
        return f"as access key {key_id[:4]}…" if key_id else "with the default credential chain"

    def open(self, client: Any, conn: ResolvedConnection) -> str:
        return f"bucket {self.container(conn)} exists"

    def list_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Objects:
        page = client.list_objects_v2(Bucket=self.container(conn), Prefix=prefix, MaxKeys=100)
        return [(item["Key"], int(item.get("Size", 0))) for item in page.get("Contents", [])]

    def iter_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Any:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.container(conn), Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                modified = item.get("LastModified")
                yield (
                    item["Key"],
                    int(item.get("Size", 0)),
                    (modified.isoformat() if modified else None),
                )

    def read_range(
        self, client: Any, conn: ResolvedConnection, key: str, offset: int, length: int
    ) -> bytes:
        end = offset + max(1, length) - 1
        body = client.get_object(
            Bucket=self.container(conn), Key=key, Range=f"bytes={offset}-{end}"
        )
        data: bytes = body["Body"].read()
        return data

    def read(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        client.get_object(Bucket=self.container(conn), Key=key, Range="bytes=0-0")["Body"].read()

    def write_and_delete(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        client.put_object(Bucket=self.container(conn), Key=key, Body=b"entrepot write probe")
        client.delete_object(Bucket=self.container(conn), Key=key)

    def explain(self, exc: Exception, conn: ResolvedConnection, step: str) -> StepFailed:
        status = http_status(exc)
        response = getattr(exc, "response", {}) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        bucket = self.container(conn)
        if code in AUTH_CODES:
            return StepFailed(
                f"the server rejected the credentials ({code})",
                f"check {conn.where('awsaccesskeyid')} and {conn.where('awssecretaccesskey')}",
                "auth failed",
            )
        if status == 404 or code in ("NoSuchBucket", "404"):
            return StepFailed(
                f"bucket '{bucket}' does not exist",
                "check the depot's bucket field (and region)",
                "not found",
            )
        if status == 403:
            return StepFailed(
                f"access to bucket '{bucket}' is denied at the {step} step ({code or 'Forbidden'})",
                "the credentials' policy needs s3:ListBucket and s3:GetObject "
                "(and s3:PutObject, s3:DeleteObject for rw)",
                "no write" if step == "write" else ("no read" if step == "read" else "no access"),
            )
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StepFailed(text, "", "error")

    # --- renderings ---------------------------------------------------------------------------

    def duckdb(self, conn: ResolvedConnection) -> dict[str, Any]:
        cfg = _config(conn)
        secret: dict[str, Any] = {
            "KEY_ID": conn.optional(*ACCESS_KEY) or "",
            "SECRET": conn.optional(*SECRET_KEY) or "",
            "REGION": cfg.region or "us-east-1",
        }
        if cfg.endpoint:
            url = cfg.endpoint.split("://", 1)
            secret.update(ENDPOINT=url[-1], URL_STYLE="path", USE_SSL=url[0] == "https")
        return {"type": "s3", "secret": secret, "path": f"s3://{cfg.bucket}/{prefix_of(conn)}"}

    def spark(self, conn: ResolvedConnection) -> dict[str, str]:
        """S3A, configured per bucket (`fs.s3a.bucket.<bucket>.*`) so depots on other buckets
        keep their own credentials in one session. Without keys in the secret, nothing is set
        and S3A uses its default credential chain."""
        cfg = _config(conn)
        base = f"fs.s3a.bucket.{cfg.bucket}"
        out: dict[str, str] = {}
        access, secret = conn.optional(*ACCESS_KEY), conn.optional(*SECRET_KEY)
        if access and secret:
            out[f"{base}.access.key"] = access
            out[f"{base}.secret.key"] = secret
            token = conn.optional("awssessiontoken", "sessiontoken", "aws_session_token")
            if token:
                out[f"{base}.session.token"] = token
                out[f"{base}.aws.credentials.provider"] = (
                    "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
                )
        if cfg.region:
            out[f"{base}.endpoint.region"] = cfg.region
        if cfg.endpoint:
            out[f"{base}.endpoint"] = cfg.endpoint
            out[f"{base}.path.style.access"] = "true"
            if cfg.endpoint.startswith("http://"):
                out[f"{base}.connection.ssl.enabled"] = "false"
        out["path"] = f"s3a://{cfg.bucket}/{prefix_of(conn)}"
        return out

    def trino(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        """Trino's Hive connector on its S3 file system
        (trino.io/docs/current/object-storage/file-system-s3.html); the metastore from
        `trino_metastore`. Without keys in the secret, Trino uses the AWS default chain."""
        cfg = _config(conn)
        out = {
            "connector.name": "hive",
            **trino_metastore(conn, f"s3://{cfg.bucket}/"),
            "fs.s3.enabled": "true",
            "s3.region": cfg.region or "us-east-1",
        }
        if cfg.endpoint:
            out.update({"s3.endpoint": cfg.endpoint, "s3.path-style-access": "true"})
        if conn.optional(*ACCESS_KEY):
            out["s3.aws-access-key"] = f"${{ENV:{env_prefix}_ACCESS_KEY}}"
            out["s3.aws-secret-key"] = f"${{ENV:{env_prefix}_SECRET_KEY}}"
        return out

    def trino_env(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        access_key = conn.optional(*ACCESS_KEY)
        if not access_key:
            return {}
        return {
            f"{env_prefix}_ACCESS_KEY": access_key,
            f"{env_prefix}_SECRET_KEY": conn.require(*SECRET_KEY),
        }


CONNECTOR = S3Connector()
