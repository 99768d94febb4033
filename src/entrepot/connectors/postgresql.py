"""PostgreSQL (`postgresql`, and `jdbc` with `subprotocol: postgresql`), through psycopg 3.

Secret keys: `username`, `password`; optionally a CA (`rootcert`, from a `certificates` secret)
for `sslmode: verify-ca|verify-full`. A read (`r`) connection sets
`default_transaction_read_only`, so it cannot write even when the account could.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from entrepot.connectors import net
from entrepot.connectors.base import CheckContext, Connector, ResolvedConnection, StepFailed
from entrepot.resources.depot_types import PostgresqlBlock

if TYPE_CHECKING:
    import psycopg

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
CA_KEYS = ("rootcert", "sslrootcert", "ca", "ca_file", "cacert")
TLS_REQUIRED = ("require", "verify-ca", "verify-full")


def _config(conn: ResolvedConnection) -> PostgresqlBlock:
    assert isinstance(conn.config, PostgresqlBlock)
    return conn.config


def _sslmode(conn: ResolvedConnection) -> str:
    params = _config(conn).params or {}
    return str(params.get("sslmode", "prefer")).lower()


@contextmanager
def connect(
    conn: ResolvedConnection, timeout: float = 10.0, address: str | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection for this depot, read-only at the source for `acl: r`."""
    import psycopg

    cfg = _config(conn)
    params: dict[str, Any] = {k: v for k, v in (cfg.params or {}).items() if k != "sslrootcert"}
    params.setdefault("application_name", "entrepot")
    options = str(params.pop("options", ""))
    if conn.acl == "r":
        options = f"{options} -c default_transaction_read_only=on".strip()
    ca = conn.file(*CA_KEYS)
    with tempfile.TemporaryDirectory(prefix="entrepot-pg-") as tmp:
        if ca:  # libpq reads the CA from a file: a private one, removed on exit
            ca_path = os.path.join(tmp, "root.crt")
            fd = os.open(ca_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(ca)
            params["sslrootcert"] = ca_path
        elif _sslmode(conn) in ("verify-ca", "verify-full"):
            params["sslrootcert"] = "system"
        connection = psycopg.connect(
            host=cfg.host,
            hostaddr=address,
            port=cfg.port,
            dbname=cfg.database,
            user=conn.require("username", "user"),
            password=conn.require("password"),
            connect_timeout=max(1, int(timeout + 0.999)),
            options=options or None,
            autocommit=True,
            **params,
        )
    try:
        yield connection
    finally:
        connection.close()


class PostgresConnector(Connector):
    source_types: ClassVar[tuple[str, ...]] = ("postgresql",)
    label = "PostgreSQL"

    def steps(self, conn: ResolvedConnection) -> list[tuple[str, str]]:
        cfg = _config(conn)
        steps = [
            ("dns", f"resolve host {cfg.host}"),
            ("tcp", f"open TCP port {cfg.port}"),
            ("tls", f"TLS handshake (sslmode={_sslmode(conn)})"),
            ("auth", "authenticate"),
            ("open", f"open database {cfg.database}"),
            ("list", "list schemas"),
            ("read", "probe read privilege"),
        ]
        if conn.acl == "rw":
            steps.append(("write", "probe write privilege"))
        return steps

    def check(self, conn: ResolvedConnection, ctx: CheckContext) -> None:
        cfg = _config(conn)
        address = net.resolve(ctx, cfg.host, cfg.port)
        net.connect_tcp(ctx, cfg.host, address, cfg.port)
        self._tls(conn, ctx, address)
        with ExitStack() as stack:
            holder: list[psycopg.Connection[Any]] = []
            auth_error: list[StepFailed] = []

            def authenticate() -> str:
                user = conn.require("username", "user")
                conn.require("password")
                try:
                    holder.append(stack.enter_context(connect(conn, ctx.remaining(), address)))
                except Exception as exc:  # psycopg.OperationalError and friends
                    failure = self._explain(conn, exc)
                    if failure.code != "no database":
                        raise failure from None
                    auth_error.append(failure)  # authenticated; the database is the problem
                return f"as {user}"

            def open_database() -> str:
                if auth_error:
                    raise auth_error[0]
                row = holder[0].execute("SHOW server_version").fetchone()
                return f"PostgreSQL {row[0] if row else '?'}"

            ctx.run("auth", authenticate)
            ctx.run("open", open_database)
            pg = holder[0]
            ctx.run("list", lambda: self._list(pg))
            ctx.run("read", lambda: self._read(pg, conn))
            if conn.acl == "rw":
                ctx.run("write", lambda: self._write(pg, conn))

    def _tls(self, conn: ResolvedConnection, ctx: CheckContext, address: str) -> None:
        cfg = _config(conn)
        mode = _sslmode(conn)
        if mode == "disable":
            ctx.skip("tls", "sslmode=disable")
            return

        def handshake() -> str:
            with socket.create_connection((address, cfg.port), timeout=ctx.remaining()) as sock:
                sock.sendall(SSL_REQUEST)
                answer = sock.recv(1)
                if answer != b"S":
                    if mode in TLS_REQUIRED:
                        raise StepFailed(
                            f"the server does not accept TLS, but sslmode={mode} requires it",
                            "enable ssl on the server, or lower sslmode in the depot's params",
                            "tls",
                        )
                    return f"server offers no TLS; sslmode={mode} continues without"
                verify = mode in ("verify-ca", "verify-full")
                context = net.tls_context(conn.file(*CA_KEYS), verify, mode == "verify-full")
                try:
                    with context.wrap_socket(sock, server_hostname=cfg.host) as tls:
                        return f"{tls.version()}, {'verified' if verify else 'not verified'}"
                except (ssl.SSLError, ssl.CertificateError) as exc:
                    raise net.explain_tls(exc, cfg.host) from None

        ctx.run("tls", handshake)

    def _explain(self, conn: ResolvedConnection, exc: Exception) -> StepFailed:
        cfg = _config(conn)
        text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        lower = str(exc).lower()
        user = conn.optional("username", "user") or "?"
        if "password authentication failed" in lower or "authentication failed" in lower:
            return StepFailed(
                f"password authentication failed for user '{user}'",
                f"check {conn.where('password')} (and {conn.where('username')})",
                "auth failed",
            )
        if "role" in lower and "does not exist" in lower:
            return StepFailed(
                f"user '{user}' does not exist on the server",
                f"check {conn.where('username')}",
                "auth failed",
            )
        if "database" in lower and "does not exist" in lower:
            return StepFailed(
                f"database '{cfg.database}' does not exist",
                "check the depot's database field",
                "no database",
            )
        if "permission denied for database" in lower:
            return StepFailed(
                f"user '{user}' may not connect to database '{cfg.database}'",
                f"GRANT CONNECT ON DATABASE {cfg.database} TO {user}",
                "no access",
            )
        if "pg_hba.conf" in lower:
            return StepFailed(
                "the server refuses this host, user or database (pg_hba.conf)",
                "ask the database administrator for a pg_hba.conf entry",
                "auth failed",
            )
        if "ssl" in lower or "certificate" in lower:
            return StepFailed(f"TLS: {text}", "check sslmode and the CA certificate", "tls")
        if "timeout" in lower:
            return StepFailed(f"no answer while authenticating: {text}", "", "timeout")
        return StepFailed(text, "", "error")

    def _list(self, pg: psycopg.Connection[Any]) -> str:
        row = pg.execute(
            "SELECT count(*) FILTER (WHERE has_schema_privilege(oid, 'USAGE')), count(*) "
            "FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'"
        ).fetchone()
        usable, total = row or (0, 0)
        if not usable:
            raise StepFailed(
                f"no schema is usable ({total} exist)",
                "GRANT USAGE ON SCHEMA <schema> TO <user>",
                "no access",
            )
        return f"{usable} of {total} schemas usable"

    def _read(self, pg: psycopg.Connection[Any], conn: ResolvedConnection) -> str:
        from psycopg import sql

        rows = pg.execute(
            "SELECT n.nspname, c.relname, has_table_privilege(c.oid, 'SELECT') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%' AND has_schema_privilege(n.oid, 'USAGE') "
            "ORDER BY 3 DESC, 1, 2"
        ).fetchall()
        if not rows:
            return "no tables yet"
        readable = [r for r in rows if r[2]]
        user = conn.optional("username", "user") or "the user"
        if not readable:
            raise StepFailed(
                f"user '{user}' cannot read any of the {len(rows)} tables",
                f"GRANT SELECT ON ALL TABLES IN SCHEMA {rows[0][0]} TO {user}",
                "no read",
            )
        schema, table, _ = readable[0]
        pg.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, table)))
        return f"reads {len(readable)} of {len(rows)} tables"

    def _write(self, pg: psycopg.Connection[Any], conn: ResolvedConnection) -> str:
        row = pg.execute(
            "SELECT "
            "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\\_%' "
            " AND n.nspname <> 'information_schema' AND has_table_privilege(c.oid, 'INSERT')), "
            "(SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
            " AND nspname <> 'information_schema' AND has_schema_privilege(oid, 'CREATE'))"
        ).fetchone()
        tables, schemas = row or (0, 0)
        if not tables and not schemas:
            user = conn.optional("username", "user") or "the user"
            raise StepFailed(
                f"user '{user}' can neither insert into a table nor create one",
                "the rw secret needs an account with INSERT or CREATE privileges",
                "no write",
            )
        return f"may insert into {tables} tables, create in {schemas} schemas"

    # --- renderings ---------------------------------------------------------------------------

    def duckdb(self, conn: ResolvedConnection) -> dict[str, Any]:
        cfg = _config(conn)
        return {
            "type": "postgres",
            "secret": {
                "HOST": cfg.host,
                "PORT": cfg.port,
                "DATABASE": cfg.database,
                "USER": conn.require("username", "user"),
                "PASSWORD": conn.require("password"),
            },
            "read_only": conn.acl == "r",
        }

    def spark(self, conn: ResolvedConnection) -> dict[str, str]:
        cfg = _config(conn)
        return {
            "url": f"jdbc:postgresql://{cfg.host}:{cfg.port}/{cfg.database}",
            "driver": "org.postgresql.Driver",
            "user": conn.require("username", "user"),
            "password": conn.require("password"),
        }

    def trino(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        cfg = _config(conn)
        return {
            "connector.name": "postgresql",
            "connection-url": f"jdbc:postgresql://{cfg.host}:{cfg.port}/{cfg.database}",
            "connection-user": f"${{ENV:{env_prefix}_USER}}",
            "connection-password": f"${{ENV:{env_prefix}_PASSWORD}}",
        }


CONNECTOR = PostgresConnector()
