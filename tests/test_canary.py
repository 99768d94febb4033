"""The canary: a unique secret value, applied every way a user can, never appears anywhere.

Surfaces grepped: stdout and stderr of every command (success and failure), the log, and every
byte under $ENTREPOT_HOME (the store, its WAL, the master key). Real processes, so nothing this
test process knows can mask a leak.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from scripts.services import AzuriteServer, MariaDBServer
from tests.conftest import Result, SalesDatabase, mysql_depot_yaml, run_process, write


@pytest.fixture
def canary() -> str:
    return f"Canary-{uuid.uuid4().hex}"


def test_a_secret_value_never_leaks(home: Path, tmp_path: Path, canary: str) -> None:
    env = {
        "ENTREPOT_HOME": str(home),
        "POSTGRES_USERNAME": "canary_user",
        "POSTGRES_PASSWORD": canary,
        "ACCESS_CONTROL_LIST": "r",
    }
    outputs: list[Result] = []

    def run(*args: str, expect: int | None = 0, stdin: str | None = None) -> Result:
        result = run_process(*args, env=env, stdin=stdin)
        outputs.append(result)
        if expect is not None:
            assert result.exit_code == expect, (args, result.stderr)
        return result

    secret = write(
        tmp_path / "secret.yml",
        """name: postgres-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: ${ACCESS_CONTROL_LIST}
  data:
    username: $POSTGRES_USERNAME
    password: $POSTGRES_PASSWORD
  files:
    cert: cert.pem
""",
    )
    write(tmp_path / "cert.pem", f"-----BEGIN PRIVATE KEY-----\n{canary}\n")
    depot = write(
        tmp_path / "depot.yml",
        """name: postgres
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{name: postgres-r, allkeys: true}]
  jdbc: {subprotocol: postgresql, host: db.example.com, port: 5432, database: sales}
""",
    )
    inline = write(
        tmp_path / "legacy.yml",
        """name: legacy
version: v1
type: depot
depot:
  type: JDBC
  connectionSecret:
    - acl: r
      type: key-value-properties
      data: {username: u, password: $POSTGRES_PASSWORD}
  spec: {subprotocol: postgresql, host: h, port: 5432, database: d}
""",
    )
    # The other documented forms: a DataOS 2.0 `type: secret` named by a `spec:` depot for a
    # purpose, and the Kafka pages' `instance-secret:` list of one entry.
    shapes = write(
        tmp_path / "shapes.yml",
        """name: tenant-scan
version: v2alpha
type: secret
secret:
  type: key-value
  data: {username: $POSTGRES_USERNAME, password: $POSTGRES_PASSWORD}
---
name: tenant
version: v2alpha
type: depot
spec:
  type: postgresql
  spec: {host: db.example.com, database: sales}
  secrets: [{id: "acme:tenant-scan", purpose: scan}]
---
name: kafka-r
version: v1
type: instance-secret
instance-secret:
  - acl: r
    type: key-value-properties
    data: {username: $POSTGRES_USERNAME, password: $POSTGRES_PASSWORD}
""",
    )
    run("apply", "-f", str(shapes), "--lint")
    run("apply", "-f", str(shapes), "--show-diff", "--no-verify")
    run("get", "-t", "instance-secret", "-n", "tenant-scan", "-d", "--output", "yaml")
    run("get", "-t", "instance-secret", "-n", "kafka-r", "-d")
    run("check", "depot", "tenant", "--timeout", "2", expect=7)
    run("delete", "-f", str(shapes))
    run("apply", "-f", str(secret), "-f", str(depot), "-f", str(inline), "--dry-run")
    run("apply", "-f", str(secret), "-f", str(depot), "-f", str(inline), "-l")
    run("apply", "-f", str(secret), "-f", str(depot), "-f", str(inline), "--show-diff")
    run("apply", "-f", str(secret), "-f", str(depot), "-f", str(inline))  # unchanged
    env["POSTGRES_PASSWORD"] = canary + "-v2"
    run("diff", "-f", str(secret), "-f", str(inline), expect=1)
    run("apply", "-f", str(secret), "-f", str(inline), "--show-diff")
    env["POSTGRES_PASSWORD"] = canary + "-v3"  # update: changes only what exists
    run("resource", "update", "-f", str(secret), "-f", str(inline), "--show-diff")
    absent = write(tmp_path / "absent.yml", secret.read_text().replace("postgres-r", "absent-r"))
    run("update", "-f", str(absent), "--dry-run", expect=4)
    run(  # stdin's folder is the current one: the file is elsewhere, which takes the flag
        "apply",
        "--allow-files-outside",
        "-f",
        "-",
        stdin=secret.read_text().replace("cert.pem", str(tmp_path / "cert.pem")),
    )
    for args in (
        ("get", "-a"),
        ("get", "-a", "-d"),
        ("get", "-a", "-d", "--output", "json"),
        ("get", "-a", "-d", "--output", "yaml"),
        ("resource", "get", "-t", "instance-secret", "-d"),
        ("admin", "audit", "--output", "json"),
        ("admin", "rotate-key"),
        # Identity and access: users, use cases, decisions, and the refusals they audit.
        ("user", "create", "bob", "--tag", "roles:id:data-dev"),
        ("user", "get", "-a", "--output", "yaml"),
        ("user", "tag", "add", "bob", "roles:id:analyst"),
        ("user", "tag", "add", "-i", "bob", "-t", "roles:id:reader"),
        ("user", "get", "-i", "bob"),
        ("get", "-i", "postgres | v2alpha | depot |", "-d"),
        ("get", "--id", "instance-secret:v1:postgres-r", "-d", "--tags"),
        ("usecase", "ls", "--output", "json"),
        ("usecase", "revoke", "un-sanitize-resource", "--tag", "roles:id:operator"),
        ("auth", "can-i", "read", "instance-secret/postgres-r", "--as", "bob"),
        ("auth", "can-i", "get", "/ds/api/v2/depots/postgres"),
    ):
        run(*args)
    env["ENTREPOT_USER"] = "bob"  # refused, and the refusals audited
    run("get", "-t", "instance-secret", "-a", "-n", "postgres-r", "--unSanitize", expect=5)
    run("check", "depot", "postgres", "--acl", "rw", expect=5)
    run("auth", "can-i", "unsanitize", "instance-secret/postgres-r", expect=1)
    del env["ENTREPOT_USER"]
    run("admin", "audit", "-n", "500", "--output", "yaml")
    # Failures: a broken depot next to the secret, a refused delete, a bad value type.
    broken = write(tmp_path / "broken.yml", depot.read_text().replace("port: 5432", "prot: 1"))
    run("apply", "-f", str(secret), "-f", str(broken), expect=3)
    run("delete", "-t", "instance-secret", "-n", "postgres-r", expect=5)
    wrong = write(
        tmp_path / "wrong.yml",
        secret.read_text().replace(
            "password: $POSTGRES_PASSWORD", "password: [$POSTGRES_PASSWORD]"
        ),
    )
    run("apply", "-f", str(wrong), expect=3)
    quoted = write(tmp_path / "quoted.yml", f'name: "x"\nversion: v1\ntype: [ "{canary}"\n')
    run("apply", "-f", str(quoted), expect=3)
    run("delete", "-f", str(depot), "-f", str(secret), "-f", str(inline))

    for result in outputs:
        assert "Traceback" not in result.output
        assert canary not in result.output, result.output
    assert (home / "logs" / "entrepot.log").exists()
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert canary.encode() not in data, path
            assert b"canary_user" not in data, path


def test_connection_checks_never_leak(
    home: Path, tmp_path: Path, canary: str, postgres: SalesDatabase, azurite: AzuriteServer,
    mariadb: MariaDBServer,
) -> None:  # fmt: skip
    """Wrong credentials equal to the canary, checked against real servers: the sources' own
    error texts, the steps, the audit and the log never show it."""
    env = {"ENTREPOT_HOME": str(home), "CANARY": canary}
    # Azure keys are base64: a canary-derived one, so Azurite really computes a signature.
    azure_key = base64.b64encode(canary.encode()).decode()
    env["CANARY_AZURE"] = azure_key
    path = write(
        tmp_path / "depots.yml",
        f"""name: pg-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: {postgres.reader}, password: $CANARY}}
---
name: pg
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: pg-r, allkeys: true}}]
  postgresql: {{host: {postgres.host}, port: {postgres.port}, database: sales_data}}
---
{mysql_depot_yaml("my", mariadb, "root", "$CANARY")}---
name: az-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{azurestorageaccountname: {azurite.account_name}, azurestorageaccountkey: $CANARY_AZURE}}
---
name: az
version: v2alpha
type: depot
depot:
  type: abfss
  secrets: [{{name: az-r, allkeys: true}}]
  abfss: {{account: {azurite.account_name}, container: canary, endpoint: "{azurite.blob_endpoint}"}}
---
version: v1
name: pgscan
type: workflow
workflow:
  dag:
    - name: scan
      spec:
        stack: scanner:2.0
        stackSpec: {{depot: dataos://pg}}
""",
    )
    outputs = [run_process("apply", "-f", str(path), env=env)]
    for args in (
        ("check", "depot", "-a"),
        ("check", "depot", "pg", "my", "az"),
        ("check", "depot", "-a", "--output", "json"),
        ("get", "-t", "depot", "-d"),
        ("get", "-t", "depot", "-d", "--output", "yaml"),
        ("admin", "audit"),
        ("get", "runtime", "-t", "workflow", "-n", "pgscan"),
        ("get", "runtime", "-t", "workflow", "-n", "pgscan", "--output", "json"),
        ("log", "-t", "workflow", "-n", "pgscan"),
        ("apply", "-f", str(path), "-r"),
        # The query engine: DuckDB's own error texts for each source, through every front end.
        ("query", "SELECT * FROM pg.public.orders"),
        ("query", "SELECT * FROM my.shop.orders", "--output", "json"),
        ("query", "SELECT * FROM az.landing.sales"),
        ("query", 'SELECT * FROM "dataos://pg:public/orders"', "--acl", "rw"),
        ("query", "SELECT * FROM duckdb_secrets(redact = false)"),
        # Runtimes as logs: one node of a run, a depot's checks and scans, as DataOS writes them.
        ("log", "-t", "workflow", "-n", "pgscan", "--node", "scan-execute"),
        ("get", "runtime", "-i", "pgscan | v1 | workflow | public", "--node", "scan", "-y"),
        ("log", "-t", "depot", "-n", "my"),
        ("log", "-t", "depot", "-n", "az", "-l", "-1"),
        ("get", "runtime", "-t", "depot", "-n", "pg", "--output", "json"),
    ):
        outputs.append(run_process(*args, env=env))
    depot_log = run_process("-i", "pg:v2alpha:depot", "log", program="dataos-ctl", env=env)
    outputs.append(depot_log)
    assert depot_log.exit_code == 0, depot_log.stderr
    assert "[pg-check-r]   failed auth" in depot_log.stdout  # the check's steps, redacted
    assert "[pgscan-run1-scan-execute] scan: failed: " in depot_log.stdout  # and the scan's
    outputs.append(
        run_process("sql", env=env, stdin="SELECT * FROM pg.public.orders;\nSELECT 1;\n")
    )
    assert outputs[-1].exit_code == 0 and "auth" in outputs[-1].stderr
    assert outputs[0].exit_code == 8  # the scan failed: wrong password
    assert "password authentication failed" in outputs[9].stdout  # the run's log says why
    summaries = json.loads(outputs[3].stdout)
    assert {r["depot"]: r["summary"] for r in summaries} == {
        "az": "auth failed", "my": "auth failed", "pg": "auth failed",
    }  # fmt: skip
    for result in outputs:
        assert "Traceback" not in result.output
        for value in (canary, azure_key):
            assert value not in result.output, result.output
    for file in home.rglob("*"):
        if file.is_file():
            assert canary.encode() not in file.read_bytes(), file
            assert azure_key.encode() not in file.read_bytes(), file
