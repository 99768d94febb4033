"""The query sandbox: what a statement may do, decided from DuckDB's own reading of it.

Every statement passes three gates, each taken from DuckDB itself, never from our lexing of the
text (a hand-written lexer was fooled by quoting, schema qualification and SQL inside strings):

1. **Its kind**, from DuckDB's parser (`extract_statements`) on a *parser connection* that is
   locked before it parses anything: DuckDB runs `IMPORT DATABASE` (it reads `schema.sql` and
   `load.sql`) and `PRAGMA` expansion at parse time, so parsing on an unlocked connection would
   already read files. The text that runs is DuckDB's text of each statement (PRAGMAs expanded).
   `r` runs `SELECT` only (DESCRIBE, SHOW, SUMMARIZE, PIVOT and `PRAGMA table_info` are SELECTs);
   `rw` adds INSERT, UPDATE, DELETE, MERGE, CREATE, DROP, ALTER and COPY. `EXPLAIN [ANALYZE] X`
   is judged as X (EXPLAIN ANALYZE runs X). Nothing else runs in any mode.
2. **The functions it calls**, before anything is bound (binding `postgres_scan('host=...')`
   already opens a connection): from DuckDB's parse tree (`json_serialize_sql`) where DuckDB can
   serialise it (SELECT), else from DuckDB's tokenizer (the scanner its parser uses): every name
   followed by `(`. Functions that run SQL text (`query`, `query_table`,
   `json_execute_serialized_sql`), open connections of their own or send SQL to a source (the
   scanners' `*_query`, `*_execute`, `*_scan`, `*_attach`, ...) are unavailable, whatever their
   spelling, quoting or schema.
3. **The bound plan** (`EXPLAIN (FORMAT json)` on the session's locked connection, right before
   the statement runs): no operator of a refused function may appear (views and macros are
   expanded there), and DuckDB itself refuses to bind a write to a depot attached READ_ONLY.

With `rw`, a `COPY ... TO` target (found by DuckDB's tokenizer: the string after the top-level
TO) must lie inside a depot the session may write; the engine checks it (`Checked.copy_target`).

Imports: `errors`, `secrets.redact` and DuckDB only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from entrepot.errors import EntrepotError, ExitCode, RefusedError
from entrepot.secrets.redact import redactor

if TYPE_CHECKING:
    import duckdb

# Functions no statement may call. A test compares this with what DuckDB and the loaded
# extensions register, so an upgrade that adds one fails loudly instead of opening a hole.
RUNS_SQL_TEXT = {"query", "query_table", "json_execute_serialized_sql"}
SCANNER_FUNCTIONS = {
    # duckdb-postgres: SQL text to the source, or a connection string of the caller's.
    "postgres_query",
    "postgres_execute",
    "postgres_scan",
    "postgres_scan_pushdown",
    "postgres_attach",
    "postgres_configure_pool",
    "pg_clear_cache",
    # duckdb-mysql
    "mysql_query",
    "mysql_execute",
    "mysql_clear_cache",
    "mysql_debug_execution_plan",
    "mysql_explain_federated",
}
REFUSED_FUNCTIONS = RUNS_SQL_TEXT | SCANNER_FUNCTIONS
# A scanner's function of this shape added by a later release is refused too.
REFUSED_SHAPE = re.compile(r"(postgres|pg|mysql|sqlite)_\w*(query|execute|scan|attach)\w*")
# Attached depots' tables are read by these operators: they appear in plans because the depot is
# attached, and a direct call of the same function was refused at gate 2.
ATTACHED_SCANS = {"POSTGRES_SCAN", "MYSQL_SCAN"}

READ_KINDS = {"SELECT"}
WRITE_KINDS = {"INSERT", "UPDATE", "DELETE", "MERGE_INTO", "CREATE", "DROP", "ALTER", "COPY"}
SETUP_KINDS = {"ATTACH", "DETACH", "LOAD", "SET", "VARIABLE_SET", "EXPORT", "COPY_DATABASE"}

_IDENT = re.compile(r'"(?:[^"]|"")*"|[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*')
_STRING = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True)
class Checked:
    """A statement that passed gates 1 and 2: its text as DuckDB gave it, and what it does."""

    text: str  # what runs
    kind: str  # SELECT, INSERT, ...: for EXPLAIN, the explained statement's kind
    plan_text: str  # the statement whose bound plan gate 3 reads (EXPLAIN X: X)
    copy_target: str | None = None  # COPY ... TO '<this>'

    @property
    def reads(self) -> bool:
        return self.kind in READ_KINDS


def parser_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that parses and nothing else: no extensions, no depots, no temporary
    directory, no file system or network, configuration locked before the first statement."""
    import duckdb

    con = duckdb.connect(":memory:", config=base_config())
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def base_config() -> dict[str, Any]:
    """Settings of every DuckDB connection the engine opens. `temp_directory` is empty: DuckDB
    adds its temporary directory (`.tmp` under the working directory by default) to the
    directories a sandboxed statement may read and write, so a `.tmp` symlink would expose any
    folder; queries therefore run in memory (`--memory-limit`), without spilling to disk."""
    return {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_persistent_secrets": False,
        "allow_unredacted_secrets": False,
        "allow_community_extensions": False,
        "temp_directory": "",
    }


def refused_function(name: str) -> bool:
    """Gate 2: may a statement call this function (any catalog or schema)?"""
    lowered = name.lower()
    return lowered in REFUSED_FUNCTIONS or bool(REFUSED_SHAPE.fullmatch(lowered))


def refused_operator(name: str) -> bool:
    """Gate 3: may this operator appear in a bound plan? The scans of attached depots may."""
    return name.upper() not in ATTACHED_SCANS and refused_function(name)


class Sandbox:
    """Gates 1 and 2 (`check`) on its own locked parser connection, gate 3 (`check_plan`) on the
    session's connection. One per engine session."""

    def __init__(self, acl: str) -> None:
        self.acl = acl
        self._parser: duckdb.DuckDBPyConnection | None = None

    @property
    def parser(self) -> duckdb.DuckDBPyConnection:
        if self._parser is None:
            self._parser = parser_connection()
        return self._parser

    def close(self) -> None:
        if self._parser is not None:
            self._parser.close()
            self._parser = None

    # --- gates 1 and 2 ----------------------------------------------------------------------

    def check(self, sql: str) -> list[Checked]:
        """Every statement of `sql`, as DuckDB parses it, that may run; refuse the first that
        may not (nothing has run then)."""
        statements = self._parse(sql)
        if not statements:
            raise EntrepotError("no SQL statement given", hint='entrepot query "SELECT 1"')
        return [self._check_one(s.query, s.type.name) for s in statements]

    def _parse(self, sql: str) -> list[Any]:
        import duckdb

        try:
            return list(self.parser.extract_statements(sql))
        except duckdb.PermissionException as exc:
            # DuckDB reads files while parsing for IMPORT DATABASE only; the locked parser
            # refused to.
            raise RefusedError(
                redactor.redact(str(exc)).splitlines()[0],
                hint="a statement reads only the depots it names; IMPORT DATABASE is not "
                "allowed (see docs/query-sandbox.md)",
            ) from None
        except duckdb.Error as exc:
            raise EntrepotError(
                redactor.redact(str(exc)), hint="check the SQL", exit_code=ExitCode.INVALID
            ) from None

    def _check_one(self, text: str, kind: str) -> Checked:
        kind = kind.removesuffix("_STATEMENT")
        runs, runs_kind = text, kind
        if kind == "EXPLAIN":
            explains = explained(text)
            inner = self._parse(explains)
            if len(inner) != 1:
                raise RefusedError(
                    "EXPLAIN takes one statement", hint="EXPLAIN SELECT ... (one statement)"
                )
            runs, runs_kind = inner[0].query, inner[0].type.name.removesuffix("_STATEMENT")
            if runs_kind == "EXPLAIN":
                raise RefusedError(
                    "EXPLAIN of an EXPLAIN is not allowed", hint="EXPLAIN SELECT ..."
                )
            # What runs is EXPLAIN of the very text checked (a PRAGMA inside is expanded).
            text = text[: len(text) - len(explains)] + runs
        self._check_kind(runs_kind)
        for name in self._called(runs, runs_kind):
            if refused_function(name):
                raise refused_call(name)
        target = copy_target(runs) if runs_kind == "COPY" else None
        return Checked(text, runs_kind, runs, target)

    def _check_kind(self, kind: str) -> None:
        word = kind.replace("_", " ")
        if kind in SETUP_KINDS:
            raise RefusedError(
                f"{word} statements are not allowed: entrepot attaches depots and sets the "
                "engine up itself",
                hint="name depots in the statement (depot.schema.table); see entrepot query "
                "--help for limits",
            )
        if kind in WRITE_KINDS:
            if self.acl != "rw":
                raise RefusedError(
                    f"{word} writes, and queries are read-only by default",
                    hint="writing needs --acl rw and the depot's rw secret",
                )
            return
        if kind not in READ_KINDS:
            raise RefusedError(
                f"{word} statements are not allowed in a query",
                hint="queries read with SELECT (and write with INSERT, UPDATE, DELETE, MERGE, "
                "CREATE, DROP, ALTER or COPY under --acl rw); see docs/query-sandbox.md",
            )

    def _called(self, text: str, kind: str) -> set[str]:
        """The names the statement calls as functions, before anything is bound."""
        if kind == "SELECT":
            # A literal, not a `?` parameter: DuckDB 1.5.5 replaces the process's SIGINT
            # handler when it runs a parameterised statement on the main thread, and Ctrl-C
            # would no longer reach the query (tests/test_query.py, the Ctrl-C test).
            literal = "'" + text.replace("'", "''") + "'"
            row = self.parser.execute(f"SELECT json_serialize_sql({literal})").fetchone()
            tree = json.loads(row[0]) if row else {"error": True}
            if not tree.get("error"):
                return set(_function_names(tree))
        # DuckDB serialises SELECT parse trees only (and not all of them: PIVOT): for the others,
        # its tokenizer. Any name followed by "(" counts, which may over-refuse, never under-.
        return set(_token_calls(text))

    # --- gate 3 -----------------------------------------------------------------------------

    def check_plan(self, con: duckdb.DuckDBPyConnection, statement: Checked) -> None:
        """Bind and plan the statement that runs, without running it: refuse a plan with an
        operator of a refused function (a view or macro hides its calls from gates 1 and 2)."""
        import duckdb

        try:
            rows = con.execute(f"EXPLAIN (FORMAT json) {statement.plan_text}").fetchall()
        except duckdb.ParserException:
            # A statement DuckDB runs but cannot EXPLAIN (CREATE SECRET, ...): we cannot see
            # what it does, so it does not run.
            raise RefusedError(
                f"this {statement.kind} statement cannot be checked, so it does not run",
                hint="see docs/query-sandbox.md for what a query may do",
            ) from None
        for row in rows:
            for operator in _plan_operators(json.loads(row[1])):
                if refused_operator(operator):
                    raise refused_call(operator.lower())


def refused_call(name: str) -> RefusedError:
    return RefusedError(
        f"{name}() is not available: it runs SQL text or opens a connection of its own, "
        "past the depot's read-only session and the sandbox",
        hint="query the depots' tables instead (depot.schema.table); see docs/query-sandbox.md",
    )


def explained(text: str) -> str:
    """The statement an `EXPLAIN [ANALYZE] [(options)] X` explains: X, from where DuckDB's
    tokenizer says its first token starts."""
    import duckdb

    tokens = duckdb.tokenize(text)
    i = 1  # tokens[0] is EXPLAIN
    if i < len(tokens) and _word(text, tokens, i) in ("ANALYZE", "ANALYSE"):
        i += 1
    if i < len(tokens) and text[tokens[i][0]] == "(":
        depth = 0
        while i < len(tokens):
            char = text[tokens[i][0]]
            depth += {"(": 1, ")": -1}.get(char, 0) if _is_operator(tokens[i]) else 0
            i += 1
            if depth == 0:
                break
    if i >= len(tokens):
        raise RefusedError("EXPLAIN needs a statement", hint="EXPLAIN SELECT ...")
    return text[tokens[i][0] :]


def copy_target(text: str) -> str | None:
    """`COPY (query) TO 'target'` / `COPY table TO 'target'`: the target, as DuckDB tokenizes
    the statement (the string after the TO outside parentheses); None for COPY ... FROM."""
    import duckdb

    tokens = duckdb.tokenize(text)
    depth = 0
    for i, token in enumerate(tokens):
        char = text[token[0]]
        if _is_operator(token) and char in "()":
            depth += 1 if char == "(" else -1
            continue
        if depth or i == 0:
            continue
        word = _word(text, tokens, i)
        if word == "FROM":
            return None
        if word == "TO":
            if i + 1 < len(tokens) and tokens[i + 1][1] == duckdb.token_type.string_const:
                match = _STRING.match(text, tokens[i + 1][0])
                if match:
                    return match.group()[1:-1].replace("''", "'")
            break
    raise RefusedError(
        "COPY ... TO needs its target as a plain string",
        hint="COPY (SELECT ...) TO 'dataos://depot:collection/file.parquet'",
    )


def _is_operator(token: tuple[int, Any]) -> bool:
    import duckdb

    return bool(token[1] == duckdb.token_type.operator)


def _word(text: str, tokens: list[tuple[int, Any]], i: int) -> str:
    match = _IDENT.match(text, tokens[i][0])
    return match.group().upper() if match else ""


def _token_calls(text: str) -> list[str]:
    """Names followed by "(" in DuckDB's tokens: identifiers and keywords, quoted or not, with
    or without a schema (the last name of a dotted chain is the function)."""
    import duckdb

    tokens = duckdb.tokenize(text)
    names = []
    kinds = (duckdb.token_type.identifier, duckdb.token_type.keyword)
    for i in range(len(tokens) - 1):
        if tokens[i][1] not in kinds or text[tokens[i + 1][0]] != "(":
            continue
        match = _IDENT.match(text, tokens[i][0])
        if match:
            name = match.group()
            names.append(name[1:-1].replace('""', '"') if name.startswith('"') else name)
    return names


def _function_names(node: Any) -> list[str]:
    """Every function a parse tree calls (scalar, aggregate, table, macro), at any depth."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("function_name")
            if isinstance(name, str):
                found.append(name)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _plan_operators(plan: Any) -> list[str]:
    """Operator names of a JSON physical plan, and the table functions its scans call."""
    found: list[str] = []
    stack = list(plan) if isinstance(plan, list) else [plan]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        found.append(str(node.get("name", "")))
        function = (node.get("extra_info") or {}).get("Function")
        if isinstance(function, str):
            found.append(function)
        stack.extend(node.get("children") or [])
    return found
