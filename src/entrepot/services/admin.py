"""Administration, as a use case: master key rotation and the audit trail.

Rotating needs Manage Master Key (`key:rotate`), reading the trail Read Audit Trail
(`audit:read`): operators have both by default.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from entrepot.access.decide import Target
from entrepot.services.context import KEY_LOCK_WAIT, RequestContext

if TYPE_CHECKING:
    from entrepot.secrets.crypto import MasterKey


def rotate_master_key(ctx: RequestContext, wait: float = KEY_LOCK_WAIT) -> tuple[int, str]:
    """Re-wrap every data key under a new master key. Returns (count, new key id).

    With the key in `master.key`, one rotation runs at a time (a lock file); another waits
    up to `wait` seconds for it, then is refused (RefusedError, exit 5).
    """
    from entrepot.errors import StoreError
    from entrepot.secrets import crypto

    ctx.ensure("key:rotate", Target("key"))
    if not os.environ.get("ENTREPOT_MASTER_KEY"):
        with ctx.master_key_lock(exclusive=True, wait=wait):
            # Under the lock: the keyring and any `master.key.next` are the current ones.
            new_key = crypto.begin_rotation(ctx.settings.home)
            count = _rewrap(ctx, new_key)
            crypto.finish_rotation(ctx.settings.home)
        return count, new_key.id
    raw = os.environ.get("ENTREPOT_NEW_MASTER_KEY")
    if not raw:
        raise StoreError(
            "the master key comes from ENTREPOT_MASTER_KEY, so the new one must too",
            hint="set ENTREPOT_NEW_MASTER_KEY to a new key, rotate, then make it "
            "ENTREPOT_MASTER_KEY",
        )
    new_key = crypto.MasterKey.parse(raw, "ENTREPOT_NEW_MASTER_KEY")
    count = _rewrap(ctx, new_key)
    ctx.forget_keyring()
    return count, new_key.id


def _rewrap(ctx: RequestContext, new_key: MasterKey) -> int:
    from entrepot.store import now

    keyring = ctx.keyring
    keyring.keys[new_key.id] = new_key
    audit = {
        "at": now(),
        "actor": ctx.actor.name,
        "action": "rotate-key",
        "resource_type": None,
        "resource_name": None,
        "purpose": f"master key {keyring.current.id} -> {new_key.id}",
    }
    return ctx.store.rotate(keyring, new_key, audit)


def audit_events(ctx: RequestContext, limit: int = 100) -> list[dict[str, Any]]:
    ctx.ensure("audit:read", Target("audit"))
    return ctx.store.audit_events(limit)
