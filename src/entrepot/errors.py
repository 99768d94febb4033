"""User-facing errors and exit codes, shared by every layer.

Every mistake a user can make ends in an `EntrepotError` (or a subclass) carrying where it happened
(file:line:column and the field path), what was expected, and a hint. Front ends print them; they
never show a traceback for one. Imports nothing from the package.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ExitCode(enum.IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    OK = 0
    DIFF_CHANGES = 1  # `diff` found changes (kubectl convention: 0 none, 1 changes, >1 error)
    USAGE = 2  # bad command-line usage (click's own code)
    INVALID = 3  # a manifest or an argument is invalid; nothing was written
    NOT_FOUND = 4  # the named resource does not exist
    REFUSED = 5  # refused: a dependency, a conflict, a permission
    STORE = 6  # the store or the master key cannot be used
    CHECK_FAILED = 7  # a connection check failed
    RUN_FAILED = 8  # a workflow run failed
    CANCELLED = 130  # Ctrl-C: the shell's convention (128 + SIGINT)
    INTERNAL = 70  # a bug: report it (the traceback goes to the log, redacted)


@dataclass(frozen=True)
class Location:
    """Where in a manifest something is: file, 1-based line and column, and the field path."""

    file: str
    line: int | None = None
    column: int | None = None
    path: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where


@dataclass
class Problem:
    """One finding: an error or a warning, with its location and an optional hint."""

    message: str
    location: Location | None = None
    hint: str | None = None
    severity: str = "error"

    def render(self) -> str:
        head = "warning" if self.severity == "warning" else "error"
        parts = []
        if self.location is not None:
            parts.append(f"{self.location}:")
        parts.append(f"{head}:")
        if self.location is not None and self.location.path:
            parts.append(f"{self.location.path}:")
        parts.append(self.message)
        text = " ".join(parts)
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class EntrepotError(Exception):
    """An error a user can act on. `problems` holds one or more findings."""

    exit_code: ExitCode = ExitCode.INVALID

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        problems: list[Problem] | None = None,
        exit_code: ExitCode | None = None,
    ) -> None:
        self.problems: list[Problem] = problems or [Problem(message, location, hint)]
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(message)

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class ManifestError(EntrepotError):
    """One or more manifests are invalid; nothing was written."""

    exit_code = ExitCode.INVALID


class NotFoundError(EntrepotError):
    exit_code = ExitCode.NOT_FOUND


class RefusedError(EntrepotError):
    exit_code = ExitCode.REFUSED


class ConflictError(RefusedError):
    """Optimistic concurrency: the resource changed between read and write."""


class StoreError(EntrepotError):
    exit_code = ExitCode.STORE


class MissingCredentialError(EntrepotError):
    """A depot's credentials cannot be assembled (a referenced secret is gone). Raised where
    secrets are decrypted (services/connections.py), caught by the orchestrators handed the
    connection."""

    exit_code = ExitCode.REFUSED


@dataclass
class Problems:
    """Collects problems across many documents so a user sees all of them at once."""

    items: list[Problem] = field(default_factory=list)

    def error(
        self, message: str, location: Location | None = None, hint: str | None = None
    ) -> None:
        self.items.append(Problem(message, location, hint))

    def warn(self, message: str, location: Location | None = None, hint: str | None = None) -> None:
        self.items.append(Problem(message, location, hint, severity="warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ManifestError(self.errors[0].message, problems=self.errors)
