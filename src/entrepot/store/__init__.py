"""The metastore: resources, their encrypted secret material, references, and the audit trail.

This folder owns the schema (`tables.py`, SQLAlchemy Core), its Alembic migrations, the write path
(`store.py`: atomic applies with optimistic concurrency on `resource_version`) and the read path
(`reader.py`: plain SQL through the stdlib `sqlite3` module for the embedded store, so `get` and
`query` do not pay SQLAlchemy's ~300 ms import; through SQLAlchemy for PostgreSQL). Reading
commands' one write, the audit event of a decryption, goes through the reader too. SQLite (WAL)
is the embedded default; PostgreSQL is for servers. It imports `entrepot.errors`,
`entrepot.config`, `entrepot.secrets.crypto` (encrypting on write, re-wrapping on rotation) and
`entrepot.access.usecases` (the default grants migration 0004 seeds); never the catalog, a
connector, an orchestrator, the services or a front end (the `layers` contract).
"""

SCHEMA_HEAD = "0004"  # the newest migration; the reader checks it without importing Alembic


def now() -> str:
    """The store's timestamps: UTC, milliseconds, ISO 8601 with a Z."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
