"""Start and stop throwaway local services for the tests and the demo.

For now only PostgreSQL: :class:`PostgresServer` runs ``initdb`` once in a folder of its own,
starts a server that listens on 127.0.0.1 only, and stops it again (also from another process,
given the same folder). The superuser password never appears in a command line: the server
commands read it from a file and ``psql`` from ``PGPASSWORD``.

When run as root (a CI container) the server binaries run as the ``postgres`` system user, which
must exist; the folder is handed to that user and its parent folders are made traversable
(``o+x``) for it. On a developer laptop everything runs as the current user.

The PostgreSQL binaries are looked up in ``$ENTREPOT_PG_BIN``, then on ``PATH``, then in
``/usr/lib/postgresql/<version>/bin`` (the newest), then via ``pg_config --bindir``.

Command line::

    python -m scripts.services postgres start --dir DIR [--port N]
    python -m scripts.services postgres stop --dir DIR

``start`` writes ``DIR/postgres.env`` (mode 0600: ``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGPASSWORD``) for the tests and the demo to read.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

__all__ = ["PostgresServer", "find_postgres_bin_dir", "free_port", "main"]

# The OS user that runs the server when we are root (initdb and pg_ctl refuse to run as root).
_SERVER_OS_USER = "postgres"
# A Unix-domain socket path (sun_path) holds at most 107 bytes on Linux, 103 on macOS.
_MAX_SOCKET_PATH = 103
_LOG_TAIL_LINES = 40
_START_TIMEOUT_S = 60
# Tried ports when the port was picked by free_port() and another process took it meanwhile.
_START_ATTEMPTS = 3
_SAFE_ENV_VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]*")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_postgres_bin_dir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``; RuntimeError if none."""
    candidates: list[Path] = []
    if configured := os.environ.get("ENTREPOT_PG_BIN"):
        candidates.append(Path(configured))
    if on_path := shutil.which("initdb"):
        candidates.append(Path(on_path).resolve().parent)

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version_key, reverse=True)
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    for candidate in candidates:
        if all((candidate / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return candidate
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; install PostgreSQL "
        "or set ENTREPOT_PG_BIN to the folder that holds them"
    )


def _quote_ident(name: str) -> str:
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    if "\x00" in value:
        raise ValueError("SQL string literals cannot contain NUL characters")
    return "'" + value.replace("'", "''") + "'"


def _scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (what ``\\password`` sends).

    Only for ASCII passwords, which SASLprep leaves unchanged.
    """
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without libpq/server ``PG*`` settings, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(extra or {})
    return env


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, raw = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            parts = shlex.split(raw)
            values[key] = parts[0] if parts else ""
    return values


def _env_value(value: str) -> str:
    return value if _SAFE_ENV_VALUE.fullmatch(value) else shlex.quote(value)


class PostgresServer:
    """A throwaway PostgreSQL server living in ``base_dir``.

    ``base_dir/data`` is the cluster, ``base_dir`` the Unix socket folder, ``base_dir/pg.log``
    the server log and ``base_dir/postgres.env`` the connection settings (written by
    :meth:`start`). An existing cluster is reused; without ``superuser_password`` its password
    is read back from ``postgres.env``.
    """

    host: str
    port: int
    superuser: str
    superuser_password: str

    def __init__(
        self,
        base_dir: Path,
        port: int | None = None,
        superuser_password: str | None = None,
        *,
        bin_dir: Path | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.host = "127.0.0.1"
        self.superuser = "postgres"
        self._port_is_auto = port is None
        self.port = free_port() if port is None else port
        if superuser_password is None and self.env_file.is_file():
            superuser_password = _read_env_file(self.env_file).get("PGPASSWORD") or None
        self.superuser_password = superuser_password or secrets.token_urlsafe(24)
        self._bin_dir = bin_dir

    # -- paths -------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "pg.log"

    @property
    def env_file(self) -> Path:
        return self.base_dir / "postgres.env"

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = find_postgres_bin_dir()
        return self._bin_dir

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster if needed, start the server and wait until it accepts connections.

        Does nothing (but adopt the running server's port) when the server already runs.
        """
        if self.is_running():
            self.port = self._running_port() or self.port
            self._write_env_file()
            return self
        self._prepare_base_dir()
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb()
        attempts = _START_ATTEMPTS if self._port_is_auto else 1
        for attempt in range(1, attempts + 1):
            log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            result = self._run_server_command(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(_START_TIMEOUT_S),
                    "-o",
                    self._server_options(),
                ],
                timeout=_START_TIMEOUT_S + 30,
            )
            if result.returncode == 0:
                self._write_env_file()
                return self
            log_tail = self._log_tail(log_offset)
            port_taken = "could not bind" in log_tail or "already in use" in log_tail
            self._stop_quietly()
            if port_taken and attempt < attempts:
                self.port = free_port()
                continue
            raise RuntimeError(
                f"PostgreSQL did not start on {self.host}:{self.port} "
                f"(pg_ctl exit {result.returncode}): {result.stderr.strip()}\n"
                f"--- tail of {self.log_file} ---\n{log_tail}"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions); a no-op when nothing runs."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        result = self._run_server_command(
            [
                str(self.bin_dir / "pg_ctl"),
                "stop",
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
            ],
            timeout=_START_TIMEOUT_S + 30,
        )
        if result.returncode != 0 and self.is_running():
            raise RuntimeError(
                f"could not stop PostgreSQL in {self.data_dir}: {result.stderr.strip()}"
            )

    def is_running(self) -> bool:
        """Whether a server runs on this cluster (asks ``pg_ctl status``)."""
        if not (self.data_dir / "PG_VERSION").is_file():
            return False
        result = self._run_server_command(
            [str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)], timeout=30
        )
        return result.returncode == 0

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------------

    def url(
        self, database: str = "postgres", user: str | None = None, password: str | None = None
    ) -> str:
        """A SQLAlchemy URL; the superuser (and its password) unless ``user`` is given."""
        if user is None:
            user = self.superuser
            if password is None:
                password = self.superuser_password
        credentials = quote(user, safe="")
        if password is not None:
            credentials += ":" + quote(password, safe="")
        path = quote(database, safe="")
        return f"postgresql+psycopg://{credentials}@{self.host}:{self.port}/{path}"

    def psql(
        self, sql: str | None = None, *, file: Path | None = None, database: str = "postgres"
    ) -> str:
        """Run SQL (fed on stdin) or a script file as the superuser and return psql's stdout.

        Output is unaligned and tuples-only (``-A -t``) and command tags are off (``-q``), so
        ``psql("SELECT count(*) FROM t")`` returns ``"42\\n"``. Stops at the first error
        (``ON_ERROR_STOP=1``) and raises RuntimeError carrying psql's stderr.
        """
        if (sql is None) == (file is None):
            raise ValueError("give exactly one of sql or file")
        psql = self.bin_dir / "psql"
        command = [
            str(psql) if psql.is_file() else (shutil.which("psql") or "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.superuser,
            "-d",
            database,
        ]
        if file is not None:
            command += ["-f", str(Path(file).resolve())]
        env = _clean_env(
            {
                "PGPASSWORD": self.superuser_password,
                "PGCONNECT_TIMEOUT": "10",
                "PGGSSENCMODE": "disable",
                "PGAPPNAME": "scripts.services",
            }
        )
        result = subprocess.run(
            command,
            input="" if sql is None else sql,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            what = f"file {file}" if file is not None else "SQL"
            raise RuntimeError(
                f"psql failed on {what} in database {database!r} "
                f"(exit {result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def create_database(self, name: str, owner: str | None = None) -> None:
        statement = f"CREATE DATABASE {_quote_ident(name)}"
        if owner is not None:
            statement += f" OWNER {_quote_ident(owner)}"
        self.psql(statement + ";")

    def create_role(self, name: str, password: str, *, login: bool = True) -> None:
        """Create a role with a password; ASCII passwords travel as a SCRAM verifier only."""
        if not password:
            raise ValueError("the password must not be empty")
        secret = _scram_sha256_verifier(password) if password.isascii() else password
        self.psql(
            f"CREATE ROLE {_quote_ident(name)} {'LOGIN' if login else 'NOLOGIN'} "
            f"PASSWORD {_quote_literal(secret)};"
        )

    # -- internals ---------------------------------------------------------------------------

    def _server_user(self) -> pwd.struct_passwd | None:
        """The OS user to run server commands as, or None for the current user."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(_SERVER_OS_USER)
        except KeyError:
            raise RuntimeError(
                f"running as root: PostgreSQL must run as the {_SERVER_OS_USER!r} system user, "
                "which does not exist"
            ) from None

    def _run_server_command(
        self, argv: Sequence[str], *, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if self._server_user() is not None:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            command = [runuser, "-u", _SERVER_OS_USER, "--", *command]
        cwd = self.base_dir if self.base_dir.is_dir() else None
        return subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=_clean_env(),
            cwd=cwd,
            timeout=timeout,
            check=False,
        )

    def _prepare_base_dir(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        user = self._server_user()
        if user is None:
            return
        for parent in self.base_dir.parents:
            info = parent.stat()
            if info.st_uid != user.pw_uid and not info.st_mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
        info = self.base_dir.stat()
        if (info.st_uid, info.st_gid) != (user.pw_uid, user.pw_gid):
            os.chown(self.base_dir, user.pw_uid, user.pw_gid)

    def _initdb(self) -> None:
        pwfile = self.base_dir / f".pwfile-{secrets.token_hex(4)}"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.superuser_password + "\n")
            if (user := self._server_user()) is not None:
                os.chown(pwfile, user.pw_uid, user.pw_gid)
            result = self._run_server_command(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.superuser,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                timeout=180,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed in {self.data_dir} (exit {result.returncode}):\n"
                f"{result.stdout.strip()}\n{result.stderr.strip()}"
            )

    def _server_options(self) -> str:
        socket_dir = str(self.base_dir)
        if len(socket_dir) + len("/.s.PGSQL.65535") > _MAX_SOCKET_PATH:
            socket_dir = ""  # too long for a socket path: TCP only
        # Throwaway data: trade durability for speed.
        options = [
            f"-c listen_addresses={self.host}",
            f"-p {self.port}",
            f"-k {shlex.quote(socket_dir)}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
        ]
        return " ".join(options)

    def _running_port(self) -> int | None:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def _log_tail(self, offset: int = 0) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                text = handle.read().decode("utf-8", errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])

    def _stop_quietly(self) -> None:
        with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
            self.stop()

    def _write_env_file(self) -> None:
        content = "".join(
            f"{key}={_env_value(value)}\n"
            for key, value in (
                ("PGHOST", self.host),
                ("PGPORT", str(self.port)),
                ("PGUSER", self.superuser),
                ("PGPASSWORD", self.superuser_password),
            )
        )
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.services",
        description="Start and stop throwaway local services for the tests and the demo.",
    )
    services = parser.add_subparsers(dest="service", required=True, metavar="SERVICE")
    postgres = services.add_parser("postgres", help="a throwaway PostgreSQL server")
    actions = postgres.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="start it (initdb on first use)")
    start.add_argument("--dir", type=Path, required=True, help="its folder (data, log, env)")
    start.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    stop = actions.add_parser("stop", help="stop it")
    stop.add_argument("--dir", type=Path, required=True, help="its folder")
    args = parser.parse_args(argv)

    try:
        if args.action == "start":
            server = PostgresServer(args.dir, port=args.port).start()
            print(f"postgres running on {server.host}:{server.port}")
        else:
            server = PostgresServer(args.dir, port=0)
            if not server.is_running():
                print(f"postgres was not running in {server.base_dir}")
                return 0
            settings = _read_env_file(server.env_file) if server.env_file.is_file() else {}
            server.stop()
            where = f"{settings.get('PGHOST', server.host)}:{settings.get('PGPORT', '?')}"
            print(f"postgres stopped on {where}")
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
