"""The embedded engine: DuckDB 1.5.5, depots as catalogs, read-only unless asked otherwise.

One DuckDB connection per set of depots. A statement is lexed (sqltext) for the depots it
names; those not attached yet are attached (their secret decrypted in memory, audited, handed to
DuckDB as a TEMPORARY secret) on a new connection, which is then sandboxed: no file system or
network access beyond the attached depots (`enable_external_access=false`,
`allowed_directories`), no persistent or unredacted secrets, configuration locked. So a
statement can neither read the store or the master key nor reach a source it was not given.

Relational depots are attached with DuckDB's postgres/mysql scanners (READ_ONLY unless `rw`);
an object-storage depot becomes an in-memory catalog whose schemas are its collections and whose
views read the catalog's datasets in place (parquet, csv, json, hive-partitioned folders).
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from entrepot.config import ensure_private_dir
from entrepot.errors import EntrepotError, ExitCode, RefusedError
from entrepot.query import extension_settings, sqltext
from entrepot.query.locate import ObjectRoot
from entrepot.query.sandbox import Checked, Sandbox, base_config
from entrepot.secrets.redact import bind_scope, redactor

T = TypeVar("T")

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    import duckdb
    import pyarrow as pa

    from entrepot.connectors.base import ResolvedConnection
    from entrepot.services.connections import DepotAccess
    from entrepot.store.reader import ResourceRow

DUCKDB_VERSION = "1.5.5"
# DuckDB extension -> the PyPI wheel's package and the file inside it (the file name decides
# the entry point, so the scanners load as `*_scanner`). Which source needs which extension is
# its connector's declaration (`Capabilities.duckdb`).
EXTENSIONS = {
    "postgres": ("duckdb_extension_postgres_scanner", "postgres_scanner"),
    "mysql": ("duckdb_extension_mysql_scanner", "mysql_scanner"),
    "azure": ("duckdb_extension_azure", "azure"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
}
RESERVED_CATALOGS = {"memory", "system", "temp", "main"}
READERS = {
    "parquet": "read_parquet({path}, hive_partitioning = true, union_by_name = true)",
    "csv": "read_csv({path}, hive_partitioning = true, union_by_name = true)",
    "tsv": "read_csv({path}, delim = '\t', hive_partitioning = true, union_by_name = true)",
    "json": "read_json_auto({path}, hive_partitioning = true, union_by_name = true)",
}
SUFFIXES = {"parquet": ("parquet", "pq"), "csv": ("csv",), "tsv": ("tsv",)}
SUFFIXES["json"] = ("json", "jsonl", "ndjson")


class QueryError(EntrepotError):
    """A statement failed: the engine's message, redacted, and what to do."""

    exit_code = ExitCode.RUN_FAILED


@dataclass
class Options:
    acl: str = "r"  # "rw" allows writes to depots that have an rw secret
    timeout: float | None = 300.0  # seconds per execute(); None: no limit
    memory_limit: str | None = None  # DuckDB syntax: "2GB"; default: DuckDB's 80% of RAM
    threads: int | None = None
    batch_rows: int = 122_880  # rows per Arrow record batch when streaming


@dataclass
class Depot:
    """One attached depot: how statements name it and where its data lives."""

    name: str
    objects: ObjectRoot | None = None  # object storage: where its datasets are; None: a database
    writable: bool = False  # attached with its rw secret (--acl rw and the user may write it)
    views: set[tuple[str, str]] = field(default_factory=set)


def extension_path(name: str) -> Path:
    """The extension file inside its PyPI wheel; loaded by path, never downloaded."""
    import duckdb

    if duckdb.__version__ != DUCKDB_VERSION:
        raise QueryError(
            f"duckdb {duckdb.__version__} is installed; the extensions need {DUCKDB_VERSION}",
            hint=f"pip install duckdb=={DUCKDB_VERSION}",
            exit_code=ExitCode.INTERNAL,
        )
    package, stem = EXTENSIONS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise QueryError(
            f"the DuckDB {name} extension is not installed",
            hint=f"pip install {package.replace('_', '-')}=={DUCKDB_VERSION}",
            exit_code=ExitCode.INTERNAL,
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / "extensions" / f"v{DUCKDB_VERSION}" / f"{stem}.duckdb_extension"


class Engine:
    """Runs statements over depots. Not thread-safe; one per session."""

    def __init__(self, access: DepotAccess, options: Options | None = None) -> None:
        self.access = access  # the depots of one request context, for queries
        self.options = options or Options()
        if self.options.acl not in ("r", "rw"):
            raise EntrepotError(
                f"acl '{self.options.acl}' is not one of r, rw",
                hint="r reads (the default); rw also writes, with the depot's rw secret",
                exit_code=ExitCode.USAGE,
            )
        self._rows: dict[str, ResourceRow] = {}  # depots this session may query
        self._con: duckdb.DuckDBPyConnection | None = None
        self._attached: dict[str, Depot] = {}
        self._timed_out = False
        self._worker: ThreadPoolExecutor | None = None
        self._spare: duckdb.DuckDBPyConnection | None = None
        self._trusted = VerifiedExtensions(None)
        self._read_only: dict[str, str] = {}  # with --acl rw: depots that stay read-only, why
        self._sandbox = Sandbox(self.options.acl)
        self._cancelled = threading.Event()

    # --- public ---------------------------------------------------------------------------

    def depot_names(self) -> list[str]:
        """The depots the actor may list (hints and completion)."""
        return self.access.depot_names()

    def execute(self, sql: str) -> ResultStream:
        """Run every statement of `sql`; stream the last one's result as Arrow batches."""
        import duckdb

        statements = self.prepare(sql)
        con = self._con
        assert con is not None
        timer = self._start_timer(con)
        try:
            for statement in statements[:-1]:
                self.call(self._run, con, statement)
            result = self.call(self._run, con, statements[-1])
            reader = self.call(result.to_arrow_reader, self.options.batch_rows)
            return ResultStream(reader, timer, self)
        except duckdb.Error as exc:
            _cancel(timer)
            raise self._error(exc, timer) from None
        except KeyboardInterrupt:
            _cancel(timer)
            raise

    def _run(self, con: duckdb.DuckDBPyConnection, statement: Checked) -> Any:
        """Gate 3 (the bound plan), then the statement. Each statement is planned just before
        it runs: a later one may use what an earlier one created."""
        self._sandbox.check_plan(con, statement)
        if self._cancelled.is_set():  # a Ctrl-C between the plan and the run
            raise KeyboardInterrupt
        return con.execute(statement.text)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run DuckDB work in a worker thread while this one waits in Python: a Ctrl-C
        (delivered to the main thread only, and only between bytecodes) then interrupts
        DuckDB at once instead of when the statement ends."""
        return self.wait(self.submit(function, *args))

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Start DuckDB work on the one worker thread (DuckDB calls stay in order)."""
        from concurrent.futures import ThreadPoolExecutor

        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="entrepot-query")
        # In the caller's redaction scope: DuckDB's errors are redacted for this request.
        return self._worker.submit(bind_scope(function), *args)

    def wait(self, future: Future[T]) -> T:
        """The result of submitted work; Ctrl-C while waiting interrupts DuckDB."""
        from concurrent.futures import TimeoutError as Pending

        try:
            while True:
                try:
                    return future.result(timeout=0.5)
                except Pending:
                    continue
        except KeyboardInterrupt:
            # An interrupt reaches only the DuckDB call running at that instant (each new one
            # clears it), and the work may be between two calls: flag it, and interrupt until
            # the work has stopped.
            self._cancelled.set()
            try:
                while not future.done():
                    self.interrupt()
                    with contextlib.suppress(BaseException):
                        future.result(timeout=0.05)
            finally:
                self._cancelled.clear()
            raise

    def sql(self, sql: str) -> pa.Table:
        reader = self.execute(sql)
        return reader.read_all()

    def interrupt(self) -> None:
        if self._con is not None:
            self._con.interrupt()

    def close(self) -> None:
        self._drop_connection()
        self._sandbox.close()
        if self._spare is not None:
            self._spare.close()
            self._spare = None
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None

    def _drop_connection(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
            self._attached = {}

    # --- statements -----------------------------------------------------------------------

    def prepare(self, sql: str) -> list[Checked]:
        """Rewrite addresses, attach the depots the text names, and return its statements as
        the sandbox passed them (gates 1 and 2; gate 3 runs with each statement)."""
        named: set[str] = set()
        datasets: set[tuple[str, str, str]] = set()

        def address_ident(value: str) -> str | None:
            if not value.startswith("dataos://"):
                return None
            from entrepot.catalog.model import Address

            address = Address.parse(value)
            if address.collection is None or address.dataset is None:
                raise EntrepotError(
                    f"'{value}' is not a dataset address",
                    hint='a table reads "dataos://depot:collection/dataset"',
                )
            return ".".join(
                sqltext.quote_ident(p) for p in (address.depot, address.collection, address.dataset)
            )

        def address_literal(value: str) -> str | None:
            if not value.startswith("dataos://"):
                return None
            from entrepot.catalog.model import Address
            from entrepot.connectors import capabilities

            address = Address.parse(value)
            row = self._row(address.depot)
            if capabilities(row.source_type or "").storage != "objects":
                raise EntrepotError(
                    f"'{value}': a path inside a depot works for object storage only",
                    hint="name a relational depot's tables as depot.schema.table",
                )
            named.add(address.depot)
            return sqltext.quote_literal(f"dataos-path://{value[len('dataos://') :]}")

        # The lexer only finds what to attach and which addresses to spell out; every decision
        # about the statements is DuckDB's (query/sandbox.py), on the final text.
        text = sqltext.rewrite(sql, address_ident, address_literal)
        chains = [chain for chain in sqltext.chains(text) if len(chain) >= 2]
        depots = self.access.existing({chain[0] for chain in chains})
        for chain in chains:
            if chain[0] not in depots:
                continue
            named.add(chain[0])
            if len(chain) >= 3:
                datasets.add((chain[0], chain[1], chain[2]))
            elif self.access.has_address_rules(chain[0]):
                raise RefusedError(
                    f"'{'.'.join(chain)}': policies govern the datasets of depot '{chain[0]}', "
                    "so its tables are named in full",
                    hint=f"write {chain[0]}.<collection>.{chain[1]}",
                )
        for depot, collection, dataset in sorted(datasets):
            self.access.ensure_dataset(f"dataos://{depot}:{collection}/{dataset}")
        statements = self._sandbox.check(text)  # refuse before any secret is decrypted
        self._ensure(sorted(named))
        import duckdb

        try:
            for depot, collection, dataset in sorted(datasets):
                self._ensure_view(depot, collection, dataset)
        except duckdb.Error as exc:
            raise self._error(exc, None) from None
        # `dataos-path://depot:collection/path` literals become the object store's URL; what
        # runs is checked again as DuckDB reads it.
        final = sqltext.rewrite(text, lambda _: None, self._path_url)
        if final != text:
            statements = self._sandbox.check(final)
        for statement in statements:
            if statement.copy_target is not None:
                self._check_copy_target(statement.copy_target)
        return statements

    def _path_url(self, value: str) -> str | None:
        if not value.startswith("dataos-path://"):
            return None
        from entrepot.catalog.model import Address

        address = Address.parse("dataos://" + value[len("dataos-path://") :])
        objects = self._attached[address.depot].objects
        assert objects is not None  # prepare() lets object-storage depots through only
        if address.collection is None:
            return sqltext.quote_literal(objects.root)
        return sqltext.quote_literal(objects.url(address.collection, address.dataset or ""))

    def _check_copy_target(self, target: str) -> None:
        """COPY ... TO writes inside a depot this session may write, whatever the spelling of
        the target (an address, the store's URL, a local path)."""
        location = _normalised(target)
        for depot in self._attached.values():
            if depot.objects is None or not location.startswith(_normalised(depot.objects.root)):
                continue
            if depot.writable:
                return
            why = self._read_only.get(depot.name) or f"depot '{depot.name}' is attached read-only"
            raise RefusedError(
                f"{why}, so it cannot be written",
                hint="writing needs the depot's owner and an instance secret with acl: rw",
            )
        raise RefusedError(
            "COPY writes only inside a depot the statement names",
            hint="COPY (SELECT ...) TO 'dataos://depot:collection/file.parquet' with --acl rw",
        )

    # --- depots ---------------------------------------------------------------------------

    def _row(self, name: str) -> ResourceRow:
        """The depot's row, authorized for queries (NotFound with the nearest name)."""
        if name not in self._rows:
            self._rows[name] = self.access.depot(name)
        return self._rows[name]

    def _ensure(self, names: list[str]) -> None:
        """A connection with every depot attached that the session has named so far."""
        if self._con is not None and all(n in self._attached for n in names):
            return
        wanted = sorted(set(self._attached) | set(names))
        self._drop_connection()
        self._con = self._connect(wanted)

    def _fresh(self) -> duckdb.DuckDBPyConnection:
        """A new, unlocked connection with the session's limits (kept until attached)."""
        import duckdb

        if self._spare is None:
            config = base_config()
            self._trusted = VerifiedExtensions(self.access.settings.home)
            # DuckDB checks an extension's signature on every LOAD: 150-200 ms for the 42 MB
            # postgres scanner, the bulk of a first query. So each file is verified once, by
            # DuckDB, on a throwaway connection (VerifiedExtensions.ensure), its (size, mtime,
            # inode) recorded, and sessions load verified files without the check. Users
            # still cannot LOAD anything: the statement is refused, external access is off
            # and the configuration locked before any statement runs.
            config["allow_unsigned_extensions"] = True
            if self.options.memory_limit:
                config["memory_limit"] = self.options.memory_limit
            if self.options.threads:
                config["threads"] = self.options.threads
            try:
                self._spare = duckdb.connect(":memory:", config=config)
            except duckdb.Error as exc:
                raise QueryError(
                    redactor.redact(str(exc)),
                    hint="check --memory-limit (e.g. 2GB) and --threads",
                    exit_code=ExitCode.USAGE,
                ) from None
        return self._spare

    def _connect(self, names: list[str]) -> duckdb.DuckDBPyConnection:
        import duckdb

        con = self._fresh()
        self._spare = None
        allowed: list[str] = []
        attached: dict[str, Depot] = {}
        loaded: set[str] = set()
        try:
            for name in names:
                depot = self._attach(con, name, loaded)
                attached[name] = depot
                if depot.objects is not None:
                    allowed.append(depot.objects.root)
            if allowed:
                con.execute(f"SET allowed_directories = [{', '.join(map(_lit, allowed))}]")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except duckdb.Error as exc:
            con.close()
            raise self._error(exc, None) from None
        except BaseException:
            con.close()
            raise
        self._attached = attached
        return con

    def _attach(self, con: duckdb.DuckDBPyConnection, name: str, loaded: set[str]) -> Depot:
        from entrepot.connectors import capabilities, get_connector, types_with
        from entrepot.connectors.base import MissingCredential

        row = self._row(name)
        source_type = row.source_type or ""
        connector = get_connector(source_type)
        declared = capabilities(source_type)
        if connector is None or declared.duckdb is None:
            raise EntrepotError(
                f"depot '{name}' is of type {source_type or '?'}, which the embedded engine "
                f"cannot query: {declared.why_not('duckdb')}",
                hint=f"supported: {', '.join(types_with('duckdb'))}",
            )
        extension = declared.duckdb.extension
        if name in RESERVED_CATALOGS:
            raise EntrepotError(
                f"depot '{name}' has the name of one of DuckDB's own catalogs",
                hint="query it through a depot of another name",
            )
        # With --acl rw, a depot is writable when the user may write it and it has an rw
        # secret; the others are still readable (attached read-only, with their r secret), so
        # `INSERT INTO lake... SELECT ... FROM crm...` works; writing them is refused below.
        writable = False
        purpose = f"query of depot {name}"
        if self.options.acl == "rw":
            why_not = self._write_refusal(row)
            if why_not is None:
                conn = self.access.connection(row, "rw", purpose)
                writable = bool(conn.secret_names)
                why_not = None if writable else f"depot '{name}' has no rw secret"
            if why_not is not None:
                self._read_only[name] = why_not
        try:
            if not writable:
                conn = self.access.connection(row, "r", purpose)
            rendering = connector.duckdb(conn)
        except MissingCredential as exc:
            raise RefusedError(
                f"depot '{name}': {exc}",
                hint="writing needs an instance secret with acl: rw on the depot"
                if writable
                else "the depot needs an instance secret with acl: r",
            ) from None
        if extension and extension not in loaded:
            path = extension_path(extension)
            self._trusted.ensure(path)
            con.execute(f"LOAD {_lit(str(path))}")
            for statement in extension_settings.statements(extension):
                con.execute(statement)
            loaded.add(extension)
        secret_name = sqltext.quote_ident(f"entrepot_{name}")
        catalog = sqltext.quote_ident(name)
        if declared.storage == "relational":
            con.execute(_create_secret(secret_name, rendering["type"], rendering["secret"]))
            options = f"TYPE {rendering['type']}, SECRET {secret_name}"
            if not writable:
                options += ", READ_ONLY"
            con.execute(f"ATTACH {_lit(_conninfo(conn, writable))} AS {catalog} ({options})")
            return Depot(name, writable=writable)
        objects = ObjectRoot.of(rendering["path"], conn)
        if source_type == "file":
            self._refuse_private_files(name, rendering["path"])
        if rendering["secret"]:
            secret = {**rendering["secret"], "SCOPE": objects.base}
            con.execute(_create_secret(secret_name, rendering["type"], secret))
        con.execute(f"ATTACH ':memory:' AS {catalog}")
        return Depot(name, objects, writable)

    def _refuse_private_files(self, name: str, folder: str) -> None:
        """A file depot's folder becomes readable by statements: it must neither contain nor
        lie inside Entrepôt's home (the master key, the store, the logs) or the store file."""
        import os

        settings = self.access.settings
        private = [settings.home, *([settings.sqlite_path] if settings.sqlite_path else [])]
        root = os.path.realpath(folder)
        for path in private:
            real = os.path.realpath(path)
            if _inside(real, root) or _inside(root, real):
                raise RefusedError(
                    f"depot '{name}' ({folder}) overlaps Entrepôt's own files ({path}): "
                    "the query engine does not expose them",
                    hint="point the depot at a folder of data files, away from $ENTREPOT_HOME",
                )

    def _write_refusal(self, row: ResourceRow) -> str | None:
        """Why the acting user may not write this depot, or None (the authorization function
        decides: its owner, Manage All Dataset, an allow policy)."""
        decision = self.access.may_write(row)
        if decision:
            return None
        return f"user '{self.access.user}' may not write to depot '{row.name}' ({decision.rule})"

    # --- object-storage datasets as views -------------------------------------------------

    def _ensure_view(self, name: str, collection: str, dataset: str) -> None:
        depot = self._attached.get(name)
        if depot is None or depot.objects is None or (collection, dataset) in depot.views:
            return
        assert self._con is not None
        path, fmt = self._locate(depot.name, depot.objects, collection, dataset)
        if path is None:
            return  # DuckDB then says the table does not exist, with its suggestions
        reader = READERS.get(fmt.split(",")[0], READERS["parquet"]).format(path=_lit(path))
        schema = f"{sqltext.quote_ident(name)}.{sqltext.quote_ident(collection)}"
        self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self._con.execute(
            f"CREATE OR REPLACE VIEW {schema}.{sqltext.quote_ident(dataset)} AS "
            f"SELECT * FROM {reader}"
        )
        depot.views.add((collection, dataset))

    def _locate(
        self, name: str, objects: ObjectRoot, collection: str, dataset: str
    ) -> tuple[str | None, str]:
        """The dataset's URL (a file, or a folder's files) and format: from the catalog when
        it was scanned, else by listing the depot (DuckDB's glob, inside the sandbox)."""
        from entrepot.catalog.model import Address

        found = self.access.scanned(Address(name, collection, dataset))
        if found is not None:
            details = found["details"]
            fmt = str(details.get("format") or "parquet")
            url = objects.key_url(str(details["path"]))
            if found.get("kind") == "folder":
                suffix = SUFFIXES.get(fmt.split(",")[0], ("parquet",))[0]
                return url.rstrip("/") + f"/**/*.{suffix}", fmt
            return url, fmt
        return self._discover(objects, collection, dataset)

    def _discover(
        self, objects: ObjectRoot, collection: str, dataset: str
    ) -> tuple[str | None, str]:
        import duckdb

        assert self._con is not None
        folder = objects.url(collection, dataset)
        parent = folder.rsplit("/", 1)[0]
        try:  # one listing of the collection (a glob without wildcards is not a listing)
            # A literal: a parameterised statement on the main thread loses Ctrl-C (sandbox.py).
            rows = self._con.execute(f"SELECT file FROM glob({_lit(parent + '/**/*')})").fetchall()
        except duckdb.Error:  # outside the sandbox, or the store refuses: not found
            rows = []
        files = [str(row[0]) for row in rows]
        for fmt, suffixes in SUFFIXES.items():
            for suffix in suffixes:
                if f"{folder}.{suffix}" in files:
                    return f"{folder}.{suffix}", fmt
                if any(f.startswith(f"{folder}/") and f.endswith(f".{suffix}") for f in files):
                    return f"{folder}/**/*.{suffix}", fmt
        return None, "parquet"

    # --- limits and errors ----------------------------------------------------------------

    def _start_timer(self, con: duckdb.DuckDBPyConnection) -> threading.Timer | None:
        if not self.options.timeout:
            return None
        self._timed_out = False

        def expire() -> None:
            self._timed_out = True
            con.interrupt()

        timer = threading.Timer(self.options.timeout, expire)
        timer.daemon = True
        timer.start()
        return timer

    def _error(self, exc: Exception, timer: threading.Timer | None) -> EntrepotError:
        import duckdb

        text = redactor.redact(str(exc)).strip()
        if isinstance(exc, duckdb.InterruptException):
            if self._timed_out:
                return QueryError(
                    f"the statement ran longer than {self.options.timeout:g} s and was cancelled",
                    hint="raise the limit with --timeout SECONDS",
                )
            return QueryError("the statement was cancelled (Ctrl-C)", exit_code=ExitCode.CANCELLED)
        lowered = text.lower()
        if self._read_only and ("read-only" in lowered or "read only" in lowered):
            return RefusedError(
                "; ".join(f"{why}, so it cannot be written" for why in self._read_only.values()),
                hint="writing needs the depot's owner and an instance secret with acl: rw",
            )
        if isinstance(exc, duckdb.PermissionException):
            return RefusedError(
                text,
                hint="a statement reads only the depots it names, through entrepot",
            )
        if isinstance(
            exc, (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
        ):
            names = ", ".join(self.depot_names()) or "none"
            return QueryError(
                text,
                hint=f"depots are catalogs: depot.schema.table (depots: {names}); "
                "entrepot catalog ls shows the datasets",
                exit_code=ExitCode.INVALID,
            )
        if isinstance(exc, (duckdb.InvalidInputException, duckdb.ConversionException)):
            return QueryError(text, hint="check the statement", exit_code=ExitCode.INVALID)
        if isinstance(exc, duckdb.OutOfMemoryException):
            return QueryError(text, hint="raise --memory-limit, or select fewer rows")
        return QueryError(text, hint="the source refused or failed; entrepot check depot NAME")


class ResultStream:
    """A RecordBatchReader wrapper: errors while streaming become QueryErrors, the timer
    stops when the stream ends."""

    def __init__(self, reader: Any, timer: threading.Timer | None, engine: Engine) -> None:
        self._reader = reader
        self._timer = timer
        self._engine = engine
        self._pending: Future[Any] | None = None
        self.schema = reader.schema

    def __iter__(self) -> Iterator[Any]:
        import duckdb

        engine = self._engine
        # One batch of read-ahead: while the consumer encodes a batch (parquet, csv: pyarrow
        # releases the GIL), the worker already has DuckDB read the next one from the source,
        # so a 2-core machine decodes and encodes at once. Memory stays at two batches.
        self._pending = engine.submit(self._reader.read_next_batch)
        try:
            while True:
                try:
                    batch = engine.wait(self._pending)
                except StopIteration:
                    self._pending = None
                    return
                self._pending = engine.submit(self._reader.read_next_batch)
                yield batch
        except Exception as exc:  # DuckDB's errors, or pyarrow's wrapping them while streaming
            if isinstance(exc, (duckdb.Error, OSError)) or type(exc).__module__.startswith(
                "pyarrow"
            ):
                raise self._engine._error(exc, self._timer) from None
            raise
        except KeyboardInterrupt:
            self._engine.interrupt()
            raise
        finally:
            self._settle()
            _cancel(self._timer)

    def _settle(self) -> None:
        """Let a read-ahead still running finish before anyone else touches the reader."""
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(Exception):  # its error, if any, is no one's now
                pending.result()

    def read_all(self) -> Any:
        import pyarrow as pa

        return pa.Table.from_batches(list(self), schema=self.schema)

    def close(self) -> None:
        """Stop early: the consumer wants no more rows, so a read-ahead still running is
        interrupted rather than waited for."""
        if self._pending is not None and not self._pending.done():
            self._engine.interrupt()
        self._settle()
        _cancel(self._timer)
        self._reader.close()


def _cancel(timer: threading.Timer | None) -> None:
    if timer is not None:
        timer.cancel()


class VerifiedExtensions:
    """Which extension files DuckDB has verified the signature of, by (size, mtime, inode):
    a record in $ENTREPOT_HOME/cache, so that only the first session pays for the check."""

    def __init__(self, home: Path | None) -> None:
        self.path = home / "cache" / "duckdb-extensions.json" if home else None
        self._known: dict[str, list[int]] | None = None

    def _load(self) -> dict[str, list[int]]:
        if self._known is None:
            import json

            try:
                assert self.path is not None
                self._known = dict(json.loads(self.path.read_text()))
            except (AssertionError, OSError, ValueError, TypeError):
                self._known = {}
        return self._known

    @staticmethod
    def _stamp(path: Path) -> list[int]:
        info = path.stat()
        return [info.st_size, info.st_mtime_ns, info.st_ino]

    def ensure(self, path: Path) -> None:
        """Have DuckDB verify `path`'s signature unless it did for this very file."""
        import duckdb

        known = self._load()
        stamp = self._stamp(path)
        if known.get(str(path)) == stamp:
            return
        checker = duckdb.connect(":memory:", config=base_config())  # signatures required
        try:
            checker.execute(f"LOAD {_lit(str(path))}")
        finally:
            checker.close()
        known[str(path)] = stamp
        if self.path is None:
            return
        import json
        import os

        with contextlib.suppress(OSError):  # a read-only home: every session checks, no harm
            ensure_private_dir(self.path.parent.parent)  # $ENTREPOT_HOME, 0700 if new
            self.path.parent.mkdir(exist_ok=True)
            partial = self.path.with_suffix(f".{os.getpid()}.partial")
            partial.write_text(json.dumps(known, indent=1))
            partial.replace(self.path)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _normalised(location: str) -> str:
    """A path or URL with `.` and `..` segments resolved, for prefix comparisons: local paths
    as DuckDB resolves them (from the working directory, through symlinks)."""
    import os
    import posixpath

    if "://" not in location:
        return os.path.realpath(location) + ("/" if location.endswith("/") else "")
    scheme, rest = location.split("://", 1)
    if scheme == "file":
        return _normalised(rest)
    normal = posixpath.normpath("/" + rest)[1:]
    return f"{scheme}://{normal}" + ("/" if rest.endswith("/") else "")


def _lit(value: str) -> str:
    return sqltext.quote_literal(value)


def _create_secret(name: str, kind: str, values: dict[str, Any]) -> str:
    """A TEMPORARY secret: in memory, for this connection's life, never written anywhere."""
    parts = [f"TYPE {kind}"]
    for key, value in values.items():
        if isinstance(value, bool):
            parts.append(f"{key} {'true' if value else 'false'}")
        elif isinstance(value, int):
            parts.append(f"{key} {value}")
        else:
            parts.append(f"{key} {_lit(str(value))}")
    return f"CREATE OR REPLACE TEMPORARY SECRET {name} ({', '.join(parts)})"


def _conninfo(conn: ResolvedConnection, writable: bool) -> str:
    """The non-secret part of a libpq/MySQL connection string: TLS params and, on the read
    path, a read-only session (a third line of defence after READ_ONLY and the r account)."""
    params = dict(getattr(conn.config, "params", None) or {})
    parts = []
    if conn.source_type == "postgresql":
        for key in ("sslmode", "connect_timeout", "application_name"):
            if key in params:
                parts.append(f"{key}={params[key]}")
        if not writable:
            parts.append("options='-c default_transaction_read_only=on'")
        if "application_name" not in params:
            parts.append("application_name=entrepot")
    return " ".join(parts)
