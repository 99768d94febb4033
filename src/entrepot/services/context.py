"""The request context: who is acting, and the one unit of work their request runs in.

Every public service operation takes a `RequestContext` first. Front ends build it: the CLI from
the acting local user (`for_local_user`), the SDK from its `Client`, the server (later) from a
token. Nothing below the service layer reads the acting user from the environment.

A context holds:
- the **actor** (name and tags) and its **authorizer** (stored use-case grants and policies,
  loaded once); `ensure(action, target)` is the choke point: it decides, and audits a refusal;
- the **audit sink** (`audit(...)`): events of this request, written through its reader;
- a **redaction scope**: the secret values this request decrypted or read are scrubbed from its
  output (`secrets.redact.redaction_scope`);
- one **reader** of the store for the request (the stdlib `sqlite3` fast path on the embedded
  store), and the write-path `Store` when an operation writes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from entrepot.access.decide import Actor, Decision, Target
from entrepot.config import Settings
from entrepot.errors import ExitCode, RefusedError

if TYPE_CHECKING:
    from entrepot.access.decide import Authorizer
    from entrepot.secrets.crypto import Keyring
    from entrepot.store.reader import Reader
    from entrepot.store.store import Store


# How long a key rotation or an apply waits for a rotation running in another process.
KEY_LOCK_WAIT = 60.0


class Forbidden(RefusedError):
    """The authorization function said no. The message names the rule that decided."""

    exit_code = ExitCode.REFUSED


@dataclass
class RequestContext:
    settings: Settings
    user_name: str  # who acts, known before the store is opened
    front_end: str = "cli"  # cli | sdk | server
    bootstrap: bool = False  # the store has no user yet: the actor becomes its first operator
    # The actor (name and tags) is resolved from the store on first use, so that a command
    # whose input is invalid fails on its input before the store is opened.
    _actor: Actor | None = field(default=None, repr=False)
    _resolve: Callable[[RequestContext], Actor] | None = field(default=None, repr=False)
    _reader: Reader | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)
    _keyring: Keyring | None = field(default=None, repr=False)
    _authorizer: Authorizer | None = field(default=None, repr=False)
    _scope: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            assert self._resolve is not None, "a context needs an actor or a way to find it"
            self._actor = self._resolve(self)
        return self._actor

    @actor.setter
    def actor(self, actor: Actor) -> None:
        self._actor = actor

    # --- the unit of work -----------------------------------------------------------------

    @property
    def reader(self) -> Reader:
        """The request's read connection (opened on first use, closed with the context)."""
        if self._reader is None:
            from entrepot.store import reader

            self._reader = reader.open_reader(self.settings)
        return self._reader

    @property
    def store(self) -> Store:
        """The write path. Creating the store makes a bootstrapping actor its first user."""
        if self._store is None:
            from entrepot.store.store import Store

            self._store = Store(self.settings)
        self.actor  # noqa: B018 (resolving the actor tells whether this store needs its first user)
        if self.bootstrap:
            from entrepot.services import identity

            self.bootstrap = False
            identity.create_first_user(self)
        return self._store

    def fresh_reader(self) -> None:
        """Drop the read connection (after writes through the store, or a store just made)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            from entrepot.config import ensure_private_dir
            from entrepot.secrets.crypto import Keyring

            if not os.environ.get("ENTREPOT_MASTER_KEY"):
                ensure_private_dir(self.settings.home)
            self._keyring = Keyring.load(self.settings.home)
        return self._keyring

    def forget_keyring(self) -> None:
        self._keyring = None

    @contextlib.contextmanager
    def master_key_lock(self, *, exclusive: bool, wait: float = KEY_LOCK_WAIT) -> Iterator[None]:
        """Hold the master key file still: exclusively to rotate it, shared to wrap new data
        keys under it. The keyring is (re)loaded under the lock, so an apply never wraps a data
        key under a master key that a rotation has just retired.

        A key given in ENTREPOT_MASTER_KEY is the operator's to switch: no file, no lock.
        """
        from entrepot.config import ensure_private_dir
        from entrepot.secrets import crypto

        if os.environ.get("ENTREPOT_MASTER_KEY"):
            yield
            return
        ensure_private_dir(self.settings.home)
        with crypto.master_key_lock(self.settings.home, exclusive=exclusive, wait=wait):
            self._keyring = None
            try:
                yield
            finally:
                self._keyring = None  # later readers reload: the key may change after this

    def scoped_redaction(self) -> RequestContext:
        """Keep the secret values this request meets to its own output (a server's request;
        the CLI's process is one request). Ends with `close()`."""
        from entrepot.secrets.redact import redaction_scope

        self._scope.enter_context(redaction_scope())
        return self

    def close(self) -> None:
        self.fresh_reader()
        if self._store is not None:
            self._store.close()
            self._store = None
        self._scope.close()

    def __enter__(self) -> RequestContext:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # --- authorization: the choke point ---------------------------------------------------

    @property
    def authorizer(self) -> Authorizer:
        if self._authorizer is None:
            from entrepot.services import identity

            self._authorizer = identity.load_authorizer(self)
        return self._authorizer

    def decide(self, action: str, target: Target) -> Decision:
        return self.authorizer.decide(self.actor, action, target)

    def ensure(self, action: str, target: Target, *, doing: str | None = None) -> Decision:
        """Allowed, or Forbidden (audited) naming the rule that decided and what would grant it."""
        decision = self.decide(action, target)
        if not decision:
            self.refuse(action, target, decision, doing=doing)
        return decision

    def refuse(
        self, action: str, target: Target, decision: Decision, *, doing: str | None = None
    ) -> None:
        what = doing or describe(action, target)
        self.audit_refusal(action, target, decision)
        hint = None
        if decision.missing:
            hint = "granted by the use case " + " or ".join(decision.missing)
            kind, verb = action.split(":", 1)
            subject = f"{target.kind}/{target.name}" if target.name else f"{kind}s"
            if target.kind == "dataset":
                subject = target.address or f"dataos://{target.name}:*/*"
                subject = subject if subject.count(":") > 1 else f"{subject}:*/*"
            hint += f"; ask an operator, or check with: entrepot auth can-i {verb} {subject}"
        raise Forbidden(f"user '{self.actor.name}' may not {what}: {decision.rule}", hint=hint)

    # --- the audit sink -------------------------------------------------------------------

    def audit(self, events: list[dict[str, Any]]) -> None:
        """Append events (action, resource_type, resource_name, purpose, detail) as this actor."""
        if not events:
            return
        from entrepot.store import now
        from entrepot.store import reader as reader_module

        stamp = now()
        rows = [
            {
                "at": stamp,
                "actor": self.actor.name,
                "resource_type": None,
                "resource_name": None,
                "purpose": None,
                "detail": None,
                **event,
            }
            for event in events
        ]
        if not self.settings_has_store():
            return  # nothing stored yet: no trail to append to (and nothing to protect)
        reader_module.record_audit(self.reader, rows)

    def audit_refusal(self, action: str, target: Target, decision: Decision) -> None:
        self.audit(
            [
                {
                    "action": "deny",
                    "resource_type": target.kind,
                    "resource_name": target.name or target.address,
                    "purpose": action,
                    "detail": decision.rule,
                }
            ]
        )

    def settings_has_store(self) -> bool:
        path = self.settings.sqlite_path
        return path is None or path.exists()


def describe(action: str, target: Target) -> str:
    """What the actor asked, for messages: "list everyone's depots", "delete depot 'x'",
    "read the data of dataos://x:public/orders"."""
    from entrepot.access.actions import ACTIONS

    kind, verb = action.split(":", 1)
    if kind == "dataset":
        what = target.address if target.address and target.address.count(":") > 1 else None
        what = what or f"depot '{target.name}'"
        return f"{'read' if verb == 'read' else 'write'} the data of {what}"
    if not target.name:
        return ACTIONS[action].summary
    phrase = {"unsanitize": "read the values of", "grant": "grant or revoke"}.get(verb, verb)
    return f"{phrase} {kind.replace('usecase', 'use case')} '{target.name}'"
