"""Start and stop throwaway local services for the tests and the demo.

Each service runs on a free TCP port on 127.0.0.1 only, with everything it writes in a folder of
its own, and can be stopped again from another process given the same folder:

- :class:`PostgresServer`: ``initdb`` once, then ``pg_ctl``; the superuser password never appears
  in a command line (the server commands read it from a file and ``psql`` from ``PGPASSWORD``).
- :class:`MariaDBServer`: ``mariadb-install-db`` once, then ``mariadbd``; root gets a password at
  the first start (through an ``--init-file`` that is deleted again) and the ``mariadb`` client
  reads it from ``MYSQL_PWD``.
- :class:`AzuriteServer`: the Azure Blob Storage emulator, from the project's ``node_modules``
  (``npm ci``; ``package.json`` pins it), with the well-known ``devstoreaccount1`` account.
- :class:`S3Server`: moto's server (PyPI ``moto[server]``). By default it checks request
  signatures against an access key that it issued itself, so a wrong secret key fails for real.
- :class:`GCSServer`: ``gcp-storage-emulator``, in memory.

PostgreSQL is run through ``pg_ctl``; the other four are child processes of ours, each started in
a process group of its own and stopped with SIGTERM to the group, then SIGKILL after a grace
period. Started in-process (the test fixtures), they also get SIGTERM from the kernel when the
Python process that started them dies (Linux), so even a killed test session leaves none behind.
``DIR/<service>.pid`` (the PID and its start time) lets ``stop`` work from another process.

When run as root (a CI container) the PostgreSQL binaries run as the ``postgres`` system user,
which must exist; the folder is handed to that user and its parent folders are made traversable
(``o+x``) for it. MariaDB then runs as root (``--user=root``). On a developer laptop everything
runs as the current user.

The PostgreSQL binaries are looked up in ``$ENTREPOT_PG_BIN``, then on ``PATH``, then in
``/usr/lib/postgresql/<version>/bin`` (the newest), then via ``pg_config --bindir``; the MariaDB
ones in ``$ENTREPOT_MARIADB_BIN``, on ``PATH``, then in ``/usr/sbin``, ``/usr/bin`` and the like.
``scripts/install-system-deps.sh`` (``make install``) installs all of them and Azurite.

Command line::

    python -m scripts.services {postgres|mariadb|azurite|s3|gcs} start --dir DIR [--port N]
    python -m scripts.services {postgres|mariadb|azurite|s3|gcs} stop --dir DIR

``start`` writes ``DIR/<service>.env`` (mode 0600) with what clients need, for the tests and the
demo to read: ``postgres.env`` (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``),
``mariadb.env`` (``MARIADB_HOST``, ``MARIADB_PORT``, ``MARIADB_USER``, ``MARIADB_PASSWORD``,
``MARIADB_SOCKET``), ``azurite.env`` (``AZURITE_HOST``, ``AZURITE_PORT``,
``AZURE_STORAGE_ACCOUNT``, ``AZURE_STORAGE_KEY``, ``AZURE_STORAGE_CONNECTION_STRING``),
``s3.env`` (``S3_HOST``, ``S3_PORT``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``) and ``gcs.env`` (``GCS_HOST``, ``GCS_PORT``,
``STORAGE_EMULATOR_HOST``, ``GOOGLE_CLOUD_PROJECT``). A service started from the command line
keeps running after the command returns, until ``stop``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import hashlib
import hmac
import http.client
import importlib.util
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self
from urllib.parse import quote, urlencode

__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "AZURITE_ACCOUNT_NAME",
    "AzuriteServer",
    "GCSServer",
    "MariaDBServer",
    "PostgresServer",
    "S3Server",
    "find_mariadb_program",
    "find_postgres_bin_dir",
    "free_port",
    "main",
]

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
        tls: tuple[bytes, bytes] | None = None,
    ) -> None:
        """`tls`: (certificate PEM, private key PEM) to serve TLS with (ssl=on)."""
        self.tls = tls
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
        if self.tls is not None:
            self._write_tls_files()
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
        if self.tls is not None:  # files written into the data folder by _write_tls_files
            options += ["-c ssl=on", "-c ssl_cert_file=server.crt", "-c ssl_key_file=server.key"]
        return " ".join(options)

    def _write_tls_files(self) -> None:
        assert self.tls is not None
        user = self._server_user()
        for name, content in zip(("server.crt", "server.key"), self.tls, strict=True):
            path = self.data_dir / name
            path.write_bytes(content)
            path.chmod(0o600)  # PostgreSQL refuses a key readable by others
            if user is not None:
                os.chown(path, user.pw_uid, user.pw_gid)

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


# -- services that run as a child process of ours ----------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The Azurite emulator's well-known development account (the same in every installation).
AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
# SIGTERM, then this long for the process to exit before SIGKILL; then this long again.
_STOP_TIMEOUT_S = 20
_KILL_TIMEOUT_S = 10
_POLL_INTERVAL_S = 0.1
_PROBE_TIMEOUT_S = 2
# What the servers log when their port is taken (mariadbd, node, werkzeug, http.server).
_PORT_TAKEN = re.compile(
    r"address already in use|EADDRINUSE|is in use by another program"
    r"|Do you already have another .* running",
    re.IGNORECASE,
)
_MARIADB_BIN_DIRS = (
    "/usr/sbin",
    "/usr/bin",
    "/usr/local/sbin",
    "/usr/local/bin",
    "/opt/homebrew/sbin",
    "/opt/homebrew/bin",
)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Requests to the local servers never go through a proxy from the environment.
_LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _PortTakenError(RuntimeError):
    """The server could not bind its port (another process took it since free_port())."""


def _proc_stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name (state first); None when there is no such
    process or no ``/proc``."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def _process_start_time(pid: int) -> str | None:
    """When ``pid`` started (field 22 of ``/proc/PID/stat``), to tell it from a reused PID."""
    fields = _proc_stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _process_alive(pid: int, start_time: str | None = None) -> bool:
    """Whether ``pid`` runs (zombies do not) and, given ``start_time``, is the same process."""
    if Path("/proc/self/stat").exists():
        fields = _proc_stat_fields(pid)
        if not fields or fields[0] in ("Z", "X"):
            return False
        return start_time is None or (len(fields) > 19 and fields[19] == start_time)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group that ``pid`` leads, or to ``pid`` alone if it leads
    none. ProcessLookupError when it is gone."""
    if os.getpgid(pid) == pid:
        os.killpg(pid, sig)
    else:
        os.kill(pid, sig)


def _terminate(pid: int, wait_gone: Callable[[float], bool]) -> None:
    """SIGTERM to the group, wait; SIGKILL, wait. RuntimeError if it outlives both."""
    for sig, timeout in ((signal.SIGTERM, _STOP_TIMEOUT_S), (signal.SIGKILL, _KILL_TIMEOUT_S)):
        try:
            _signal_group(pid, sig)
        except ProcessLookupError:
            return
        if wait_gone(timeout):
            return
    raise RuntimeError(f"process {pid} is still running after SIGKILL")


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send the child SIGTERM when the thread that started
    it dies (Linux only; None elsewhere), so a killed test run leaves no server behind."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _http_request(
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """(status, body) of one HTTP request to a local server; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    try:
        with _LOCAL_OPENER.open(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def _http_answers(url: str) -> bool:
    """Whether an HTTP server answers ``url`` (any status)."""
    try:
        _http_request(url, timeout=_PROBE_TIMEOUT_S)
    except (OSError, http.client.HTTPException):
        return False
    return True


def _require_python_modules(service: str, distribution: str, *modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(
            f"{service} needs the Python package {distribution!r}, not installed for "
            f"{sys.executable} (missing: {', '.join(missing)}); run `make install` or "
            f"`pip install -e '.[test]'`"
        )


class _ChildProcessService:
    """A server that is one child process of ours, living in ``base_dir``.

    ``DIR/<name>.log`` collects its output, ``DIR/<name>.pid`` holds its PID and start time,
    ``DIR/<name>.env`` the client settings (written by :meth:`start`). Subclasses say how to
    run it, when it is ready and what clients need.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    env_prefix: ClassVar[str]

    host: str
    port: int
    start_timeout: float
    # Seconds that the last start() took (preparation included), None before.
    startup_seconds: float | None

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.host = "127.0.0.1"
        self._port_is_auto = port is None
        self.port = free_port() if port is None else port
        self.start_timeout = float(_START_TIMEOUT_S)
        self.startup_seconds = None
        self._process: subprocess.Popen[bytes] | None = None
        self._saved: dict[str, str] = (
            _read_env_file(self.env_file) if self.env_file.is_file() else {}
        )

    # -- paths -------------------------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        return self.base_dir / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.base_dir / f"{self.name}.pid"

    @property
    def env_file(self) -> Path:
        return self.base_dir / f"{self.name}.env"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, detached: bool = False) -> Self:
        """Start the server and wait until it answers; RuntimeError (with the tail of its log)
        when it does not.

        Does nothing but read the settings back when it already runs in this folder. Unless
        ``detached``, the server also gets SIGTERM when the thread that called this dies (Linux);
        the command line's ``start`` detaches it.
        """
        if self.is_running():
            self._adopt(_read_env_file(self.env_file) if self.env_file.is_file() else {})
            return self
        began = time.monotonic()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._prepare()
        attempts = _START_ATTEMPTS if self._port_is_auto else 1
        for attempt in range(1, attempts + 1):
            log_offset = self._log_size()
            try:
                self._spawn(detached)
                self._wait_until_ready(log_offset)
                self._after_ready()
            except _PortTakenError as error:
                self._stop_quietly()
                if attempt < attempts:
                    self.port = free_port()
                    continue
                raise RuntimeError(str(error)) from None
            except BaseException:
                self._stop_quietly()
                raise
            self.startup_seconds = time.monotonic() - began
            self._write_env_file()
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL if it has not exited in time.

        A no-op when nothing runs. Also stops a server started by another process from the
        same folder (its pid file).
        """
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                _terminate(process.pid, lambda timeout: _wait_child(process, timeout))
        elif (record := self._read_pid_file()) is not None and _process_alive(*record):
            pid, start_time = record
            _terminate(pid, lambda timeout: _wait_gone(pid, start_time, timeout))
        self.pid_file.unlink(missing_ok=True)
        self._after_stop()

    def is_running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        record = self._read_pid_file()
        return record is not None and _process_alive(*record)

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs."""
        if self._process is not None:
            return self._process.pid if self._process.poll() is None else None
        record = self._read_pid_file()
        return record[0] if record is not None and _process_alive(*record) else None

    def environ(self) -> dict[str, str]:
        """The settings that ``DIR/<name>.env`` holds, as environment variables for clients."""
        return {
            f"{self.env_prefix}_HOST": self.host,
            f"{self.env_prefix}_PORT": str(self.port),
            **self._client_settings(),
        }

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what subclasses say -----------------------------------------------------------------

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Before the first attempt: check for the programs, create folders, initialise data."""

    def _child_env(self) -> dict[str, str]:
        return dict(os.environ)

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _after_ready(self) -> None:
        """Set-up once it answers (still part of start(): a failure stops it again)."""

    def _after_stop(self) -> None:
        """Clean-up once it is stopped."""

    def _client_settings(self) -> dict[str, str]:
        return {}

    def _adopt(self, settings: Mapping[str, str]) -> None:
        """Take over host, port (and secrets) from a running server's env file."""
        self.host = settings.get(f"{self.env_prefix}_HOST", self.host)
        with contextlib.suppress(ValueError):
            self.port = int(settings.get(f"{self.env_prefix}_PORT", self.port))

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self, detached: bool) -> None:
        command = self._command()
        with self.log_file.open("ab") as log:
            try:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.base_dir,
                    env=self._child_env(),
                    start_new_session=True,  # its own process group, away from the terminal
                    preexec_fn=None if detached else _die_with_parent_hook(),
                )
            except OSError as error:
                raise RuntimeError(f"could not run {command[0]}: {error}") from error
        pid = self._process.pid
        start_time = _process_start_time(pid) or "-"
        self.pid_file.write_text(f"{pid} {start_time}\n", encoding="ascii")

    def _wait_until_ready(self, log_offset: int) -> None:
        process = self._process
        if process is None:  # pragma: no cover
            raise RuntimeError(f"{self.title} was not started")
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = process.poll()
            if code is not None:
                tail = self._log_tail(log_offset)
                error_type = _PortTakenError if _PORT_TAKEN.search(tail) else RuntimeError
                raise error_type(
                    f"{self.title} exited (code {code}) before it answered on "
                    f"{self.host}:{self.port}\n--- tail of {self.log_file} ---\n{tail}"
                )
            ready = self._is_ready() and process.poll() is None
            tail = self._log_tail(log_offset)
            if _PORT_TAKEN.search(tail):  # another server may have answered the probe
                raise _PortTakenError(
                    f"{self.title} could not listen on {self.host}:{self.port}\n"
                    f"--- tail of {self.log_file} ---\n{tail}"
                )
            if ready:
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"{self.title} did not answer on {self.host}:{self.port} within "
                    f"{self.start_timeout:.0f} s\n--- tail of {self.log_file} ---\n{tail}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def _read_pid_file(self) -> tuple[int, str | None] | None:
        try:
            parts = self.pid_file.read_text(encoding="ascii").split()
            pid = int(parts[0])
        except (OSError, IndexError, ValueError):
            return None
        start_time = parts[1] if len(parts) > 1 and parts[1] != "-" else None
        return (pid, start_time) if pid > 0 else None

    def _log_size(self) -> int:
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def _log_tail(self, offset: int = 0) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                text = handle.read().decode("utf-8", errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:]) or "(the log is empty)"

    def _stop_quietly(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.stop()

    def _write_env_file(self) -> None:
        content = "".join(f"{key}={_env_value(value)}\n" for key, value in self.environ().items())
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)


def _wait_child(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _wait_gone(pid: int, start_time: str | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _process_alive(pid, start_time):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL_S)
    return True


# -- MariaDB -----------------------------------------------------------------------------------


def find_mariadb_program(name: str) -> Path:
    """``mariadbd``, ``mariadb-install-db``, ``mariadb`` or ``mariadb-admin``; RuntimeError if
    it is in none of ``$ENTREPOT_MARIADB_BIN``, ``PATH`` and the usual folders."""
    candidates: list[Path] = []
    if configured := os.environ.get("ENTREPOT_MARIADB_BIN"):
        candidates.append(Path(configured) / name)
    if on_path := shutil.which(name):
        candidates.append(Path(on_path))
    candidates += [Path(folder) / name for folder in _MARIADB_BIN_DIRS]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        f"MariaDB program {name!r} not found: run `make install` (scripts/install-system-deps.sh "
        "installs mariadb-server and mariadb-client) or set ENTREPOT_MARIADB_BIN to the folder "
        "that holds it"
    )


def _mysql_literal(value: str) -> str:
    """A MariaDB string literal (the default sql_mode: backslash escapes)."""
    escapes = {"\\": "\\\\", "'": "\\'", "\x00": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}
    return "'" + "".join(escapes.get(char, char) for char in value) + "'"


def _mysql_ident(name: str) -> str:
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier: {name!r}")
    return "`" + name.replace("`", "``") + "`"


def _mysql_account(user: str, host: str) -> str:
    return f"{_mysql_literal(user)}@{_mysql_literal(host)}"


_MYSQL_PRIVILEGES = re.compile(r"[A-Za-z][A-Za-z ,_]*")


class MariaDBServer(_ChildProcessService):
    """A throwaway MariaDB server living in ``base_dir``.

    ``base_dir/data`` is the data folder (``mariadb-install-db`` on first use),
    ``base_dir/mariadb.log`` the error log and ``base_dir/mysqld.sock`` the socket (in the temp
    folder when that path is too long). It listens on ``host``:``port`` only, with
    ``--skip-name-resolve``, utf8mb4 and no durability (throwaway data). ``root`` logs in over
    TCP with ``root_password``, set at the first start; an existing data folder is reused, its
    password read back from ``mariadb.env`` unless given.
    """

    name = "mariadb"
    title = "MariaDB"
    env_prefix = "MARIADB"

    root_user: str
    root_password: str

    def __init__(
        self, base_dir: Path, port: int | None = None, root_password: str | None = None
    ) -> None:
        super().__init__(base_dir, port)
        self.root_user = "root"
        if root_password is None:
            root_password = self._saved.get("MARIADB_PASSWORD") or None
        self.root_password = root_password or secrets.token_urlsafe(24)
        self._init_file: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_path(self) -> Path:
        path = self.base_dir / "mysqld.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(self.base_dir).encode("utf-8")).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"entrepot-mariadb-{digest}.sock"

    def start(self, *, detached: bool = False) -> Self:
        try:
            return super().start(detached=detached)
        finally:
            if self._init_file is not None:
                self._init_file.unlink(missing_ok=True)
                self._init_file = None

    # -- clients -----------------------------------------------------------------------------

    def url(self, database: str = "", user: str | None = None, password: str | None = None) -> str:
        """A SQLAlchemy URL (PyMySQL); root (and its password) unless ``user`` is given."""
        if user is None:
            user = self.root_user
            if password is None:
                password = self.root_password
        credentials = quote(user, safe="")
        if password is not None:
            credentials += ":" + quote(password, safe="")
        return f"mysql+pymysql://{credentials}@{self.host}:{self.port}/{quote(database, safe='')}"

    def sql(self, statement: str, database: str | None = None) -> str:
        """Run SQL (fed on stdin, several statements allowed) as root over TCP; return the
        ``mariadb`` client's stdout: tab-separated rows without a header (``--batch
        --skip-column-names``), so ``sql("SELECT 1")`` returns ``"1\\n"``. RuntimeError with
        the client's stderr when a statement fails (the rest are not run)."""
        command = [
            str(find_mariadb_program("mariadb")),
            "--no-defaults",
            "--protocol=TCP",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--user={self.root_user}",
            "--batch",
            "--skip-column-names",
            "--default-character-set=utf8mb4",
            "--connect-timeout=10",
        ]
        if database is not None:
            command.append(f"--database={database}")
        result = subprocess.run(
            command,
            input=statement,
            capture_output=True,
            text=True,
            env=self._client_env(),
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            where = f" in database {database!r}" if database is not None else ""
            raise RuntimeError(
                f"mariadb failed{where} (exit {result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def create_database(self, name: str) -> None:
        self.sql(f"CREATE DATABASE {_mysql_ident(name)};")

    def create_user(self, name: str, password: str, host: str = "%") -> None:
        """A user that logs in from ``host`` (``%``: anywhere, so over TCP from 127.0.0.1)."""
        self.sql(
            f"CREATE USER {_mysql_account(name, host)} IDENTIFIED BY {_mysql_literal(password)};"
        )

    def grant(
        self,
        user: str,
        database: str | None = None,
        privileges: str = "ALL PRIVILEGES",
        *,
        host: str = "%",
    ) -> None:
        """``GRANT privileges ON database.* TO user@host`` (every database when None)."""
        if not _MYSQL_PRIVILEGES.fullmatch(privileges):
            raise ValueError(f"invalid privilege list: {privileges!r}")
        target = "*" if database is None else _mysql_ident(database)
        self.sql(f"GRANT {privileges} ON {target}.* TO {_mysql_account(user, host)};")

    # -- internals ---------------------------------------------------------------------------

    def _client_env(self) -> dict[str, str]:
        env = self._child_env()
        env["MYSQL_PWD"] = self.root_password
        return env

    def _child_env(self) -> dict[str, str]:
        return {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MYSQL_", "MARIADB_"))
        }

    def _prepare(self) -> None:
        for program in ("mariadbd", "mariadb", "mariadb-admin"):
            find_mariadb_program(program)
        if not (self.data_dir / "mysql").is_dir():
            self._install_db()
            self._init_file = self._write_init_file()

    def _install_db(self) -> None:
        command = [
            str(find_mariadb_program("mariadb-install-db")),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=self.base_dir,
            env=self._child_env(),
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            output = "\n".join((result.stdout + result.stderr).splitlines()[-_LOG_TAIL_LINES:])
            raise RuntimeError(
                f"mariadb-install-db failed in {self.data_dir} (exit {result.returncode}):\n"
                f"{output}"
            )

    def _write_init_file(self) -> Path:
        """SQL that mariadbd runs at its first start: root's password, for socket and TCP."""
        password = _mysql_literal(self.root_password)
        lines = [f"ALTER USER 'root'@'localhost' IDENTIFIED BY {password};"]
        for host in ("127.0.0.1", "::1"):
            account = _mysql_account("root", host)
            lines += [
                f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password};",
                f"ALTER USER {account} IDENTIFIED BY {password};",
                f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;",
            ]
        path = self.base_dir / f".init-{secrets.token_hex(4)}.sql"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def _command(self) -> list[str]:
        command = [str(find_mariadb_program("mariadbd")), "--no-defaults"]
        if os.geteuid() == 0:
            command.append("--user=root")  # mariadbd refuses to run as root unless told so
        command += [
            f"--datadir={self.data_dir}",
            f"--bind-address={self.host}",
            f"--port={self.port}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.base_dir / 'mariadbd.pid'}",
            f"--log-error={self.log_file}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            # Throwaway data: trade durability for speed.
            "--innodb-flush-log-at-trx-commit=0",
            "--sync-binlog=0",
        ]
        if self._init_file is not None:
            command.append(f"--init-file={self._init_file}")
        return command

    def _is_ready(self) -> bool:
        """``mariadb-admin ping`` over TCP: exit 0 once the server answers (even if it were to
        refuse root)."""
        try:
            result = subprocess.run(
                [
                    str(find_mariadb_program("mariadb-admin")),
                    "--no-defaults",
                    "--protocol=TCP",
                    f"--host={self.host}",
                    f"--port={self.port}",
                    f"--user={self.root_user}",
                    f"--connect-timeout={_PROBE_TIMEOUT_S}",
                    "ping",
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=self._client_env(),
                timeout=_PROBE_TIMEOUT_S + 5,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def _after_ready(self) -> None:
        try:
            self.sql("SELECT 1;")
        except RuntimeError as error:
            raise RuntimeError(
                f"MariaDB runs on {self.host}:{self.port} but root cannot log in over TCP "
                f"with its password: {error}\n--- tail of {self.log_file} ---\n"
                f"{self._log_tail()}"
            ) from None

    def _after_stop(self) -> None:
        socket_path = self.socket_path
        if socket_path.parent != self.base_dir:
            socket_path.unlink(missing_ok=True)

    def _client_settings(self) -> dict[str, str]:
        return {
            "MARIADB_USER": self.root_user,
            "MARIADB_PASSWORD": self.root_password,
            "MARIADB_SOCKET": str(self.socket_path),
        }

    def _adopt(self, settings: Mapping[str, str]) -> None:
        super()._adopt(settings)
        self.root_password = settings.get("MARIADB_PASSWORD", self.root_password)


# -- Azurite (Azure Blob Storage) ---------------------------------------------------------------


def _find_node() -> Path:
    node = os.environ.get("ENTREPOT_NODE") or shutil.which("node")
    if not node:
        raise RuntimeError(
            "Node.js (`node`) not found on PATH: Azurite needs Node.js 20 or newer with npm "
            "(Debian: apt-get install nodejs npm), then `make install`"
        )
    return Path(node)


def _find_azurite_blob() -> Path:
    """The Azurite blob server script from the project's ``node_modules`` (``npm ci``)."""
    configured = os.environ.get("ENTREPOT_AZURITE_BLOB")
    script = Path(configured) if configured else PROJECT_ROOT / "node_modules/.bin/azurite-blob"
    if not script.is_file():
        raise RuntimeError(
            f"Azurite is not installed ({script} is missing): run `make install` (it runs "
            f"`npm ci` in {PROJECT_ROOT}, which installs the version package.json pins) or set "
            "ENTREPOT_AZURITE_BLOB to an azurite-blob script"
        )
    return script.resolve()


class AzuriteServer(_ChildProcessService):
    """Azurite's Blob Storage emulator living in ``base_dir`` (blobs in ``base_dir/data``).

    Run as ``node azurite-blob`` itself (not through npx), so its PID is the server's. The
    account is Azurite's well-known development account; telemetry is off (it would try the
    internet) and any API version is accepted.
    """

    name = "azurite"
    title = "Azurite (Azure Blob Storage emulator)"
    env_prefix = "AZURITE"

    account_name: str
    account_key: str

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        super().__init__(base_dir, port)
        self.account_name = AZURITE_ACCOUNT_NAME
        self.account_key = AZURITE_ACCOUNT_KEY

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        """For ``BlobServiceClient.from_connection_string``."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    def _prepare(self) -> None:
        _find_node()
        _find_azurite_blob()
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _command(self) -> list[str]:
        return [
            str(_find_node()),
            str(_find_azurite_blob()),
            "--blobHost",
            self.host,
            "--blobPort",
            str(self.port),
            "--location",
            str(self.data_dir),
            "--loose",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ]

    def _is_ready(self) -> bool:
        return _http_answers(f"{self.blob_endpoint}?comp=list")

    def _client_settings(self) -> dict[str, str]:
        return {
            "AZURE_STORAGE_ACCOUNT": self.account_name,
            "AZURE_STORAGE_KEY": self.account_key,
            "AZURE_STORAGE_CONNECTION_STRING": self.connection_string,
        }


# -- S3 (moto) ----------------------------------------------------------------------------------


class S3Server(_ChildProcessService):
    """moto's server (``python -m moto.server``), in memory; S3 at :attr:`endpoint_url`.

    With ``enforce_auth`` (the default), right after it starts an IAM user with an allow-all
    policy and an access key are created in it, and moto is switched to checking every request
    (``/moto-api/reset-auth``, the server-mode form of ``INITIAL_NO_AUTH_ACTION_COUNT=0``):
    requests must then be SigV4-signed with :attr:`access_key_id` and
    :attr:`secret_access_key`, so a wrong secret key gets ``SignatureDoesNotMatch`` and an
    unknown key ``InvalidAccessKeyId`` (HTTP 403), as from AWS. Without it, moto accepts any
    credentials, and the keys are the dummy ``testing``/``testing``.
    """

    name = "s3"
    title = "moto S3 server"
    env_prefix = "S3"

    access_key_id: str
    secret_access_key: str
    region: str
    enforce_auth: bool

    def __init__(
        self,
        base_dir: Path,
        port: int | None = None,
        *,
        enforce_auth: bool = True,
        region: str = "us-east-1",
    ) -> None:
        super().__init__(base_dir, port)
        self.enforce_auth = enforce_auth
        self.region = region
        self.access_key_id = "testing"
        self.secret_access_key = "testing"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _prepare(self) -> None:
        _require_python_modules(self.title, "moto[server]", "moto", "flask", "flask_cors")

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _is_ready(self) -> bool:
        return _http_answers(f"{self.endpoint_url}/moto-api/")

    def _after_ready(self) -> None:
        if not self.enforce_auth:
            return
        user = "entrepot-tests"
        self._iam("CreateUser", UserName=user)
        policy = (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
        )
        self._iam("PutUserPolicy", UserName=user, PolicyName="allow-all", PolicyDocument=policy)
        key = self._iam("CreateAccessKey", UserName=user)
        key_id = key.findtext(".//{*}AccessKeyId")
        secret = key.findtext(".//{*}SecretAccessKey")
        if not key_id or not secret:
            raise RuntimeError("moto's CreateAccessKey answer has no access key")
        self.access_key_id, self.secret_access_key = key_id, secret
        status, body = _http_request(
            f"{self.endpoint_url}/moto-api/reset-auth",
            data=b"0",  # check every request from now on
            headers={"Content-Type": "text/plain"},
        )
        if status != 200:
            raise RuntimeError(f"moto refused to enforce authentication (HTTP {status}): {body!r}")

    def _iam(self, action: str, **params: str) -> ElementTree.Element:
        """One IAM query-API call before authentication is enforced: moto picks the service
        from the credential scope and does not check the signature yet."""
        status, body = _http_request(
            f"{self.endpoint_url}/",
            data=urlencode({"Action": action, "Version": "2010-05-08", **params}).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Authorization": (
                    f"AWS4-HMAC-SHA256 Credential=bootstrap/20000101/{self.region}/iam/"
                    "aws4_request, SignedHeaders=host, Signature=0"
                ),
            },
        )
        if status != 200:
            raise RuntimeError(f"moto IAM {action} answered HTTP {status}: {body[:500]!r}")
        return ElementTree.fromstring(body)

    def _client_settings(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def _adopt(self, settings: Mapping[str, str]) -> None:
        super()._adopt(settings)
        self.access_key_id = settings.get("AWS_ACCESS_KEY_ID", self.access_key_id)
        self.secret_access_key = settings.get("AWS_SECRET_ACCESS_KEY", self.secret_access_key)
        self.region = settings.get("AWS_DEFAULT_REGION", self.region)


# -- Google Cloud Storage (gcp-storage-emulator) ------------------------------------------------


class GCSServer(_ChildProcessService):
    """``gcp-storage-emulator``, in memory, at :attr:`endpoint`.

    Clients: ``STORAGE_EMULATOR_HOST=<endpoint>``, or google-cloud-storage's
    ``Client(project=..., credentials=AnonymousCredentials(),
    client_options={"api_endpoint": endpoint})``. It accepts any credentials.
    """

    name = "gcs"
    title = "GCS emulator (gcp-storage-emulator)"
    env_prefix = "GCS"

    project: str

    def __init__(
        self, base_dir: Path, port: int | None = None, *, project: str = "entrepot-test"
    ) -> None:
        super().__init__(base_dir, port)
        self.project = project

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _prepare(self) -> None:
        _require_python_modules(self.title, "gcp-storage-emulator", "gcp_storage_emulator")

    def _command(self) -> list[str]:
        # Its console script when there is one (a clearer process listing), else the module.
        script = Path(sys.executable).parent / "gcp-storage-emulator"
        runner = [str(script)] if script.is_file() else ["-m", "gcp_storage_emulator"]
        return [
            sys.executable,
            *runner,
            "start",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--no-store-on-disk",
        ]

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _is_ready(self) -> bool:
        return _http_answers(f"{self.endpoint}/")

    def _client_settings(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint, "GOOGLE_CLOUD_PROJECT": self.project}

    def _adopt(self, settings: Mapping[str, str]) -> None:
        super()._adopt(settings)
        self.project = settings.get("GOOGLE_CLOUD_PROJECT", self.project)


# -- command line -------------------------------------------------------------------------------

_CHILD_SERVICES: dict[str, str] = {
    "mariadb": "a throwaway MariaDB server",
    "azurite": "Azurite, the Azure Blob Storage emulator",
    "s3": "moto's S3 server",
    "gcs": "gcp-storage-emulator, a Google Cloud Storage emulator",
}


def _child_service(
    service: str, directory: Path, port: int | None, *, no_auth: bool = False
) -> _ChildProcessService:
    if service == "mariadb":
        return MariaDBServer(directory, port=port)
    if service == "azurite":
        return AzuriteServer(directory, port=port)
    if service == "s3":
        return S3Server(directory, port=port, enforce_auth=not no_auth)
    if service == "gcs":
        return GCSServer(directory, port=port)
    raise ValueError(f"unknown service: {service}")


def _child_service_main(args: argparse.Namespace) -> int:
    if args.action == "start":
        server = _child_service(
            args.service, args.dir, args.port, no_auth=getattr(args, "no_auth", False)
        )
        was_running = server.is_running()
        server.start(detached=True)
        state = "already running" if was_running else "running"
        print(
            f"{args.service} {state} on {server.host}:{server.port} (settings: {server.env_file})"
        )
        return 0
    server = _child_service(args.service, args.dir, port=0)
    if not server.is_running():
        server.stop()  # drops a stale pid file
        print(f"{args.service} was not running in {server.base_dir}")
        return 0
    settings = _read_env_file(server.env_file) if server.env_file.is_file() else {}
    server.stop()
    prefix = server.env_prefix
    print(
        f"{args.service} stopped on "
        f"{settings.get(f'{prefix}_HOST', server.host)}:{settings.get(f'{prefix}_PORT', '?')}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.services",
        description="Start and stop throwaway local services for the tests and the demo.",
    )
    services = parser.add_subparsers(dest="service", required=True, metavar="SERVICE")
    helps = {"postgres": "a throwaway PostgreSQL server", **_CHILD_SERVICES}
    for service, service_help in helps.items():
        sub = services.add_parser(service, help=service_help)
        actions = sub.add_subparsers(dest="action", required=True, metavar="ACTION")
        first_use = {"postgres": " (initdb on first use)", "mariadb": " (install-db on first use)"}
        start = actions.add_parser("start", help="start it" + first_use.get(service, ""))
        start.add_argument("--dir", type=Path, required=True, help="its folder (data, log, env)")
        start.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
        if service == "s3":
            start.add_argument(
                "--no-auth",
                action="store_true",
                help="accept any credentials (moto's default) instead of only the key it issues",
            )
        stop = actions.add_parser("stop", help="stop it")
        stop.add_argument("--dir", type=Path, required=True, help="its folder")
    args = parser.parse_args(argv)

    try:
        if args.service != "postgres":
            return _child_service_main(args)
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
