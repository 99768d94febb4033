"""Queries, as a use case: an engine session over the depots the actor may read, and the
hand-offs to engines for scale (Spark reads, Trino catalog export).

The orchestrators (query/engine.py, query/spark.py, query/trino_export.py) receive a
`DepotAccess` bound to the request context and one purpose, never the service: each depot they
use is authorized (`dataset:read`, `dataset:write` with `--acl rw`, `depot:export`), decrypted
and audited through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from entrepot.services.context import RequestContext

if TYPE_CHECKING:
    from entrepot.query.engine import Engine, Options
    from entrepot.query.trino_export import TrinoExport


def engine(ctx: RequestContext, options: Options | None = None) -> Engine:
    from entrepot.query.engine import Engine
    from entrepot.services.connections import depot_access

    return Engine(depot_access(ctx, "query"), options)


def spark_read(ctx: RequestContext, spark: Any, address: str, **options: Any) -> Any:
    """A lazy pyspark DataFrame over one dataset (`entrepot.spark.read`'s keyword options)."""
    from entrepot.query.spark import read
    from entrepot.services.connections import depot_access

    return read(spark, address, access=depot_access(ctx, "spark"), **options)


def export_trino(
    ctx: RequestContext,
    names: Sequence[str] = (),
    directory: Path | str = "etc/catalog",
    env_file: Path | str | None = None,
    *,
    dry_run: bool = False,
) -> TrinoExport:
    """Trino catalog files for `names` (default: every depot the actor may export) and their
    env file; with `dry_run`, rendered and not written."""
    from entrepot.query.trino_export import export_trino as export
    from entrepot.services.connections import depot_access

    return export(depot_access(ctx, "export"), names, directory, env_file, dry_run=dry_run)
