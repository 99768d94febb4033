"""Connectors: one module per source type, each owning its whole connection story.

A connector knows the secret keys its source needs (and says which key of which instance secret
is missing), runs a stepwise `check` (dns, tcp, tls, auth, open, list, read, write) within a
deadline, and renders one resolved connection for each consumer (DuckDB, Spark, Trino, SDKs).
`base.py` holds the step runner and the in-memory `ResolvedConnection`; `net.py` the network
steps every networked source shares. The registry below maps depot source types to modules,
imported only when used. Connectors import `entrepot.errors`, `entrepot.resources` (block models)
and `entrepot.secrets.redact`; never the store or a front end (the service hands them values).

Adding a source: one module here with a `CONNECTOR`, and one line in `MODULES`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from entrepot.connectors.base import Connector

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


def served_types() -> list[str]:
    return sorted(MODULES)
