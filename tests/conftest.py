"""Test fixtures: an isolated Entrepôt home per test, the CLI run as a user runs it (in-process
for speed, or as a real subprocess), and one throwaway PostgreSQL for the whole session.

A missing service is a failing test, never a skip.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from entrepot.cli.main import main
from entrepot.secrets.redact import redactor
from scripts.services import MariaDBServer, PostgresServer

if TYPE_CHECKING:
    from entrepot.connectors.base import ResolvedConnection
    from entrepot.services.connections import ResolvedSecret
    from entrepot.services.context import RequestContext

# MariaDB, Azurite, S3 and GCS servers for the session (tests/services_fixtures.py).
pytest_plugins = ["tests.services_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "tests" / "fixtures" / "tutorial"
DEMO_SQL = ROOT / "demo" / "sales_data.sql"
BIN = Path(sys.executable).parent
ENV_CLEAR = (
    "ENTREPOT_MASTER_KEY",
    "ENTREPOT_PREVIOUS_MASTER_KEY",
    "ENTREPOT_NEW_MASTER_KEY",
    "ENTREPOT_STORE_URL",
    "ENTREPOT_DEBUG",
)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh $ENTREPOT_HOME, acting user 'alice'."""
    path = tmp_path / "home"
    monkeypatch.setenv("ENTREPOT_HOME", str(path))
    monkeypatch.setenv("ENTREPOT_USER", "alice")
    for name in ENV_CLEAR:
        monkeypatch.delenv(name, raising=False)
    redactor.clear()
    return path


def run_cli(
    *args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None
) -> Result:
    """Run the CLI in this process exactly as the console script does (same error handling)."""
    runner = CliRunner()
    with runner.isolation(input=stdin, env=env) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        stdout = out.getvalue().decode()
        stderr = err.getvalue().decode()
    return Result(code, stdout, stderr)


def run_process(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    program: str = "entrepot",
    cwd: Path | None = None,
) -> Result:
    """Run the installed console script in a fresh process."""
    proc = subprocess.run(
        [str(BIN / program), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(home: Path) -> Iterator[type[CliHelpers]]:
    yield CliHelpers


class CliHelpers:
    run = staticmethod(run_cli)
    process = staticmethod(run_process)


def make_device(path: Path, minor: int) -> None:
    """A character device of the memory driver (1, minor: 5 zero, 7 full) of the test's own.
    As root (CI), code that wrongly renamed a file over a device would replace this one, not
    the machine's; without root, a link to the real one, which only root could replace."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except PermissionError:
        path.symlink_to({5: "/dev/zero", 7: "/dev/full"}[minor])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def add_user(name: str, *tags: str) -> None:
    """Create a user of the store as the acting operator (the first user, alice, bootstraps as
    one on a fresh home)."""
    result = run_cli("user", "create", name, *(arg for tag in tags for arg in ("--tag", tag)))
    assert result.exit_code == 0, result.output


# --- the service layer, as the local acting user ($ENTREPOT_HOME, $ENTREPOT_USER) ------------


def local_context() -> RequestContext:
    """A request context of the local acting user, as the CLI builds it."""
    from entrepot.config import load_settings
    from entrepot.services import identity

    return identity.for_local_user(load_settings(), front_end="sdk")


def secret_values(name: str, purpose: str = "test", acl: str | None = None) -> ResolvedSecret:
    """An instance secret's values, decrypted (and audited) through the connection service."""
    from entrepot.services import connections

    with local_context() as ctx:
        return connections.instance_secret_values(ctx, name, acl=acl, purpose=purpose)


def depot_connection(name: str, acl: str = "r", purpose: str = "test") -> ResolvedConnection:
    """A depot's connection with its credentials, as an orchestrator receives it."""
    from entrepot.services.connections import depot_access

    with local_context() as ctx:
        access = depot_access(ctx, "check")
        return access.connection(access.depot(name), acl, purpose)


def audit_events(limit: int = 100) -> list[dict[str, Any]]:
    from entrepot.services import admin

    with local_context() as ctx:
        return admin.audit_events(ctx, limit)


def mysql_depot_yaml(
    name: str, server: MariaDBServer, user: str, password: str, database: str | None = None
) -> str:
    """A MySQL depot `name` on the test MariaDB, with its `r` instance secret `name-r`."""
    db = f", database: {database}" if database else ""
    return f"""name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: {user}, password: {password}}}
---
name: {name}
version: v2alpha
type: depot
depot:
  type: mysql
  secrets: [{{name: {name}-r, allkeys: true}}]
  mysql: {{host: {server.host}, port: {server.port}{db}}}
"""


@dataclass
class SalesDatabase:
    server: PostgresServer
    reader: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SalesDatabase]:
    """One PostgreSQL for the session, holding the demo's sales_data database."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        password = "reader-pw-Quoted'&%"
        server.create_role("sales_reader", password)
        server.create_database("sales_data")
        server.psql(file=DEMO_SQL, database="sales_data")
        yield SalesDatabase(server, "sales_reader", password)
    finally:
        server.stop()
