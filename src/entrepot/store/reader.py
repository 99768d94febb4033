"""Queries of reading commands on the metastore, without importing SQLAlchemy for the embedded
store.

`get` must add at most 150 ms to a bare Python start, and `query` stay within 10% of bare DuckDB;
importing SQLAlchemy alone costs ~300 ms. So the embedded (SQLite) store is read here with the
stdlib `sqlite3` module and plain SQL; a PostgreSQL store runs the same SQL through SQLAlchemy
`text()` (named `:params` work in both). The one write a reading command makes, the audit event
of each decryption, goes the same way (`record_audit`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from entrepot.config import Settings
from entrepot.store import SCHEMA_HEAD

if TYPE_CHECKING:
    from entrepot.access.decide import Visibility

RESOURCE_COLUMNS = ", ".join(
    f"r.{column}"
    for column in [
        "id",
        "type",
        "workspace",
        "name",
        "version",
        "owner",
        "layer",
        "tags",
        "description",
        "status",
        "status_message",
        "source_type",
        "source_path",
        "generation",
        "resource_version",
        "spec_hash",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    ]
)
CHUNK = 500


@dataclass
class ResourceRow:
    id: int
    type: str
    workspace: str
    name: str
    version: str
    owner: str
    layer: str
    tags: list[str]
    description: str | None
    status: str
    status_message: str
    source_type: str | None
    source_path: str | None
    generation: int
    resource_version: int
    spec_hash: str
    created_at: str
    updated_at: str
    created_by: str
    updated_by: str
    manifest: dict[str, Any] | None = None
    secrets: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    dependents: list[dict[str, Any]] = field(default_factory=list)
    # slot -> item -> HMAC fingerprint (filled by Store.existing, for change detection)
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    connection: str | None = None  # a depot's last r check, short: "ok 12 ms", "dns"
    runtime: str | None = None  # a workflow's last run: succeeded, failed, running
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type, self.workspace, self.name)

    @property
    def rid(self) -> str:
        """The DataOS resource id: name:version:type."""
        return f"{self.name}:{self.version}:{self.type}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ResourceRow:
        data = dict(row)
        data["tags"] = json.loads(data["tags"] or "[]")
        return cls(**data)

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.rid,
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "workspace": self.workspace or None,
            "status": self.status,
            "statusMessage": self.status_message or None,
            "owner": self.owner,
            "layer": self.layer,
            "tags": self.tags,
            "description": self.description,
            "generation": self.generation,
            "resourceVersion": self.resource_version,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "createdBy": self.created_by,
            "updatedBy": self.updated_by,
        }
        if self.source_type:
            out["sourceType"] = self.source_type
        if self.type == "depot":
            out["connection"] = self.connection
        if self.type == "workflow":
            out["runtime"] = self.runtime
        if details:
            out["source"] = self.source_path
            out["manifest"] = self.manifest
            out["secrets"] = self.secrets
            out["references"] = self.references
            out["dependents"] = self.dependents
            if self.type == "depot":
                out["checks"] = self.checks
        return out


class Reader(Protocol):
    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def write(self, sql: str, rows: list[dict[str, Any]]) -> None:
        """Run one INSERT for every row, in one transaction."""

    def close(self) -> None: ...


class SqliteReader:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.connection.row_factory = sqlite3.Row

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [dict(row) for row in self.connection.execute(sql, params or {})]

    def write(self, sql: str, rows: list[dict[str, Any]]) -> None:
        self.connection.execute("PRAGMA query_only = OFF")
        try:
            with self.connection:  # one transaction: committed, or rolled back on error
                self.connection.executemany(sql, rows)
        finally:
            self.connection.execute("PRAGMA query_only = ON")

    def close(self) -> None:
        self.connection.close()


class SqlAlchemyReader:
    def __init__(self, url: str) -> None:
        from entrepot.store.store import make_engine

        self.engine = make_engine(url)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(text(sql), params or {})]

    def write(self, sql: str, rows: list[dict[str, Any]]) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text(sql), rows)

    def close(self) -> None:
        from entrepot.store.store import shared

        if not shared(self.engine):
            self.engine.dispose()


class EmptyReader:
    """No store yet: nothing has been applied. Reading never creates one."""

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return []

    def write(self, sql: str, rows: list[dict[str, Any]]) -> None:
        from entrepot.errors import StoreError

        raise StoreError("nothing has been applied yet: there is no store to write to")

    def close(self) -> None:
        pass


def open_reader(settings: Settings) -> Reader:
    path = settings.sqlite_path
    if path is None:
        from entrepot.store.store import Store

        Store(settings).migrate()
        return SqlAlchemyReader(settings.store_url)
    if not path.exists():
        return EmptyReader()
    connection = sqlite3.connect(str(path), timeout=30)
    try:
        version = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        version = None
    if version is None or version[0] != SCHEMA_HEAD:
        connection.close()
        from entrepot.store.store import Store

        Store(settings).migrate()  # an older store: upgrade once, then read
        connection = sqlite3.connect(str(path), timeout=30)
    connection.execute("PRAGMA query_only = ON")
    return SqliteReader(connection)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _in_clause(prefix: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{k}" for k in params), params


def list_resources(
    reader: Reader,
    *,
    rtype: str | None = None,
    name: str | None = None,
    owner: str | None = None,
    workspace: str | None = None,
    visible: Visibility | None = None,
) -> list[ResourceRow]:
    """Resources matching the filters, and only those `visible` lets the actor see: the access
    rules are a WHERE clause here, never a filter over rows fetched for nothing."""
    where, params = [], {}
    for column, value in (("type", rtype), ("name", name), ("owner", owner)):
        if value is not None:
            where.append(f"r.{column} = :{column}")
            params[column] = value
    if workspace is not None:
        # Instance-level kinds have no workspace; a workspace filter only narrows workflows.
        where.append("(r.workspace = :workspace OR r.workspace = '')")
        params["workspace"] = workspace
    if visible is not None:
        if visible.owner is not None:
            where.append("r.owner = :visible_owner")
            params["visible_owner"] = visible.owner
        if visible.layer is not None:
            where.append("r.layer = :visible_layer")
            params["visible_layer"] = visible.layer
        for i, pattern in enumerate(visible.hidden_names):
            where.append(f"r.name NOT LIKE :hidden{i} ESCAPE '\\'")
            params[f"hidden{i}"] = pattern
    sql = (
        f"SELECT {RESOURCE_COLUMNS}, dc.summary AS connection, "
        "CASE WHEN r.type = 'workflow' THEN (SELECT w.status FROM workflow_run w "
        " WHERE w.workspace = r.workspace AND w.workflow = r.name ORDER BY w.id DESC LIMIT 1)"
        " END AS runtime "
        "FROM resource r LEFT JOIN depot_check dc ON dc.resource_id = r.id AND dc.acl = 'r'"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY r.type, r.workspace, r.name"
    return [ResourceRow.from_row(row) for row in reader.query(sql, params)]


def add_details(reader: Reader, rows: list[ResourceRow]) -> None:
    """Manifest, secret key names, references, checks, dependents: five bulk queries in all."""
    by_id = {row.id: row for row in rows}
    for chunk in _chunks(list(by_id)):
        ids, params = _in_clause("id", chunk)
        for rec in reader.query(f"SELECT id, manifest FROM resource WHERE id IN ({ids})", params):
            by_id[rec["id"]].manifest = json.loads(rec["manifest"])
        for rec in reader.query(
            "SELECT resource_id, slot, acl, secret_type, keys FROM secret_material "
            f"WHERE resource_id IN ({ids}) ORDER BY slot",
            params,
        ):
            by_id[rec["resource_id"]].secrets.append(
                {
                    "slot": rec["slot"] or None,
                    "acl": rec["acl"],
                    "secretType": rec["secret_type"],
                    "keys": json.loads(rec["keys"]),
                }
            )
        for rec in reader.query(
            "SELECT rr.resource_id, rr.ref_type, rr.ref_name, t.version, t.status "
            "FROM resource_ref rr LEFT JOIN resource t "
            "ON t.type = rr.ref_type AND t.name = rr.ref_name AND t.workspace = '' "
            f"WHERE rr.resource_id IN ({ids}) ORDER BY rr.ref_name",
            params,
        ):
            by_id[rec["resource_id"]].references.append(
                {
                    "type": rec["ref_type"],
                    "name": rec["ref_name"],
                    "id": f"{rec['ref_name']}:{rec['version']}:{rec['ref_type']}"
                    if rec["version"]
                    else None,
                    "exists": rec["version"] is not None,
                }
            )
        for rec in reader.query(
            "SELECT resource_id, acl, checked_at, ok, summary, duration_ms, steps "
            f"FROM depot_check WHERE resource_id IN ({ids}) ORDER BY acl",
            params,
        ):
            by_id[rec["resource_id"]].checks.append(
                {
                    "acl": rec["acl"],
                    "checkedAt": rec["checked_at"],
                    "ok": bool(rec["ok"]),
                    "summary": rec["summary"],
                    "durationMs": rec["duration_ms"],
                    "steps": json.loads(rec["steps"]),
                }
            )
    targets = [(row.type, row.name) for row in rows]
    names = sorted({name for _, name in targets})
    wanted = set(targets)
    for chunk in _chunks(names):
        in_names, params = _in_clause("n", chunk)
        for rec in reader.query(
            "SELECT rr.ref_type, rr.ref_name, r.type, r.version, r.name FROM resource_ref rr "
            "JOIN resource r ON r.id = rr.resource_id "
            f"WHERE rr.ref_name IN ({in_names}) ORDER BY r.type, r.name",
            params,
        ):
            if (rec["ref_type"], rec["ref_name"]) not in wanted:
                continue
            for row in rows:
                if row.type == rec["ref_type"] and row.name == rec["ref_name"]:
                    row.dependents.append({"id": f"{rec['type']}:{rec['version']}:{rec['name']}"})


def instance_secrets(reader: Reader, names: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    """name -> (id, stored manifest) of the instance secrets named that exist (one query a chunk;
    stored manifests hold no secret values)."""
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for chunk in _chunks(sorted(set(names))):
        in_names, params = _in_clause("n", chunk)
        for rec in reader.query(
            "SELECT id, name, manifest FROM resource WHERE type = 'instance-secret' "
            f"AND workspace = '' AND name IN ({in_names})",
            params,
        ):
            found[rec["name"]] = (rec["id"], json.loads(rec["manifest"]))
    return found


def secret_material(reader: Reader, resource_id: int, slot: str) -> dict[str, Any] | None:
    """One slot's ciphertext with its wrapped data key, or None."""
    rows = reader.query(
        "SELECT sm.secret_type, sm.ciphertext, dk.wrapped, dk.master_key_id "
        "FROM secret_material sm JOIN data_key dk ON dk.id = sm.data_key_id "
        "WHERE sm.resource_id = :rid AND sm.slot = :slot",
        {"rid": resource_id, "slot": slot},
    )
    return rows[0] if rows else None


def record_audit(reader: Reader, events: list[dict[str, Any]]) -> None:
    """Append audit events (at, actor, action, resource_type, resource_name, purpose, detail)."""
    reader.write(
        "INSERT INTO audit_event (at, actor, action, resource_type, resource_name, purpose, "
        "detail) VALUES (:at, :actor, :action, :resource_type, :resource_name, :purpose, :detail)",
        events,
    )


def dependents_of(reader: Reader, rtype: str, name: str) -> list[str]:
    """Resources that reference this one, as `type:version:name` (the DataOS message form)."""
    rows = reader.query(
        "SELECT r.type, r.version, r.name FROM resource_ref rr "
        "JOIN resource r ON r.id = rr.resource_id "
        "WHERE rr.ref_type = :t AND rr.ref_name = :n ORDER BY r.type, r.name",
        {"t": rtype, "n": name},
    )
    return [f"{r['type']}:{r['version']}:{r['name']}" for r in rows]


@dataclass
class RunRow:
    id: int
    workflow: str
    workspace: str
    generation: int
    status: str
    started_at: str
    finished_at: str | None
    counts: dict[str, Any]
    error: str | None
    nodes: list[dict[str, Any]]
    log: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "workspace": self.workspace,
            "generation": self.generation,
            "status": self.status,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "counts": self.counts,
            "error": self.error,
            "nodes": self.nodes,
        }


def workflow_runs(reader: Reader, name: str, workspace: str, limit: int) -> list[RunRow]:
    rows = reader.query(
        "SELECT id, workflow, workspace, generation, status, started_at, finished_at, counts, "
        "error, nodes, log FROM workflow_run WHERE workflow = :name AND workspace = :ws "
        "ORDER BY id DESC LIMIT :limit",
        {"name": name, "ws": workspace, "limit": limit},
    )
    out = []
    for row in rows:
        row["counts"] = json.loads(row["counts"] or "{}")
        row["nodes"] = json.loads(row["nodes"] or "[]")
        out.append(RunRow(**row))
    return out


def depot_checks(reader: Reader, resource_id: int) -> list[dict[str, Any]]:
    """A depot's last check of each acl (acl, checked_at, ok, summary, duration_ms, steps)."""
    rows = reader.query(
        "SELECT acl, checked_at, ok, summary, duration_ms, steps FROM depot_check "
        "WHERE resource_id = :rid ORDER BY acl",
        {"rid": resource_id},
    )
    for row in rows:
        row["ok"] = bool(row["ok"])
        row["steps"] = json.loads(row["steps"])
    return rows


def depot_runs(reader: Reader, depot: str, limit: int) -> list[tuple[RunRow, bool]]:
    """Runs that scanned a depot, newest first, each with whether its workflow references the
    depot today: its nodes name the depot they scanned (`"depot": NAME`); nodes of older runs
    do not, and count when their workflow references it."""
    rows = reader.query(
        "SELECT w.id, w.workflow, w.workspace, w.generation, w.status, w.started_at, "
        "w.finished_at, w.counts, w.error, w.nodes, w.log, EXISTS (SELECT 1 FROM resource r "
        " JOIN resource_ref rr ON rr.resource_id = r.id WHERE r.type = 'workflow' "
        " AND r.name = w.workflow AND r.workspace = w.workspace AND rr.ref_type = 'depot' "
        " AND rr.ref_name = :depot) AS refers "
        "FROM workflow_run w WHERE w.nodes LIKE :pattern OR EXISTS (SELECT 1 FROM resource r "
        " JOIN resource_ref rr ON rr.resource_id = r.id WHERE r.type = 'workflow' "
        " AND r.name = w.workflow AND r.workspace = w.workspace AND rr.ref_type = 'depot' "
        " AND rr.ref_name = :depot) "
        "ORDER BY w.id DESC LIMIT :limit",
        {"depot": depot, "pattern": f'%"depot": "{depot}"%', "limit": limit},
    )
    out = []
    for row in rows:
        refers = bool(row.pop("refers"))
        row["counts"] = json.loads(row["counts"] or "{}")
        row["nodes"] = json.loads(row["nodes"] or "[]")
        out.append((RunRow(**row), refers))
    return out


# --- identity -------------------------------------------------------------------------------


def users(reader: Reader, names: list[str] | None = None) -> dict[str, list[str]]:
    """name -> stored tags (the implicit `users:id:NAME` and `roles:id:user` not included)."""
    if names is None:
        rows = reader.query("SELECT name, tags FROM user_account ORDER BY name")
    else:
        rows = []
        for chunk in _chunks(sorted(set(names))):
            in_names, params = _in_clause("n", chunk)
            rows += reader.query(
                f"SELECT name, tags FROM user_account WHERE name IN ({in_names})", params
            )
    return {row["name"]: json.loads(row["tags"] or "[]") for row in rows}


def has_users(reader: Reader) -> bool:
    return bool(reader.query("SELECT 1 AS one FROM user_account LIMIT 1"))


def usecase_grants(reader: Reader) -> list[tuple[str, str]]:
    """(use case id, tag) of every stored grant."""
    rows = reader.query("SELECT usecase, tag FROM usecase_grant ORDER BY usecase, tag")
    return [(row["usecase"], row["tag"]) for row in rows]


def policies(reader: Reader) -> list[tuple[str, dict[str, Any]]]:
    """(name, stored manifest) of every policy resource."""
    rows = reader.query("SELECT name, manifest FROM resource WHERE type = 'policy' ORDER BY name")
    return [(row["name"], json.loads(row["manifest"])) for row in rows]


def resources_named(
    reader: Reader, rtype: str, names: list[str], workspace: str = ""
) -> dict[str, ResourceRow]:
    """Point lookups by name (one query a chunk), with their stored manifests."""
    found: dict[str, ResourceRow] = {}
    for chunk in _chunks(sorted(set(names))):
        in_names, params = _in_clause("n", chunk)
        rows = reader.query(
            f"SELECT {RESOURCE_COLUMNS}, r.manifest FROM resource r WHERE r.type = :t "
            f"AND r.workspace = :ws AND r.name IN ({in_names})",
            {**params, "t": rtype, "ws": workspace},
        )
        for row in rows:
            manifest = json.loads(row.pop("manifest"))
            record = ResourceRow.from_row(row)
            record.manifest = manifest
            found[record.name] = record
    return found
