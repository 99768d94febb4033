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

from scripts.services import AzuriteServer, PostgresServer  # noqa: E402

DEMO = ROOT / ".demo"
MANIFESTS = ROOT / "demo" / "manifests"
BIN = ROOT / ".venv" / "bin"


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(args: list[str], env: dict[str, str]) -> None:
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"$ {shown}", flush=True)
    subprocess.run([str(BIN / args[0]), *args[1:]], env=env, check=True)


def upload_drop_zone(azurite: AzuriteServer) -> None:
    """A container `dropzone001` with sales files under `large_dataset_20200511/`."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = client.get_container_client("dropzone001")
    if not container.exists():
        container.create_container()
    sales = pa.table(
        {
            "order_id": list(range(1, 2001)),
            "region": [("north", "south", "east", "west")[i % 4] for i in range(2000)],
            "amount": [round(10 + (i * 7.31) % 490, 2) for i in range(2000)],
        }
    )
    for month in ("2020-04", "2020-05"):
        buffer = io.BytesIO()
        pq.write_table(sales, buffer)
        container.upload_blob(
            f"large_dataset_20200511/sales/month={month}/part-0.parquet",
            buffer.getvalue(),
            overwrite=True,
        )
    stores = pa.table({"store_id": [1, 2, 3], "city": ["Lyon", "Lille", "Nantes"]})
    buffer = io.BytesIO()
    pacsv.write_csv(stores, buffer)
    container.upload_blob("large_dataset_20200511/stores.csv", buffer.getvalue(), overwrite=True)


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

    step("Azurite (the Azure Blob emulator) with a drop zone of parquet and csv files")
    azurite = AzuriteServer(DEMO / "azurite").start(detached=True)
    upload_drop_zone(azurite)
    print(f"azurite running at {azurite.blob_endpoint} (stop it with `make demo-stop`)")

    home = DEMO / "home"
    shutil.rmtree(home, ignore_errors=True)  # each demo starts from an empty store
    env = {
        **os.environ,
        "ENTREPOT_HOME": str(home),
        # The tutorial's environment variables.
        "POSTGRES_USERNAME": "sales_reader",
        "POSTGRES_PASSWORD": password,
        "ACCESS_CONTROL_LIST": "r",
        "AZURE_STORAGE_ACCOUNT": azurite.account_name,
        "AZURE_STORAGE_KEY": azurite.account_key,
    }
    step("Step 1: the instance secret (credentials from $POSTGRES_USERNAME/$POSTGRES_PASSWORD)")
    run(
        ["dataos-ctl", "resource", "apply", "-f", str(MANIFESTS / "postgres-instance-secret.yml")],
        env,
    )
    step("Steps 2-3: the depot, pointed at the local PostgreSQL")
    # Where the demo's servers listen is no secret: template placeholders, filled with --set
    # (an environment variable in a field stored in clear would be a warning).
    local_pg = ["--set", f"pg_host={server.host}", "--set", f"pg_port={server.port}"]
    run(
        ["dataos-ctl", "resource", "apply", "-f", str(MANIFESTS / "postgres-depot.yml"), *local_pg],
        env,
    )
    step("the tutorial's Azure depot (ABFSS), pointed at Azurite, with its r and rw secrets")
    azure = [str(MANIFESTS / "thirdparty-secrets.yml"), str(MANIFESTS / "thirdparty-depot.yml")]
    azurite_at = ["--set", f"azure_account={azurite.account_name}"]
    azurite_at += ["--set", f"azure_endpoint={azurite.blob_endpoint}"]
    run(["dataos-ctl", "apply", "-f", azure[0], "-f", azure[1], *azurite_at], env)
    step("Step 4: list the depots: both active, with their connection")
    run(["dataos-ctl", "get", "-t", "depot"], env)
    step("every step of a connection check")
    run(["entrepot", "check", "depot", "thirdparty"], env)
    step("Step 5: scanner workflows register both depots' metadata in Metis")
    run(["dataos-ctl", "apply", "-f", str(MANIFESTS / "postgres-scanner.yml")], env)
    run(["dataos-ctl", "apply", "-f", str(MANIFESTS / "thirdparty-scanner.yml")], env)
    run(["dataos-ctl", "get", "-t", "workflow"], env)
    run(["entrepot", "catalog", "ls"], env)
    run(["entrepot", "catalog", "ls", "dataos://postgres:public"], env)
    run(["entrepot", "catalog", "ls", "dataos://thirdparty:large_dataset_20200511"], env)
    run(["entrepot", "catalog", "show", "dataos://postgres:public/order_items"], env)
    step("Query in place: PostgreSQL orders joined with the Azure drop zone's parquet sales")
    run(
        [
            "entrepot",
            "query",
            "SELECT s.region, o.status, count(*) AS orders, round(sum(s.amount), 2) AS amount "
            "FROM postgres.public.orders o "
            "JOIN thirdparty.large_dataset_20200511.sales s ON s.order_id = o.id "
            "GROUP BY ALL ORDER BY s.region, o.status",
        ],
        env,
    )
    run(
        ["entrepot", "query", 'SELECT * FROM "dataos://thirdparty:large_dataset_20200511/stores"'],
        env,
    )
    step("the secret's details: key names only, never values")
    run(["entrepot", "get", "-t", "instance-secret", "-n", "postgres-r", "-d"], env)
    print(f"\nThe demo's store is {home}; try: ENTREPOT_HOME={home} entrepot get -a")
    return 0


if __name__ == "__main__":
    sys.exit(main())
