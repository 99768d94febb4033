"""A local folder of parquet, csv and json files (`file`), for demos and tests. No secret."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, ClassVar

from entrepot.connectors.base import CheckContext, Connector, ResolvedConnection, StepFailed
from entrepot.connectors.capabilities import Capabilities, DuckDBSupport
from entrepot.resources.depot_types import FileBlock

DATA_SUFFIXES = (".parquet", ".csv", ".json", ".jsonl", ".ndjson", ".tsv", ".gz", ".zst")


def root(conn: ResolvedConnection) -> Path:
    cfg = conn.config
    assert isinstance(cfg, FileBlock)
    base = Path(cfg.path).expanduser()
    return base / (cfg.relativePath or "").strip("/") if cfg.relativePath else base


class FileConnector(Connector):
    source_types: ClassVar[tuple[str, ...]] = ("file",)
    label = "local files"
    capabilities = Capabilities(
        storage="objects",
        check=True,
        scan=True,
        duckdb=DuckDBSupport(extension=None),  # DuckDB reads local files itself
        spark=True,
        trino=False,
        reasons={
            "trino": "Trino reads a local folder only from a mount shared by all its nodes, "
            "which entrepot does not render yet",
        },
    )

    def steps(self, conn: ResolvedConnection) -> list[tuple[str, str]]:
        steps = [
            ("open", f"open folder {root(conn)}"),
            ("list", "list data files"),
            ("read", "probe read privilege"),
        ]
        if conn.acl == "rw":
            steps.append(("write", "probe write privilege (write and delete a file)"))
        return steps

    def check(self, conn: ResolvedConnection, ctx: CheckContext) -> None:
        folder = root(conn)

        def open_folder() -> str:
            if not folder.exists():
                raise StepFailed(
                    f"folder {folder} does not exist", "check the depot's path", "not found"
                )
            if not folder.is_dir():
                raise StepFailed(f"{folder} is not a folder", "point path at a folder", "not found")
            if not os.access(folder, os.R_OK | os.X_OK):
                raise StepFailed(f"folder {folder} is not readable", "", "no read")
            return str(folder)

        files: list[Path] = []

        def list_files() -> str:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.suffix.lower() in DATA_SUFFIXES:
                    files.append(path)
                    if len(files) >= 1000:
                        break
            return f"{len(files)} data files" if files else "no data files yet"

        def read_one() -> str:
            if not files:
                return "nothing to read yet"
            try:
                with files[0].open("rb") as fh:
                    fh.read(1)
            except PermissionError:
                raise StepFailed(f"{files[0]} is not readable", "", "no read") from None
            return f"read {files[0].relative_to(folder)}"

        ctx.run("open", open_folder)
        ctx.run("list", list_files)
        ctx.run("read", read_one)
        if conn.acl == "rw":

            def write_probe() -> str:
                probe = folder / f".entrepot-write-probe-{uuid.uuid4().hex}"
                try:
                    probe.write_bytes(b"entrepot write probe")
                    probe.unlink()
                except OSError as exc:
                    raise StepFailed(
                        f"cannot write in {folder}: {exc.strerror}", "", "no write"
                    ) from None
                return "wrote and deleted a probe file"

            ctx.run("write", write_probe)

    def scan(
        self,
        conn: ResolvedConnection,
        filters: Any,
        statement_timeout: float,
        since: str | None = None,
    ) -> Any:
        """The same collections and datasets as object stores, from the local folder."""
        from datetime import UTC, datetime

        from entrepot.connectors.base import ScanFailed
        from entrepot.connectors.objectstore import scan_objects

        cfg = conn.config
        assert isinstance(cfg, FileBlock)
        base = Path(cfg.path).expanduser()
        folder = root(conn)
        if not folder.is_dir():
            raise ScanFailed(f"folder {folder} does not exist", "check the depot's path")
        objects: list[tuple[str, int, str | None]] = []
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()
                objects.append((str(path.relative_to(base)), stat.st_size, modified))
        prefix = f"{(cfg.relativePath or '').strip('/')}/" if cfg.relativePath else ""

        def read(key: str, offset: int, length: int) -> bytes:
            with (base / key).open("rb") as fh:
                fh.seek(offset)
                return fh.read(length)

        return scan_objects(objects, prefix.lstrip("/") if prefix != "/" else "", filters, read)

    def duckdb(self, conn: ResolvedConnection) -> dict[str, Any]:
        return {"type": "file", "secret": {}, "path": str(root(conn))}

    def spark(self, conn: ResolvedConnection) -> dict[str, str]:
        """The folder as an absolute file: URI with a trailing slash (Spark resolves relative
        paths against its own working directory, not the caller's)."""
        return {"path": f"file://{root(conn).resolve()}/"}


CONNECTOR = FileConnector()
