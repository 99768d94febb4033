"""Scrub known secret values from text before it is printed, logged or raised.

Every value read from a manifest's secret section, interpolated from the environment, or
decrypted for a request is registered here; front ends pass all output through `redact`.

Values are kept per request: `redaction_scope()` gives the code running inside it (and the
threads started with `bind_scope`) a redactor of its own, so a server never scrubs one user's
output with another's secrets (which would tell them what the other's secret is) and forgets a
request's values with it. Outside any scope (the CLI: one request per process) the process's
redactor is used.
"""

from __future__ import annotations

import contextvars
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

MASK = "******"
# Which keys of a secret are not secret (user names, account names, endpoints) is declared per
# source type, with the credentials: `resources.depot_types.PUBLIC_SECRET_KEYS`. Callers
# register only the values to hide.
MIN_LENGTH = 4  # shorter values ("r", "1") would mask ordinary words


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, *values: str | bytes | None) -> None:
        with self._lock:
            for value in values:
                if isinstance(value, bytes):
                    try:
                        value = value.decode()
                    except UnicodeDecodeError:
                        continue
                if value and len(value) >= MIN_LENGTH:
                    self._values.add(value)
                    for line in value.splitlines():  # files: a single line may be printed
                        if len(line.strip()) >= 8:
                            self._values.add(line.strip())
            self._pattern = None

    def redact(self, text: str) -> str:
        if not self._values or not text:
            return text
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                ordered = sorted(self._values, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return pattern.sub(MASK, text)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None


_process = Redactor()
_scope: contextvars.ContextVar[Redactor | None] = contextvars.ContextVar(
    "entrepot_redaction_scope", default=None
)


class _CurrentRedactor:
    """The redactor of the request running here, else the process's."""

    @staticmethod
    def _current() -> Redactor:
        return _scope.get() or _process

    def register(self, *values: str | bytes | None) -> None:
        self._current().register(*values)

    def redact(self, text: str) -> str:
        return self._current().redact(text)

    def clear(self) -> None:
        self._current().clear()


redactor = _CurrentRedactor()


@contextmanager
def redaction_scope() -> Iterator[Redactor]:
    """A redactor for one request: values registered inside stay inside."""
    scope = Redactor()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def bind_scope(function: Callable[..., T]) -> Callable[..., T]:
    """`function`, to run in another thread within the caller's redaction scope (threads do
    not inherit context variables)."""
    context = contextvars.copy_context()

    def bound(*args: Any, **kwargs: Any) -> T:
        return context.copy().run(function, *args, **kwargs)

    return bound
