"""Where an object-storage dataset lives: one answer for every engine (DuckDB, Spark).

A depot's rendering gives its folder URL (bucket or container, plus `relativePath`). The
catalog's object keys are relative to the bucket, and under a `relativePath` the collection is
that path's last folder (see connectors/objectstore.group_objects), so a dataset's URL comes from
the catalog when it was scanned, else from the collection and dataset names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from entrepot.connectors.base import ResolvedConnection


@dataclass(frozen=True)
class ObjectRoot:
    base: str  # the bucket/container URL (or a file depot's folder), ending in "/"
    root: str  # base + relativePath: the depot's own folder, ending in "/"

    @classmethod
    def of(cls, url: str, conn: ResolvedConnection) -> ObjectRoot:
        """From the depot's folder URL as a connector renders it."""
        root = url if url.endswith("/") else f"{url}/"
        relative = (getattr(conn.config, "relativePath", None) or "").strip("/")
        prefix = f"{relative}/" if relative else ""
        base = root[: len(root) - len(prefix)] if prefix and root.endswith(prefix) else root
        return cls(base, root)

    def url(self, collection: str, path: str) -> str:
        """`path` (a dataset, a file, a folder) inside `collection`."""
        if self.root != self.base and collection == self.root.rstrip("/").rsplit("/", 1)[-1]:
            return self.root + path
        return f"{self.base}{collection}/{path}"

    def key_url(self, key: str) -> str:
        """A catalog object key (relative to the bucket) as a URL."""
        return self.base + key.lstrip("/")
