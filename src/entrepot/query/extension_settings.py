"""Options of DuckDB's source scanners that decide what source column types become in queries.

The engine sets them right after loading an extension, before it locks the configuration (so no
statement can change them back). What no option changes (PostgreSQL domains and unconstrained
numerics) is documented in the README, under "Column types".
"""

from __future__ import annotations

SETTINGS: dict[str, dict[str, bool]] = {
    "mysql": {
        # TINYINT(1) holds -128..127, and MySQL's BOOLEAN is only its alias, so the two cannot
        # be told apart: read as BOOLEAN (the scanner's default), 2 and -5 would become true.
        # BIT(1) holds 0 or 1 only, so it stays a BOOLEAN (mysql_bit1_as_boolean).
        "mysql_tinyint1_as_boolean": False,
    },
}


def statements(extension: str) -> list[str]:
    """The SET statements for `extension` (a key of engine.EXTENSIONS), to run after its LOAD."""
    return [
        f"SET {name} = {'true' if value else 'false'}"
        for name, value in SETTINGS.get(extension, {}).items()
    ]
