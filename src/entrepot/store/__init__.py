"""The metastore: resources, their encrypted secret material, references, and the audit trail.

This folder owns the schema (`tables.py`, SQLAlchemy Core), its Alembic migrations, the write path
(`store.py`: atomic applies with optimistic concurrency on `resource_version`) and the read path
(`reader.py`: plain SQL through the stdlib `sqlite3` module for the embedded store, so `get` does
not pay SQLAlchemy's ~250 ms import; through SQLAlchemy for PostgreSQL). SQLite (WAL) is the
embedded default; PostgreSQL is for servers. It imports `entrepot.errors` and `entrepot.config`.
"""

SCHEMA_HEAD = "0003"  # the newest migration; the reader checks it without importing Alembic
