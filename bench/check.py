"""Benchmark: `entrepot check depot -a` over 50 depots, showing checks run concurrently and the
slowest one is bounded by the deadline.

The depots: 25 reachable (a throwaway local PostgreSQL), 10 on a closed port, 10 on a host that
does not resolve, and 5 on a server that accepts TCP and never answers (a hung database: only
the deadline ends those). One run, in a fresh process, with `--timeout` (default 3 s).

    .venv/bin/python bench/check.py [--timeout 3] [--reachable 25]

Prints the wall time, the sum of every check's own time (what a one-at-a-time checker such as
OpenMetadata's "Test Connection" would take at best), the ratio between them, and the slowest
check against the deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.services import PostgresServer, free_port  # noqa: E402

BIN = Path(sys.executable).parent


def depot(name: str, host: str, port: int) -> str:
    return f"""name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: bench_reader, password: Bench-Reader-1}}
---
name: {name}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: {name}-r, allkeys: true}}]
  postgresql: {{host: {host}, port: {port}, database: bench}}
"""


def silent_server() -> tuple[socket.socket, int]:
    """Accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def run(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "entrepot"), *args], env=env, capture_output=True, text=True, timeout=600
    )
    return time.perf_counter() - start, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=3.0, help="deadline of each check (s)")
    parser.add_argument("--reachable", type=int, default=25)
    parser.add_argument("--closed", type=int, default=10)
    parser.add_argument("--unresolvable", type=int, default=10)
    parser.add_argument("--hung", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="entrepot-bench-check-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)  # the postgres user must traverse it
        server = PostgresServer(folder / "pg").start()
        silent, silent_port = silent_server()
        try:
            server.create_role("bench_reader", "Bench-Reader-1")
            server.create_database("bench")
            server.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);", database="bench")
            server.psql("GRANT SELECT ON t TO bench_reader", database="bench")
            closed = free_port()
            docs: list[str] = []
            kinds: dict[str, str] = {}
            for i in range(args.reachable):
                docs.append(depot(f"ok{i}", server.host, server.port))
                kinds[f"ok{i}"] = "reachable"
            for i in range(args.closed):
                docs.append(depot(f"closed{i}", "127.0.0.1", closed))
                kinds[f"closed{i}"] = "closed port"
            for i in range(args.unresolvable):
                docs.append(depot(f"nodns{i}", f"db{i}.unresolvable.invalid", 5432))
                kinds[f"nodns{i}"] = "no DNS"
            for i in range(args.hung):
                docs.append(depot(f"hung{i}", "127.0.0.1", silent_port))
                kinds[f"hung{i}"] = "hung server"
            manifest = folder / "depots.yml"
            manifest.write_text("---\n".join(docs))
            env = {k: v for k, v in os.environ.items() if not k.startswith("ENTREPOT_")} | {
                "ENTREPOT_HOME": str(folder / "home")
            }
            _took, proc = run(["apply", "-f", str(manifest), "--no-verify"], env)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            wall, proc = run(
                ["check", "depot", "-a", "--timeout", str(args.timeout), "--output", "json"], env
            )
            if proc.returncode not in (0, 7):
                print(proc.stderr, file=sys.stderr)
                return 1
            results = json.loads(proc.stdout)
        finally:
            silent.close()
            server.stop()

    total = len(results)
    by_kind: dict[str, list[float]] = {}
    for record in results:
        by_kind.setdefault(kinds[record["depot"]], []).append(record["durationMs"] / 1000)
    summed = sum(sum(v) for v in by_kind.values())
    slowest = max(max(v) for v in by_kind.values())
    ok = sum(1 for r in results if r["ok"])
    expected_ok = args.reachable
    print(f"{total} depots checked with `entrepot check depot -a --timeout {args.timeout:g}`")
    print(f"{'kind':<14}{'depots':>8}{'mean s':>10}{'max s':>10}")
    for kind, values in by_kind.items():
        print(f"{kind:<14}{len(values):>8}{sum(values) / len(values):>10.3f}{max(values):>10.3f}")
    print()
    print(f"wall time of the command (fresh process): {wall:.2f} s")
    print(f"sum of the checks' own times (one at a time): {summed:.2f} s")
    print(f"concurrency: {summed / wall:.1f}x faster than checking one at a time")
    print(f"slowest check: {slowest:.2f} s; deadline {args.timeout:g} s")
    print(f"passed: {ok}/{total} (expected {expected_ok})")
    bounded = slowest <= args.timeout + 0.5
    within = wall <= args.timeout + 3.0
    print(f"slowest check bounded by the deadline (+0.5 s): {'PASS' if bounded else 'FAIL'}")
    print(f"whole run within deadline + 3 s of start-up: {'PASS' if within else 'FAIL'}")
    return 0 if ok == expected_ok else 1


if __name__ == "__main__":
    sys.exit(main())
