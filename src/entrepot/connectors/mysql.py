"""MySQL and MariaDB (`mysql`, and `jdbc` with `subprotocol: mysql|mariadb`), through PyMySQL.

Secret keys: `username`, `password`. A read (`r`) connection runs every transaction
`READ ONLY`, so it cannot write even when the account could. Without `database`, the depot
reaches every database the account sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, ClassVar

from entrepot.connectors import net
from entrepot.connectors.base import (
    CheckContext,
    Connector,
    ResolvedConnection,
    ScanFailed,
    StepFailed,
)
from entrepot.connectors.capabilities import Capabilities, DuckDBSupport
from entrepot.resources.depot_types import MysqlBlock

SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")
TLS_ON = ("true", "required", "require", "skip-verify", "preferred", "verify_ca", "verify_identity")
# The depot's `tls` modes in MySQL Connector/J's words (`sslMode`), for Trino's catalogs.
TRINO_SSL_MODES = {"false": "DISABLED", "disabled": "DISABLED", "preferred": "PREFERRED",
                   "true": "REQUIRED", "required": "REQUIRED", "require": "REQUIRED",
                   "skip-verify": "REQUIRED", "verify_ca": "VERIFY_CA",
                   "verify_identity": "VERIFY_IDENTITY"}  # fmt: skip


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
    capabilities = Capabilities(
        storage="relational",
        check=True,
        scan=True,
        duckdb=DuckDBSupport(extension="mysql"),
        spark=True,
        trino=True,
    )

    def steps(self, conn: ResolvedConnection) -> list[tuple[str, str]]:
        cfg = _config(conn)
        return net.server_steps(
            conn,
            cfg.host,
            cfg.port,
            tls=f"TLS (tls={_tls_mode(conn)})",
            opened=f"open database {cfg.database}" if cfg.database else "open the server",
            listed="list databases",
        )

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

    def scan(
        self,
        conn: ResolvedConnection,
        filters: Any,
        statement_timeout: float,
        since: str | None = None,
    ) -> Any:
        cfg = _config(conn)
        try:
            with connect(conn, timeout=10.0, database=False) as my:
                with my.cursor() as cursor:
                    cursor.execute(_session_settings(my.get_server_info(), statement_timeout))
                return scan_catalog(my, filters, cfg.database)
        except StepFailed as failure:
            raise ScanFailed(failure.reason, failure.hint) from None
        except Exception as exc:
            args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
            if args and args[0] in (1969, 3024):  # statement time exceeded (MariaDB, MySQL)
                raise ScanFailed(
                    f"the source cancelled a catalog query after {statement_timeout:g} s "
                    "(max_statement_time, MySQL: max_execution_time)",
                    "the server is overloaded; raise the scanner's statementTimeout",
                ) from None
            if args and isinstance(args[0], int):
                explained = self._explain(conn, exc)
                raise ScanFailed(explained.reason, explained.hint) from None
            raise

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
        """Spark's JDBC options (MySQL Connector/J; MariaDB Connector/J 2.x takes the same
        `jdbc:mysql:` URL); the depot's `params` become URL parameters. With `acl: r` every
        connection Spark opens is made read-only at the source first (`sessionInitStatement`,
        which both servers understand), as for the DuckDB scanner."""
        from urllib.parse import quote, urlencode

        cfg = _config(conn)
        params = {str(k): str(v) for k, v in (cfg.params or {}).items()}
        query = f"?{urlencode(params, quote_via=quote)}" if params else ""
        out = {
            "url": f"jdbc:mysql://{cfg.host}:{cfg.port}/{quote(cfg.database or '')}{query}",
            "driver": "com.mysql.cj.jdbc.Driver",
            "user": conn.require("username", "user"),
            "password": conn.require("password"),
        }
        if conn.acl == "r":
            out["sessionInitStatement"] = "SET SESSION TRANSACTION READ ONLY"
        return out

    def trino(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        """Trino's MySQL connector (trino.io/docs/current/connector/mysql.html): one catalog
        for the whole server, each database a schema (so no database in the URL). The depot's
        `params` become Connector/J URL parameters, its `tls` mode Connector/J's `sslMode`."""
        from urllib.parse import quote, urlencode

        cfg = _config(conn)
        params = {str(k): str(v) for k, v in (cfg.params or {}).items()}
        if any(params.pop(key, None) is not None for key in ("tls", "ssl-mode", "sslmode")):
            params.setdefault("sslMode", TRINO_SSL_MODES.get(_tls_mode(conn), "REQUIRED"))
        query = f"/?{urlencode(params, quote_via=quote)}" if params else ""
        return {
            "connector.name": "mysql",
            "connection-url": f"jdbc:mysql://{cfg.host}:{cfg.port}{query}",
            "connection-user": f"${{ENV:{env_prefix}_USER}}",
            "connection-password": f"${{ENV:{env_prefix}_PASSWORD}}",
        }

    def trino_env(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        return {
            f"{env_prefix}_USER": conn.require("username", "user"),
            f"{env_prefix}_PASSWORD": conn.require("password"),
        }


def _session_settings(server_version: str, statement_timeout: float) -> str:
    """The scan session's settings, in the words of the server (its version from the
    handshake: no round trip). MariaDB: `max_statement_time`, in seconds; its
    information_schema reads InnoDB's estimates live. MySQL: `max_execution_time`, in
    milliseconds (SELECTs only, all a scan runs); and from 8.0 on, TABLE_ROWS and DATA_LENGTH
    are cached copies up to `information_schema_stats_expiry` old (a day by default): 0 reads
    them live, so a rescan shows the estimates of now."""
    if "mariadb" in server_version.lower():
        return f"SET SESSION max_statement_time = {float(statement_timeout)}"
    settings = [f"max_execution_time = {max(1, int(statement_timeout * 1000))}"]
    major = re.match(r"\d+", server_version)
    if major is not None and int(major.group()) >= 8:
        settings.append("information_schema_stats_expiry = 0")
    return "SET SESSION " + ", ".join(settings)


def _scalar(my: Any, statement: str) -> Any:
    with my.cursor() as cursor:
        cursor.execute(statement)
        row = cursor.fetchone()
    return row[0] if row else None


CONNECTOR = MysqlConnector()


# --- metadata scan ------------------------------------------------------------------------------
# information_schema, one query per view of it, filtered in SQL: eight round trips per server.


def _schema_filter(filters: Any, database: str | None) -> tuple[str, list[Any]]:
    """A WHERE fragment on `table_schema` and its parameters (REGEXP is case-insensitive)."""
    clauses = ["table_schema NOT IN %s"]
    params: list[Any] = [SYSTEM_SCHEMAS]
    if database:
        clauses.append("table_schema = %s")
        params.append(database)
    for pattern in (filters.databases, filters.schemas):
        if pattern.includes:
            clauses.append(
                "(" + " OR ".join(["table_schema REGEXP %s"] * len(pattern.includes)) + ")"
            )
            params.extend(pattern.includes)
        for exclude in pattern.excludes:
            clauses.append("NOT (table_schema REGEXP %s)")
            params.append(exclude)
    return " AND ".join(clauses), params


def _table_filter(filters: Any) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.tables.includes:
        clauses.append(
            "(" + " OR ".join(["table_name REGEXP %s"] * len(filters.tables.includes)) + ")"
        )
        params.extend(filters.tables.includes)
    for exclude in filters.tables.excludes:
        clauses.append("NOT (table_name REGEXP %s)")
        params.append(exclude)
    return (" AND " + " AND ".join(clauses)) if clauses else "", params


ON_UPDATE = re.compile(r"\bon update ([a-z_]+(?:\(\d*\))?)", re.IGNORECASE)


def _enum_values(column_type: str) -> list[str] | None:
    match = re.fullmatch(r"(?:enum|set)\((.*)\)", column_type, re.IGNORECASE | re.DOTALL)
    if match is None:
        return None
    return [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", match.group(1))]


def scan_catalog(my: Any, filters: Any, database: str | None) -> Any:
    from entrepot.catalog.model import Dataset, ScanResult

    where, params = _schema_filter(filters, database)
    table_where, table_params = _table_filter(filters)
    scoped = where + table_where
    args = params + table_params
    kinds = ["BASE TABLE"] + (["VIEW"] if filters.include_views else [])

    def rows(sql: str, values: list[Any]) -> list[tuple[Any, ...]]:
        with my.cursor() as cursor:
            cursor.execute(sql, values)
            return list(cursor.fetchall())

    schemas = rows(
        "SELECT schema_name FROM information_schema.schemata WHERE "
        + where.replace("table_schema", "schema_name"),
        params,
    )
    tables = rows(
        "SELECT table_schema, table_name, table_type, engine, table_rows, "
        "data_length + index_length, table_comment, create_options "
        f"FROM information_schema.tables WHERE {scoped} AND table_type IN %s",
        [*args, kinds],
    )
    columns = rows(
        "SELECT table_schema, table_name, column_name, ordinal_position, column_type, "
        "is_nullable, column_default, extra, column_comment, generation_expression "
        f"FROM information_schema.columns WHERE {scoped} "
        "ORDER BY table_schema, table_name, ordinal_position",
        args,
    )
    constraints = rows(
        "SELECT tc.table_schema, tc.table_name, tc.constraint_name, tc.constraint_type, "
        "k.column_name, k.ordinal_position, k.referenced_table_schema, "
        "k.referenced_table_name, k.referenced_column_name, rc.update_rule, rc.delete_rule "
        "FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage k ON k.constraint_schema = tc.constraint_schema "
        " AND k.table_name = tc.table_name AND k.constraint_name = tc.constraint_name "
        "LEFT JOIN information_schema.referential_constraints rc "
        " ON rc.constraint_schema = tc.constraint_schema "
        " AND rc.constraint_name = tc.constraint_name AND rc.table_name = tc.table_name "
        f"WHERE {scoped.replace('table_', 'tc.table_')} "
        "AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') "
        "ORDER BY tc.table_schema, tc.table_name, tc.constraint_name, k.ordinal_position",
        args,
    )
    checks = rows(
        "SELECT constraint_schema, table_name, constraint_name, check_clause "
        "FROM information_schema.check_constraints WHERE "
        + scoped.replace("table_schema", "constraint_schema"),
        args,
    )
    indexes = rows(
        "SELECT table_schema, table_name, index_name, non_unique, seq_in_index, column_name, "
        f"index_type, sub_part FROM information_schema.statistics WHERE {scoped} "
        "ORDER BY table_schema, table_name, index_name, seq_in_index",
        args,
    )
    views = dict(
        ((s, t), d)
        for s, t, d in rows(
            "SELECT table_schema, table_name, view_definition FROM information_schema.views "
            f"WHERE {scoped}",
            args,
        )
    )
    partitions: dict[tuple[str, str], list[str]] = {}
    partition_keys: dict[tuple[str, str], str | None] = {}
    for schema, table, partition, expression in rows(
        "SELECT table_schema, table_name, partition_name, partition_expression "
        f"FROM information_schema.partitions WHERE {scoped} AND partition_name IS NOT NULL "
        "ORDER BY partition_ordinal_position",
        args,
    ):
        partitions.setdefault((schema, table), []).append(partition)
        partition_keys[(schema, table)] = expression

    cols: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (schema, table, name, position, column_type, nullable, default, raw_extra, comment,
         generation) in columns:  # fmt: skip
        extra = (raw_extra or "").lower()
        column: dict[str, Any] = {
            "name": name,
            "position": int(position),
            "type": column_type,
            "nullable": nullable == "YES",
            "default": None if default in (None, "NULL") else str(default),
            "comment": comment or None,
        }
        if "auto_increment" in extra:
            column["identity"] = "auto_increment"
        # EXTRA holds what the default does on UPDATE ("on update current_timestamp()";
        # MySQL 8: "DEFAULT_GENERATED on update CURRENT_TIMESTAMP"), in the server's spelling.
        on_update = ON_UPDATE.search(raw_extra or "")
        if on_update:
            column["on_update"] = on_update.group(1)
        if generation:
            column["generated"] = generation
        values = _enum_values(column_type)
        if values is not None:
            column["enum"] = values
        cols.setdefault((schema, table), []).append(column)
    keys: dict[tuple[str, str], dict[str, Any]] = {}
    for (schema, table, name, kind, column, _pos, ref_schema, ref_table, ref_column, update,
         delete) in constraints:  # fmt: skip
        entry = keys.setdefault((schema, table), {"foreign_keys": {}, "unique": {}, "pk": None})
        if kind == "PRIMARY KEY":
            entry["pk"] = entry["pk"] or {"name": name, "columns": []}
            entry["pk"]["columns"].append(column)
        elif kind == "UNIQUE":
            entry["unique"].setdefault(name, {"name": name, "columns": []})["columns"].append(
                column
            )
        else:
            fk = entry["foreign_keys"].setdefault(
                name,
                {
                    "name": name,
                    "columns": [],
                    "references": {"schema": ref_schema, "table": ref_table, "columns": []},
                    "on_update": update,
                    "on_delete": delete,
                    "deferrable": False,
                },
            )
            fk["columns"].append(column)
            fk["references"]["columns"].append(ref_column)
    check_map: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for schema, table, name, clause in checks:
        check_map.setdefault((schema, table), []).append(
            {"name": name, "definition": f"CHECK ({clause})"}
        )
    index_map: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for schema, table, name, non_unique, _seq, column, method, sub_part in indexes:
        entry = index_map.setdefault((schema, table), {}).setdefault(
            name,
            {
                "name": name,
                "columns": [],
                "include": [],
                "unique": not int(non_unique),
                "primary": name == "PRIMARY",
                "method": (method or "").lower(),
                "predicate": None,
                "expression": None,
                "constraint": None,
            },
        )
        entry["columns"].append(f"{column}({sub_part})" if sub_part else column)
    datasets = []
    for (schema, table, table_type, engine, table_rows, size, comment,
         options) in tables:  # fmt: skip
        key = (schema, table)
        entry = keys.get(key, {"foreign_keys": {}, "unique": {}, "pk": None})
        details: dict[str, Any] = {
            "owner": None,
            "engine": engine,
            "rows": int(table_rows) if table_rows is not None else None,
            "size": int(size) if size is not None else None,
            "columns": cols.get(key, []),
            "primary_key": entry["pk"],
            "foreign_keys": list(entry["foreign_keys"].values()),
            "unique": list(entry["unique"].values()),
            "checks": check_map.get(key, []),
            "indexes": list(index_map.get(key, {}).values()),
        }
        if key in views:
            details["definition"] = views[key]
        if key in partitions:
            details["partitions"] = partitions[key]
            details["partition_key"] = partition_keys.get(key)
        kind = "view" if table_type == "VIEW" else (
            "partitioned_table" if "partitioned" in (options or "").lower() else "table"
        )  # fmt: skip
        if kind == "view":
            # Views take no COMMENT in MySQL or MariaDB: TABLE_COMMENT reads "VIEW" (MySQL:
            # or why the view is invalid), the server's word, not a description.
            comment = None
        datasets.append(Dataset(schema, table, kind, comment or None, details))
    result = ScanResult(datasets, sorted(s[0] for s in schemas), queries=9)
    return result
