"""Federated SQL over depots, without moving the data.

Owns the embedded engine (DuckDB 1.5.5 with its extensions loaded by path from their PyPI
wheels, offline), how depots become catalogs and datasets become tables, the read-only and
write rules, and the hand-offs to engines for scale (Spark reads, Trino catalog export).
May import `connectors/` (the renderings of each depot's connection), `catalog/` (which datasets
an object-storage depot holds), `secrets/redact` and `errors`; reaches the store and the
decryption of secrets only through the `Service` it is given.
"""
