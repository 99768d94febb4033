"""Merge one scan into the catalog, in one transaction: added, altered, restored and (safely)
deleted datasets, each change recorded in the history.

Deletion is where catalogs lose live entries, so it is guarded three ways: only after a scan
that succeeded (a failed scan never reaches this module), only inside the collections that scan
covered completely (a schema skipped for lack of privilege keeps its datasets), and never more
than `threshold` of the source's datasets at once unless forced.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from entrepot.catalog.model import Dataset, ScanFilters, ScanResult
from entrepot.store.tables import catalog_change, catalog_dataset, catalog_source

DEFAULT_THRESHOLD = 0.5  # at most half of a source's datasets disappear in one scan
MIN_GUARDED = 10  # below this many datasets, the threshold does not apply


@dataclass
class MergeOptions:
    mark_deleted: bool = False
    from_filter_only: bool = False
    filters: ScanFilters = field(default_factory=ScanFilters)
    threshold: float = DEFAULT_THRESHOLD
    force: bool = False


@dataclass
class MergeResult:
    added: int = 0
    altered: int = 0
    restored: int = 0
    unchanged: int = 0
    deleted: int = 0
    held_back: int = 0  # deletions the threshold refused
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "added": self.added,
            "altered": self.altered,
            "restored": self.restored,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "heldBack": self.held_back,
        }


STATS = ("rows", "size", "modified")  # change without a change of structure
STRUCTURE_CHARS = 40


def _body(dataset: Dataset) -> tuple[str, str, str]:
    """(structure JSON, statistics JSON, fingerprint): 40 hex digits of structure, 16 of stats.

    Estimated rows and sizes move with every ANALYZE: they are refreshed silently, while a
    change of structure (a column, a key, a comment) is a change in the history. One
    serialisation each: connectors build their dicts in a fixed order, so no key sorting.
    """
    structure = {k: v for k, v in dataset.details.items() if k not in STATS}
    text = json.dumps(structure, default=str)
    stats = json.dumps({k: dataset.details.get(k) for k in STATS}, default=str)

    def sha1(value: str) -> str:
        return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()

    head = sha1(f"{dataset.kind}\x1f{dataset.description or ''}\x1f{text}")
    return text, stats, head + sha1(stats)[:16]


def merge_unchanged(
    conn: Connection, *, source: str, depot: str, source_type: str, run_id: int | None, now: str
) -> MergeResult:
    """The source's catalog signature has not moved since the last full scan: nothing to do."""
    from sqlalchemy import func

    active = conn.execute(
        select(func.count())
        .select_from(catalog_dataset)
        .where(catalog_dataset.c.source == source)
        .where(catalog_dataset.c.deleted.is_(False))
    ).scalar_one()
    _touch_source(conn, source, depot, source_type, run_id, now, keep_signature=True)
    return MergeResult(unchanged=int(active))


def stored_signature(conn: Connection, source: str) -> str | None:
    value = conn.execute(
        select(catalog_source.c.signature).where(catalog_source.c.name == source)
    ).scalar()
    return str(value) if value else None


def merge_scan(
    conn: Connection,
    *,
    source: str,
    depot: str,
    source_type: str,
    scan: ScanResult,
    options: MergeOptions,
    run_id: int | None,
    now: str,
) -> MergeResult:
    result = MergeResult()
    existing = {
        (row.collection, row.name): row
        for row in conn.execute(
            select(
                catalog_dataset.c.id,
                catalog_dataset.c.collection,
                catalog_dataset.c.name,
                catalog_dataset.c.fingerprint,
                catalog_dataset.c.deleted,
            ).where(catalog_dataset.c.source == source)
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    altered_ids: dict[int, Dataset] = {}
    seen: set[tuple[str, str]] = set()
    for dataset in scan.datasets:
        key = (dataset.collection, dataset.name)
        seen.add(key)
        details, stats, digest = _body(dataset)
        row = existing.get(key)
        values = {
            "kind": dataset.kind,
            "description": dataset.description,
            "search_text": dataset.search_text(),
            "details": details,
            "stats": stats,
            "fingerprint": digest,
            "deleted": False,
            "deleted_at": None,
            "updated_at": now,
        }
        if row is None:
            inserts.append(
                {
                    **values,
                    "source": source,
                    "depot": depot,
                    "collection": dataset.collection,
                    "name": dataset.name,
                    "created_at": now,
                }
            )
            changes.append(_change(source, key, now, run_id, "added", {"kind": dataset.kind}))
            result.added += 1
        elif row.deleted:
            updates.append({"_id": row.id, **values})
            changes.append(_change(source, key, now, run_id, "restored", {}))
            result.restored += 1
        elif row.fingerprint[:STRUCTURE_CHARS] != digest[:STRUCTURE_CHARS]:
            updates.append({"_id": row.id, **values})
            altered_ids[row.id] = dataset
            result.altered += 1
        else:
            if row.fingerprint != digest:  # statistics only: refresh, no history
                updates.append({"_id": row.id, **values})
            result.unchanged += 1
    if altered_ids:
        changes.extend(_alterations(conn, source, altered_ids, now, run_id))
    if updates:
        conn.execute(
            update(catalog_dataset)
            .where(catalog_dataset.c.id == bindparam("_id"))
            .values({k: bindparam(k) for k in updates[0] if k != "_id"}),
            updates,
        )
    if inserts:
        conn.execute(insert(catalog_dataset), inserts)

    active = [row for key, row in existing.items() if not row.deleted]
    missing = [
        (key, row)
        for key, row in existing.items()
        if key not in seen and not row.deleted and _in_scope(key, scan, options)
    ]
    if options.mark_deleted and missing:
        share = len(missing) / max(1, len(active))
        if not options.force and len(active) >= MIN_GUARDED and share > options.threshold:
            result.held_back = len(missing)
            result.warnings.append(
                f"not marking {len(missing)} of {len(active)} datasets deleted "
                f"({share:.0%} > {options.threshold:.0%} at once): if they are really gone, "
                "re-run with --force-deletes"
            )
        else:
            conn.execute(
                update(catalog_dataset)
                .where(catalog_dataset.c.id == bindparam("_id"))
                .values(deleted=True, deleted_at=now, updated_at=now),
                [{"_id": row.id} for _, row in missing],
            )
            changes.extend(_change(source, key, now, run_id, "removed", {}) for key, _ in missing)
            result.deleted = len(missing)
    if changes:
        conn.execute(insert(catalog_change), changes)
    # Held-back deletions must be looked at again next time: no shortcut past them.
    signature = None if result.held_back else scan.signature
    _touch_source(conn, source, depot, source_type, run_id, now, signature=signature)
    return result


def _in_scope(key: tuple[str, str], scan: ScanResult, options: MergeOptions) -> bool:
    """May a dataset the scan did not see be marked deleted?"""
    collection, name = key
    if collection in {c for c, _ in scan.skipped}:
        return False  # not scanned (privileges): absence proves nothing
    if options.from_filter_only:
        return collection in scan.collections and options.filters.scoped(collection, name)
    return collection in scan.collections or not options.filters.schemas.matches(collection)


def _change(
    source: str, key: tuple[str, str], at: str, run_id: int | None, change: str, detail: Any
) -> dict[str, Any]:
    return {
        "source": source,
        "collection": key[0],
        "name": key[1],
        "at": at,
        "run_id": run_id,
        "change": change,
        "detail": json.dumps(detail, sort_keys=True),
    }


def _alterations(
    conn: Connection,
    source: str,
    altered: dict[int, Dataset],
    now: str,
    run_id: int | None,
) -> list[dict[str, Any]]:
    """Column-level history for datasets whose fingerprint changed: one bulk read."""
    old: dict[int, dict[str, Any]] = {}
    ids = sorted(altered)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in conn.execute(
            select(catalog_dataset.c.id, catalog_dataset.c.details).where(
                catalog_dataset.c.id.in_(chunk)
            )
        ):
            old[row.id] = json.loads(row.details)
    changes = []
    for dataset_id, dataset in altered.items():
        detail = diff_details(old.get(dataset_id, {}), dataset.details)
        key = (dataset.collection, dataset.name)
        changes.append(_change(source, key, now, run_id, "altered", detail))
    return changes


def diff_details(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed: columns added, removed and altered (with before/after), other sections."""
    old_cols = {c["name"]: c for c in old.get("columns", [])}
    new_cols = {c["name"]: c for c in new.get("columns", [])}
    altered = {}
    for name in sorted(set(old_cols) & set(new_cols)):
        before, after = old_cols[name], new_cols[name]
        fields = {
            k: {"before": before.get(k), "after": after.get(k)}
            for k in sorted(set(before) | set(after))
            if k != "position" and before.get(k) != after.get(k)
        }
        if fields:
            altered[name] = fields
    sections = sorted(
        k
        for k in set(old) | set(new)
        if k != "columns" and k not in STATS and old.get(k) != new.get(k)
    )
    return {
        "columns_added": sorted(set(new_cols) - set(old_cols)),
        "columns_removed": sorted(set(old_cols) - set(new_cols)),
        "columns_altered": altered,
        "changed": sections,
    }


def _touch_source(
    conn: Connection,
    source: str,
    depot: str,
    source_type: str,
    run_id: int | None,
    now: str,
    *,
    signature: str | None = None,
    keep_signature: bool = False,
) -> None:
    values: dict[str, Any] = {
        "depot": depot,
        "source_type": source_type,
        "last_scan_at": now,
        "last_run_id": run_id,
    }
    if not keep_signature:
        values["signature"] = signature
    updated = conn.execute(
        update(catalog_source).where(catalog_source.c.name == source).values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(insert(catalog_source).values(name=source, **values))
