"""`type: policy` access rules, compiled for fast matching.

A policy names subjects (tags, with globs: `roles:id:*`, `users:id:**`), predicates (`get`,
`post`, `put`, `patch`, `delete` for API paths; `read`, `write`, `create`, `update`, `delete` for
`dataos://` addresses), objects (`paths`, with globs: `/ds/api/v2/depots/**`, and addresses:
`dataos://lakehouse:people_dw/*`) and `allow: true|false`. Globs: `*` matches within one path
segment (or tag part), `**` across them, `?` one character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

PATH_PREDICATES = ("get", "post", "put", "patch", "delete")
ADDRESS_PREDICATES = ("read", "write", "create", "update", "delete")


@lru_cache(maxsize=4096)
def glob(pattern: str, separators: str = "/") -> re.Pattern[str]:
    """A glob as a compiled full-match regex; `*` stops at any of `separators`."""
    stop = "".join(re.escape(s) for s in separators)
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(f"[^{stop}]*")
            i += 1
        elif pattern[i] == "?":
            out.append(f"[^{stop}]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One policy, compiled."""

    policy: str  # its name, for the decision's reason
    allow: bool
    subjects: tuple[str, ...]
    predicates: frozenset[str]
    paths: tuple[str, ...]
    addresses: tuple[str, ...]

    @classmethod
    def of(cls, name: str, access: dict[str, Any]) -> Rule:
        """From a validated `policy.access` section."""
        subjects = access.get("subjects") or {}
        objects = access.get("objects") or {}
        paths = [str(p) for p in objects.get("paths") or []]
        return cls(
            policy=name,
            allow=bool(access.get("allow")),
            subjects=tuple(str(t) for t in subjects.get("tags") or []),
            predicates=frozenset(str(p).lower() for p in access.get("predicates") or []),
            paths=tuple(p for p in paths if not _is_address(p)),
            addresses=tuple(p for p in paths if _is_address(p)),
        )

    def applies_to(self, tags: frozenset[str]) -> bool:
        for subject in self.subjects:
            if not _has_glob(subject):
                if subject in tags:
                    return True
            elif any(glob(subject, ":").match(tag) for tag in tags):
                return True
        return False

    def matches(self, method: str, path: str, predicate: str, address: str | None) -> bool:
        if method.lower() in self.predicates and any(glob(p).match(path) for p in self.paths):
            return True
        if address is None or predicate not in self.predicates:
            return False
        return any(glob(p).match(address) for p in self.addresses)

    def describe(self) -> str:
        return f"policy '{self.policy}' ({'allow' if self.allow else 'deny'})"


def _is_address(value: str) -> bool:
    return value.startswith("dataos://")


def _has_glob(value: str) -> bool:
    return any(c in value for c in "*?")


def like_pattern(pattern: str) -> str:
    """A glob over names as a SQL LIKE pattern (escape character '\\'): listings are filtered
    in the store's own query."""
    out = []
    for char in pattern:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in "%_\\":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)
