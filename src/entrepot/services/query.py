"""Queries, as a use case: an engine session over the depots the actor may read.

The engine (query/engine.py) receives a `DepotAccess` for queries, never the service: each
depot a statement names is authorized (`dataset:read`; `dataset:write` with `--acl rw`),
decrypted and audited through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from entrepot.services.context import RequestContext

if TYPE_CHECKING:
    from entrepot.query.engine import Engine, Options


def engine(ctx: RequestContext, options: Options | None = None) -> Engine:
    from entrepot.query.engine import Engine
    from entrepot.services.connections import depot_access

    return Engine(depot_access(ctx, "query"), options)
