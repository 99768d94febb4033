"""Google Cloud Storage (`gcs`), through google-cloud-storage.

Secret: a service-account key file (`gcskey_json`, as DataOS names it) or `projectid` alone with
anonymous access (public buckets, emulators). `endpoint` points at an emulator or a private
endpoint; the default is Google's.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from entrepot.connectors.base import ResolvedConnection, StepFailed
from entrepot.connectors.capabilities import Capabilities
from entrepot.connectors.objectstore import (
    Objects,
    ObjectStoreConnector,
    http_status,
    prefix_of,
    trino_metastore,
)
from entrepot.resources.depot_types import GcsBlock

KEY_FILES = ("gcskey_json", "json_keyfile", "service_account_json")
DEFAULT_ENDPOINT = "https://storage.googleapis.com"


def _config(conn: ResolvedConnection) -> GcsBlock:
    assert isinstance(conn.config, GcsBlock)
    return conn.config


def service_account(conn: ResolvedConnection) -> dict[str, Any] | None:
    raw = conn.file(*KEY_FILES)
    if raw is None:
        return None
    try:
        info: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise StepFailed(
            "the service-account key is not valid JSON",
            f"check {conn.where('gcskey_json')}",
            "auth failed",
        ) from None
    return info


class GcsConnector(ObjectStoreConnector):
    source_types: ClassVar[tuple[str, ...]] = ("gcs",)
    label = "Google Cloud Storage"
    capabilities = Capabilities(
        storage="objects",
        check=True,
        scan=True,
        duckdb=None,
        spark=True,
        trino=True,
        reasons={
            "duckdb": "DuckDB reads GCS with HMAC keys, not the service-account JSON key a "
            "gcs depot holds",
        },
    )

    def endpoint(self, conn: ResolvedConnection) -> str:
        return (_config(conn).endpoint or DEFAULT_ENDPOINT).rstrip("/")

    def container(self, conn: ResolvedConnection) -> str:
        return _config(conn).bucket

    def client(self, conn: ResolvedConnection, timeout: float) -> Any:
        try:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage
        except ImportError:
            raise StepFailed(
                "the GCS connector needs google-cloud-storage",
                "pip install 'entrepot[gcs]'",
                "not installed",
            ) from None
        info = service_account(conn)
        project = conn.optional("projectid", "project") or (info or {}).get("project_id")
        if info is not None:
            from google.oauth2 import service_account as sa

            credentials: Any = sa.Credentials.from_service_account_info(info)
        else:
            credentials = AnonymousCredentials()
        client = storage.Client(
            project=project or "anonymous",
            credentials=credentials,
            client_options={"api_endpoint": self.endpoint(conn)},
        )
        client._entrepot_timeout = max(1.0, timeout)  # passed to every call below
        return client

    def authenticate(self, client: Any, conn: ResolvedConnection) -> str:
        client.get_bucket(self.container(conn), timeout=client._entrepot_timeout, retry=None)
        info = service_account(conn)
        return f"as {info['client_email']}" if info and "client_email" in info else "anonymous"

    def open(self, client: Any, conn: ResolvedConnection) -> str:
        return f"bucket {self.container(conn)} exists"

    def list_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Objects:
        blobs = client.list_blobs(
            self.container(conn),
            prefix=prefix or None,
            max_results=100,
            timeout=client._entrepot_timeout,
            retry=None,
        )
        return [(blob.name, int(blob.size or 0)) for blob in blobs]

    def iter_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Any:
        for blob in client.list_blobs(
            self.container(conn), prefix=prefix or None, timeout=client._entrepot_timeout
        ):
            modified = blob.updated.isoformat() if blob.updated else None
            yield blob.name, int(blob.size or 0), modified

    def read_range(
        self, client: Any, conn: ResolvedConnection, key: str, offset: int, length: int
    ) -> bytes:
        blob = client.bucket(self.container(conn)).blob(key)
        end = offset + max(1, length) - 1
        data: bytes = blob.download_as_bytes(
            start=offset, end=end, timeout=client._entrepot_timeout, retry=None
        )
        return data

    def read(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        blob = client.bucket(self.container(conn)).blob(key)
        blob.download_as_bytes(start=0, end=0, timeout=client._entrepot_timeout, retry=None)

    def write_and_delete(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        blob = client.bucket(self.container(conn)).blob(key)
        blob.upload_from_string(b"entrepot write probe", timeout=client._entrepot_timeout)
        blob.delete(timeout=client._entrepot_timeout, retry=None)

    def explain(self, exc: Exception, conn: ResolvedConnection, step: str) -> StepFailed:
        status = http_status(exc)
        bucket = self.container(conn)
        if status == 401:
            return StepFailed(
                "the service-account credentials were rejected",
                f"check {conn.where('gcskey_json')}",
                "auth failed",
            )
        if status == 404:
            return StepFailed(
                f"bucket '{bucket}' does not exist",
                "check the depot's bucket field",
                "not found",
            )
        if status == 403:
            return StepFailed(
                f"access to bucket '{bucket}' is denied at the {step} step",
                "grant the service account Storage Object Viewer (Object Admin for rw)",
                "no write" if step == "write" else ("no read" if step == "read" else "no access"),
            )
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StepFailed(text, "", "error")

    def trino(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        """Trino's Hive connector on its GCS file system
        (trino.io/docs/current/object-storage/file-system-gcs.html): the service account's
        key as JSON from the environment, else Trino's default credentials; `endpoint` as
        `gcs.endpoint` (emulators)."""
        cfg = _config(conn)
        out = {
            "connector.name": "hive",
            **trino_metastore(conn, f"gs://{cfg.bucket}/"),
            "fs.gcs.enabled": "true",
        }
        project = conn.optional("projectid", "project")
        if project:
            out["gcs.project-id"] = project
        if cfg.endpoint and cfg.endpoint.rstrip("/") != DEFAULT_ENDPOINT:
            out["gcs.endpoint"] = cfg.endpoint
        if conn.file(*KEY_FILES) is not None:
            out["gcs.json-key"] = f"${{ENV:{env_prefix}_JSON_KEY}}"
        return out

    def trino_env(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        info = service_account(conn)
        if info is None:
            return {}
        return {f"{env_prefix}_JSON_KEY": json.dumps(info, separators=(",", ":"))}

    def spark(self, conn: ResolvedConnection) -> dict[str, str]:
        """The GCS connector for Hadoop: the service account's key inline (email, key id,
        private key; no key file to ship to executors), else anonymous access; `endpoint`
        as the storage root URL (emulators)."""
        cfg = _config(conn)
        info = service_account(conn)
        out: dict[str, str] = {}
        project = conn.optional("projectid", "project") or (info or {}).get("project_id")
        if project:
            out["fs.gs.project.id"] = str(project)
        if info is not None:
            out.update(
                {
                    "fs.gs.auth.type": "SERVICE_ACCOUNT_JSON_KEYFILE",
                    "google.cloud.auth.service.account.enable": "true",
                    "fs.gs.auth.service.account.email": str(info.get("client_email", "")),
                    "fs.gs.auth.service.account.private.key.id": str(
                        info.get("private_key_id", "")
                    ),
                    "fs.gs.auth.service.account.private.key": str(info.get("private_key", "")),
                }
            )
        else:
            out["fs.gs.auth.type"] = "UNAUTHENTICATED"
        if cfg.endpoint:
            out["fs.gs.storage.root.url"] = cfg.endpoint.rstrip("/") + "/"
        out["path"] = f"gs://{cfg.bucket}/{prefix_of(conn)}"
        return out


CONNECTOR = GcsConnector()
