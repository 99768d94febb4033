"""Metadata scan of a PostgreSQL database of N tables, ours against SQLAlchemy, in one run.

    .venv/bin/python bench/scan.py [--tables 1000,10000] [--columns 15] [--inspector-sample 300]
                                   [--full-inspector] [--repeat 3] [--no-breakdown]

Starts a throwaway PostgreSQL server in a temporary directory and, for each N, builds a database
of N tables (PK, FK, an index, comments), then measures on it: our scan end to end (connect to
catalog committed, as the run's log reports it, inside `entrepot apply -f scanner.yml` run in a
fresh process, which is timed too) and the rescan of the unchanged database (`apply -r`);
SQLAlchemy's per-table Inspector (what OpenMetadata and DataHub do; timed on a sample and
extrapolated at large N); SQLAlchemy's bulk reflection (`get_multi_*`); and the floor (our
catalog queries alone). Exit status: 0 when every measurement ran (the PASS/FAIL target lines
are informative only); 1 when something failed to run. See
bench/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.apply_get import (  # noqa: E402
    BenchError,
    Run,
    clean_env,
    find_entrepot,
    gnu_time_works,
    run,
    run_in_tmp,
    run_with_rss,
)
from scripts.services import PostgresServer  # noqa: E402

SCHEMA = "sales"
PARENT = "parent"
ROLE = "bench_reader"
ROLE_PASSWORD = "Bench-Reader-1"
WORKFLOW = "benchscanner"
TABLES_PER_TRANSACTION = 250  # keeps the locks of one transaction within the shared lock table

# The targets of the issue; they apply at 10,000 tables.
TARGET_TABLES = 10_000
TARGET_END_TO_END_S = 5.0
TARGET_VS_PER_TABLE = 40.0
TARGET_VS_BULK = 2.0
TARGET_VS_FLOOR = 1.5
TARGET_RESCAN_S = 1.5
TARGET_RSS_BYTES = 500 * 1000 * 1000  # 500 MB

# Columns 3.. of every table (1 is the primary key `id`, 2 the foreign key `prev_id`), cycled
# with a numeric suffix when --columns asks for more.
COLUMN_TYPES: list[tuple[str, str]] = [
    ("code", "varchar(32) NOT NULL"),
    ("name", "text"),
    ("amount", "numeric(12,2)"),
    ("quantity", "integer DEFAULT 0"),
    ("price", "double precision"),
    ("active", "boolean DEFAULT true"),
    ("created_at", "timestamptz DEFAULT now()"),
    ("updated_on", "date"),
    ("payload", "jsonb"),
    ("tags", "text[]"),
    ("ref", "uuid"),
    ("score", "real"),
    ("rank", "smallint"),
]

SECRET_AND_DEPOT = """\
name: {depot}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: {user}, password: {password}}}
---
name: {depot}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: {depot}-r, allkeys: true}}]
  postgresql: {{host: {host}, port: {port}, database: {database}}}
"""

SCANNER = """\
version: v1
name: {workflow}
type: workflow
description: bench scan of {database}
workflow:
  dag:
    - name: scanjob
      spec:
        stack: scanner:2.0
        compute: runnable-default
        stackSpec:
          depot: dataos://{depot}
"""

RUN_LINE = re.compile(
    r"^running\(\S*\) \S+\.\.\.(?P<status>\w+) \(run \d+: (?P<datasets>\d+) datasets"
)
# A full scan logs "extracted N datasets ... in S s"; a rescan whose catalog signature has not
# moved logs "unchanged since the last full scan (signature ..., S s)".
EXTRACTED = re.compile(
    r"(?:extracted \d+ datasets .* in |unchanged since the last full scan \(signature \w+, )"
    r"(?P<seconds>[\d.]+) s"
)
# Every run logs its scan's own duration, as the issue defines "end to end": from connecting to
# the source to the catalog committed.
SCANNED = re.compile(r"scanned: connect to catalog committed in (?P<seconds>[\d.]+) s")


# --- the database -----------------------------------------------------------------------------


def table_name(i: int) -> str:
    return f"t{i:05d}"


def column_defs(columns: int) -> list[tuple[str, str]]:
    extra = []
    for k in range(columns - 2):
        name, typ = COLUMN_TYPES[k % len(COLUMN_TYPES)]
        round_ = k // len(COLUMN_TYPES)
        extra.append((f"{name}_{round_}" if round_ else name, typ))
    return extra


def write_ddl(path: Path, tables: int, columns: int) -> None:
    """One SQL script: the schema, a shared parent table, then N tables in batched transactions.

    Table i has `id` (PK), `prev_id` (FK to table i-1, or to the parent for table 0), the
    other columns of mixed types, an index on `code`, a table comment and two column comments.
    """
    extra = column_defs(columns)
    with path.open("w") as out:
        out.write(f"CREATE SCHEMA {SCHEMA};\n")
        out.write(f"CREATE TABLE {SCHEMA}.{PARENT} (id bigint PRIMARY KEY, name text);\n")
        out.write(f"COMMENT ON TABLE {SCHEMA}.{PARENT} IS 'what table 0 references';\n")
        for i in range(tables):
            if i % TABLES_PER_TRANSACTION == 0:
                out.write("BEGIN;\n")
            name = f"{SCHEMA}.{table_name(i)}"
            target = f"{SCHEMA}.{table_name(i - 1)}" if i else f"{SCHEMA}.{PARENT}"
            cols = ",\n  ".join(f"{c} {t}" for c, t in extra)
            out.write(
                f"CREATE TABLE {name} (\n  id bigint PRIMARY KEY,\n"
                f"  prev_id bigint REFERENCES {target} (id) ON DELETE SET NULL,\n  {cols}\n);\n"
                f"CREATE INDEX {table_name(i)}_{extra[0][0]}_idx ON {name} ({extra[0][0]});\n"
                f"COMMENT ON TABLE {name} IS 'bench table {i}: {columns} columns';\n"
                f"COMMENT ON COLUMN {name}.id IS 'the key of table {i}';\n"
                f"COMMENT ON COLUMN {name}.prev_id IS 'references {target}';\n"
            )
            if i % TABLES_PER_TRANSACTION == TABLES_PER_TRANSACTION - 1 or i == tables - 1:
                out.write("COMMIT;\n")
        out.write(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {ROLE};\n")
        out.write(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {ROLE};\n")
        out.write("VACUUM (ANALYZE);\n")  # as a settled database: hint bits set, no autovacuum


def build_database(
    server: PostgresServer, tmp: Path, database: str, tables: int, cols: int
) -> float:
    server.create_database(database)
    script = tmp / f"{database}.sql"
    write_ddl(script, tables, cols)
    start = time.perf_counter()
    server.psql(file=script, database=database)
    took = time.perf_counter() - start
    script.unlink()
    count = server.psql(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{SCHEMA}' AND c.relkind = 'r'",
        database=database,
    )
    if int(count) != tables + 1:
        raise BenchError(f"{database}: built {count.strip()} tables, expected {tables + 1}")
    return took


# --- the measurements -------------------------------------------------------------------------


@dataclass
class Result:
    """Seconds of each measurement (one entry per run)."""

    tables: int
    build_s: float = 0.0
    first: list[float] = field(default_factory=list)  # apply -f scanner.yml, over a fresh store
    first_scan: list[float] = field(default_factory=list)  # its connect..committed (the run's log)
    first_extract: list[float] = field(default_factory=list)  # its connector.scan (the run's log)
    first_rss_kib: int = 0  # the largest over the runs
    rescan: list[float] = field(default_factory=list)  # apply -f scanner.yml -r, unchanged
    rescan_scan: list[float] = field(default_factory=list)
    rescan_extract: list[float] = field(default_factory=list)
    rescan_rss_kib: int = 0
    no_run: list[float] = field(default_factory=list)  # apply, workflow unchanged: nothing runs
    floor: list[float] = field(default_factory=list)
    floor_sequential: list[float] = field(default_factory=list)
    in_process: list[float] = field(default_factory=list)
    bulk: list[float] = field(default_factory=list)
    bulk_queries: int = 0
    per_table_s: float = 0.0  # for all N tables (extrapolated when sampled)
    per_table_sample: int = 0
    per_table_queries: int = 0  # over the sample
    breakdown: list[tuple[str, float]] = field(default_factory=list)


def pg_connect(server: PostgresServer, database: str) -> Any:
    import psycopg

    return psycopg.connect(
        host=server.host,
        port=server.port,
        dbname=database,
        user=ROLE,
        password=ROLE_PASSWORD,
        autocommit=True,
    )


def round_trip_ms(server: PostgresServer, database: str, count: int = 200) -> float:
    """The measured cost of one statement's round trip (median of `count`)."""
    with pg_connect(server, database) as pg:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            pg.execute("SELECT 1").fetchone()
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def time_floor(server: PostgresServer, database: str) -> float:
    """The floor: our catalog queries run exactly as a first scan runs them (`catalog_queries`:
    the columns streamed on one session while a second, on the same snapshot, runs the
    relations, constraints, indexes, enums, schemas and the catalog signature), each row fetched
    and dropped. Both sessions are opened, with the scan's settings, outside the timer."""
    from collections import deque
    from contextlib import contextmanager

    from entrepot.catalog.model import ScanFilters
    from entrepot.connectors import postgresql as pgc

    def drain(rows: Any) -> None:
        deque(rows, maxlen=0)

    with pg_connect(server, database) as pg, pg_connect(server, database) as other:
        pgc.prepare_session(pg, 300.0)
        pgc.prepare_session(other, 300.0)

        @contextmanager
        def second() -> Any:
            yield other

        gc.collect()
        start = time.perf_counter()
        pgc.catalog_queries(pg, ScanFilters(), drain, second=second, database=database)
        return time.perf_counter() - start


def time_floor_sequential(server: PostgresServer, database: str) -> float:
    """For context: the six catalog queries one after the other on one session, fetchall()."""
    from entrepot.catalog.model import ScanFilters
    from entrepot.connectors import postgresql as pgc

    params = pgc.scan_filters_params(ScanFilters())
    queries = [
        (pgc.Q_RELATIONS, params),
        (pgc.Q_COLUMNS, params),
        (pgc.Q_CONSTRAINTS, params),
        (pgc.Q_INDEXES, params),
        (pgc.Q_ENUMS, None),
        (pgc.Q_SCHEMAS, params),
    ]
    with pg_connect(server, database) as pg:
        pgc.prepare_session(pg, 300.0)
        gc.collect()
        start = time.perf_counter()
        for sql, args in queries:
            pg.execute(sql, args).fetchall()
        return time.perf_counter() - start


def time_scan_catalog(server: PostgresServer, database: str, tables: int) -> tuple[float, Any]:
    """scan_catalog in-process as a first scan runs it (a second session opened inside, the
    signature included): the queries and the assembly of the datasets."""
    from contextlib import contextmanager

    from entrepot.catalog.model import ScanFilters
    from entrepot.connectors.postgresql import prepare_session, scan_catalog

    @contextmanager
    def second() -> Any:
        with pg_connect(server, database) as other:
            prepare_session(other, 300.0)
            yield other

    with pg_connect(server, database) as pg:
        prepare_session(pg, 300.0)
        gc.collect()
        start = time.perf_counter()
        scan = scan_catalog(pg, ScanFilters(), second=second, database=database)
        took = time.perf_counter() - start
    if len(scan.datasets) != tables + 1:
        raise BenchError(f"scan_catalog found {len(scan.datasets)} datasets, not {tables + 1}")
    return took, scan


def sqlalchemy_engine(server: PostgresServer, database: str) -> tuple[Any, list[int]]:
    """An engine, and a counter of the statements it sends (round trips)."""
    from sqlalchemy import create_engine, event

    engine = create_engine(server.url(database, user=ROLE, password=ROLE_PASSWORD))
    sent = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        sent[0] += 1

    return engine, sent


def time_bulk(server: PostgresServer, database: str, tables: int) -> tuple[float, int]:
    """inspect() to the last get_multi_* returned; the connection is opened outside."""
    from sqlalchemy import inspect

    engine, sent = sqlalchemy_engine(server, database)
    try:
        with engine.connect() as conn:
            gc.collect()
            sent[0] = 0
            start = time.perf_counter()
            insp = inspect(conn)
            columns = insp.get_multi_columns(schema=SCHEMA)
            insp.get_multi_pk_constraint(schema=SCHEMA)
            insp.get_multi_foreign_keys(schema=SCHEMA)
            insp.get_multi_indexes(schema=SCHEMA)
            insp.get_multi_table_comment(schema=SCHEMA)
            took = time.perf_counter() - start
    finally:
        engine.dispose()
    if len(columns) != tables + 1:
        raise BenchError(f"get_multi_columns reflected {len(columns)} tables, not {tables + 1}")
    return took, sent[0]


def time_per_table(server: PostgresServer, database: str, names: list[str]) -> tuple[float, int]:
    """The five per-table Inspector calls for each name, one inspector over one connection."""
    from sqlalchemy import inspect

    engine, sent = sqlalchemy_engine(server, database)
    try:
        with engine.connect() as conn:
            gc.collect()
            sent[0] = 0
            start = time.perf_counter()
            insp = inspect(conn)
            for name in names:
                insp.get_columns(name, schema=SCHEMA)
                insp.get_pk_constraint(name, schema=SCHEMA)
                insp.get_foreign_keys(name, schema=SCHEMA)
                insp.get_indexes(name, schema=SCHEMA)
                insp.get_table_comment(name, schema=SCHEMA)
            return time.perf_counter() - start, sent[0]
    finally:
        engine.dispose()


def end_to_end(
    result: Result,
    server: PostgresServer,
    database: str,
    folder: Path,
    repeat: int,
    use_gnu_time: bool,
) -> None:
    """As a user runs it, each command a fresh process.

    Once, not timed: a store with the depot and its secret applied. Then per run: a copy of
    that store, `apply -f scanner.yml` (creates the workflow and runs it: the first scan), `apply
    -f scanner.yml -r` (the rescan of the unchanged database) and `apply -f scanner.yml` again
    (the workflow is unchanged, so nothing runs: the fixed cost of a fresh `apply`).
    """
    entrepot = str(find_entrepot())
    depot = f"pg{result.tables}"
    depot_file = folder / "depot.yml"
    folder.mkdir(parents=True)
    depot_file.write_text(
        SECRET_AND_DEPOT.format(
            depot=depot,
            user=ROLE,
            password=ROLE_PASSWORD,
            host=server.host,
            port=server.port,
            database=database,
        )
    )
    scanner = folder / "scanner.yml"
    scanner.write_text(SCANNER.format(workflow=WORKFLOW, database=database, depot=depot))
    template = folder / "home-template"
    template.mkdir()
    run([entrepot, "apply", "-f", str(depot_file), "--no-verify"], clean_env(template))

    apply = [entrepot, "apply", "-f", str(scanner)]
    log = [entrepot, "log", "-t", "workflow", "-n", WORKFLOW]
    for i in range(repeat):
        home = folder / f"home-{i}"
        shutil.copytree(template, home)
        env = clean_env(home)
        first, rss = run_with_rss(apply, env, use_gnu_time)
        expect_run(first, result.tables + 1, "added")
        result.first.append(first.seconds)
        result.first_rss_kib = max(result.first_rss_kib, rss)
        first_log = run(log, env)
        result.first_scan.append(log_seconds(first_log, SCANNED, "scanned: ... committed in N s"))
        result.first_extract.append(log_seconds(first_log, EXTRACTED, "extracted ... in N s"))

        again, rss = run_with_rss([*apply, "-r"], env, use_gnu_time)
        expect_run(again, result.tables + 1, "no change")
        result.rescan.append(again.seconds)
        result.rescan_rss_kib = max(result.rescan_rss_kib, rss)
        again_log = run(log, env)
        result.rescan_scan.append(log_seconds(again_log, SCANNED, "scanned: ... committed in N s"))
        result.rescan_extract.append(log_seconds(again_log, EXTRACTED, "extracted ... in N s"))

        nothing = run(apply, env)
        if RUN_LINE.search(nothing.stdout) or "unchanged" not in nothing.stdout:
            raise BenchError(f"expected an unchanged workflow and no run:\n{nothing.stdout}")
        result.no_run.append(nothing.seconds)
        shutil.rmtree(home)


def log_seconds(log: Run, pattern: re.Pattern[str], what: str) -> float:
    match = pattern.search(log.stdout)
    if match is None:
        raise BenchError(f"no '{what}' line in the run's log:\n{log.stdout}")
    return float(match["seconds"])


def expect_run(result: Run, datasets: int, changes: str) -> None:
    for line in result.stdout.splitlines():
        match = RUN_LINE.match(line)
        if match:
            if match["status"] != "succeeded" or int(match["datasets"]) != datasets:
                break
            if changes not in line:
                raise BenchError(f"expected '{changes}' in: {line}")
            return
    raise BenchError(
        f"expected a run that succeeded with {datasets} datasets; got:\n"
        + (result.stdout + result.stderr).strip()
    )


def breakdown(scan: Any, tmp: Path) -> list[tuple[str, float]]:
    """Where the commit step's time goes, in-process, on the datasets of one scan."""
    from entrepot.catalog import merge
    from entrepot.catalog.merge import MergeOptions, merge_scan
    from entrepot.store import now
    from entrepot.store.migrations import upgrade
    from entrepot.store.store import make_engine

    rows: list[tuple[str, float]] = []
    body = getattr(merge, "_body", None)  # private: skipped if it is renamed
    if body is not None:
        gc.collect()
        start = time.perf_counter()
        for dataset in scan.datasets:
            body(dataset)
        rows.append(("merge: details JSON + fingerprints (_body)", time.perf_counter() - start))
    gc.collect()
    start = time.perf_counter()
    for dataset in scan.datasets:
        dataset.search_text()
    rows.append(("merge: search_text", time.perf_counter() - start))

    path = tmp / "breakdown.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            upgrade(conn)
        for label in ("merge_scan into SQLite, first scan", "merge_scan into SQLite, rescan"):
            gc.collect()
            start = time.perf_counter()
            with engine.begin() as conn:
                merged = merge_scan(
                    conn,
                    source="bench",
                    depot="bench",
                    source_type="postgresql",
                    scan=scan,
                    options=MergeOptions(),
                    run_id=None,
                    now=now(),
                )
            rows.append((f"{label} (commit included)", time.perf_counter() - start))
            if merged.added + merged.unchanged != len(scan.datasets):
                raise BenchError(f"merge_scan counted {merged.counts()}")
    finally:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return rows


def process_start(env_home: Path) -> list[tuple[str, list[float]]]:
    """Fresh-process costs: a bare interpreter, and the imports of the apply + scan path."""
    env = clean_env(env_home)
    imports = (
        "import entrepot.cli.main, entrepot.services.resources, entrepot.scanner.runner, "
        "entrepot.catalog.merge, entrepot.connectors.postgresql, psycopg, sqlalchemy"
    )
    rows = []
    for label, cmd in (
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import <apply + scan modules>'", [sys.executable, "-c", imports]),
    ):
        run(cmd, env)  # warm-up (and .pyc refresh)
        rows.append((label, [run(cmd, env).seconds for _ in range(5)]))
    return rows


# --- the report -------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def med(samples: list[float]) -> float:
    return statistics.median(samples)


def report(
    r: Result, args: argparse.Namespace, start_rows: list[tuple[str, list[float]]], rss_source: str
) -> None:
    # "ours end to end" as the issue defines it: connect to catalog committed, from the run's
    # log. The fresh process around it (interpreter, imports, manifest, run record) is printed
    # too, and the 5 s target is held to it: the stricter reading.
    ours, fresh = med(r.first_scan), med(r.first)
    per_table, bulk, floor, rescan = r.per_table_s, med(r.bulk), med(r.floor), med(r.rescan)
    print()
    network = f", {args.latency_ms:g} ms added round trip" if args.latency_ms else ", loopback"
    print(f"== {r.tables:,} tables x {args.columns} columns (+ the parent table){network} ==")
    if r.per_table_sample < r.tables:
        per_table_label = (
            f"per-table Inspector: EXTRAPOLATED from {r.per_table_sample:,} random tables"
        )
    else:
        per_table_label = f"per-table Inspector: all {r.tables:,} tables"
    rows: list[tuple[str, list[float], str]] = [
        ("ours end to end: connect to catalog committed (run's log)", r.first_scan, "1.0x"),
        ("  of which connector.scan (run's log)", r.first_extract, ""),
        ("ours fresh process: apply -f scanner.yml, start to exit", r.first, ""),
        ("ours rescan, unchanged: connect to catalog committed", r.rescan_scan, ""),
        ("  of which connector.scan (run's log)", r.rescan_extract, ""),
        ("ours rescan, unchanged: apply -r (fresh process)", r.rescan, ""),
        ("ours fixed cost: apply, nothing to run (fresh process)", r.no_run, ""),
        (per_table_label, [per_table], f"{per_table / ours:.1f}x"),
        ("SQLAlchemy bulk reflection (get_multi_*)", r.bulk, f"{bulk / ours:.2f}x"),
        ("ours in-process: scan_catalog (queries + datasets)", r.in_process, ""),
        ("floor: our catalog queries as our scan runs them", r.floor, f"{floor / ours:.2f}x"),
        (
            "  context: the six queries in sequence, one session",
            r.floor_sequential,
            f"{med(r.floor_sequential) / ours:.2f}x",
        ),
    ]
    rows += [(f"breakdown: {label}", [seconds], "") for label, seconds in r.breakdown]
    rows += [(f"context: {label}", samples, "") for label, samples in start_rows]
    width = max(len(label) for label, _, _ in rows)
    print(f"{'measurement':<{width}}  runs  median s     min s  vs ours e2e")
    print(f"{'-' * width}  ----  --------  --------  -----------")
    for label, samples, ratio in rows:
        print(
            f"{label:<{width}}  {len(samples):>4}  {med(samples):8.3f}  {min(samples):8.3f}  "
            f"{ratio}"
        )
    per = r.per_table_queries / max(1, r.per_table_sample)
    print(
        f"round trips: ours 7 queries on 2 sessions; bulk reflection {r.bulk_queries}; "
        f"per-table Inspector {per:.1f} per table ({per * r.tables:,.0f} in all)"
    )
    print(f"(database built in {r.build_s:.1f} s, not measured)")
    first_rss, rescan_rss = r.first_rss_kib * 1024, r.rescan_rss_kib * 1024
    print(
        f"peak RSS ({rss_source}): scan {first_rss / 2**20:.1f} MiB ({first_rss / 1e6:.0f} MB), "
        f"rescan {rescan_rss / 2**20:.1f} MiB ({rescan_rss / 1e6:.0f} MB)"
    )
    applies = r.tables == TARGET_TABLES
    note = "" if applies else f" (informative: the targets are for {TARGET_TABLES:,} tables)"
    print(f"targets, on the medians{note}:")
    peak = max(first_rss, rescan_rss)
    checks = [
        (
            f"end to end <= {TARGET_END_TO_END_S:g} s (fresh process)",
            f"{fresh:.2f} s",
            fresh <= TARGET_END_TO_END_S,
        ),
        (
            f">= {TARGET_VS_PER_TABLE:g}x faster than the per-table Inspector",
            f"{per_table / ours:.1f}x",
            per_table / ours >= TARGET_VS_PER_TABLE,
        ),
        (
            f">= {TARGET_VS_BULK:g}x faster than bulk reflection",
            f"{bulk / ours:.2f}x",
            bulk / ours >= TARGET_VS_BULK,
        ),
        (
            f"<= {TARGET_VS_FLOOR:g}x the floor",
            f"{ours / floor:.2f}x",
            ours / floor <= TARGET_VS_FLOOR,
        ),
        (
            f"rescan <= {TARGET_RESCAN_S:g} s (fresh process)",
            f"{rescan:.2f} s",
            rescan <= TARGET_RESCAN_S,
        ),
        ("peak RSS < 500 MB", f"{peak / 1e6:.0f} MB", peak < TARGET_RSS_BYTES),
    ]
    for label, value, ok in checks:
        print(f"  {label:<50} {value:>10}  {verdict(ok)}")
    print(
        f"  (the ratios take ours = connect to catalog committed, {ours:.2f} s; with the fresh "
        f"process's {fresh:.2f} s: {per_table / fresh:.1f}x, {bulk / fresh:.2f}x, "
        f"{fresh / floor:.2f}x the floor)"
    )


# --- main -------------------------------------------------------------------------------------


class Delayed:
    """The server seen through a TCP proxy that delays every chunk by half the round-trip time
    in each direction. Chunks keep their order and streams keep flowing (the delay is added,
    not a stop-and-wait), so bulk transfers cost about one extra round trip; chatty clients
    pay it on every statement."""

    def __init__(self, server: PostgresServer, latency_ms: float) -> None:
        import asyncio
        import threading

        self.server = server
        self.host = "127.0.0.1"
        self.delay = latency_ms / 2000.0
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        ports: list[int] = []

        async def pipe(reader: Any, writer: Any) -> None:
            loop = asyncio.get_running_loop()
            try:
                while data := await reader.read(65536):
                    loop.call_later(self.delay, writer.write, data)
            finally:
                loop.call_later(self.delay, writer.close)

        async def handle(client_reader: Any, client_writer: Any) -> None:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                server.host, server.port
            )
            await asyncio.gather(
                pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer)
            )

        async def serve() -> None:
            listener = await asyncio.start_server(handle, "127.0.0.1", 0)
            ports.append(listener.sockets[0].getsockname()[1])
            started.set()
            async with listener:
                await listener.serve_forever()

        threading.Thread(target=lambda: self.loop.run_until_complete(serve()), daemon=True).start()
        started.wait(10)
        self.port = ports[0]

    def url(self, database: str, user: str | None = None, password: str | None = None) -> str:
        real = self.server.url(database, user=user, password=password)
        return real.replace(f":{self.server.port}/", f":{self.port}/")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("table counts must be at least 1")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=parse_sizes, default=[1000, 10000], help="N,N,...")
    parser.add_argument("--columns", type=int, default=15, help="columns per table (>= 3)")
    parser.add_argument(
        "--inspector-sample",
        type=int,
        default=300,
        help="tables the per-table Inspector is timed on above 1,000 tables (extrapolated)",
    )
    parser.add_argument(
        "--full-inspector", action="store_true", help="run the per-table Inspector on every table"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each in-process measurement (median)"
    )
    parser.add_argument(
        "--no-breakdown", action="store_true", help="skip the in-process merge breakdown"
    )
    parser.add_argument("--seed", type=int, default=1, help="of the Inspector's random sample")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="round-trip time added between every client and PostgreSQL (a delaying TCP proxy): "
        "what a database across a network costs; 0 = loopback",
    )
    args = parser.parse_args(argv)
    if args.columns < 3 or args.inspector_sample < 1 or args.repeat < 1:
        parser.error("--columns must be >= 3, --inspector-sample and --repeat >= 1")
    return args


def measure(
    args: argparse.Namespace, server: PostgresServer, tmp: Path, tables: int, use_gnu_time: bool
) -> Result:
    result = Result(tables)
    database = f"bench_{tables}"
    print(f"building {database}: {tables:,} tables x {args.columns} columns ...", flush=True)
    result.build_s = build_database(server, tmp, database, tables, args.columns)
    if args.latency_ms > 0:  # everything measured from here goes through the proxy
        direct = round_trip_ms(server, database)
        server = Delayed(server, args.latency_ms)  # type: ignore[assignment]
        print(
            f"  round trip of SELECT 1: {direct:.2f} ms direct, "
            f"{round_trip_ms(server, database):.2f} ms through the proxy",
            flush=True,
        )
    time_floor(server, database)  # warm-up, not counted: every measurement finds warm caches
    print(f"  built in {result.build_s:.1f} s; our scan end to end ...", flush=True)
    end_to_end(result, server, database, tmp / database, args.repeat, use_gnu_time)

    print("  floor, scan_catalog, bulk reflection ...", flush=True)
    for _ in range(args.repeat):
        result.floor.append(time_floor(server, database))
        result.floor_sequential.append(time_floor_sequential(server, database))
    scan = None
    for _ in range(args.repeat):
        scan = None  # the previous run's datasets would slow the garbage collector down
        took, scan = time_scan_catalog(server, database, tables)
        result.in_process.append(took)
    for _ in range(args.repeat):
        took, result.bulk_queries = time_bulk(server, database, tables)
        result.bulk.append(took)

    names = [table_name(i) for i in range(tables)]
    if not (args.full_inspector or tables <= 1000 or args.inspector_sample >= tables):
        names = random.Random(args.seed).sample(names, args.inspector_sample)
    print(f"  per-table Inspector over {len(names):,} tables ...", flush=True)
    took, result.per_table_queries = time_per_table(server, database, names)
    result.per_table_sample = len(names)
    result.per_table_s = took * tables / len(names)
    if not args.no_breakdown:
        result.breakdown = breakdown(scan, tmp)
    return result


def bench(args: argparse.Namespace, tmp: Path) -> None:
    entrepot = find_entrepot()
    use_gnu_time = gnu_time_works()
    rss_source = "/usr/bin/time -f %M" if use_gnu_time else "os.wait4 ru_maxrss"
    print(f"python {sys.version.split()[0]} at {sys.executable}; entrepot at {entrepot}")
    server = PostgresServer(tmp / "pg")
    try:
        server.start()
        version = server.psql("SHOW server_version").strip()
        print(f"PostgreSQL {version} on {server.host}:{server.port}, in {tmp}")
        server.create_role(ROLE, ROLE_PASSWORD)
        start_rows = process_start(tmp / "home-start")
        for tables in args.tables:
            result = measure(args, server, tmp, tables, use_gnu_time)
            report(result, args, start_rows, rss_source)
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_tmp("entrepot-bench-scan-", lambda tmp: bench(args, tmp))


if __name__ == "__main__":
    sys.exit(main())
