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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from entrepot.connectors import net
from entrepot.connectors.base import (
    CheckContext,
    Connector,
    ResolvedConnection,
    ScanFailed,
    StepFailed,
)
from entrepot.connectors.capabilities import Capabilities, DuckDBSupport
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
    capabilities = Capabilities(
        storage="relational",
        check=True,
        scan=True,
        duckdb=DuckDBSupport(extension="postgres"),
        spark=True,
        trino=True,
    )

    def steps(self, conn: ResolvedConnection) -> list[tuple[str, str]]:
        cfg = _config(conn)
        return net.server_steps(
            conn,
            cfg.host,
            cfg.port,
            tls=f"TLS handshake (sslmode={_sslmode(conn)})",
            opened=f"open database {cfg.database}",
            listed="list schemas",
        )

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

    def scan(
        self,
        conn: ResolvedConnection,
        filters: Any,
        statement_timeout: float,
        since: str | None = None,
    ) -> Any:
        from entrepot.catalog.model import ScanResult

        cfg = _config(conn)
        if not filters.databases.matches(cfg.database):
            return ScanResult(
                [], [], warnings=[f"database '{cfg.database}' is excluded by databaseFilterPattern"]
            )
        import psycopg

        @contextmanager
        def second() -> Iterator[psycopg.Connection[Any]]:
            with connect(conn, timeout=10.0) as other:
                prepare_session(other, statement_timeout)
                yield other

        try:
            with connect(conn, timeout=10.0) as pg:
                prepare_session(pg, statement_timeout)
                if since is not None:  # a rescan: the signature alone tells whether to scan
                    signature = catalog_signature(pg, filters, cfg.database)
                    if since == signature:
                        # Nothing to extract, but ANALYZE and VACUUM move the estimates in
                        # place, unseen by the signature: refresh them, in one query.
                        return ScanResult(
                            [],
                            [],
                            signature=signature,
                            unchanged=True,
                            queries=2,
                            estimates=scan_estimates(pg, filters),
                        )
                    # Read before the scan's snapshot: a change in between only makes the next
                    # scan scan again.
                    result = scan_catalog(pg, filters, second=second)
                    result.signature = signature
                    result.queries += 1
                    return result
                return scan_catalog(pg, filters, second=second, database=cfg.database)
        except psycopg.errors.QueryCanceled:
            raise ScanFailed(
                f"the source cancelled a catalog query after {statement_timeout:g} s "
                "(statement_timeout)",
                "the database is overloaded or locked; raise the scanner's statementTimeout",
            ) from None
        except psycopg.Error as exc:
            failure = self._explain(conn, exc)
            raise ScanFailed(failure.reason, failure.hint) from None

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
        """Spark's JDBC options. The depot's `params` (sslmode, ...) become URL parameters, which
        pgJDBC reads under libpq's names; `sslrootcert` is left out (a path on this machine means
        nothing on executors). Keys Spark does not know reach the driver as connection
        properties: with `acl: r` the session is read-only at the source, as for psycopg."""
        from urllib.parse import quote, urlencode

        cfg = _config(conn)
        params = {str(k): str(v) for k, v in (cfg.params or {}).items() if k != "sslrootcert"}
        options = params.pop("options", "")
        if conn.acl == "r":
            options = f"{options} -c default_transaction_read_only=on".strip()
        name = params.pop("application_name", "entrepot")
        query = f"?{urlencode(params, quote_via=quote)}" if params else ""
        out = {
            "url": f"jdbc:postgresql://{cfg.host}:{cfg.port}/{quote(cfg.database)}{query}",
            "driver": "org.postgresql.Driver",
            "user": conn.require("username", "user"),
            "password": conn.require("password"),
            "ApplicationName": name,
        }
        if options:
            out["options"] = options
        return out

    def trino(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        """Trino's PostgreSQL connector (trino.io/docs/current/connector/postgresql.html).
        The depot's `params` become pgJDBC URL parameters (libpq's names: sslmode, ...);
        `sslrootcert` is left out (a path here means nothing on Trino's nodes): verify-ca and
        verify-full use the JVM's trust store instead. With `acl: r` every session is
        read-only at the source, as for psycopg."""
        from urllib.parse import quote, urlencode

        cfg = _config(conn)
        params = {str(k): str(v) for k, v in (cfg.params or {}).items() if k != "sslrootcert"}
        params.setdefault("ApplicationName", params.pop("application_name", "trino-entrepot"))
        if _sslmode(conn) in ("verify-ca", "verify-full"):
            params.setdefault("sslfactory", "org.postgresql.ssl.DefaultJavaSSLFactory")
        if conn.acl == "r":
            options = params.get("options", "")
            params["options"] = f"{options} -c default_transaction_read_only=on".strip()
        query = urlencode(params, quote_via=quote)
        return {
            "connector.name": "postgresql",
            "connection-url": (
                f"jdbc:postgresql://{cfg.host}:{cfg.port}/{quote(cfg.database)}?{query}"
            ),
            "connection-user": f"${{ENV:{env_prefix}_USER}}",
            "connection-password": f"${{ENV:{env_prefix}_PASSWORD}}",
        }

    def trino_env(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        return {
            f"{env_prefix}_USER": conn.require("username", "user"),
            f"{env_prefix}_PASSWORD": conn.require("password"),
        }


CONNECTOR = PostgresConnector()


# --- metadata scan ------------------------------------------------------------------------------
# Six bulk queries per database, whatever the number of tables: relations, columns,
# constraints, indexes, enum labels, schemas. Filters are pushed into the shared `rels` CTE as
# case-insensitive regexes (`~*`), the same semantics as `Pattern.matches`.
#
# Columns are most of the work (15 rows a table). A scan streams them on its connection and
# builds them as they arrive, while a second connection runs the other queries (and a first
# scan's catalog signature) on the same snapshot (`pg_export_snapshot`): one consistent view
# of the catalog, with the server's work, the transfer and ours overlapped.

SYSTEM_SCHEMAS = ["pg_catalog", "information_schema"]

RELS = """
WITH rels AS (
  SELECT c.oid, n.nspname, c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = ANY(%(kinds)s)
    AND n.nspname <> ALL(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'
    AND has_schema_privilege(n.oid, 'USAGE')
    AND (cardinality(%(s_inc)s::text[]) = 0 OR n.nspname ~* ANY(%(s_inc)s::text[]))
    AND NOT (n.nspname ~* ANY(%(s_exc)s::text[]))
    AND (cardinality(%(t_inc)s::text[]) = 0 OR c.relname ~* ANY(%(t_inc)s::text[]))
    AND NOT (c.relname ~* ANY(%(t_exc)s::text[]))
)
"""

# Estimated rows and size, as the planner knows them (VACUUM, ANALYZE and CREATE INDEX update
# them in place). reltuples is -1 until the relation is first measured (PostgreSQL 14 and later):
# both are then unknown (NULL), not 0. Reading pg_relation_size() instead would lock each table.
ESTIMATES = """
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS rows,
       CASE WHEN c.reltuples >= 0 OR c.relpages > 0
            THEN c.relpages::bigint * current_setting('block_size')::bigint END AS size"""

Q_RELATIONS = (
    RELS
    + """
SELECT r.oid, r.nspname, r.relname, r.relkind, c.relispartition,
       pg_get_userbyid(c.relowner) AS owner,"""
    + ESTIMATES
    + """,
       d.description AS comment,
       CASE WHEN r.relkind IN ('v', 'm') THEN pg_get_viewdef(r.oid) END AS definition,
       pn.nspname AS parent_schema, pc.relname AS parent_name,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
       CASE WHEN r.relkind = 'p' THEN pg_get_partkeydef(r.oid) END AS partition_key,
       fs.srvname AS foreign_server,
       -- the parents of a child made with INHERITS (not a partition), in declared order
       (SELECT array_agg(ipn.nspname || '.' || ipc.relname ORDER BY ih.inhseqno)
          FROM pg_inherits ih JOIN pg_class ipc ON ipc.oid = ih.inhparent
          JOIN pg_namespace ipn ON ipn.oid = ipc.relnamespace
          WHERE ih.inhrelid = r.oid AND NOT c.relispartition) AS inherits
FROM rels r JOIN pg_class c ON c.oid = r.oid
LEFT JOIN pg_description d
  ON d.objoid = r.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
LEFT JOIN pg_inherits inh ON inh.inhrelid = r.oid AND c.relispartition
LEFT JOIN pg_class pc ON pc.oid = inh.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
LEFT JOIN pg_foreign_table ft ON ft.ftrelid = r.oid
LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
ORDER BY r.nspname, r.relname
"""
)

Q_COLUMNS = (
    RELS
    + """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS notnull,
       pg_get_expr(ad.adbin, ad.adrelid) AS "default",
       a.attidentity, a.attgenerated, d.description AS comment, t.typtype,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS domain_of,
       CASE WHEN t.typtype = 'e' THEN t.oid
            WHEN et.typtype = 'e' THEN et.oid END AS enum_oid,
       t.typcategory = 'A' AS is_array
FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_description d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
"""
)  # unordered: the rows stream as the server finds them; each table's columns sorted after

Q_CONSTRAINTS = (
    RELS
    + """
SELECT con.conrelid, con.conname, con.contype, con.conkey,
       fn.nspname AS ref_schema, fc.relname AS ref_table,
       (SELECT array_agg(fa.attname ORDER BY k.ord)
          FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.attnum
       ) AS ref_columns,
       con.confupdtype, con.confdeltype, con.condeferrable,
       CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid) END AS definition,
       d.description AS comment
FROM rels r JOIN pg_constraint con ON con.conrelid = r.oid
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
LEFT JOIN pg_description d ON d.objoid = con.oid AND d.classoid = 'pg_constraint'::regclass
WHERE con.contype IN ('p', 'f', 'u', 'c')
  -- not the clones PostgreSQL adds per partition of a referenced partitioned table
  AND NOT EXISTS (SELECT 1 FROM pg_constraint p
                  WHERE p.oid = con.conparentid AND p.conrelid = con.conrelid)
ORDER BY con.conrelid, con.conname
"""
)

Q_INDEXES = (
    RELS
    + """
SELECT i.indrelid, ic.relname AS name, i.indisunique, i.indisprimary, am.amname AS method,
       i.indkey::int2[] AS keys, i.indnkeyatts,
       pg_get_expr(i.indpred, i.indrelid) AS predicate,
       CASE WHEN i.indexprs IS NOT NULL THEN pg_get_indexdef(i.indexrelid) END AS definition,
       con.conname AS constraint_name
FROM rels r JOIN pg_index i ON i.indrelid = r.oid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
  AND con.contype IN ('p', 'u', 'x')  -- a (self-referencing) FK's conindid is the index it uses
ORDER BY i.indrelid, ic.relname
"""
)

# A rescan of an unchanged catalog: only the estimates, which move without changing it.
Q_ESTIMATES = (
    RELS
    + "SELECT r.nspname, r.relname,"
    + ESTIMATES
    + "\nFROM rels r JOIN pg_class c ON c.oid = r.oid"
)

Q_ENUMS = "SELECT enumtypid, array_agg(enumlabel ORDER BY enumsortorder) FROM pg_enum GROUP BY 1"

Q_SCHEMAS = """
SELECT n.nspname, has_schema_privilege(n.oid, 'USAGE') FROM pg_namespace n
WHERE n.nspname <> ALL(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'
  AND (cardinality(%(s_inc)s::text[]) = 0 OR n.nspname ~* ANY(%(s_inc)s::text[]))
  AND NOT (n.nspname ~* ANY(%(s_exc)s::text[]))
ORDER BY 1
"""

KINDS = {
    "r": "table",
    "p": "partitioned_table",
    "v": "view",
    "m": "materialized_view",
    "f": "foreign_table",
}
FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


# Every catalog the scan reads, as (row count, sum of hashes of each row's identity and xmin).
# DDL writes new row versions (a new xmin); ANALYZE and VACUUM update statistics in place,
# so they leave it alone. Equal signatures: the scan would find exactly what it found before.
Q_SIGNATURE = """
SELECT concat_ws('|',
  (SELECT count(*) || ':' || sum(hashtext(oid::text || ':' || xmin::text)) FROM pg_class),
  (SELECT count(*) || ':' || sum(hashtext(attrelid::text || ':' || attnum || ':' || xmin::text))
     FROM pg_attribute),
  (SELECT count(*) || ':' || sum(hashtext(oid::text || ':' || xmin::text)) FROM pg_constraint),
  (SELECT count(*) || ':' || sum(hashtext(indexrelid::text || ':' || xmin::text)) FROM pg_index),
  (SELECT count(*) || ':' || sum(hashtext(objoid::text || ':' || objsubid || ':' || xmin::text))
     FROM pg_description),
  (SELECT count(*) || ':' || sum(hashtext(oid::text || ':' || xmin::text)) FROM pg_attrdef),
  (SELECT count(*) || ':' || sum(hashtext(oid::text || ':' || xmin::text)) FROM pg_enum),
  (SELECT count(*) || ':' || sum(hashtext(oid::text || ':' || xmin::text)) FROM pg_namespace),
  (SELECT count(*) || ':' || sum(hashtext(inhrelid::text || ':' || xmin::text)) FROM pg_inherits),
  (SELECT count(*) || ':' || sum(hashtext(oid::text || ':' || xmin::text)) FROM pg_type),
  (SELECT count(*) || ':' || sum(hashtext(ftrelid::text || ':' || xmin::text))
     FROM pg_foreign_table),
  current_database(), current_user)
"""


def catalog_signature(pg: psycopg.Connection[Any], filters: Any, database: str) -> str:
    """What the scan depends on: the server's catalogs, and the scan's own filters."""
    import hashlib
    import json

    row = pg.execute(Q_SIGNATURE).fetchone()
    options = json.dumps([scan_filters_params(filters), database], default=str)
    text = f"{row[0] if row else ''}\x1f{options}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def scan_estimates(
    pg: psycopg.Connection[Any], filters: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """Estimated rows and size of every selected relation, as a full scan reports them."""
    return {
        (schema, name): {"rows": rows, "size": size}
        for schema, name, rows, size in pg.execute(Q_ESTIMATES, scan_filters_params(filters))
    }


def scan_filters_params(filters: Any) -> dict[str, Any]:
    kinds = ["r", "p", "f"] + (["v", "m"] if filters.include_views else [])
    return {
        "kinds": kinds,
        "system": SYSTEM_SCHEMAS,
        "s_inc": filters.schemas.includes,
        "s_exc": filters.schemas.excludes,
        "t_inc": filters.tables.includes,
        "t_exc": filters.tables.excludes,
    }


def prepare_session(pg: psycopg.Connection[Any], statement_timeout: float) -> None:
    pg.execute(f"SET statement_timeout = {max(1, int(statement_timeout * 1000))}")
    pg.execute("SET work_mem = '64MB'")  # hashes and sorts stay in memory


Second = Callable[[], AbstractContextManager["psycopg.Connection[Any]"]]
Rows = Iterator[tuple[Any, ...]]


def catalog_queries(
    pg: psycopg.Connection[Any],
    filters: Any,
    columns: Callable[[Rows], None],
    *,
    second: Second | None = None,
    database: str | None = None,
) -> dict[str, Any]:
    """Run the catalog queries as a scan runs them: Q_COLUMNS's rows are streamed into
    `columns`; the other results are returned by name (with `database`, "signature" too).

    With `second` (a context manager opening another session), the other queries run there
    meanwhile, in a transaction that imports this one's snapshot. Without it, or where the
    server cannot export a snapshot, one after the other on `pg` (the signature first); where
    the second session cannot be opened (a connection limit), on `pg` after the columns, in
    the same snapshot.
    `bench/scan.py` times this function alone as the floor."""
    params = scan_filters_params(filters)
    others: dict[str, tuple[str, Any]] = {
        "relations": (Q_RELATIONS, params),
        "constraints": (Q_CONSTRAINTS, params),
        "indexes": (Q_INDEXES, params),
        "enums": (Q_ENUMS, None),
        "schemas": (Q_SCHEMAS, params),
    }
    snapshot = _export_snapshot(pg) if second is not None else None
    if second is None or snapshot is None:
        out = _run_others(pg, others, filters, database)
        columns(_stream(pg, Q_COLUMNS, params))
        return out
    from concurrent.futures import ThreadPoolExecutor

    # Should the columns fail, leaving the pool waits for the other session to end (its own
    # statement_timeout bounds it) and the columns' error is the one reported.
    with ThreadPoolExecutor(1, thread_name_prefix="entrepot-scan") as pool:
        future = pool.submit(_run_others_in, second, snapshot, others, filters, database)
        columns(_stream(pg, Q_COLUMNS, params))
        answer = future.result()
    # No second session (the role's connection limit, the server's): this one, same snapshot.
    out = _run_others(pg, others, filters, database) if answer is None else answer
    pg.execute("COMMIT")
    return out


def _export_snapshot(pg: psycopg.Connection[Any]) -> str | None:
    import psycopg

    pg.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        row = pg.execute("SELECT pg_export_snapshot()").fetchone()
    except psycopg.errors.QueryCanceled:
        raise
    except psycopg.DatabaseError:  # e.g. a standby that cannot export one: one session, then
        pg.execute("ROLLBACK")
        return None
    return str(row[0]) if row else None


def _run_others(
    pg: psycopg.Connection[Any],
    queries: dict[str, tuple[str, Any]],
    filters: Any,
    database: str | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if database is not None:
        out["signature"] = catalog_signature(pg, filters, database)
    for name, (query, params) in queries.items():
        out[name] = pg.execute(query, params).fetchall()
    return out


def _run_others_in(
    second: Second,
    snapshot: str,
    queries: dict[str, tuple[str, Any]],
    filters: Any,
    database: str | None,
) -> dict[str, Any] | None:
    import psycopg
    from psycopg import sql

    stack = ExitStack()
    try:
        other = stack.enter_context(second())
    except psycopg.OperationalError:  # could not open it: None, and the first session runs them
        return None
    with stack:
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        out = _run_others(other, queries, filters, database)
        other.execute("COMMIT")
    return out


def _stream(pg: psycopg.Connection[Any], query: str, params: Any) -> Rows:
    """The rows in chunks as the server sends them (libpq >= 17), else all at once."""
    import psycopg

    capabilities = getattr(psycopg, "capabilities", None)
    if capabilities is not None and capabilities.has_stream_chunked():
        return pg.cursor().stream(query, params, size=2000)
    return iter(pg.execute(query, params).fetchall())


def scan_catalog(
    pg: psycopg.Connection[Any],
    filters: Any,
    *,
    second: Second | None = None,
    database: str | None = None,
) -> Any:
    """Every selected relation of one database, in six queries (`catalog_queries`); with
    `database`, the result carries the catalog signature read on the same snapshot."""
    from entrepot.catalog.model import Dataset, ScanResult

    names: dict[int, dict[int, str]] = {}
    cols_by_rel: dict[int, list[dict[str, Any]]] = {}
    unsorted: set[int] = set()
    enum_columns: list[tuple[dict[str, Any], int]] = []

    def build_columns(rows: Rows) -> None:
        current: int | None = None
        cols: list[dict[str, Any]] = []
        by_num: dict[int, str] = {}
        for (relid, num, name, typ, notnull, default, identity, generated, comment, _typtype,
             domain_of, enum_oid, is_array) in rows:  # fmt: skip
            if relid != current:
                current = relid
                cols = cols_by_rel.setdefault(relid, [])
                by_num = names.setdefault(relid, {})
            if cols and cols[-1]["position"] > num:
                unsorted.add(relid)
            by_num[num] = name
            column: dict[str, Any] = {
                "name": name,
                "position": num,
                "type": typ,
                "nullable": not notnull,
                "default": default if not generated else None,
                "comment": comment,
            }
            if identity:
                column["identity"] = "always" if identity == "a" else "by default"
            if generated:
                column["generated"] = default  # the generation expression
            if domain_of:
                column["domain_of"] = domain_of
            if enum_oid is not None:
                column["enum"] = []  # its labels: once the enums query has answered
                enum_columns.append((column, enum_oid))
            if is_array:
                column["array"] = True
            cols.append(column)

    results = catalog_queries(pg, filters, build_columns, second=second, database=database)
    relations = results["relations"]
    constraints = results["constraints"]
    indexes = results["indexes"]
    enums = dict(results["enums"])
    schemas = results["schemas"]
    for relid in unsorted:
        cols_by_rel[relid].sort(key=lambda column: int(column["position"]))
    for column, enum_oid in enum_columns:
        column["enum"] = list(enums.get(enum_oid, []))

    keys_by_rel: dict[int, dict[str, Any]] = {}
    for (relid, conname, contype, conkey, ref_schema, ref_table, ref_columns, upd, dele,
         deferrable, definition, _comment) in constraints:  # fmt: skip
        table_names = names.get(relid, {})
        cols = [table_names.get(k, f"#{k}") for k in (conkey or [])]
        entry = keys_by_rel.setdefault(relid, {"foreign_keys": [], "unique": [], "checks": []})
        if contype == "p":
            entry["primary_key"] = {"name": conname, "columns": cols}
        elif contype == "u":
            entry["unique"].append({"name": conname, "columns": cols})
        elif contype == "c":
            entry["checks"].append({"name": conname, "definition": definition})
        elif contype == "f":
            entry["foreign_keys"].append(
                {
                    "name": conname,
                    "columns": cols,
                    "references": {
                        "schema": ref_schema,
                        "table": ref_table,
                        "columns": list(ref_columns or []),
                    },
                    "on_update": FK_ACTIONS.get(upd, upd),
                    "on_delete": FK_ACTIONS.get(dele, dele),
                    "deferrable": bool(deferrable),
                }
            )
    index_by_rel: dict[int, list[dict[str, Any]]] = {}
    for (relid, name, unique, primary, method, keys, nkey, predicate, definition,
         constraint_name) in indexes:  # fmt: skip
        table_names = names.get(relid, {})
        keys = list(keys or [])
        index_by_rel.setdefault(relid, []).append(
            {
                "name": name,
                "columns": [table_names.get(k) if k else None for k in keys[:nkey]],
                "include": [table_names.get(k) for k in keys[nkey:]],
                "unique": bool(unique),
                "primary": bool(primary),
                "method": method,
                "predicate": predicate,
                "expression": definition,
                "constraint": constraint_name,
            }
        )
    partitions: dict[tuple[str, str], list[str]] = {}
    children: dict[str, list[str]] = {}  # INHERITS: "schema.parent" -> its children
    for row in relations:
        if row[10] is not None:
            partitions.setdefault((row[10], row[11]), []).append(f"{row[1]}.{row[2]}")
        for parent in row[15] or ():
            children.setdefault(parent, []).append(f"{row[1]}.{row[2]}")

    datasets = []
    for (relid, schema, name, relkind, is_partition, owner, rows, size, comment, definition,
         parent_schema, parent_name, bound, partition_key, server,
         inherits) in relations:  # fmt: skip
        details: dict[str, Any] = {
            "owner": owner,
            "rows": rows,
            "size": size,
            "columns": cols_by_rel.get(relid, []),
            "primary_key": None,
            "foreign_keys": [],
            "unique": [],
            "checks": [],
            "indexes": index_by_rel.get(relid, []),
        }
        details.update(keys_by_rel.get(relid, {}))
        if definition is not None:
            details["definition"] = definition.strip()
        if is_partition:
            details["partition_of"] = f"{parent_schema}.{parent_name}"
            details["partition_bound"] = bound
        if partition_key:
            details["partition_key"] = partition_key
            details["partitions"] = partitions.get((schema, name), [])
        if server:
            details["foreign_server"] = server
        if inherits:
            details["inherits"] = list(inherits)
        if f"{schema}.{name}" in children:
            details["inherited_by"] = children[f"{schema}.{name}"]
        datasets.append(Dataset(schema, name, KINDS[relkind], comment, details))
    # Schemas the filters select, whether or not they hold tables: their scan is complete.
    collections = sorted(name for name, usage in schemas if usage)
    result = ScanResult(datasets, collections, queries=6)
    if "signature" in results:
        result.signature = results["signature"]
        result.queries += 1
    for name, usage in schemas:
        if not usage:
            result.skipped.append((name, "the account lacks USAGE privilege on this schema"))
    return result
