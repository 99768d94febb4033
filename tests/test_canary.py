"""The canary: a unique secret value, applied every way a user can, never appears anywhere.

Surfaces grepped: stdout and stderr of every command (success and failure), the log, and every
byte under $ENTREPOT_HOME (the store, its WAL, the master key). Real processes, so nothing this
test process knows can mask a leak.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import Result, run_process, write


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
    run("apply", "-f", str(secret), "-f", str(depot), "-f", str(inline), "--dry-run")
    run("apply", "-f", str(secret), "-f", str(depot), "-f", str(inline), "-l")
    run("apply", "-f", str(secret), "-f", str(depot), "-f", str(inline), "--show-diff")
    run("apply", "-f", str(secret), "-f", str(depot), "-f", str(inline))  # unchanged
    env["POSTGRES_PASSWORD"] = canary + "-v2"
    run("diff", "-f", str(secret), "-f", str(inline), expect=1)
    run("apply", "-f", str(secret), "-f", str(inline), "--show-diff")
    run(
        "apply", "-f", "-", stdin=secret.read_text().replace("cert.pem", str(tmp_path / "cert.pem"))
    )
    for args in (
        ("get", "-a"),
        ("get", "-a", "-d"),
        ("get", "-a", "-d", "--output", "json"),
        ("get", "-a", "-d", "--output", "yaml"),
        ("resource", "get", "-t", "instance-secret", "-d"),
        ("admin", "audit", "--output", "json"),
        ("admin", "rotate-key"),
    ):
        run(*args)
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
