"""MySQL and MariaDB (`mysql`, and `jdbc` with `subprotocol: mysql|mariadb`), through PyMySQL.

Secret keys: `username`, `password`. A read (`r`) connection runs every transaction
`READ ONLY`, so it cannot write even when the account could. Without `database`, the depot
reaches every database the account sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, ClassVar

from entrepot.connectors import net
from entrepot.connectors.base import CheckContext, Connector, ResolvedConnection, StepFailed
from entrepot.resources.depot_types import MysqlBlock

SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")
TLS_ON = ("true", "required", "require", "skip-verify", "preferred", "verify_ca", "verify_identity")


def _config(conn: ResolvedConnection) -> MysqlBlock:
    assert isinstance(conn.config, MysqlBlock)
    return conn.config


def _tls_mode(conn: ResolvedConnection) -> str:
    params = _config(conn).params or {}
    return str(params.get("tls", params.get("ssl-mode", params.get("sslmode", "false")))).lower()


def _driver() -> Any:
    try:
        import pymysql
    except ImportError:
        raise StepFailed(
            "the MySQL connector needs PyMySQL", "pip install 'entrepot[mysql]'", "not installed"
        ) from None
    return pymysql


@contextmanager
def connect(
    conn: ResolvedConnection,
    timeout: float = 10.0,
    address: str | None = None,
    database: bool = True,
) -> Iterator[Any]:
    """A PyMySQL connection; `acl: r` makes every transaction READ ONLY at the server."""
    pymysql = _driver()
    cfg = _config(conn)
    ssl: dict[str, Any] | None = None
    mode = _tls_mode(conn)
    if mode in TLS_ON:
        import ssl as ssl_module

        context = ssl_module.create_default_context()
        ca = conn.file("rootcert", "ca", "ca_file", "sslrootcert")
        if ca:
            context.load_verify_locations(cadata=ca.decode())
        if mode in ("skip-verify", "preferred", "true", "required", "require"):
            context.check_hostname = False
            context.verify_mode = ssl_module.CERT_NONE
        ssl = {"ssl": context}
    connection = pymysql.connect(
        host=address or cfg.host,
        port=cfg.port,
        user=conn.require("username", "user"),
        password=conn.require("password"),
        database=cfg.database if database else None,
        connect_timeout=max(1, int(timeout + 0.999)),
        read_timeout=max(1, int(timeout + 0.999)),
        autocommit=True,
        **(ssl or {}),
    )
    try:
        with connection.cursor() as cursor:
            if conn.acl == "r":
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
        yield connection
    finally:
        connection.close()


class MysqlConnector(Connector):
    source_types: ClassVar[tuple[str, ...]] = ("mysql",)
    label = "MySQL"

    def steps(self, conn: ResolvedConnection) -> list[tuple[str, str]]:
        cfg = _config(conn)
        steps = [
            ("dns", f"resolve host {cfg.host}"),
            ("tcp", f"open TCP port {cfg.port}"),
            ("tls", f"TLS (tls={_tls_mode(conn)})"),
            ("auth", "authenticate"),
            ("open", f"open database {cfg.database}" if cfg.database else "open the server"),
            ("list", "list databases"),
            ("read", "probe read privilege"),
        ]
        if conn.acl == "rw":
            steps.append(("write", "probe write privilege"))
        return steps

    def check(self, conn: ResolvedConnection, ctx: CheckContext) -> None:
        cfg = _config(conn)
        address = net.resolve(ctx, cfg.host, cfg.port)
        net.connect_tcp(ctx, cfg.host, address, cfg.port)
        if _tls_mode(conn) in TLS_ON:
            ctx.skip("tls", "negotiated inside the MySQL protocol, at authentication")
        else:
            ctx.skip("tls", "tls not requested (params.tls)")
        with ExitStack() as stack:
            holder: list[Any] = []

            def authenticate() -> str:
                user = conn.require("username", "user")
                conn.require("password")
                try:
                    holder.append(
                        stack.enter_context(connect(conn, ctx.remaining(), address, False))
                    )
                except StepFailed:
                    raise
                except Exception as exc:
                    raise self._explain(conn, exc) from None
                return f"as {user}"

            def open_database() -> str:
                my = holder[0]
                version = _scalar(my, "SELECT VERSION()")
                if cfg.database:
                    try:
                        my.select_db(cfg.database)
                    except Exception as exc:
                        raise self._explain_open(my, conn, exc) from None
                return f"server {version}"

            ctx.run("auth", authenticate)
            ctx.run("open", open_database)
            my = holder[0]
            ctx.run("list", lambda: self._list(my))
            ctx.run("read", lambda: self._read(my, conn))
            if conn.acl == "rw":
                ctx.run("write", lambda: self._write(my, conn))

    def _explain(self, conn: ResolvedConnection, exc: Exception) -> StepFailed:
        cfg = _config(conn)
        args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
        number = args[0] if args and isinstance(args[0], int) else None
        text = str(args[1]) if len(args) > 1 else str(exc)
        user = conn.optional("username", "user") or "?"
        if number == 1045:
            return StepFailed(
                f"access denied for user '{user}' (wrong password, or the user may not connect "
                "from this host)",
                f"check {conn.where('password')} (and {conn.where('username')})",
                "auth failed",
            )
        if number == 1049:
            return StepFailed(
                f"database '{cfg.database}' does not exist",
                "check the depot's database field",
                "no database",
            )
        if number == 1044:
            return StepFailed(
                f"user '{user}' may not use database '{cfg.database}'",
                f"GRANT SELECT ON {cfg.database}.* TO '{user}'",
                "no access",
            )
        if number in (2003, 2013):
            return StepFailed(f"the server closed the connection: {text}", "", "unreachable")
        return StepFailed(text, "", "error")

    def _explain_open(self, my: Any, conn: ResolvedConnection, exc: Exception) -> StepFailed:
        """MariaDB answers 1044 (access denied), not 1049, when an account without global
        privileges opens a database that does not exist: tell a typo from a missing grant."""
        import difflib

        failure = self._explain(conn, exc)
        if failure.code != "no access":
            return failure
        database = _config(conn).database or ""
        with my.cursor() as cursor:
            cursor.execute("SHOW DATABASES")
            visible = [row[0] for row in cursor.fetchall() if row[0] not in SYSTEM_SCHEMAS]
        close = difflib.get_close_matches(database, visible, n=1)
        if close:
            return StepFailed(
                f"database '{database}' does not exist, did you mean '{close[0]}'?",
                "check the depot's database field",
                "no database",
            )
        user = conn.optional("username", "user") or "the user"
        return StepFailed(
            f"database '{database}' does not exist, or user '{user}' has no privilege on it",
            f"check the depot's database field; if it is right: "
            f"GRANT SELECT ON {database}.* TO '{user}'",
            "no access",
        )

    def _list(self, my: Any) -> str:
        with my.cursor() as cursor:
            cursor.execute("SELECT schema_name FROM information_schema.schemata")
            names = [row[0] for row in cursor.fetchall() if row[0].lower() not in SYSTEM_SCHEMAS]
        return f"{len(names)} databases visible" if names else "no user database visible"

    def _read(self, my: Any, conn: ResolvedConnection) -> str:
        cfg = _config(conn)
        user = conn.optional("username", "user") or "the user"
        where = "table_schema = %s" if cfg.database else "table_schema NOT IN %s"
        arg: Any = cfg.database if cfg.database else SYSTEM_SCHEMAS
        with my.cursor() as cursor:
            # information_schema lists only the tables the account has some privilege on.
            cursor.execute(
                f"SELECT table_schema, table_name FROM information_schema.tables WHERE {where} "
                "ORDER BY 1, 2 LIMIT 1000",
                (arg,),
            )
            tables = cursor.fetchall()
            if not tables:
                if cfg.database:
                    return self._no_tables(my, cfg.database, user)
                return "no readable tables yet"
            schema, table = tables[0]
            try:
                cursor.execute(f"SELECT * FROM `{schema}`.`{table}` LIMIT 1")
                cursor.fetchall()
            except Exception as exc:
                args = getattr(exc, "args", ())
                if args and args[0] in (1142, 1143):
                    raise StepFailed(
                        f"user '{user}' cannot read {schema}.{table}",
                        f"GRANT SELECT ON {schema}.* TO '{user}'",
                        "no read",
                    ) from None
                raise
        return f"reads {len(tables)} tables"

    def _no_tables(self, my: Any, database: str, user: str) -> str:
        with my.cursor() as cursor:
            cursor.execute("SHOW GRANTS")
            grants = " ".join(row[0] for row in cursor.fetchall()).upper()
        if "SELECT" in grants or "ALL PRIVILEGES" in grants:
            return "no tables yet"
        raise StepFailed(
            f"user '{user}' has no SELECT privilege in database '{database}'",
            f"GRANT SELECT ON {database}.* TO '{user}'",
            "no read",
        )

    def _write(self, my: Any, conn: ResolvedConnection) -> str:
        with my.cursor() as cursor:
            cursor.execute("SHOW GRANTS")
            grants = " ".join(row[0] for row in cursor.fetchall()).upper()
        if any(word in grants for word in ("INSERT", "ALL PRIVILEGES", "CREATE")):
            return "INSERT or CREATE granted"
        user = conn.optional("username", "user") or "the user"
        raise StepFailed(
            f"user '{user}' has neither INSERT nor CREATE privileges",
            "the rw secret needs an account with INSERT or CREATE privileges",
            "no write",
        )

    # --- renderings ---------------------------------------------------------------------------

    def duckdb(self, conn: ResolvedConnection) -> dict[str, Any]:
        cfg = _config(conn)
        secret: dict[str, Any] = {
            "HOST": cfg.host,
            "PORT": cfg.port,
            "USER": conn.require("username", "user"),
            "PASSWORD": conn.require("password"),
        }
        if cfg.database:
            secret["DATABASE"] = cfg.database
        return {"type": "mysql", "secret": secret, "read_only": conn.acl == "r"}

    def spark(self, conn: ResolvedConnection) -> dict[str, str]:
        cfg = _config(conn)
        return {
            "url": f"jdbc:mysql://{cfg.host}:{cfg.port}/{cfg.database or ''}",
            "driver": "com.mysql.cj.jdbc.Driver",
            "user": conn.require("username", "user"),
            "password": conn.require("password"),
        }

    def trino(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        cfg = _config(conn)
        return {
            "connector.name": "mysql",
            "connection-url": f"jdbc:mysql://{cfg.host}:{cfg.port}",
            "connection-user": f"${{ENV:{env_prefix}_USER}}",
            "connection-password": f"${{ENV:{env_prefix}_PASSWORD}}",
        }


def _scalar(my: Any, statement: str) -> Any:
    with my.cursor() as cursor:
        cursor.execute(statement)
        row = cursor.fetchone()
    return row[0] if row else None


CONNECTOR = MysqlConnector()
