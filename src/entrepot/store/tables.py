"""The metastore schema. Migrations in `migrations/versions` must produce exactly this
(tests/test_store_migrations.py compares them)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# One row per resource. Identity is (type, workspace, name); the displayed id is
# name:version:type. Timestamps are ISO-8601 UTC text; JSON columns are text (portable, and
# readable by the stdlib sqlite3 fast path).
resource = Table(
    "resource",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("workspace", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", String(16), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("layer", String(16), nullable=False),
    Column("tags", Text, nullable=False),
    Column("description", Text),
    Column("manifest", Text, nullable=False),  # as applied, secret values excluded
    Column("spec_hash", String(64), nullable=False),
    Column("generation", Integer, nullable=False),  # changes only when the spec changes
    Column("resource_version", Integer, nullable=False),  # changes on every write (OCC)
    Column("status", String(16), nullable=False),
    Column("status_message", Text, nullable=False),
    Column("source_type", String(32)),
    Column("source_path", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("updated_by", String(128), nullable=False),
    UniqueConstraint("type", "workspace", "name", name="uq_resource_identity"),
)
Index("ix_resource_owner", resource.c.owner)

# Outgoing references (a depot's instance secrets). Kept by name: a forced delete may leave one
# dangling, which `get -d` shows.
resource_ref = Table(
    "resource_ref",
    metadata,
    Column(
        "resource_id",
        Integer,
        ForeignKey("resource.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ref_type", String(32), primary_key=True),
    Column("ref_name", String(64), primary_key=True),
)
Index("ix_resource_ref_target", resource_ref.c.ref_type, resource_ref.c.ref_name)

# Data keys, each wrapped by a master key; rotation re-wraps these rows only.
data_key = Table(
    "data_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("purpose", String(64), nullable=False),
    Column("master_key_id", String(32), nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# Encrypted values of a resource: slot '' for an instance secret, 'connectionSecret[i]' for a
# v1 depot's inline credentials. `keys` and `fingerprints` are public: key names and HMACs.
secret_material = Table(
    "secret_material",
    metadata,
    Column(
        "resource_id",
        Integer,
        ForeignKey("resource.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("slot", String(64), primary_key=True),
    Column("acl", String(4), nullable=False),
    Column("secret_type", String(32)),
    Column("data_key_id", Integer, ForeignKey("data_key.id"), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("keys", Text, nullable=False),
    Column("fingerprints", Text, nullable=False),
)

# Who did what, when, and why: every apply, delete, decryption and key rotation.
audit_event = Table(
    "audit_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("resource_type", String(32)),
    Column("resource_name", String(64)),
    Column("purpose", Text),
    Column("detail", Text),
)
Index("ix_audit_event_resource", audit_event.c.resource_type, audit_event.c.resource_name)

# The last connection check of each depot, per acl (r: reading, rw: writing). The depot's
# status (active | error | pending) follows its r check.
depot_check = Table(
    "depot_check",
    metadata,
    Column(
        "resource_id",
        Integer,
        ForeignKey("resource.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("acl", String(4), primary_key=True),
    Column("checked_at", String(32), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("summary", String(64), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("steps", Text, nullable=False),
)

# --- Metis: the catalog of what scans found ----------------------------------------------------

# One row per catalog source (a depot, or `depot.source` when set) and its last scan.
catalog_source = Table(
    "catalog_source",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("depot", String(64), nullable=False),
    Column("source_type", String(32), nullable=False),
    Column("last_scan_at", String(32)),
    Column("last_run_id", Integer),
    # The source's catalog signature at the last full scan: equal next time, nothing changed.
    Column("signature", Text),
)

# A dataset: a table, view, ... or a file / hive-partitioned folder. `details` holds columns,
# keys, indexes, partitions as JSON; `fingerprint` tells a rescan what changed without parsing.
catalog_dataset = Table(
    "catalog_dataset",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("depot", String(64), nullable=False),
    Column("collection", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("description", Text),
    Column("search_text", Text, nullable=False),  # lower-case names and comments, for search
    Column("details", Text, nullable=False),
    Column("stats", Text, nullable=False),  # rows, size, modified: refreshed without history
    Column("fingerprint", String(64), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("deleted_at", String(32)),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    UniqueConstraint("source", "collection", "name", name="uq_catalog_dataset"),
)

# What each scan changed: added, removed (marked deleted), altered, restored.
catalog_change = Table(
    "catalog_change",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("collection", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("at", String(32), nullable=False),
    Column("run_id", Integer),
    Column("change", String(16), nullable=False),
    Column("detail", Text, nullable=False),
)
Index("ix_catalog_change_dataset", catalog_change.c.source, catalog_change.c.collection,
      catalog_change.c.name)  # fmt: skip

# Every run of a workflow: its status, times, counts, errors and log.
workflow_run = Table(
    "workflow_run",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(64), nullable=False),
    Column("workflow", String(64), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("counts", Text, nullable=False),
    Column("error", Text),
    Column("nodes", Text, nullable=False),
    Column("log", Text, nullable=False),
)
Index("ix_workflow_run_workflow", workflow_run.c.workspace, workflow_run.c.workflow)

# Small store-wide settings (the fingerprint key's data_key id).
store_setting = Table(
    "store_setting",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# --- Identity: users and the use cases granted to tags (access/) ---------------------------

# A user and the tags they carry beyond the two every user has (`users:id:NAME`,
# `roles:id:user`, added when read).
user_account = Table(
    "user_account",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("tags", Text, nullable=False),  # JSON list
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# Which tag holds which use case. A new store starts with the roles' defaults
# (access/usecases.DEFAULT_GRANTS, seeded by migration 0004); `usecase grant|revoke` edits it.
usecase_grant = Table(
    "usecase_grant",
    metadata,
    Column("usecase", String(96), primary_key=True),
    Column("tag", String(192), primary_key=True),
    Column("granted_at", String(32), nullable=False),
    Column("granted_by", String(128), nullable=False),
)
