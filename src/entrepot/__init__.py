"""Entrepôt: describe each data source once, store its credentials safely, verify, scan, query.

The package is organised one folder a concern (see docs/architecture.md). This top-level module
stays import-free so that `entrepot get` starts fast.
"""

__version__ = "0.1.0"
