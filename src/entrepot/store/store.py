"""The metastore's write path: migrations, atomic applies with optimistic concurrency, deletes,
secret material, key rotation and the audit trail (SQLAlchemy 2 Core)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from entrepot.config import Settings, create_private_file, ensure_private_dir
from entrepot.errors import ConflictError, StoreError
from entrepot.secrets import crypto
from entrepot.store import now
from entrepot.store.reader import ResourceRow
from entrepot.store.tables import (
    audit_event,
    data_key,
    depot_check,
    resource,
    resource_ref,
    secret_material,
    store_setting,
    usecase_grant,
    user_account,
)

FINGERPRINT_KEY_SETTING = "fingerprint_data_key_id"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # Take the write lock up front: two writers then queue on busy_timeout instead of
            # one failing with "database is locked" when it upgrades a read lock.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # One engine (and connection pool) per PostgreSQL store and process: every request of a
    # server, every depot resolution of a session, reuses its connections.
    if url not in _SHARED:
        # hide_parameters: a failing statement's parameters never reach an error message.
        _SHARED[url] = create_engine(url, hide_parameters=True, pool_pre_ping=True)
    return _SHARED[url]


_SHARED: dict[str, Engine] = {}
_MIGRATED: set[str] = set()  # PostgreSQL stores found at SCHEMA_HEAD by this process


def shared(engine: Engine) -> bool:
    """Is this the process's engine of a PostgreSQL store (never disposed by one user)?"""
    return engine in _SHARED.values()


@dataclass
class WriteItem:
    """One resource to create or update, fully computed before the transaction starts."""

    existing: ResourceRow | None
    row: dict[str, Any]  # resource columns
    refs: list[tuple[str, str]]
    secrets: list[dict[str, Any]] | None  # None: keep stored material; list: replace it
    action: str  # created | updated


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.store_url)
        self._migrated = False

    def _private_file(self) -> None:
        """Before SQLite first opens the embedded store: its folder 0700, its file 0600.

        SQLite gives the -wal and -shm files the database file's mode, so creating the file
        0600 first is enough; files an older version left readable by others are tightened.
        """
        path = self.settings.sqlite_path
        if path is None:
            return
        try:
            ensure_private_dir(path.parent)
            create_private_file(path)
            for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if extra.exists() and extra.stat().st_mode & 0o077:
                    extra.chmod(0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot open the store at {path}: {exc.strerror}",
                hint="check ENTREPOT_HOME / ENTREPOT_STORE_URL",
            ) from None

    def close(self) -> None:
        if not shared(self.engine):
            self.engine.dispose()

    # --- schema -----------------------------------------------------------------------------

    def migrate(self) -> None:
        if self._migrated or self.settings.store_url in _MIGRATED:
            return
        from entrepot.store import SCHEMA_HEAD
        from entrepot.store.migrations import upgrade

        self._private_file()

        try:
            with self.engine.begin() as conn:
                current = None
                if self.engine.dialect.has_table(conn, "alembic_version"):
                    current = conn.exec_driver_sql(
                        "SELECT version_num FROM alembic_version"
                    ).scalar()
                if current != SCHEMA_HEAD:
                    upgrade(conn)
            if shared(self.engine):
                _MIGRATED.add(self.settings.store_url)
        except OperationalError as exc:
            raise StoreError(
                f"cannot open the store at {self._display_url()}: {exc.orig}",
                hint="check ENTREPOT_HOME / ENTREPOT_STORE_URL",
            ) from None
        self._migrated = True

    def _display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        self.migrate()
        with self.engine.begin() as conn:
            yield conn

    # --- reads for planning -----------------------------------------------------------------

    def existing(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], ResourceRow]:
        """Stored state of many resources in two bulk queries (by name, chunked)."""
        self.migrate()
        wanted = set(keys)
        names = sorted({name for _, _, name in keys})
        found: dict[tuple[str, str, str], ResourceRow] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                rows = conn.execute(select(resource).where(resource.c.name.in_(chunk))).mappings()
                for row in rows:
                    key = (row["type"], row["workspace"], row["name"])
                    if key not in wanted:
                        continue
                    record = dict(row)
                    manifest = json.loads(record.pop("manifest"))
                    found[key] = ResourceRow.from_row(record)
                    found[key].manifest = manifest
            by_id = {item.id: item for item in found.values()}
            ids = sorted(by_id)
            for start in range(0, len(ids), 500):
                chunk_ids = ids[start : start + 500]
                rows = conn.execute(
                    select(
                        secret_material.c.resource_id,
                        secret_material.c.slot,
                        secret_material.c.fingerprints,
                    ).where(secret_material.c.resource_id.in_(chunk_ids))
                ).mappings()
                for row in rows:
                    by_id[row["resource_id"]].fingerprints[row["slot"]] = json.loads(
                        row["fingerprints"]
                    )
        return found

    def sections_of(self, rtype: str) -> dict[str, dict[str, Any]]:
        """name -> the kind's section of its stored manifest (an instance secret's `type` and
        `acl`, values hidden), for every resource of a type: one query."""
        self.migrate()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(resource.c.name, resource.c.manifest).where(resource.c.type == rtype)
            ).all()
        out: dict[str, dict[str, Any]] = {}
        for name, manifest in rows:
            body = json.loads(manifest).get(rtype, {})
            out[name] = body if isinstance(body, dict) else {}
        return out

    # --- keys -------------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        """False for an embedded store not created yet (reads then need no file)."""
        path = self.settings.sqlite_path
        return path is None or path.exists()

    def has_fingerprint_key(self) -> bool:
        self.migrate()
        with self.engine.connect() as conn:
            value = conn.execute(
                select(store_setting.c.value).where(store_setting.c.key == FINGERPRINT_KEY_SETTING)
            ).scalar()
        return value is not None

    def fingerprint_key(self, keyring: crypto.Keyring) -> bytes:
        """The store-wide HMAC key for fingerprints, created once, wrapped like a data key."""
        with self.transaction() as conn:
            value = conn.execute(
                select(store_setting.c.value).where(store_setting.c.key == FINGERPRINT_KEY_SETTING)
            ).scalar()
            if value is None:
                key = crypto.new_data_key()
                key_id = self._insert_data_key(conn, keyring, key, "fingerprint")
                conn.execute(
                    insert(store_setting).values(key=FINGERPRINT_KEY_SETTING, value=str(key_id))
                )
                return key
            row = conn.execute(select(data_key).where(data_key.c.id == int(value))).mappings().one()
            return crypto.unwrap_key(
                keyring.get(row["master_key_id"]), row["wrapped"], "fingerprint"
            )

    def _insert_data_key(
        self, conn: Connection, keyring: crypto.Keyring, key: bytes, purpose: str
    ) -> int:
        wrapped = crypto.wrap_key(keyring.current, key, purpose)
        result = conn.execute(
            insert(data_key).values(
                purpose=purpose,
                master_key_id=keyring.current.id,
                wrapped=wrapped,
                created_at=now(),
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        return int(pk[0])

    # --- writes -----------------------------------------------------------------------------

    def write(
        self,
        items: list[WriteItem],
        keyring: crypto.Keyring,
        actor: str,
        audit: list[dict[str, Any]],
    ) -> None:
        """Create or update every item in one transaction, or none.

        Optimistic concurrency: an update only applies if `resource_version` is still the one
        the plan read; otherwise the whole transaction rolls back with ConflictError and the
        caller re-plans.
        """
        try:
            with self.transaction() as conn:
                for item in items:
                    self._write_one(conn, item, keyring)
                if audit:
                    conn.execute(insert(audit_event), audit)
        except IntegrityError:
            # A concurrent apply created the same resource first.
            raise ConflictError(
                "a resource in this apply was created concurrently", hint="apply again"
            ) from None

    def _write_one(self, conn: Connection, item: WriteItem, keyring: crypto.Keyring) -> None:
        if item.existing is None:
            result = conn.execute(insert(resource).values(**item.row))
            pk = result.inserted_primary_key
            assert pk is not None
            resource_id = int(pk[0])
        else:
            resource_id = item.existing.id
            result = conn.execute(
                update(resource)
                .where(resource.c.id == resource_id)
                .where(resource.c.resource_version == item.existing.resource_version)
                .values(**item.row)
            )
            if result.rowcount != 1:
                raise ConflictError(
                    f"{item.row['type']} '{item.row['name']}' changed while this apply ran",
                    hint="apply again",
                )
            conn.execute(delete(resource_ref).where(resource_ref.c.resource_id == resource_id))
        if item.refs:
            conn.execute(
                insert(resource_ref),
                [
                    {"resource_id": resource_id, "ref_type": t, "ref_name": n}
                    for t, n in sorted(set(item.refs))
                ],
            )
        if item.secrets is not None:
            self._replace_material(conn, resource_id, item.secrets, keyring)

    def _replace_material(
        self,
        conn: Connection,
        resource_id: int,
        secrets: list[dict[str, Any]],
        keyring: crypto.Keyring,
    ) -> None:
        old_keys = [
            row[0]
            for row in conn.execute(
                select(secret_material.c.data_key_id).where(
                    secret_material.c.resource_id == resource_id
                )
            )
        ]
        conn.execute(delete(secret_material).where(secret_material.c.resource_id == resource_id))
        if old_keys:
            conn.execute(delete(data_key).where(data_key.c.id.in_(old_keys)))
        for secret in secrets:
            dek = crypto.new_data_key()
            binding = secret["binding"]
            key_id = self._insert_data_key(conn, keyring, dek, binding)
            conn.execute(
                insert(secret_material).values(
                    resource_id=resource_id,
                    slot=secret["slot"],
                    acl=secret["acl"],
                    secret_type=secret["secret_type"],
                    data_key_id=key_id,
                    ciphertext=crypto.encrypt_payload(dek, secret["payload"], binding),
                    keys=json.dumps(secret["keys"]),
                    fingerprints=json.dumps(secret["fingerprints"], sort_keys=True),
                )
            )

    def delete(
        self, targets: list[ResourceRow], audit: list[dict[str, Any]], *, force: bool = False
    ) -> None:
        """Delete resources and their material in one transaction; unless `force`, refused
        (RefusedError, nothing deleted) while another resource references one of them: checked
        inside the transaction, so a reference added meanwhile is seen."""
        doomed = {(t.type, t.name) for t in targets}
        with self.transaction() as conn:
            if not force:
                for target in targets:
                    users = [
                        f"{row.type}:{row.version}:{row.name}"
                        for row in conn.execute(
                            select(resource.c.type, resource.c.version, resource.c.name)
                            .join(resource_ref, resource_ref.c.resource_id == resource.c.id)
                            .where(resource_ref.c.ref_type == target.type)
                            .where(resource_ref.c.ref_name == target.name)
                            .order_by(resource.c.type, resource.c.name)
                        )
                        if (row.type, row.name) not in doomed
                    ]
                    if users:
                        from entrepot.errors import RefusedError

                        raise RefusedError(
                            "cannot delete resource, it is a dependency of "
                            + ", ".join(f"'{u}'" for u in users),
                            hint="delete the dependants first, or pass --force",
                        )
            for target in targets:
                key_ids = [
                    row[0]
                    for row in conn.execute(
                        select(secret_material.c.data_key_id).where(
                            secret_material.c.resource_id == target.id
                        )
                    )
                ]
                conn.execute(
                    delete(secret_material).where(secret_material.c.resource_id == target.id)
                )
                if key_ids:
                    conn.execute(delete(data_key).where(data_key.c.id.in_(key_ids)))
                conn.execute(delete(resource_ref).where(resource_ref.c.resource_id == target.id))
                conn.execute(delete(depot_check).where(depot_check.c.resource_id == target.id))
                result = conn.execute(
                    delete(resource)
                    .where(resource.c.id == target.id)
                    .where(resource.c.resource_version == target.resource_version)
                )
                if result.rowcount != 1:
                    raise ConflictError(
                        f"{target.type} '{target.name}' changed while deleting", hint="try again"
                    )
            if audit:
                conn.execute(insert(audit_event), audit)

    def save_checks(self, checks: list[tuple[int, dict[str, Any]]]) -> None:
        """Keep each depot's last check per acl; the r check sets the depot's status."""
        if not checks:
            return
        with self.transaction() as conn:
            for resource_id, check in checks:
                # An upsert: two processes checking the same depot must not collide.
                values = {"resource_id": resource_id, "acl": check["acl"], **check["row"]}
                statement = self._insert(depot_check).values(**values)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["resource_id", "acl"], set_=check["row"]
                    )
                )
                if check["acl"] == "r":
                    conn.execute(
                        update(resource)
                        .where(resource.c.id == resource_id)
                        .values(status=check["status"], status_message=check["message"])
                    )

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL both do)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    # --- secret values ----------------------------------------------------------------------

    def rotate(
        self, keyring: crypto.Keyring, new_key: crypto.MasterKey, audit: dict[str, Any]
    ) -> int:
        """Re-wrap every data key under `new_key`, in one transaction."""
        with self.transaction() as conn:
            rows = conn.execute(select(data_key)).mappings().all()
            for row in rows:
                plain = crypto.unwrap_key(
                    keyring.get(row["master_key_id"]), row["wrapped"], row["purpose"]
                )
                conn.execute(
                    update(data_key)
                    .where(data_key.c.id == row["id"])
                    .values(
                        master_key_id=new_key.id,
                        wrapped=crypto.wrap_key(new_key, plain, row["purpose"]),
                    )
                )
            conn.execute(
                insert(audit_event), [{**audit, "detail": f"{len(rows)} data keys re-wrapped"}]
            )
        return len(rows)

    # --- identity ---------------------------------------------------------------------------

    def put_user(
        self, name: str, tags: list[str], actor: str, audit: list[dict[str, Any]], *, new: bool
    ) -> None:
        """Create a user (refused if it exists) or replace its tags, with its audit events."""
        stamp = now()
        with self.transaction() as conn:
            if new:
                try:
                    conn.execute(
                        insert(user_account).values(
                            name=name,
                            tags=json.dumps(tags),
                            created_at=stamp,
                            created_by=actor,
                            updated_at=stamp,
                        )
                    )
                except IntegrityError:
                    raise ConflictError(
                        f"user '{name}' already exists", hint=f"entrepot user get {name}"
                    ) from None
            else:
                result = conn.execute(
                    update(user_account)
                    .where(user_account.c.name == name)
                    .values(tags=json.dumps(tags), updated_at=stamp)
                )
                if result.rowcount != 1:
                    raise ConflictError(f"user '{name}' was deleted meanwhile", hint="try again")
            conn.execute(insert(audit_event), audit)

    def delete_user(self, name: str, audit: list[dict[str, Any]]) -> None:
        with self.transaction() as conn:
            conn.execute(delete(user_account).where(user_account.c.name == name))
            conn.execute(insert(audit_event), audit)

    def set_grant(
        self, usecase: str, tag: str, actor: str, granted: bool, audit: list[dict[str, Any]]
    ) -> bool:
        """Grant or revoke; False when it was so already (the audit event is written anyway)."""
        with self.transaction() as conn:
            if granted:
                statement = self._insert(usecase_grant).values(
                    usecase=usecase, tag=tag, granted_at=now(), granted_by=actor
                )
                result = conn.execute(statement.on_conflict_do_nothing())
            else:
                result = conn.execute(
                    delete(usecase_grant)
                    .where(usecase_grant.c.usecase == usecase)
                    .where(usecase_grant.c.tag == tag)
                )
            conn.execute(insert(audit_event), audit)
            return bool(result.rowcount)

    def audit_events(self, limit: int = 100) -> list[dict[str, Any]]:
        self.migrate()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_event).order_by(audit_event.c.id.desc()).limit(limit)
            ).mappings()
            # Plain str keys: SQLAlchemy's column keys are a str subclass YAML cannot dump.
            return [{str(k): v for k, v in r.items()} for r in rows]
