"""`make demo`: start a local PostgreSQL holding `sales_data`, then run the tutorial's commands.

Everything lives under .demo/ (the server, the Entrepôt home); `make demo-stop` stops the server.
The commands are printed as a user would type them, and run through the real CLI.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.services import PostgresServer  # noqa: E402

DEMO = ROOT / ".demo"
MANIFESTS = ROOT / "demo" / "manifests"
BIN = ROOT / ".venv" / "bin"


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(args: list[str], env: dict[str, str]) -> None:
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"$ {shown}", flush=True)
    subprocess.run([str(BIN / args[0]), *args[1:]], env=env, check=True)


def main() -> int:
    DEMO.mkdir(exist_ok=True)
    step("a local PostgreSQL with the sales_data database")
    server = PostgresServer(DEMO / "postgres").start()
    password_file = DEMO / "sales_reader.password"
    if not password_file.exists():
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, secrets.token_urlsafe(18).encode())
        os.close(fd)
    password = password_file.read_text().strip()
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'sales_data'").strip()
    if not exists:
        server.create_role("sales_reader", password)
        server.create_database("sales_data")
        server.psql(file=ROOT / "demo" / "sales_data.sql", database="sales_data")
    print(f"postgres running on {server.host}:{server.port} (stop it with `make demo-stop`)")

    home = DEMO / "home"
    shutil.rmtree(home, ignore_errors=True)  # each demo starts from an empty store
    env = {
        **os.environ,
        "ENTREPOT_HOME": str(home),
        # The tutorial's environment variables.
        "POSTGRES_USERNAME": "sales_reader",
        "POSTGRES_PASSWORD": password,
        "ACCESS_CONTROL_LIST": "r",
        "DEMO_PG_HOST": server.host,
        "DEMO_PG_PORT": str(server.port),
    }
    step("Step 1: the instance secret (credentials from $POSTGRES_USERNAME/$POSTGRES_PASSWORD)")
    run(
        ["dataos-ctl", "resource", "apply", "-f", str(MANIFESTS / "postgres-instance-secret.yml")],
        env,
    )
    step("Steps 2-3: the depot, pointed at the local PostgreSQL")
    run(["dataos-ctl", "resource", "apply", "-f", str(MANIFESTS / "postgres-depot.yml")], env)
    step("Step 4: list the depots")
    run(["dataos-ctl", "get", "-t", "depot"], env)
    step("the secret's details: key names only, never values")
    run(["entrepot", "get", "-t", "instance-secret", "-n", "postgres-r", "-d"], env)
    print(f"\nThe demo's store is {home}; try: ENTREPOT_HOME={home} entrepot get -a")
    return 0


if __name__ == "__main__":
    sys.exit(main())
