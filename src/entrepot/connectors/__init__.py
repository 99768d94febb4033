"""Connectors: one module per source type, each owning its whole connection story.

A connector knows the secret keys its source needs (and says which key of which instance secret
is missing), runs a stepwise `check` (dns, tcp, tls, auth, open, list, read, write) within a
deadline, and renders one resolved connection for each consumer (DuckDB, Spark, Trino, SDKs).
What it can do is declared once, on its class (`capabilities.Capabilities`); every consumer and
every hint reads that declaration through `capabilities()` and `types_with()`.
`base.py` holds the step runner and the in-memory `ResolvedConnection`; `net.py` the network
steps every networked source shares. The registry below maps depot source types to modules,
imported only when used (a PostgreSQL query imports no other connector). Connectors import
`entrepot.errors`, `entrepot.resources` (block models), `entrepot.secrets.redact` and
`entrepot.catalog.model` (the datasets a scan returns); never the store or the services, even
indirectly (the `connectors-handed-values` contract): services/connections.py decrypts and
hands them a `ResolvedConnection`.

Adding a source: one module here with a `CONNECTOR` whose class declares `source_types` and
`capabilities`, and one line in `MODULES`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from entrepot.connectors.capabilities import Capabilities, Capability

if TYPE_CHECKING:
    from entrepot.connectors.base import Connector

# Source type -> module, in the order hints list them (databases first). Lookup only: what each
# type can do is its connector's declaration.
MODULES = {
    "postgresql": "entrepot.connectors.postgresql",
    "mysql": "entrepot.connectors.mysql",
    "abfss": "entrepot.connectors.azure",
    "wasbs": "entrepot.connectors.azure",
    "s3": "entrepot.connectors.s3",
    "gcs": "entrepot.connectors.gcs",
    "file": "entrepot.connectors.file",
}


def get_connector(source_type: str) -> Connector | None:
    """The connector serving a (canonical) depot source type, or None."""
    module = MODULES.get(source_type)
    if module is None:
        return None
    connector: Connector = importlib.import_module(module).CONNECTOR
    return connector


def capabilities(source_type: str) -> Capabilities:
    """What Entrepôt can do with depots of this (canonical) type: its connector's declaration,
    or, for a type no connector serves, nothing, with that reason."""
    connector = get_connector(source_type)
    if connector is None:
        return Capabilities.unserved(source_type or "?")
    return connector.capabilities


def types_with(capability: Capability) -> list[str]:
    """The source types that declare `capability`, in registry order: what hints list."""
    return [t for t in MODULES if capabilities(t).has(capability)]


def served_types() -> list[str]:
    return sorted(MODULES)
