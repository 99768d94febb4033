"""What every bucket-like source shares: the endpoint's network steps, then auth, open the
container or bucket, list under `relativePath`, read a byte, and (rw) write and delete a probe.

A subclass supplies the SDK calls; this class runs them as steps with their own words.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from entrepot.connectors import net
from entrepot.connectors.base import (
    CheckContext,
    Connector,
    ResolvedConnection,
    ScanFailed,
    StepFailed,
)
from entrepot.resources.depot_types import ObjectStoreBlock

PROBE_PREFIX = ".entrepot-write-probe-"
Objects = list[tuple[str, int]]  # (key, size) of the objects a listing returned


def prefix_of(conn: ResolvedConnection) -> str:
    """`relativePath` as an object-key prefix: no leading slash, one trailing slash."""
    assert isinstance(conn.config, ObjectStoreBlock)
    path = (conn.config.relativePath or "").strip("/")
    return f"{path}/" if path else ""


class ObjectStoreConnector(Connector):
    container_word: ClassVar[str] = "bucket"  # "container" for Azure

    # --- what a subclass provides ------------------------------------------------------------

    def endpoint(self, conn: ResolvedConnection) -> str:
        raise NotImplementedError

    def container(self, conn: ResolvedConnection) -> str:
        raise NotImplementedError

    def client(self, conn: ResolvedConnection, timeout: float) -> Any:
        raise NotImplementedError

    def authenticate(self, client: Any, conn: ResolvedConnection) -> str:
        """Prove the credentials; raise StepFailed(code="auth failed") if they are wrong."""
        raise NotImplementedError

    def open(self, client: Any, conn: ResolvedConnection) -> str:
        raise NotImplementedError

    def list_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Objects:
        raise NotImplementedError

    def read(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        raise NotImplementedError

    def write_and_delete(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        raise NotImplementedError

    def explain(self, exc: Exception, conn: ResolvedConnection, step: str) -> StepFailed:
        return StepFailed(f"{type(exc).__name__}: {exc}", "", "error")

    def iter_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Any:
        """Every object under the prefix: (key, size, modified ISO), all pages."""
        raise NotImplementedError

    def read_range(
        self, client: Any, conn: ResolvedConnection, key: str, offset: int, length: int
    ) -> bytes:
        raise NotImplementedError

    def scan(
        self,
        conn: ResolvedConnection,
        filters: Any,
        statement_timeout: float,
        since: str | None = None,
    ) -> Any:
        prefix = prefix_of(conn)
        try:
            client = self.client(conn, statement_timeout)
            objects = list(self.iter_objects(client, conn, prefix))
            return scan_objects(
                objects,
                prefix,
                filters,
                lambda key, offset, length: self.read_range(client, conn, key, offset, length),
            )
        except StepFailed as failure:
            raise ScanFailed(failure.reason, failure.hint) from None
        except Exception as exc:
            explained = self.explain(exc, conn, "list")
            raise ScanFailed(explained.reason, explained.hint) from None

    # --- the check ---------------------------------------------------------------------------

    def steps(self, conn: ResolvedConnection) -> list[tuple[str, str]]:
        url = urlsplit(self.endpoint(conn))
        port = url.port or (443 if url.scheme == "https" else 80)
        steps = [
            ("dns", f"resolve host {url.hostname}"),
            ("tcp", f"open TCP port {port}"),
            ("tls", "TLS handshake"),
            ("auth", "authenticate"),
            ("open", f"open {self.container_word} {self.container(conn)}"),
            ("list", f"list objects under '{prefix_of(conn) or '/'}'"),
            ("read", "probe read privilege"),
        ]
        if conn.acl == "rw":
            steps.append(("write", "probe write privilege (write and delete an object)"))
        return steps

    def check(self, conn: ResolvedConnection, ctx: CheckContext) -> None:
        url = urlsplit(self.endpoint(conn))
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        address = net.resolve(ctx, host, port)
        net.connect_tcp(ctx, host, address, port)
        if url.scheme == "https":
            ctx.run("tls", lambda: self._tls(ctx, host, address, port))
        else:
            ctx.skip("tls", f"{url.scheme}:// endpoint, no TLS")
        client = self.client(conn, ctx.remaining())
        not_found: list[StepFailed] = []

        def guarded(step: str, action: Any) -> Any:
            try:
                return action()
            except StepFailed:
                raise
            except Exception as exc:  # the SDK's own errors: explained per source
                raise self.explain(exc, conn, step) from None

        def authenticate() -> str:
            try:
                return str(guarded("auth", lambda: self.authenticate(client, conn)))
            except StepFailed as failure:
                if failure.code != "not found":
                    raise
                not_found.append(failure)  # authenticated; the container is the problem
                return "credentials accepted"

        def open_container() -> str:
            if not_found:
                raise not_found[0]
            return str(guarded("open", lambda: self.open(client, conn)))

        ctx.run("auth", authenticate)
        ctx.run("open", open_container)
        prefix = prefix_of(conn)
        objects: Objects = []

        def list_step() -> str:
            objects.extend(guarded("list", lambda: self.list_objects(client, conn, prefix)))
            if not objects:
                return "empty (no objects yet)"
            more = "+" if len(objects) >= 100 else ""
            return f"{len(objects)}{more} objects, e.g. {objects[0][0]}"

        ctx.run("list", list_step)

        def read_one() -> str:
            readable = [key for key, size in objects if size > 0]
            if not readable:
                return "nothing to read yet"
            guarded("read", lambda: self.read(client, conn, readable[0]))
            return f"read {readable[0]}"

        ctx.run("read", read_one)
        if conn.acl == "rw":
            key = f"{prefix}{PROBE_PREFIX}{uuid.uuid4().hex}"

            def write_probe() -> str:
                guarded("write", lambda: self.write_and_delete(client, conn, key))
                return f"wrote and deleted {key}"

            ctx.run("write", write_probe)

    def _tls(self, ctx: CheckContext, host: str, address: str, port: int) -> str:
        import socket
        import ssl

        context = net.tls_context(None, verify=True, check_hostname=True)
        try:
            with (
                socket.create_connection((address, port), timeout=ctx.remaining()) as sock,
                context.wrap_socket(sock, server_hostname=host) as tls,
            ):
                return f"{tls.version()}, verified"
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise net.explain_tls(exc, host) from None


def trino_metastore(conn: ResolvedConnection, root: str) -> dict[str, str]:
    """The metastore of an object-store depot's Trino catalog (Trino's Hive connector needs
    one): the depot's `metastoreUrl` when it sets one (a Hive Thrift metastore), else Trino's
    file metastore in `<root><relativePath>/.trino-metastore`, inside the depot's own folder
    (hidden from scans), which needs no service. `root` is the bucket's URI (`s3://b/`)."""
    assert isinstance(conn.config, ObjectStoreBlock)
    url = conn.config.metastoreUrl
    if url:
        if urlsplit(url).scheme != "thrift":
            raise NotImplementedError(
                "the depot's metastoreUrl is not a thrift:// URI, the only metastore address "
                "Trino's Hive connector takes"
            )
        return {"hive.metastore": "thrift", "hive.metastore.uri": url}
    return {
        "hive.metastore": "file",
        "hive.metastore.catalog.dir": f"{root}{prefix_of(conn)}.trino-metastore",
    }


def http_status(exc: Exception) -> int | None:
    for attribute in ("status_code", "code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None


# --- metadata scan ------------------------------------------------------------------------------
# Collections are folders: the depot's `relativePath` folder itself when it is set (as the
# tutorial's `large_dataset_20200511`), else each top-level folder of the bucket. Datasets are the
# entries directly inside a collection: a file, or a folder of files (hive partitions `k=v` in
# its sub-folders become partition columns). Schemas come from one file of each dataset: the
# parquet footer (two ranged reads), or the first 64 KiB of a csv or json file; never whole files.

DATA_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
HEAD_BYTES = 64 * 1024
ObjectInfo = tuple[str, int, str | None]  # key, size, modified (ISO)
RangeReader = Callable[[str, int, int], bytes]  # (key, offset, length) -> bytes


def _hidden(part: str) -> bool:
    return part.startswith((".", "_"))


def group_objects(
    objects: list[ObjectInfo], prefix: str
) -> dict[tuple[str, str], list[ObjectInfo]]:
    """(collection, dataset entry) -> its data files."""
    root = prefix.rstrip("/")
    groups: dict[tuple[str, str], list[ObjectInfo]] = {}
    for key, size, modified in objects:
        relative = key[len(prefix) :] if prefix and key.startswith(prefix) else key
        parts = [p for p in relative.split("/") if p]
        if not parts or any(_hidden(p) for p in parts):
            continue  # _SUCCESS, .crc, write probes
        if root:
            collection = root.rsplit("/", 1)[-1]
            entry_parts = parts
        else:
            if len(parts) < 2:
                continue  # a file at the top of a bucket belongs to no collection
            collection, entry_parts = parts[0], parts[1:]
        entry = entry_parts[0]
        if len(entry_parts) == 1 and not _format_of(entry):
            continue
        groups.setdefault((collection, entry), []).append((key, size, modified))
    return groups


def _format_of(key: str) -> str | None:
    lower = key.lower().removesuffix(".gz").removesuffix(".zst")
    for suffix, fmt in DATA_FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    return None


def infer_schema(fmt: str, key: str, size: int, read: RangeReader) -> list[dict[str, Any]]:
    import io

    import pyarrow as pa

    schema: pa.Schema
    if fmt == "parquet":
        import pyarrow.parquet as pq

        tail = read(key, max(0, size - 8), 8)
        footer = int.from_bytes(tail[:4], "little")
        body = read(key, max(0, size - 8 - footer), footer + 8)
        # The footer alone parses; a leading magic stands in for the file's first bytes.
        schema = pq.read_metadata(io.BytesIO(b"PAR1" + body)).schema.to_arrow_schema()
    else:
        head = read(key, 0, min(size, HEAD_BYTES))
        if size > HEAD_BYTES:
            head = head[: head.rfind(b"\n") + 1]  # whole lines only
        if fmt == "csv":
            import pyarrow.csv as pacsv

            options = pacsv.ParseOptions(delimiter="\t" if key.endswith(".tsv") else ",")
            schema = pacsv.read_csv(io.BytesIO(head), parse_options=options).schema
        else:
            import pyarrow.json as pajson

            schema = pajson.read_json(io.BytesIO(head)).schema
    return [
        {"name": field.name, "position": i + 1, "type": str(field.type), "nullable": field.nullable}
        for i, field in enumerate(schema)
    ]


def scan_objects(objects: list[ObjectInfo], prefix: str, filters: Any, read: RangeReader) -> Any:
    """Datasets from an object listing; each schema from one file's footer or header."""
    import re

    from entrepot.catalog.model import Dataset, ScanResult

    datasets = []
    warnings = []
    collections = set()
    for (collection, entry), files in sorted(group_objects(objects, prefix).items()):
        collections.add(collection)
        is_file = len(files) == 1 and files[0][0].rstrip("/").endswith(entry)
        name = re.sub(r"\.(parquet|pq|csv|tsv|json|jsonl|ndjson)(\.gz|\.zst)?$", "", entry)
        if not (filters.schemas.matches(collection) and filters.tables.matches(name)):
            continue
        data_files = [f for f in files if _format_of(f[0])]
        formats = sorted({_format_of(f[0]) or "" for f in data_files})
        details: dict[str, Any] = {
            "format": formats[0] if len(formats) == 1 else ",".join(formats),
            "files": len(data_files),
            "size": sum(f[1] for f in files),
            "modified": max((f[2] or "" for f in files), default=None) or None,
            "path": files[0][0] if is_file else f"{files[0][0].split(entry, 1)[0]}{entry}/",
            "columns": [],
        }
        partition_columns: list[str] = []
        if not is_file:
            for key, _, _ in data_files:
                for part in key.split(f"/{entry}/", 1)[-1].split("/")[:-1]:
                    column = part.split("=", 1)[0] if "=" in part else None
                    if column and column not in partition_columns:
                        partition_columns.append(column)
            details["partition_columns"] = partition_columns
        if data_files and len(formats) == 1:
            sample = data_files[0]
            try:
                columns = infer_schema(formats[0], sample[0], sample[1], read)
                for column in partition_columns:
                    columns.append(
                        {
                            "name": column,
                            "position": len(columns) + 1,
                            "type": "string",
                            "nullable": True,
                            "partition": True,
                        }
                    )
                details["columns"] = columns
            except Exception as exc:  # a damaged file: catalogued, schema unknown, reported
                warnings.append(f"cannot read the schema of {sample[0]}: {type(exc).__name__}")
        kind = "file" if is_file else "folder"
        datasets.append(Dataset(collection, name, kind, None, details))
    return ScanResult(datasets, sorted(collections), warnings=warnings, queries=0)
