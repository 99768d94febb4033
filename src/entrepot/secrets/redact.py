"""Scrub known secret values from text before it is printed, logged or raised.

Every value read from a manifest's secret section, interpolated from the environment, or
decrypted in this process is registered here; front ends pass all output through `redact`.
"""

from __future__ import annotations

import re
import threading

MASK = "******"
# Keys that name an identity rather than hold a credential: shown in hints ("password
# authentication failed for user 'max'"), never masked.
IDENTIFIER_KEYS = frozenset(
    {"username", "user", "email", "projectid", "azurestorageaccountname", "account"}
)
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


redactor = Redactor()
