"""The CLI's request context: the local acting user ($ENTREPOT_USER, else the OS user), for
one command. Every command that reaches the service layer runs inside `request()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from entrepot.services.context import RequestContext


@contextmanager
def request() -> Iterator[RequestContext]:
    from entrepot.config import load_settings
    from entrepot.services import identity

    ctx = identity.for_local_user(load_settings(), front_end="cli")
    try:
        yield ctx
    finally:
        ctx.close()
