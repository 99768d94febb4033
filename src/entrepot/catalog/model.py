"""Datasets, addresses and scan filters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from entrepot.errors import EntrepotError

ADDRESS = re.compile(
    r"dataos://(?P<depot>[a-z][a-z0-9]*)(?::(?P<collection>[^/]*)(?:/(?P<dataset>.*))?)?"
)


@dataclass(frozen=True)
class Address:
    depot: str
    collection: str | None = None
    dataset: str | None = None

    def __str__(self) -> str:
        text = f"dataos://{self.depot}"
        if self.collection is not None:
            text += f":{self.collection}"
            if self.dataset is not None:
                text += f"/{self.dataset}"
        return text

    @classmethod
    def parse(cls, text: str) -> Address:
        """`dataos://depot[:collection[/dataset]]`, or a bare depot name."""
        raw = text.strip()
        if not raw.startswith("dataos://"):
            raw = f"dataos://{raw}"
        match = ADDRESS.fullmatch(raw)
        if match is None:
            raise EntrepotError(
                f"invalid address '{text}'",
                hint="addresses read dataos://depot:collection/dataset (e.g. "
                "dataos://postgres:public/orders)",
            )
        collection = match["collection"] or None
        return cls(match["depot"], collection, (match["dataset"] or None) if collection else None)


@dataclass
class Dataset:
    """One table, view, file or hive-partitioned folder, and everything known about it."""

    collection: str
    name: str
    kind: str  # table, view, materialized_view, partitioned_table, foreign_table, file, folder
    description: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def search_text(self) -> str:
        """Names and comments, lower-case, space-separated (each column as "name comment")."""
        parts = [self.collection, self.name, self.description or ""]
        columns = self.details.get("columns") or ()
        for column in columns:
            parts.append(column.get("name", ""))
            parts.append(column.get("comment") or "")
        if not columns:
            parts.append("")
        return " ".join(parts).lower()


@dataclass
class Pattern:
    """includes/excludes regexes, matched case-insensitively anywhere in the name."""

    includes: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)

    def matches(self, name: str) -> bool:
        if self.includes and not any(re.search(p, name, re.IGNORECASE) for p in self.includes):
            return False
        return not any(re.search(p, name, re.IGNORECASE) for p in self.excludes)

    @classmethod
    def of(cls, raw: Any) -> Pattern:
        if raw is None:
            return cls()
        return cls(list(raw.includes), list(raw.excludes))


@dataclass
class ScanFilters:
    databases: Pattern = field(default_factory=Pattern)
    schemas: Pattern = field(default_factory=Pattern)
    tables: Pattern = field(default_factory=Pattern)
    include_views: bool = False

    def scoped(self, collection: str, name: str) -> bool:
        """Is this dataset inside what the filters select? (for markDeletedTablesfromFilterOnly)"""
        return self.schemas.matches(collection) and self.tables.matches(name)


@dataclass
class ScanResult:
    datasets: list[Dataset]
    collections: list[str]  # scanned completely
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (collection, why)
    warnings: list[str] = field(default_factory=list)
    queries: int = 0  # round trips to the source
    # A source that can tell whether its catalog moved (PostgreSQL): the signature this scan
    # saw, and `unchanged` when it equals the last full scan's (then `datasets` is empty).
    signature: str | None = None
    unchanged: bool = False
    # With `unchanged`: each dataset's statistics ("rows", "size"), which move without the
    # signature (ANALYZE updates them in place), by (collection, name).
    estimates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
