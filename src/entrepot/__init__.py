"""Entrepôt: describe each data source once, store its credentials safely, verify, scan, query.

The package is organised one folder a concern (see docs/architecture.md). This top-level module
stays import-free so that `entrepot get` starts fast.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`entrepot.Client` without importing the SDK (and DuckDB) on every CLI start."""
    if name == "Client":
        from entrepot.client import Client

        return Client
    raise AttributeError(name)
