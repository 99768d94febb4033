"""Just enough SQL lexing to find what a statement names, without parsing it.

This module only finds, outside string literals and comments, the identifier chains
(`postgres.public.orders`) and the `"dataos://depot:collection/dataset"` addresses to rewrite, so
that only the depots a statement names are attached. It decides nothing about what a statement
may do: query/sandbox.py does, from DuckDB's own parse and bound plan of the final text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>[eE]?'(?:[^']|'')*(?:'|\Z))
  | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?(?:\$(?P=tag)\$|\Z))
  | (?P<quoted>"(?:[^"]|"")*(?:"|\Z))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str  # ws, comment, string, dollar, quoted, ident, other
    text: str
    start: int

    @property
    def name(self) -> str:
        """An identifier's value: quoted as written, bare folded to lower case (as DuckDB)."""
        if self.kind == "quoted":
            return self.text[1:-1].replace('""', '"')
        return self.text.lower()

    @property
    def literal(self) -> str:
        """A string literal's value."""
        body = self.text[1:] if self.text[:1] in "eE" else self.text
        return body[1:-1].replace("''", "'")


def tokens(sql: str) -> list[Token]:
    out = []
    for match in TOKEN.finditer(sql):
        kind = match.lastgroup or "other"  # the outer group: `tag` is inside `dollar`
        out.append(Token(kind, match.group(), match.start()))
    return out


def _code(toks: list[Token]) -> list[Token]:
    return [t for t in toks if t.kind not in ("ws", "comment")]


def chains(sql: str) -> list[list[str]]:
    """Every dotted identifier chain: `a.b.c` -> ["a", "b", "c"]."""
    code = _code(tokens(sql))
    found: list[list[str]] = []
    i = 0
    while i < len(code):
        if code[i].kind in ("ident", "quoted"):
            chain = [code[i].name]
            j = i + 1
            while (
                j + 1 < len(code)
                and code[j].text == "."
                and code[j + 1].kind in ("ident", "quoted")
            ):
                chain.append(code[j + 1].name)
                j += 2
            found.append(chain)
            i = j
        else:
            i += 1
    return found


def rewrite(
    sql: str,
    identifier: Callable[[str], str | None],
    literal: Callable[[str], str | None],
) -> str:
    """Replace quoted identifiers and string literals the callbacks return a text for."""
    parts = []
    for token in tokens(sql):
        replacement = None
        if token.kind == "quoted":
            replacement = identifier(token.name)
        elif token.kind == "string":
            replacement = literal(token.literal)
        parts.append(token.text if replacement is None else replacement)
    return "".join(parts)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
