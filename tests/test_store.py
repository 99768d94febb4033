"""The metastore: generations, atomic applies, concurrency, migrations; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from entrepot.config import load_settings
from entrepot.services import resources
from entrepot.services.resources import ApplyOptions
from entrepot.store.store import Store
from entrepot.store.tables import metadata
from tests.conftest import SalesDatabase, add_user, local_context, run_cli, secret_values, write

SECRET = """name: shared-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {username: u, password: Secret-Pass}
"""


def depot(name: str, port: int, description: str = "d") -> str:
    return f"""name: {name}
version: v2alpha
type: depot
description: {description}
depot:
  type: postgresql
  secrets: [{{name: shared-r, allkeys: true}}]
  postgresql: {{host: h.example.com, port: {port}, database: db}}
"""


@pytest.fixture(params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The embedded SQLite store, or a fresh PostgreSQL metastore database."""
    if request.param == "postgres":
        postgres: SalesDatabase = request.getfixturevalue("postgres")
        name = f"store_{uuid.uuid4().hex[:12]}"
        postgres.server.create_database(name)
        monkeypatch.setenv("ENTREPOT_STORE_URL", postgres.server.url(name))
    yield request.param


def record(name: str, rtype: str = "depot") -> dict[str, object]:
    result = run_cli("get", "-t", rtype, "-n", name, "-a", "--output", "json")
    [row] = json.loads(result.stdout)
    assert isinstance(row, dict)
    return row


def test_generation_changes_only_with_the_spec(backend: str, tmp_path: Path) -> None:
    secret = write(tmp_path / "s.yml", SECRET)
    path = write(tmp_path / "d.yml", depot("pg", 5432))
    assert run_cli("apply", "-f", str(secret), "-f", str(path)).exit_code == 0
    assert record("pg")["generation"] == 1
    assert (
        run_cli("apply", "-f", str(path)).stdout.strip() == "applying pg:v2alpha:depot...unchanged"
    )
    assert record("pg")["resourceVersion"] == 1
    # A description is metadata: updated, same generation, new resource version.
    write(tmp_path / "d.yml", depot("pg", 5432, description="new words"))
    assert run_cli("apply", "-f", str(path)).stdout.strip() == "applying pg:v2alpha:depot...updated"
    row = record("pg")
    assert (row["generation"], row["resourceVersion"]) == (1, 2)
    write(tmp_path / "d.yml", depot("pg", 6543, description="new words"))
    run_cli("apply", "-f", str(path))
    row = record("pg")
    assert (row["generation"], row["resourceVersion"]) == (2, 3)
    assert row["owner"] == "alice" and row["createdBy"] == "alice"


def test_a_multi_document_apply_is_all_or_nothing(backend: str, tmp_path: Path) -> None:
    good = write(tmp_path / "s.yml", SECRET)
    bad = write(tmp_path / "bad.yml", depot("pg", 5432).replace("shared-r", "missing-r"))
    result = run_cli("apply", "-f", str(good), "-f", str(bad))
    assert result.exit_code == 3
    assert "instance secret 'missing-r' does not exist" in result.stderr
    assert json.loads(run_cli("get", "-a", "--output", "json").stdout) == []


def test_delete_is_refused_while_a_depot_depends_on_the_secret(
    backend: str, tmp_path: Path
) -> None:
    secret = write(tmp_path / "s.yml", SECRET)
    path = write(tmp_path / "d.yml", depot("pg", 5432))
    run_cli("apply", "-f", str(secret), "-f", str(path))
    refused = run_cli("delete", "-t", "instance-secret", "-n", "shared-r")
    assert refused.exit_code == 5
    assert "cannot delete resource, it is a dependency of 'depot:v2alpha:pg'" in refused.stderr
    # Deleting both from their files works in any order: dependants go first.
    both = run_cli("delete", "-f", str(secret), "-f", str(path))
    assert both.exit_code == 0, both.stderr
    assert both.stdout.splitlines() == [
        "deleting pg:v2alpha:depot...deleted",
        "deleting shared-r:v1:instance-secret...deleted",
    ]
    missing = run_cli("delete", "-t", "depot", "-n", "pgg")
    assert missing.exit_code == 4 and "depot 'pgg' not found" in missing.stderr


def _apply_loop(barrier: object, home: str, url: str | None, worker: int, rounds: int) -> None:
    import os

    os.environ["ENTREPOT_HOME"] = home
    os.environ["ENTREPOT_USER"] = f"worker{worker}"
    if url:
        os.environ["ENTREPOT_STORE_URL"] = url
    folder = Path(home).parent / f"worker{worker}"
    folder.mkdir(exist_ok=True)
    ctx = local_context()
    barrier.wait()  # type: ignore[attr-defined]
    for i in range(rounds):
        # Every round changes the shared depot's port to a value no other round uses.
        shared = write(folder / "shared.yml", depot("shared", 10000 + worker * 1000 + i))
        own = write(folder / f"own{i}.yml", depot(f"w{worker}d{i}", 5432))
        resources.apply(ctx, ApplyOptions(paths=[str(shared), str(own)]))


def test_concurrent_applies_lose_no_update(backend: str, home: Path, tmp_path: Path) -> None:
    run_cli("apply", "-f", str(write(tmp_path / "s.yml", SECRET)))
    run_cli("apply", "-f", str(write(tmp_path / "d.yml", depot("shared", 1))))
    for worker in (1, 2):  # both update alice's depot: Manage All Depot, as operators
        add_user(f"worker{worker}", "roles:id:operator")
    settings = load_settings()
    url = settings.store_url if backend == "postgres" else None
    rounds = 15
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_apply_loop, args=(barrier, str(home), url, w, rounds)) for w in (1, 2)
    ]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    shared = record("shared")
    # Each of the 30 applies changed the spec once: no update was lost.
    assert shared["generation"] == 1 + 2 * rounds
    assert shared["resourceVersion"] == 1 + 2 * rounds
    names = {
        r["name"]
        for r in json.loads(run_cli("get", "-t", "depot", "-a", "--output", "json").stdout)
    }
    assert {f"w{w}d{i}" for w in (1, 2) for i in range(rounds)} <= names
    events = json.loads(run_cli("admin", "audit", "-n", "500", "--output", "json").stdout)
    shared_updates = [
        e for e in events if e["resource_name"] == "shared" and e["action"] == "update"
    ]
    assert len(shared_updates) == 2 * rounds
    if backend == "sqlite":
        with sqlite3.connect(home / "entrepot.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_migrations_produce_exactly_the_declared_schema(backend: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    settings = load_settings()
    Store(settings).migrate()
    engine = create_engine(settings.store_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_get_does_not_create_a_store(home: Path) -> None:
    result = run_cli("get", "-t", "depot")
    assert result.exit_code == 0
    assert "no depots found owned by you" in result.stderr
    assert not (home / "entrepot.db").exists()


def test_catalog_merge_writes_alike_on_both_stores(backend: str) -> None:
    """merge_scan's bulk writes (stdlib sqlite3 on SQLite, SQLAlchemy elsewhere): added,
    altered (with its history), stats-only refreshes, deletions; and a dataset whose stored
    details only differ in serialisation (an older catalog's JSON) is no change."""
    from sqlalchemy import select, update

    from entrepot.catalog.merge import MergeOptions, merge_scan
    from entrepot.catalog.model import Dataset, ScanResult
    from entrepot.store.tables import catalog_change, catalog_dataset

    def dataset(name: str, columns: list[str], rows: int = 1) -> Dataset:
        cols = [{"name": c, "type": "text", "comment": "é"} for c in columns]
        return Dataset("s", name, "table", f"table {name}", {"rows": rows, "columns": cols})

    store = Store(load_settings())
    try:

        def merge(*datasets: Dataset) -> dict[str, int]:
            with store.transaction() as conn:
                scan = ScanResult(list(datasets), ["s"])
                options = MergeOptions(mark_deleted=True, force=True)
                merged = merge_scan(
                    conn,
                    source="src",
                    depot="dep",
                    source_type="postgresql",
                    scan=scan,
                    options=options,
                    run_id=None,
                    now="2026-01-01T00:00:00.000Z",
                )
            return {k: v for k, v in merged.counts().items() if v}

        a, b, c = dataset("a", ["x"]), dataset("b", ["x"]), dataset("c", ["x"])
        assert merge(a, b, c) == {"added": 3}
        with store.transaction() as conn:  # c as an older catalog serialised it
            conn.execute(
                update(catalog_dataset)
                .where(catalog_dataset.c.name == "c")
                .values(
                    details=json.dumps({"columns": c.details["columns"]}),
                    fingerprint="0" * 56,
                )
            )
        counts = merge(dataset("a", ["x", "y"]), dataset("b", ["x"], rows=7), c)
        assert counts == {"altered": 1, "unchanged": 2}
        assert merge(dataset("a", ["x", "y"])) == {"unchanged": 1, "deleted": 2}
        with store.engine.connect() as conn:
            rows = {r.name: r for r in conn.execute(select(catalog_dataset))}
            history = [
                (r.name, r.change, json.loads(r.detail))
                for r in conn.execute(select(catalog_change).order_by(catalog_change.c.id))
            ]
        assert json.loads(rows["a"].details)["columns"][1] == {
            "name": "y",
            "type": "text",
            "comment": "é",
        }
        assert json.loads(rows["b"].stats)["rows"] == 7
        assert (rows["a"].deleted, rows["b"].deleted, rows["c"].deleted) == (False, True, True)
        assert [(name, change) for name, change, _ in history] == [
            ("a", "added"),
            ("b", "added"),
            ("c", "added"),
            ("a", "altered"),
            ("b", "removed"),
            ("c", "removed"),
        ]
        assert history[0][2] == {"kind": "table"}
        assert history[3][2]["columns_added"] == ["y"]
    finally:
        store.close()


def test_estimates_refresh_alike_on_both_stores(backend: str) -> None:
    """merge_unchanged (a rescan whose catalog signature has not moved) refreshes the rows and
    size it is given, on SQLite and PostgreSQL stores alike, and leaves the dataset exactly as
    a full scan with those estimates would have: the next full scan finds nothing to write."""
    from sqlalchemy import select

    from entrepot.catalog.merge import MergeOptions, merge_scan, merge_unchanged
    from entrepot.catalog.model import Dataset, ScanResult
    from entrepot.store.tables import catalog_change, catalog_dataset

    def dataset(name: str, rows: int | None, size: int | None) -> Dataset:
        columns = [{"name": "id", "type": "integer"}]
        return Dataset("s", name, "table", None, {"rows": rows, "size": size, "columns": columns})

    store = Store(load_settings())
    try:
        scanned = [dataset("a", None, None), dataset("b", 3, 8192)]
        with store.transaction() as conn:
            merge_scan(conn, source="src", depot="dep", source_type="postgresql",
                       scan=ScanResult(scanned, ["s"]), options=MergeOptions(), run_id=None,
                       now="2026-01-01T00:00:00.000Z")  # fmt: skip
        estimates = {
            ("s", "a"): {"rows": 16044, "size": 1097728},
            ("s", "b"): {"rows": 3, "size": 8192},
        }
        with store.transaction() as conn:
            merged = merge_unchanged(conn, source="src", depot="dep", source_type="postgresql",
                                     run_id=None, now="2026-01-02T00:00:00.000Z",
                                     estimates=estimates)  # fmt: skip
        assert (merged.unchanged, merged.refreshed) == (2, 1)
        with store.engine.connect() as conn:
            rows = {r.name: r for r in conn.execute(select(catalog_dataset))}
            changes = conn.execute(select(catalog_change.c.change)).scalars().all()
        assert json.loads(rows["a"].stats) == {"rows": 16044, "size": 1097728, "modified": None}
        assert rows["a"].updated_at == "2026-01-02T00:00:00.000Z"
        assert rows["b"].updated_at == "2026-01-01T00:00:00.000Z"  # not moved: not written
        assert changes == ["added", "added"]  # estimates make no history
        with store.transaction() as conn:  # a full scan with the same estimates: no write
            again = merge_scan(conn, source="src", depot="dep", source_type="postgresql",
                               scan=ScanResult([dataset("a", 16044, 1097728), scanned[1]], ["s"]),
                               options=MergeOptions(), run_id=None,
                               now="2026-01-03T00:00:00.000Z")  # fmt: skip
        assert again.counts()["unchanged"] == 2
        with store.engine.connect() as conn:
            stamps = dict(
                conn.execute(select(catalog_dataset.c.name, catalog_dataset.c.updated_at)).all()
            )
        assert stamps == {"a": "2026-01-02T00:00:00.000Z", "b": "2026-01-01T00:00:00.000Z"}
    finally:
        store.close()


def test_decryption_is_audited_alike_on_both_stores(backend: str, tmp_path: Path) -> None:
    """Reading commands decrypt and audit through the store reader (stdlib sqlite3 on SQLite,
    SQLAlchemy elsewhere): the values come back, each decryption is one audit event, and an
    acl mismatch is refused before anything is decrypted."""
    from entrepot.errors import RefusedError

    assert run_cli("apply", "-f", str(write(tmp_path / "s.yml", SECRET))).exit_code == 0
    resolved = secret_values("shared-r", "store test read", acl="r")
    assert resolved.data == {"username": "u", "password": "Secret-Pass"}
    with pytest.raises(RefusedError):
        secret_values("shared-r", "store test write", acl="rw")
    events = json.loads(run_cli("admin", "audit", "--output", "json").stdout)
    purposes = [e.get("purpose") for e in events]
    assert purposes.count("store test read") == 1 and "store test write" not in purposes
    assert "Secret-Pass" not in json.dumps(events)


def test_the_identity_migration_seeds_the_roles_defaults() -> None:
    """Migration 0004 froze the default grants; they are what access/usecases declares (a change
    of the defaults needs a migration of its own, and this test says so)."""
    import importlib

    from entrepot.access.usecases import default_grants

    migration = importlib.import_module("entrepot.store.migrations.versions.0004_identity")
    frozen = sorted((uc, tag) for tag, ucs in migration.DEFAULT_GRANTS.items() for uc in ucs)
    assert frozen == sorted(default_grants())
