"""Reading the catalog: sources, collections, datasets, one dataset, history, search.

Plain SQL through the store's reader (stdlib sqlite3 for the embedded store), one query per
listing whatever its size.
"""

from __future__ import annotations

import json
import re
from typing import Any

from entrepot.catalog.model import Address
from entrepot.errors import NotFoundError
from entrepot.store.reader import Reader

# What the actor may see, as the service hands it to each listing: SQL over the placeholders
# {depot}, {collection} and {name} (each listing fills in its own columns) and its parameters.
# The access rules are in the query itself, never a filter over rows fetched for nothing.
Scope = tuple[str, dict[str, Any]]
EVERYTHING: Scope = ("1 = 1", {})


def _where(scope: Scope | None, **columns: str) -> tuple[str, dict[str, Any]]:
    sql, params = scope or EVERYTHING
    return sql.format(**columns), dict(params)


def sources(reader: Reader, scope: Scope | None = None) -> list[dict[str, Any]]:
    where, params = _where(scope, depot="s.depot", collection="''", name="''")
    return reader.query(
        "SELECT s.name AS source, s.depot, s.source_type AS type, s.last_scan_at AS last_scan, "
        "(SELECT count(*) FROM catalog_dataset d WHERE d.source = s.name AND NOT d.deleted) "
        f"AS datasets FROM catalog_source s WHERE {where} ORDER BY s.name",
        params,
    )


def collections(reader: Reader, depot: str) -> list[dict[str, Any]]:
    rows = reader.query(
        "SELECT collection, count(*) AS datasets, max(updated_at) AS updated "
        "FROM catalog_dataset WHERE depot = :depot AND NOT deleted "
        "GROUP BY collection ORDER BY collection",
        {"depot": depot},
    )
    if not rows:
        _require_depot(reader, depot)
    return rows


def datasets(
    reader: Reader,
    depot: str,
    collection: str | None,
    include_deleted: bool = False,
    scope: Scope | None = None,
) -> list[dict[str, Any]]:
    where, params = _where(scope, depot="depot", collection="collection", name="name")
    sql = (
        "SELECT collection, name, kind, description, details, stats, deleted, updated_at "
        f"FROM catalog_dataset WHERE depot = :depot AND {where}"
    )
    params["depot"] = depot
    if collection is not None:
        sql += " AND collection = :collection"
        params["collection"] = collection
    if not include_deleted:
        sql += " AND NOT deleted"
    rows = reader.query(sql + " ORDER BY collection, name", params)
    out = []
    for row in rows:
        details = json.loads(row.pop("details"))
        stats = json.loads(row.pop("stats"))
        row["address"] = str(Address(depot, row["collection"], row["name"]))
        row["columns"] = len(details.get("columns", []))
        row["rows"] = stats.get("rows")
        row["deleted"] = bool(row["deleted"])
        out.append(row)
    return out


def dataset(reader: Reader, address: Address) -> dict[str, Any]:
    if address.collection is None or address.dataset is None:
        raise NotFoundError(
            f"'{address}' is not a dataset address",
            hint="a dataset reads dataos://depot:collection/dataset",
        )
    rows = reader.query(
        "SELECT source, collection, name, kind, description, details, stats, deleted, deleted_at, "
        "created_at, updated_at FROM catalog_dataset "
        "WHERE depot = :depot AND collection = :collection AND name = :name",
        {"depot": address.depot, "collection": address.collection, "name": address.dataset},
    )
    if not rows:
        _not_found(reader, address)
    row = rows[0]
    row["details"] = {**json.loads(row["details"]), **json.loads(row.pop("stats"))}
    row["deleted"] = bool(row["deleted"])
    row["address"] = str(address)
    return row


def history(
    reader: Reader, address: Address, limit: int = 200, scope: Scope | None = None
) -> list[dict[str, Any]]:
    where, params = _where(scope, depot="s.depot", collection="c.collection", name="c.name")
    sql = (
        "SELECT c.at, c.collection, c.name, c.change, c.detail, c.run_id FROM catalog_change c "
        f"JOIN catalog_source s ON s.name = c.source WHERE s.depot = :depot AND {where}"
    )
    params.update(depot=address.depot, limit=limit)
    if address.collection is not None:
        sql += " AND c.collection = :collection"
        params["collection"] = address.collection
    if address.dataset is not None:
        sql += " AND c.name = :name"
        params["name"] = address.dataset
    rows = reader.query(sql + " ORDER BY c.id DESC LIMIT :limit", params)
    if not rows:
        _require_depot(reader, address.depot)
    for row in rows:
        row["detail"] = json.loads(row["detail"])
        row["address"] = str(Address(address.depot, row["collection"], row["name"]))
    return rows


def search(
    reader: Reader, text: str, limit: int = 50, scope: Scope | None = None
) -> list[dict[str, Any]]:
    """Datasets whose names, comments or column names hold every word, best matches first."""
    words = [w for w in re.split(r"\s+", text.lower().strip()) if w]
    if not words:
        return []
    where = " AND ".join(f"search_text LIKE :w{i}" for i in range(len(words)))
    scoped, params = _where(scope, depot="depot", collection="collection", name="name")
    where += f" AND {scoped}"
    params.update({f"w{i}": f"%{word}%" for i, word in enumerate(words)})
    rows = reader.query(
        "SELECT depot, collection, name, kind, description, details FROM catalog_dataset "
        f"WHERE NOT deleted AND {where}",
        params,
    )
    scored = []
    for row in rows:
        details = json.loads(row.pop("details"))
        score, matched = _score(words, row, details)
        row["address"] = str(Address(row["depot"], row["collection"], row["name"]))
        row["score"] = score
        row["matched"] = matched
        scored.append(row)
    scored.sort(key=lambda r: (-r["score"], r["address"]))
    return scored[:limit]


def _score(words: list[str], row: dict[str, Any], details: dict[str, Any]) -> tuple[int, str]:
    score = 0
    matched: list[str] = []
    name = row["name"].lower()
    for word in words:
        if name == word:
            score += 100
            matched.append("name")
        elif name.startswith(word):
            score += 50
            matched.append("name")
        elif word in name:
            score += 30
            matched.append("name")
        if word in row["collection"].lower():
            score += 10
            matched.append("collection")
        if word in (row["description"] or "").lower():
            score += 15
            matched.append("description")
        for column in details.get("columns", []):
            if word in column["name"].lower():
                score += 8 if column["name"].lower() != word else 12
                matched.append(f"column {column['name']}")
            elif word in (column.get("comment") or "").lower():
                score += 4
                matched.append(f"comment of {column['name']}")
    unique = list(dict.fromkeys(matched))
    return score, ", ".join(unique[:4]) + (" ..." if len(unique) > 4 else "")


def _require_depot(reader: Reader, depot: str) -> None:
    known = reader.query(
        "SELECT name FROM resource WHERE type = 'depot' AND name = :n", {"n": depot}
    )
    if not known:
        import difflib

        names = [r["name"] for r in reader.query("SELECT name FROM resource WHERE type = 'depot'")]
        close = difflib.get_close_matches(depot, names, n=1)
        raise NotFoundError(
            f"depot '{depot}' not found" + (f", did you mean '{close[0]}'?" if close else ""),
            hint="list depots with: entrepot get -t depot -a",
        )


def _not_found(reader: Reader, address: Address) -> None:
    import difflib

    _require_depot(reader, address.depot)
    names = [
        r["name"]
        for r in reader.query(
            "SELECT name FROM catalog_dataset WHERE depot = :d AND collection = :c",
            {"d": address.depot, "c": address.collection},
        )
    ]
    close = difflib.get_close_matches(address.dataset or "", names, n=1)
    raise NotFoundError(
        f"no dataset '{address}' in the catalog"
        + (f", did you mean '{close[0]}'?" if close else ""),
        hint="scan the depot first (a scanner workflow), or list it: entrepot catalog ls "
        f"dataos://{address.depot}",
    )
