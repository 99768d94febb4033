"""Federated SQL over depots, without moving the data.

Owns the embedded engine (DuckDB 1.5.5 with its extensions loaded by path from their PyPI
wheels, offline), how depots become catalogs and datasets become tables, the read-only and
write rules, and the hand-offs to engines for scale (Spark reads, Trino catalog export).
An orchestrator layer: it may import `connectors` (the renderings and capabilities of each
depot's connection), `catalog.model`, `resources.depot_types`, `secrets.redact`, `errors` and
`config`. It reaches depots, the catalog and decrypted credentials only through the
`DepotAccess` it is handed (services.query builds it), and never imports the services or
`secrets.crypto` (the `layers`, `services-on-top` and `decryption` contracts; a `DepotAccess`
annotation under TYPE_CHECKING aside).
"""
