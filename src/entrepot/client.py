"""The Python SDK: `entrepot.Client().sql("...")` over the same services the CLI uses.

    import entrepot
    client = entrepot.Client()
    table = client.sql("SELECT * FROM postgres.public.orders WHERE amount > 100")  # pyarrow
    df = table.to_pandas()                  # or polars.from_arrow(table)
    for batch in client.stream("SELECT * FROM postgres.public.big"):  # bounded memory
        ...
    orders = client.read("dataos://postgres:public/orders")

A thin front end: no logic of its own beyond the session it keeps (one engine, depots stay
attached between statements).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from entrepot.query.inputs import check_statement

if TYPE_CHECKING:
    import pyarrow as pa

    from entrepot.query.engine import Engine
    from entrepot.services.context import RequestContext


class Client:
    """A session over the local store (`home`, default $ENTREPOT_HOME or ~/.entrepot)."""

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        acl: str = "r",
        timeout: float | None = 300.0,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        from entrepot.config import load_settings
        from entrepot.query.engine import Options
        from entrepot.query.inputs import check_limits
        from entrepot.services import identity
        from entrepot.services import query as query_service

        check_limits(timeout, threads)  # before anything is opened
        settings = load_settings(Path(home) if home is not None else None)
        # The session's request context: the local acting user ($ENTREPOT_USER, else the OS
        # user), who must be a user of the store.
        self.context: RequestContext = identity.for_local_user(settings, front_end="sdk")
        self.engine: Engine = query_service.engine(
            self.context,
            Options(acl=acl, timeout=timeout, memory_limit=memory_limit, threads=threads),
        )

    def sql(self, statement: str) -> pa.Table:
        """Run SQL over the depots; the last statement's result as a pyarrow Table."""
        check_statement(statement)
        return self.engine.sql(statement)

    def stream(self, statement: str) -> Iterator[pa.RecordBatch]:
        """The result as Arrow record batches, produced while the source is read."""
        check_statement(statement)
        yield from self.engine.execute(statement)

    def read(self, address: str, *, columns: list[str] | None = None) -> pa.Table:
        """One dataset by address: `dataos://depot:collection/dataset`."""
        from entrepot.query.sqltext import quote_ident

        projection = ", ".join(quote_ident(c) for c in columns) if columns else "*"
        return self.sql(f"SELECT {projection} FROM {quote_ident(address)}")

    def close(self) -> None:
        self.engine.close()
        self.context.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
