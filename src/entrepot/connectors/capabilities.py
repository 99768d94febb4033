"""What a connector can do, declared once on its class and read by every consumer.

Each `Connector` subclass sets `capabilities = Capabilities(...)`: whether it checks and scans
its source, how DuckDB reads it (which extension; relational scanner or files), whether Spark
reads and Trino catalogs exist for it, and for each capability it lacks a short reason. The
query engine, Spark reads, the Trino export, the check and the scanner decide from it, and
their hints list the types that can (`connectors.types_with`), so no list of types is kept by
hand anywhere else. A type no connector serves gets `Capabilities.unserved(type)`: nothing,
for one reason. Stdlib only: cheap to import for a hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Capability = Literal["check", "scan", "duckdb", "spark", "trino"]
CAPABILITIES: tuple[Capability, ...] = ("check", "scan", "duckdb", "spark", "trino")


@dataclass(frozen=True)
class DuckDBSupport:
    """How the embedded engine reads a source: the DuckDB extension to load (a key of
    `query.engine.EXTENSIONS`), or None when DuckDB reads it without one (local files)."""

    extension: str | None


@dataclass(frozen=True)
class Capabilities:
    """One connector's declaration. `storage` says what the source holds, which decides how
    DuckDB and Spark read it: `relational` (schemas of tables, read through a database
    scanner or JDBC) or `objects` (folders of files, read in place); None for a type no
    connector serves. `reasons` names, for each capability set to False or None, why: the
    hints print it. A declaration without a reason for a missing capability (or with one for
    a capability it has) is refused when the class is defined."""

    storage: Literal["relational", "objects"] | None
    check: bool
    scan: bool
    duckdb: DuckDBSupport | None
    spark: bool
    trino: bool
    reasons: Mapping[Capability, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        missing = {name for name in CAPABILITIES if not self.has(name)}
        if set(self.reasons) != missing or not all(self.reasons.values()):
            raise ValueError(
                f"a capability declaration needs a reason for exactly the missing capabilities "
                f"{sorted(missing)}; it gives reasons for {sorted(self.reasons)}"
            )
        if (self.storage is None) != (missing == set(CAPABILITIES)):
            raise ValueError("storage is None exactly when a type has no capability at all")
        # Frozen all the way down: a declaration is shared by every caller.
        object.__setattr__(self, "reasons", MappingProxyType(dict(self.reasons)))

    def has(self, capability: Capability) -> bool:
        value = getattr(self, capability)
        return value is not None and value is not False

    def why_not(self, capability: Capability) -> str:
        """Why this capability is missing (empty when it is not)."""
        return self.reasons.get(capability, "")

    @classmethod
    def unserved(cls, source_type: str) -> Capabilities:
        """The declaration of a type no connector serves: nothing, for the same reason."""
        reason = f"no connector serves depot type '{source_type}' yet"
        return cls(None, False, False, None, False, False, dict.fromkeys(CAPABILITIES, reason))
