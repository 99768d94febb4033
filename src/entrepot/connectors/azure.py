"""Azure Blob Storage and ADLS Gen2 (`abfss`, `wasbs`), through azure-storage-blob.

Secret keys: `azurestorageaccountkey` (and `azurestorageaccountname`, else the block's
`account`). The endpoint is `endpoint` when the depot sets one (private endpoints, sovereign
clouds, the Azurite emulator), else `https://<account>.blob.<endpointSuffix>`. ABFSS depots are
reached through the blob endpoint too: it serves the same data, and emulators have no DFS API.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from entrepot.connectors.base import ResolvedConnection, StepFailed
from entrepot.connectors.capabilities import Capabilities, DuckDBSupport
from entrepot.connectors.objectstore import (
    Objects,
    ObjectStoreConnector,
    http_status,
    prefix_of,
    trino_metastore,
)
from entrepot.resources.depot_types import AzureBlock

KEY = ("azurestorageaccountkey", "accountkey", "account_key")


def _config(conn: ResolvedConnection) -> AzureBlock:
    assert isinstance(conn.config, AzureBlock)
    return conn.config


def account_name(conn: ResolvedConnection) -> str:
    return conn.optional("azurestorageaccountname") or _config(conn).account


def blob_endpoint(conn: ResolvedConnection) -> str:
    cfg = _config(conn)
    if cfg.endpoint:
        return cfg.endpoint.rstrip("/")
    suffix = cfg.endpointSuffix or conn.optional("azureendpointsuffix") or "core.windows.net"
    return f"https://{cfg.account}.blob.{suffix}"


class AzureConnector(ObjectStoreConnector):
    source_types: ClassVar[tuple[str, ...]] = ("abfss", "wasbs")
    container_word = "container"
    label = "Azure Blob Storage"
    # Trino: per depot, an `endpoint` other than https://<account>.blob|dfs.<suffix> (Azurite,
    # private endpoints) is still skipped, with its reason, by the rendering itself.
    capabilities = Capabilities(
        storage="objects",
        check=True,
        scan=True,
        duckdb=DuckDBSupport(extension="azure"),
        spark=True,
        trino=True,
    )

    def endpoint(self, conn: ResolvedConnection) -> str:
        return blob_endpoint(conn)

    def container(self, conn: ResolvedConnection) -> str:
        return _config(conn).container

    def client(self, conn: ResolvedConnection, timeout: float) -> Any:
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError:
            raise StepFailed(
                "the Azure connector needs azure-storage-blob",
                "pip install 'entrepot[azure]'",
                "not installed",
            ) from None
        credential = {"account_name": account_name(conn), "account_key": conn.require(*KEY)}
        return BlobServiceClient(
            account_url=self.endpoint(conn),
            credential=credential,
            retry_total=0,  # a check reports the first failure; it does not retry for minutes
            connection_timeout=max(1.0, timeout),
            read_timeout=max(1.0, timeout),
        )

    def authenticate(self, client: Any, conn: ResolvedConnection) -> str:
        # Container properties need a valid signature: a wrong key fails here with 403,
        # a right key on a missing container with 404 (reported by the open step).
        client.get_container_client(self.container(conn)).get_container_properties()
        return f"as account {account_name(conn)}"

    def open(self, client: Any, conn: ResolvedConnection) -> str:
        return f"container {self.container(conn)} exists"

    def list_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Objects:
        container = client.get_container_client(self.container(conn))
        pages = container.list_blobs(name_starts_with=prefix or None, results_per_page=100)
        first: Any = next(iter(pages.by_page()), [])
        return [(blob.name, int(blob.size or 0)) for blob in first]

    def iter_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Any:
        container = client.get_container_client(self.container(conn))
        for blob in container.list_blobs(name_starts_with=prefix or None):
            modified = blob.last_modified.isoformat() if blob.last_modified else None
            yield blob.name, int(blob.size or 0), modified

    def read_range(
        self, client: Any, conn: ResolvedConnection, key: str, offset: int, length: int
    ) -> bytes:
        container = client.get_container_client(self.container(conn))
        data: bytes = container.download_blob(key, offset=offset, length=length).readall()
        return data

    def read(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        container = client.get_container_client(self.container(conn))
        container.download_blob(key, offset=0, length=1).readall()

    def write_and_delete(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        container = client.get_container_client(self.container(conn))
        container.upload_blob(key, b"entrepot write probe", overwrite=True)
        container.delete_blob(key)

    def explain(self, exc: Exception, conn: ResolvedConnection, step: str) -> StepFailed:
        status = http_status(exc)
        code = str(getattr(exc, "error_code", "") or "")
        account = account_name(conn)
        # With an account key, any 403 on the first signed request means the key is wrong
        # (Azure says AuthenticationFailed; Azurite says AuthorizationFailure).
        if status == 403 and (step == "auth" or "AuthenticationFailed" in (code or str(exc))):
            return StepFailed(
                f"the storage account rejected the key for account '{account}'",
                f"check {conn.where('azurestorageaccountkey')} (and the account name)",
                "auth failed",
            )
        if status == 403:
            return StepFailed(
                f"account '{account}' may not {step} in container '{self.container(conn)}' "
                f"({code or 'AuthorizationFailure'})",
                "grant the identity Storage Blob Data Reader (or Contributor for rw)",
                "no read" if step in ("list", "read") else ("no write" if step == "write" else
                                                             "no access"),
            )  # fmt: skip
        if status == 404 and step == "auth":
            return StepFailed(
                f"container '{self.container(conn)}' does not exist in account '{account}'",
                "check the depot's container field",
                "not found",
            )
        if status == 404:
            return StepFailed(f"not found: {code or exc}", "", "not found")
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StepFailed(first_line, "", "error")

    # --- renderings ---------------------------------------------------------------------------

    def duckdb(self, conn: ResolvedConnection) -> dict[str, Any]:
        endpoint = blob_endpoint(conn)
        key = conn.require(*KEY)
        name = account_name(conn)
        return {
            "type": "azure",
            "secret": {
                "CONNECTION_STRING": (
                    f"DefaultEndpointsProtocol={endpoint.split(':', 1)[0]};AccountName={name};"
                    f"AccountKey={key};BlobEndpoint={endpoint};"
                ),
            },
            "path": f"az://{self.container(conn)}/{prefix_of(conn)}",
        }

    def spark(self, conn: ResolvedConnection) -> dict[str, str]:
        """hadoop-azure: the account key under the account's own configuration key (so depots
        of several accounts share one session), and the container's URI (abfss on the `dfs`
        endpoint, wasbs on `blob`)."""
        from entrepot.errors import EntrepotError

        cfg = _config(conn)
        host = "dfs" if conn.source_type == "abfss" else "blob"
        suffix = endpoint_suffix(conn)  # hadoop-azure takes a host name, not an endpoint URL
        if suffix is None:
            raise EntrepotError(
                f"depot '{conn.depot}': hadoop-azure cannot use the endpoint {cfg.endpoint}",
                hint="Spark reaches Azure accounts as <account>.dfs|blob.<suffix>; set "
                "endpointSuffix instead of endpoint (emulators such as Azurite: not supported)",
            )
        return {
            f"fs.azure.account.key.{cfg.account}.{host}.{suffix}": conn.require(*KEY),
            "path": f"{conn.source_type}://{cfg.container}@{cfg.account}.{host}.{suffix}/"
            f"{prefix_of(conn)}",
        }

    def trino(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        """Trino's Hive connector on its Azure file system
        (trino.io/docs/current/object-storage/file-system-azure.html), with the account key.
        Trino reaches `https://<account>.dfs.<suffix>` only (`azure.endpoint` is the suffix),
        so a depot whose `endpoint` is another URL (Azurite, a private endpoint) cannot be
        exported. ABFSS and WASBS depots alike use an `abfss://` location."""
        cfg = _config(conn)
        suffix = endpoint_suffix(conn)
        if suffix is None:
            raise NotImplementedError(
                f"Trino's Azure file system reaches only https://{account_name(conn)}.dfs."
                f"<suffix>; the depot's endpoint {cfg.endpoint} (an emulator such as Azurite, "
                "or a private endpoint) has no Trino equivalent"
            )
        root = f"abfss://{cfg.container}@{account_name(conn)}.dfs.{suffix}/"
        out = {
            "connector.name": "hive",
            **trino_metastore(conn, root),
            "fs.azure.enabled": "true",
            "azure.auth-type": "ACCESS_KEY",
            "azure.access-key": f"${{ENV:{env_prefix}_ACCOUNT_KEY}}",
        }
        if suffix != "core.windows.net":
            out["azure.endpoint"] = suffix
        return out

    def trino_env(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        return {f"{env_prefix}_ACCOUNT_KEY": conn.require(*KEY)}


def endpoint_suffix(conn: ResolvedConnection) -> str | None:
    """`core.windows.net` (or a sovereign cloud's suffix) when the account is reached as
    `https://<account>.blob|dfs.<suffix>`, as Spark's and Trino's Azure file systems require;
    None for any other endpoint (an emulator such as Azurite, a private endpoint)."""
    cfg = _config(conn)
    if not cfg.endpoint:
        return cfg.endpointSuffix or conn.optional("azureendpointsuffix") or "core.windows.net"
    parts = urlsplit(cfg.endpoint)
    host = (parts.hostname or "").lower()
    account = account_name(conn).lower()
    for service in ("blob", "dfs"):
        head = f"{account}.{service}."
        if parts.scheme == "https" and host.startswith(head) and parts.path.strip("/") == "":
            return host[len(head) :]
    return None


CONNECTOR = AzureConnector()
