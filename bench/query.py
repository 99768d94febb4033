"""Reading a PostgreSQL table into Arrow: ours against bare DuckDB and the direct readers.

    .venv/bin/python bench/query.py [--rows 5000000] [--repeat 3] [--slow-repeat 1]

Starts a throwaway PostgreSQL server in a temporary directory, builds a table of --rows rows x 5
columns (bigint, integer, double precision, timestamp, text), applies a depot for it and
measures, in one run: `Client.sql` (a fresh Client each run: depot resolution, secret
decryption, attach and the read), `entrepot query --output parquet --out FILE` (a fresh
process), bare DuckDB with the same postgres extension loaded by path (in-process, and in a
fresh process writing the same parquet), ADBC (adbc-driver-postgresql), connectorx, psycopg 3
and pandas.read_sql; the depot resolution and attach overhead; and, through a relay that counts
the bytes the server sends, what a 1%-selective query transfers against a full read, with the
rows the source's COPY statements (from its log) produced. The peers come with the `bench`
extra: pip install -e '.[bench]'. Exit status: 0 when every measurement ran (the PASS/FAIL
target lines are informative only); 1 when something failed to run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import statistics
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.apply_get import (  # noqa: E402
    BenchError,
    clean_env,
    find_entrepot,
    run,
    run_in_tmp,
)
from scripts.services import PostgresServer  # noqa: E402

DATABASE = "bench_query"
TABLE = "orders"
DEPOT = "benchpg"  # the depot the timings read through
COUNTED = "benchcounted"  # the same database through the byte-counting relay
ROLE, ROLE_PASSWORD = "bench_reader", "Bench-Reader-1"
COUNTED_ROLE = "bench_counted"  # logs every statement it sends (log_statement = all)
CUSTOMERS = 100_000  # customer_id = id % CUSTOMERS
FILTER = "customer_id < 1000"  # 1% of the rows
SOURCE_SQL = f"SELECT * FROM {TABLE}"
PREDICATE = re.compile(r"""WHERE .*"?customer_id"?\s*<\s*'?1000\b""")  # FILTER, in the source's SQL

TARGET_VS_BARE = 1.10
TARGET_OVERHEAD_S = 0.100
TARGET_FILTERED_BYTES = 0.02  # a 1% query may send at most 2% of a full read's bytes

DEPOTS = """\
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

# A fresh process doing what `entrepot query --output parquet --out FILE` does, without
# entrepot: connect, LOAD the same extension file, ATTACH, stream batches into the same writer.
BARE_PARQUET = textwrap.dedent(
    """\
    import os, sys, duckdb, pyarrow.parquet as pq
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    con.execute(f"LOAD '{os.environ['BENCH_EXTENSION']}'")
    con.execute(f"ATTACH '{os.environ['BENCH_CONNINFO']}' AS pg (TYPE postgres, READ_ONLY)")
    reader = con.execute(sys.argv[1]).to_arrow_reader(122_880)
    with open(sys.argv[2], "wb") as fh, pq.ParquetWriter(fh, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    """
)


# --- the source -------------------------------------------------------------------------------


@dataclass
class Source:
    server: PostgresServer
    rows: int
    home: Path
    relay: CountingRelay

    def conninfo(self, user: str = ROLE, password: str = ROLE_PASSWORD) -> str:
        s = self.server
        return f"host={s.host} port={s.port} dbname={DATABASE} user={user} password={password}"

    def uri(self) -> str:
        s = self.server
        return f"postgresql://{ROLE}:{ROLE_PASSWORD}@{s.host}:{s.port}/{DATABASE}"

    @property
    def matching(self) -> int:
        """Rows of the 1% filter: ids 1..rows with id % CUSTOMERS < 1000."""
        full, rest = divmod(self.rows, CUSTOMERS)
        return full * 1000 + min(rest + 1, 1000) - 1  # id 0 does not exist


def build(server: PostgresServer, rows: int) -> float:
    server.create_database(DATABASE)
    start = time.perf_counter()
    server.psql(
        f"""
        CREATE TABLE {TABLE} (
          id bigint NOT NULL,
          customer_id integer NOT NULL,
          amount double precision NOT NULL,
          created_at timestamp NOT NULL,
          status text NOT NULL
        );
        INSERT INTO {TABLE}
        SELECT g, g % {CUSTOMERS}, (g % 100000) / 100.0 + 0.25,
               timestamp '2024-01-01' + g * interval '1 second',
               (ARRAY['new', 'paid', 'shipped', 'returned'])[g % 4 + 1]
        FROM generate_series(1, {rows}) g;
        GRANT SELECT ON {TABLE} TO {ROLE}, {COUNTED_ROLE};
        ALTER ROLE {COUNTED_ROLE} IN DATABASE {DATABASE} SET log_statement = 'all';
        VACUUM (ANALYZE) {TABLE};
        """,
        database=DATABASE,
    )
    return time.perf_counter() - start


class CountingRelay:
    """A TCP relay in front of the server that counts the bytes the server sends."""

    def __init__(self, host: str, port: int) -> None:
        self.sent = 0
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        ports: list[int] = []

        async def pipe(reader: Any, writer: Any, count: bool) -> None:
            try:
                while data := await reader.read(1 << 16):
                    if count:
                        self.sent += len(data)
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        async def handle(client_reader: Any, client_writer: Any) -> None:
            up_reader, up_writer = await asyncio.open_connection(host, port)
            await asyncio.gather(
                pipe(client_reader, up_writer, False), pipe(up_reader, client_writer, True)
            )

        async def serve() -> None:
            listener = await asyncio.start_server(handle, "127.0.0.1", 0)
            ports.append(listener.sockets[0].getsockname()[1])
            started.set()
            async with listener:
                await listener.serve_forever()

        threading.Thread(target=lambda: self.loop.run_until_complete(serve()), daemon=True).start()
        if not started.wait(10):
            raise BenchError("the counting relay did not start")
        self.port = ports[0]


# --- the readers ------------------------------------------------------------------------------


def ours_client(src: Source, sql: str | None = None) -> Any:
    from entrepot import Client

    client = Client(src.home, timeout=None)
    try:
        return client.sql(sql or f"SELECT * FROM {DEPOT}.public.{TABLE}")
    finally:
        client.close()


def bare_connect(src: Source) -> Any:
    import duckdb

    from entrepot.query.engine import extension_path

    con = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    con.execute(f"LOAD '{extension_path('postgres')}'")
    con.execute(f"ATTACH '{src.conninfo()}' AS pg (TYPE postgres, READ_ONLY)")
    return con


def bare_duckdb(src: Source) -> Any:
    con = bare_connect(src)
    try:
        return con.execute(f"SELECT * FROM pg.public.{TABLE}").to_arrow_table()
    finally:
        con.close()


def adbc(src: Source) -> Any:
    import adbc_driver_postgresql.dbapi

    with adbc_driver_postgresql.dbapi.connect(src.uri()) as conn, conn.cursor() as cur:
        cur.execute(SOURCE_SQL)
        return cur.fetch_arrow_table()


def connectorx(src: Source) -> Any:
    import connectorx as cx

    return cx.read_sql(src.uri(), SOURCE_SQL, return_type="arrow")


def psycopg_rows(src: Source) -> Any:
    import psycopg
    import pyarrow as pa

    with psycopg.connect(src.conninfo()) as pg:
        cursor = pg.execute(SOURCE_SQL)
        names = [d.name for d in cursor.description or ()]
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    del rows
    return pa.table({name: pa.array(col) for name, col in zip(names, columns, strict=True)})


def pandas_read_sql(src: Source) -> Any:
    import pandas as pd
    import pyarrow as pa
    from sqlalchemy import create_engine

    engine = create_engine(src.server.url(DATABASE, user=ROLE, password=ROLE_PASSWORD))
    try:
        frame = pd.read_sql(SOURCE_SQL, engine)
    finally:
        engine.dispose()
    return pa.Table.from_pandas(frame, preserve_index=False)


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def sample(label: str, fn: Callable[[], Any], rows: int) -> float:
    """One run of fn(), in seconds; it must return a table of `rows` rows (or that count)."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    got = result if isinstance(result, int) else result.num_rows
    if got != rows:
        raise BenchError(f"{label}: {got} rows, expected {rows}")
    return elapsed


def timed(label: str, fn: Callable[[], Any], repeat: int, rows: int, note: str = "") -> Row:
    """`repeat` runs of fn()."""
    row = Row(label, note=note)
    row.samples = [sample(label, fn, rows) for _ in range(repeat)]
    print(f"  {label}: {row.median:.3f} s", flush=True)
    return row


def timed_pair(
    first: tuple[str, Callable[[], Any]],
    second: tuple[str, Callable[[], Any]],
    repeat: int,
    rows: int,
) -> tuple[Row, Row]:
    """Two readers compared to each other, run alternately (first, second, first, ...) so
    that neither gains from the order: a warm page cache, a machine busier at one moment."""
    rows_a, rows_b = Row(first[0]), Row(second[0])
    for _ in range(repeat):
        for (label, fn), row in ((first, rows_a), (second, rows_b)):
            row.samples.append(sample(label, fn, rows))
    for row in (rows_a, rows_b):
        print(f"  {row.label}: {row.median:.3f} s", flush=True)
    return rows_a, rows_b


def ours_attach(src: Source) -> float:
    """A fresh Client to the statement ready to run: the depot's row, its secret decrypted,
    a DuckDB connection with the extension loaded, the depot attached, the sandbox set."""
    from entrepot import Client

    start = time.perf_counter()
    client = Client(src.home, timeout=None)
    client.engine.prepare(f"SELECT * FROM {DEPOT}.public.{TABLE}")
    took = time.perf_counter() - start
    client.close()
    return took


def bare_attach(src: Source) -> float:
    start = time.perf_counter()
    con = bare_connect(src)
    took = time.perf_counter() - start
    con.close()
    return took


def bare_first(src: Source) -> Any:
    con = bare_connect(src)
    try:
        return con.execute(f"SELECT * FROM pg.public.{TABLE} LIMIT 0").to_arrow_table()
    finally:
        con.close()


def to_parquet(cmd: list[str], env: dict[str, str], path: Path) -> int:
    """Run a command that writes `path`; the rows of the parquet file it wrote."""
    import pyarrow.parquet as pq

    run(cmd, env)
    rows: int = pq.read_metadata(path).num_rows
    path.unlink()
    return rows


@dataclass
class Transfer:
    label: str
    rows_result: int
    bytes_sent: int
    statements: list[str]
    rows_sent: int


COPY = re.compile(r"statement: (COPY \((?P<select>.*)\) TO STDOUT.*)$", re.MULTILINE)


def counted(src: Source, sql: str, label: str) -> Transfer:
    """Run `sql` over the counted depot; the bytes the server sent, and the COPY statements it
    received (its log), each replayed as a count(*) for the rows it sent."""
    import psycopg

    log = src.server.log_file
    offset = log.stat().st_size
    src.relay.sent = 0
    table = ours_client(src, sql)
    sent = src.relay.sent
    text = log.read_text(errors="replace")[offset:]
    statements = [m.group(1) for m in COPY.finditer(text)]
    rows_sent = 0
    s = src.server
    with psycopg.connect(
        host=s.host, port=s.port, dbname=DATABASE, user=s.superuser, password=s.superuser_password
    ) as pg:
        for match in COPY.finditer(text):
            row = pg.execute(f"SELECT count(*) FROM ({match['select']}) AS sent").fetchone()
            rows_sent += int(row[0]) if row else 0
    return Transfer(label, table.num_rows, sent, statements, rows_sent)


# --- the report -------------------------------------------------------------------------------


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f} ({os.cpu_count()} CPUs)"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(rows: list[Row], ours: Row, src: Source) -> None:
    print()
    print(f"== {src.rows:,} rows x 5 columns, PostgreSQL on loopback, into Arrow ==")
    width = max(len(r.label) for r in rows)
    print(f"{'reader':<{width}}  runs  median s     min s  vs client.sql")
    print(f"{'-' * width}  ----  --------  --------  -------------")
    for r in rows:
        ratio = f"{r.median / ours.median:.2f}x" if r.samples else ""
        print(
            f"{r.label:<{width}}  {len(r.samples):>4}  {r.median:8.3f}  {min(r.samples):8.3f}  "
            f"{ratio:>9}  {r.note}"
        )


def bench(args: argparse.Namespace, tmp: Path) -> None:
    import pyarrow  # noqa: F401  (imported once here, so no reader pays for it)

    from entrepot.query.engine import extension_path

    entrepot = find_entrepot()
    print(f"python {sys.version.split()[0]} at {sys.executable}; entrepot at {entrepot}")
    server = PostgresServer(tmp / "pg")
    try:
        server.start()
        version = server.psql("SHOW server_version").strip()
        print(f"PostgreSQL {version} on {server.host}:{server.port}, in {tmp}")
        server.create_role(ROLE, ROLE_PASSWORD)
        server.create_role(COUNTED_ROLE, ROLE_PASSWORD)
        print(f"load average at the start: {loadavg()}")
        print(f"building {TABLE}: {args.rows:,} rows x 5 columns ...", flush=True)
        build_s = build(server, args.rows)
        relay = CountingRelay(server.host, server.port)

        home = tmp / "home"
        home.mkdir()
        env = clean_env(home)
        for name in [k for k in os.environ if k.startswith("ENTREPOT_")]:
            del os.environ[name]
        os.environ.update(ENTREPOT_HOME=str(home), ENTREPOT_USER=env["ENTREPOT_USER"])
        manifest = tmp / "depots.yml"
        manifest.write_text(
            DEPOTS.format(
                depot=DEPOT, user=ROLE, password=ROLE_PASSWORD,
                host=server.host, port=server.port, database=DATABASE,
            )
            + "---\n"
            + DEPOTS.format(
                depot=COUNTED, user=COUNTED_ROLE, password=ROLE_PASSWORD,
                host=server.host, port=relay.port, database=DATABASE,
            )
        )  # fmt: skip
        run([str(entrepot), "apply", "-f", str(manifest), "--no-verify"], env)
        src = Source(server, args.rows, home, relay)
        print(f"  built in {build_s:.1f} s (not measured)", flush=True)

        # Warm-up, not counted: imports, the extension's shared library, the server's caches.
        ours_client(src, f"SELECT count(*) FROM {DEPOT}.public.{TABLE}")
        bare_duckdb(src)

        n, repeat, slow = args.rows, args.repeat, args.slow_repeat
        print("timing ...", flush=True)
        ours, bare = timed_pair(
            ("ours: Client().sql (fresh Client: resolve, attach, read)", lambda: ours_client(src)),
            (
                "bare DuckDB, same extension (connect, LOAD, ATTACH, read)",
                lambda: bare_duckdb(src),
            ),
            repeat,
            n,
        )
        peers = [
            timed("ADBC (adbc-driver-postgresql), fetch_arrow_table", lambda: adbc(src), repeat, n),
            timed("connectorx read_sql(return_type='arrow')", lambda: connectorx(src), repeat, n),
            timed("psycopg 3: fetchall, then pyarrow.table", lambda: psycopg_rows(src), slow, n),
            timed(
                "pandas.read_sql (SQLAlchemy + psycopg), from_pandas",
                lambda: pandas_read_sql(src),
                slow,
                n,
            ),
        ]
        out = tmp / "out.parquet"
        query = f"SELECT * FROM {DEPOT}.public.{TABLE}"
        ours_cli = [str(entrepot), "query", query, "--output", "parquet", "--out", str(out)]
        script = tmp / "bare_parquet.py"
        script.write_text(BARE_PARQUET)
        bare_env = dict(env, BENCH_EXTENSION=str(extension_path("postgres")))
        bare_env["BENCH_CONNINFO"] = src.conninfo()
        bare_cmd = [sys.executable, str(script), f"SELECT * FROM pg.public.{TABLE}", str(out)]
        cli, bare_cli = timed_pair(
            (
                "ours: entrepot query --output parquet --out FILE (process)",
                lambda: to_parquet(ours_cli, env, out),
            ),
            (
                "bare DuckDB -> same parquet writer (python process)",
                lambda: to_parquet(bare_cmd, bare_env, out),
            ),
            repeat,
            n,
        )
        filtered = timed(
            f"ours: Client().sql ... WHERE {FILTER} (1%)",
            lambda: ours_client(src, f"{query} WHERE {FILTER}"),
            repeat,
            src.matching,
        )

        print("overhead ...", flush=True)
        attach = Row("ours: fresh Client to statement prepared (resolve + attach)")
        attach.samples = [ours_attach(src) for _ in range(10)]
        bare_att = Row("bare DuckDB: connect + LOAD + ATTACH")
        bare_att.samples = [bare_attach(src) for _ in range(10)]
        first = timed(
            "ours: fresh Client, SELECT * ... LIMIT 0",
            lambda: ours_client(src, f"SELECT * FROM {DEPOT}.public.{TABLE} LIMIT 0"),
            10,
            0,
        )
        bare_first_row = timed(
            "bare DuckDB: connect .. SELECT * ... LIMIT 0", lambda: bare_first(src), 10, 0
        )

        print("bytes transferred (counting relay + the server's log) ...", flush=True)
        # What any statement costs on a fresh connection (session set-up, the scanner's catalog
        # queries, no COPY: DuckDB answers LIMIT 0 without reading the table).
        base = counted(src, f"SELECT * FROM {COUNTED}.public.{TABLE} LIMIT 0", "LIMIT 0")
        full = counted(src, f"SELECT * FROM {COUNTED}.public.{TABLE}", "full read")
        part = counted(
            src, f"SELECT * FROM {COUNTED}.public.{TABLE} WHERE {FILTER}", "filtered read"
        )
        if not full.statements or not part.statements:
            raise BenchError("no COPY statement in the server's log for a read")

        rows = [
            ours,
            bare,
            *peers,
            cli,
            bare_cli,
            filtered,
            attach,
            bare_att,
            first,
            bare_first_row,
        ]
        report(rows, ours, src)
        fastest = min(peers, key=lambda r: r.median)
        name = fastest.label.split(" ")[0]
        added = attach.median - bare_att.median
        print()
        print(
            f"fastest direct reader: {name} {fastest.median:.3f} s; client.sql "
            f"{ours.median:.3f} s, {fastest.median / ours.median:.2f}x the reader's speed"
        )
        print(
            f"vs bare DuckDB: client.sql {ours.median / bare.median:.3f}x, "
            f"CLI parquet {cli.median / bare_cli.median:.3f}x the bare process"
        )
        print(
            f"resolve + attach: ours {attach.median * 1000:.1f} ms, bare DuckDB's connect + LOAD "
            f"+ ATTACH {bare_att.median * 1000:.1f} ms: entrepot adds {added * 1000:.1f} ms"
        )
        for t in (base, full, part):
            data = t.bytes_sent - base.bytes_sent
            print(
                f"{t.label}: {t.rows_result:,} rows returned; the server sent {t.bytes_sent:,} "
                f"bytes ({data:,} beyond LIMIT 0's); {len(t.statements)} COPY statement(s), "
                f"which produce {t.rows_sent:,} rows"
            )
            for statement in t.statements[:4]:
                print(f"    {statement[:240]}")
        share = (part.bytes_sent - base.bytes_sent) / (full.bytes_sent - base.bytes_sent)
        print(
            f"filtered / full: {share:.2%} of the bytes beyond LIMIT 0's "
            f"({part.bytes_sent / full.bytes_sent:.2%} of all bytes), "
            f"{part.rows_sent / full.rows_sent:.2%} of the rows"
        )
        print(f"load average at the end: {loadavg()}")
        print()
        print(
            f"{verdict(ours.median <= fastest.median)}  client.sql at least as fast as the "
            f"fastest direct reader ({name})"
        )
        print(
            f"{verdict(ours.median <= TARGET_VS_BARE * bare.median)}  client.sql within 10% of "
            "bare DuckDB with the same extension"
        )
        print(
            f"{verdict(cli.median <= TARGET_VS_BARE * bare_cli.median)}  entrepot query --output "
            "parquet within 10% of a bare DuckDB process writing the same parquet"
        )
        print(
            f"{verdict(attach.median < TARGET_OVERHEAD_S)}  depot resolution + attach under "
            f"{TARGET_OVERHEAD_S * 1000:.0f} ms, DuckDB's own connect + LOAD + ATTACH included"
        )
        print(
            f"{verdict(added < TARGET_OVERHEAD_S)}  what entrepot adds to DuckDB's connect + LOAD "
            f"+ ATTACH under {TARGET_OVERHEAD_S * 1000:.0f} ms"
        )
        pushed = (
            part.rows_sent == src.matching
            and all(PREDICATE.search(s) for s in part.statements)
            and share <= TARGET_FILTERED_BYTES
        )
        print(
            f"{verdict(pushed)}  the 1% query read only matching rows from the source "
            f"({part.rows_sent:,} rows sent for {src.matching:,} matching, the filter in every "
            f"COPY; bytes at most {TARGET_FILTERED_BYTES:.0%} of a full read's)"
        )
    finally:
        server.stop()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=lambda v: int(v.replace("_", "")), default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fast reader")
    parser.add_argument(
        "--slow-repeat", type=int, default=1, help="runs of psycopg and pandas.read_sql"
    )
    args = parser.parse_args(argv)
    if args.rows < CUSTOMERS or args.repeat < 1 or args.slow_repeat < 1:
        parser.error(f"--rows must be >= {CUSTOMERS:,}, --repeat and --slow-repeat >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_tmp("entrepot-bench-query-", lambda tmp: bench(args, tmp))


if __name__ == "__main__":
    sys.exit(main())
