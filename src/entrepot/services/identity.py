"""Identity and access, as a use case: who the actor is, users and their tags, use-case grants,
and `auth can-i`.

Every user carries `users:id:NAME` and `roles:id:user`; other tags are stored. On a store with no
users yet, the acting user becomes its first operator (so a single-user CLI, and `make demo`,
work as before). Locally the acting user is `$ENTREPOT_USER` or the OS user, and must be a
stored user: whoever can read the embedded store's master key holds everything anyway, so local
users model the server's rules; they are not a security boundary. The server is.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from entrepot.access.decide import Actor, Authorizer, Decision, Target
from entrepot.access.usecases import OPERATOR, USE_CASES, USER, UseCase, default_grants
from entrepot.config import Settings
from entrepot.errors import EntrepotError, ExitCode, NotFoundError, RefusedError
from entrepot.services.context import RequestContext

# namespace:kind:value, as DataOS writes them: users:id:alice, roles:id:data-dev,
# dataos:u:people-DW:user.
TAG = re.compile(r"[a-z][a-z0-9_-]*(:[A-Za-z0-9_.@*-]+){2,}")
USER_NAME = re.compile(r"[a-z0-9][-a-z0-9_.@]{0,127}")


def implicit_tags(name: str) -> list[str]:
    return [f"users:id:{name}", USER]


def actor_of(name: str, stored: list[str]) -> Actor:
    return Actor(name, frozenset([*implicit_tags(name), *stored]))


@dataclass
class UserView:
    name: str
    tags: list[str]  # every tag, implicit ones first
    changed: list[str] = field(default_factory=list)  # tags a change added or removed

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.name, "tags": self.tags}


# --- the acting user -------------------------------------------------------------------------


def for_local_user(settings: Settings, *, front_end: str = "cli") -> RequestContext:
    """The context of the local acting user (`$ENTREPOT_USER`, else the OS user); who they are
    in the store is read on first use."""
    return for_user(settings, settings.user, front_end=front_end)


def for_user(settings: Settings, name: str, *, front_end: str = "cli") -> RequestContext:
    """The context of user `name` (the server: the token's user; tests: anyone)."""
    return RequestContext(settings, name, front_end, _resolve=_local_actor)


def _local_actor(ctx: RequestContext) -> Actor:
    from entrepot.store import reader as reader_module

    name = ctx.user_name
    if not ctx.settings_has_store():
        ctx.bootstrap = True
        return actor_of(name, [OPERATOR])
    found = reader_module.users(ctx.reader, [name])
    if name in found:
        return actor_of(name, found[name])
    if reader_module.has_users(ctx.reader):
        raise RefusedError(
            f"user '{name}' is not a user of this store",
            hint="an operator adds it: entrepot user create "
            f"{name} [--tag roles:id:data-dev]; the local acting user is $ENTREPOT_USER, "
            "else your OS user (entrepot user get -a lists them)",
        )
    # A store made before users existed: its acting user becomes the first operator.
    ctx.actor = actor = actor_of(name, [OPERATOR])
    create_first_user(ctx)
    return actor


def create_first_user(ctx: RequestContext) -> None:
    """The first user of a store is an operator (audited like any user creation)."""
    from entrepot.store import reader as reader_module

    store = ctx.store
    store.migrate()
    ctx.fresh_reader()  # the store may have just been created
    if reader_module.has_users(ctx.reader):
        return  # another process bootstrapped first; the actor must then be a stored user
    event = _as(ctx, _event("create", ctx.actor.name, f"first user of this store: {OPERATOR}"))
    with contextlib.suppress(EntrepotError):  # created meanwhile by a concurrent first command
        store.put_user(ctx.actor.name, [OPERATOR], ctx.actor.name, [event], new=True)
    ctx.fresh_reader()


def load_authorizer(ctx: RequestContext) -> Authorizer:
    from entrepot.access.policy import Rule
    from entrepot.store import reader as reader_module

    if not ctx.settings_has_store():
        return Authorizer(default_grants(), [])
    grants = reader_module.usecase_grants(ctx.reader)
    rules = []
    for name, manifest in reader_module.policies(ctx.reader):
        access = (manifest.get("policy") or {}).get("access") or {}
        # Stored in validated form (allow a boolean, predicates lower case). Checked, not
        # trusted, without pydantic on every command's path: a text "false" must never allow.
        if not isinstance(access.get("allow"), bool) or not access.get("predicates"):
            from entrepot.resources.policy import rules_from_manifest

            rules += rules_from_manifest(name, manifest)  # says what is wrong with it
            continue
        rules.append(Rule.of(name, access))
    return Authorizer(grants, rules)


# --- users -------------------------------------------------------------------------------------


def get_users(
    ctx: RequestContext, name: str | None = None, *, everyone: bool = False
) -> list[UserView]:
    """`user get [NAME]` (yourself by default), `user get -a`."""
    from entrepot.store import reader as reader_module

    if everyone:
        ctx.ensure("user:list", Target("user"))
        stored = reader_module.users(ctx.reader) if ctx.settings_has_store() else {}
        if ctx.bootstrap:
            stored[ctx.actor.name] = [OPERATOR]
        return [_view(n, tags) for n, tags in sorted(stored.items())]
    name = name or ctx.actor.name
    ctx.ensure("user:read", Target("user", name, owner=name))
    if name == ctx.actor.name:
        return [UserView(name, _ordered(ctx.actor.tags, name))]
    found = reader_module.users(ctx.reader, [name]) if ctx.settings_has_store() else {}
    if name not in found:
        raise NotFoundError(f"user '{name}' not found", hint="entrepot user get -a lists them")
    return [_view(name, found[name])]


def create_user(ctx: RequestContext, name: str, tags: list[str]) -> UserView:
    _check_name(name)
    extra = _stored_tags(name, tags)
    ctx.ensure("user:create", Target("user", name))
    event = _event("create", name, "tags " + (", ".join(extra) or "(none beyond the implicit)"))
    ctx.store.put_user(name, extra, ctx.actor.name, [_as(ctx, event)], new=True)
    ctx.fresh_reader()
    return _view(name, extra)


def change_tags(
    ctx: RequestContext,
    name: str,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> UserView:
    from entrepot.store import reader as reader_module

    ctx.ensure("user:update", Target("user", name))
    found = reader_module.users(ctx.reader, [name])
    if name not in found:
        raise NotFoundError(f"user '{name}' not found", hint="entrepot user get -a lists them")
    for tag in remove:
        if tag in implicit_tags(name):
            raise EntrepotError(
                f"'{tag}' is carried by every user named '{name}': it cannot be removed",
                hint="remove the user instead: entrepot user delete " + name,
                exit_code=ExitCode.INVALID,
            )
    tags = [t for t in found[name] if t not in remove]
    tags += [t for t in _stored_tags(name, list(add)) if t not in tags]
    if tags == found[name]:
        return _view(name, tags)
    changed = [t for t in tags if t not in found[name]] + [t for t in found[name] if t not in tags]
    detail = "; ".join(
        part
        for part in (
            f"added {', '.join(add)}" if add else "",
            f"removed {', '.join(remove)}" if remove else "",
        )
        if part
    )
    ctx.store.put_user(
        name, tags, ctx.actor.name, [_as(ctx, _event("update", name, detail))], new=False
    )
    ctx.fresh_reader()
    view = _view(name, tags)
    view.changed = changed
    return view


def delete_user(ctx: RequestContext, name: str) -> None:
    from entrepot.store import reader as reader_module

    ctx.ensure("user:delete", Target("user", name))
    if name not in reader_module.users(ctx.reader, [name]):
        raise NotFoundError(f"user '{name}' not found", hint="entrepot user get -a lists them")
    if name == ctx.actor.name:
        raise RefusedError("you cannot delete yourself", hint="another operator deletes your user")
    ctx.store.delete_user(name, [_as(ctx, _event("delete", name, "user deleted"))])
    ctx.fresh_reader()


# --- use cases ---------------------------------------------------------------------------------


def use_cases(ctx: RequestContext) -> list[tuple[UseCase, list[str]]]:
    """The catalogue, each with the tags it is granted to."""
    from entrepot.store import reader as reader_module

    ctx.ensure("usecase:list", Target("usecase", owner=ctx.actor.name))
    grants = (
        reader_module.usecase_grants(ctx.reader) if ctx.settings_has_store() else default_grants()
    )
    by_id: dict[str, list[str]] = {}
    for usecase, tag in grants:
        by_id.setdefault(usecase, []).append(tag)
    return [(uc, sorted(by_id.get(uc.id, []))) for uc in USE_CASES.values()]


def set_grant(ctx: RequestContext, usecase: str, tag: str, *, granted: bool) -> bool:
    """Grant or revoke a use case to a tag; False when nothing changed."""
    found = find_use_case(usecase)
    _check_tag(tag)
    ctx.ensure("usecase:grant", Target("usecase", found.id))
    verb = "grant" if granted else "revoke"
    event = {
        "action": verb,
        "resource_type": "usecase",
        "resource_name": found.id,
        "purpose": f"usecase {verb}",
        "detail": f"{found.name} {'to' if granted else 'from'} {tag}",
    }
    changed = ctx.store.set_grant(found.id, tag, ctx.actor.name, granted, [_as(ctx, event)])
    ctx.fresh_reader()
    ctx._authorizer = None  # the next decision sees the change
    return changed


def find_use_case(text: str) -> UseCase:
    """By id, or by name (case-insensitive): `manage-all-depot`, "Manage All Depot"."""
    wanted = text.strip().lower()
    for uc in USE_CASES.values():
        if wanted in (uc.id, uc.name.lower()):
            return uc
    import difflib

    close = difflib.get_close_matches(wanted, list(USE_CASES), n=1)
    raise NotFoundError(
        f"use case '{text}' not found" + (f", did you mean '{close[0]}'?" if close else ""),
        hint="entrepot usecase ls lists them",
    )


# --- can-i -------------------------------------------------------------------------------------


def can_i(
    ctx: RequestContext, action: str, target: Target, *, as_user: str | None = None
) -> Decision:
    """The decision for `action` on `target`, as the actor or (with user:read on them) as
    another user. Asking is not doing: nothing is audited but the impersonation."""
    actor = ctx.actor
    if as_user and as_user != actor.name:
        from entrepot.store import reader as reader_module

        ctx.ensure("user:read", Target("user", as_user))
        found = reader_module.users(ctx.reader, [as_user]) if ctx.settings_has_store() else {}
        if as_user not in found:
            raise NotFoundError(f"user '{as_user}' not found", hint="entrepot user get -a")
        actor = actor_of(as_user, found[as_user])
    return ctx.authorizer.decide(actor, action, target)


# --- helpers -----------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not USER_NAME.fullmatch(name):
        raise EntrepotError(
            f"invalid user name '{name[:60]}'",
            hint="lowercase letters, digits and - _ . @, starting with a letter or digit, "
            "at most 128 characters",
            exit_code=ExitCode.INVALID,
        )


def _check_tag(tag: str) -> None:
    if not TAG.fullmatch(tag):
        raise EntrepotError(
            f"invalid tag '{tag[:80]}'",
            hint="a tag reads namespace:kind:value, e.g. roles:id:data-dev or users:id:alice",
            exit_code=ExitCode.INVALID,
        )


def _stored_tags(name: str, tags: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        _check_tag(tag)
        if tag.startswith("users:id:") and tag != f"users:id:{name}":
            raise EntrepotError(
                f"'{tag}' names another user",
                hint=f"users:id: tags are implicit: '{name}' carries users:id:{name}",
                exit_code=ExitCode.INVALID,
            )
        if tag not in implicit_tags(name) and tag not in out:
            out.append(tag)
    return out


def _ordered(tags: frozenset[str], name: str) -> list[str]:
    implicit = implicit_tags(name)
    return implicit + sorted(t for t in tags if t not in implicit)


def _view(name: str, stored: list[str]) -> UserView:
    return UserView(name, _ordered(frozenset(stored), name))


def _event(action: str, name: str, detail: str) -> dict[str, Any]:
    return {"action": action, "resource_type": "user", "resource_name": name,
            "purpose": f"user {action}", "detail": detail}  # fmt: skip


def _as(ctx: RequestContext, event: dict[str, Any]) -> dict[str, Any]:
    from entrepot.store import now

    return {"at": now(), "actor": ctx.actor.name, **event}


# --- questions, as `auth can-i` takes them ------------------------------------------------------

_PLURALS = {
    "depots": "depot",
    "instance-secrets": "instance-secret",
    "secrets": "instance-secret",
    "secret": "instance-secret",
    "workflows": "workflow",
    "policies": "policy",
    "users": "user",
    "usecases": "usecase",
    "use-cases": "usecase",
    "datasets": "dataset",
}
_VERB_ALIASES = {"query": "dataset:read", "write": "dataset:write", "get": "read"}


def question(
    ctx: RequestContext, verb: str, subject: str, workspace: str = "public"
) -> tuple[str, Target]:
    """`can-i VERB SUBJECT` as an action and its target. SUBJECT is a kind (`depots`), a kind
    and name (`depot/sales`), a `dataos://` address, or an API path with an HTTP method
    (`can-i get /ds/api/v2/depots`)."""

    verb = verb.strip().lower()
    if subject.startswith("/"):
        return _route_question(verb, subject)
    if subject.startswith("dataos://"):
        rest = subject.removeprefix("dataos://")
        depot = rest.split(":", 1)[0]
        row = _stored_row(ctx, "depot", depot)
        owner, layer = (row.owner, row.layer) if row else (None, None)
        if ":" in rest:
            action = _VERB_ALIASES.get(verb, f"dataset:{verb}")
            action = action if ":" in action else f"dataset:{action}"
            return _known(action), Target("dataset", depot, owner, layer, address=subject)
        action = _VERB_ALIASES.get(verb, verb)
        action = action if ":" in action else f"depot:{action}"
        return _known(action), Target("depot", depot, owner, layer)
    kind, _, name = subject.partition("/")
    kind = _PLURALS.get(kind.lower(), kind.lower())
    action = verb if ":" in verb else _VERB_ALIASES.get(verb, verb)
    if ":" not in action:
        action = f"{kind}:{action}"
    _known(action)
    if not name:
        owner = ctx.actor.name if action.endswith(":list") else None
        return action, Target(kind, owner=owner, workspace=workspace)
    row = _stored_row(ctx, kind, name, workspace)
    if kind == "user":
        return action, Target("user", name, owner=name)
    if row is None:
        return action, Target(kind, name, workspace=workspace)
    return action, Target(kind, name, row.owner, row.layer, row.workspace or None)


def _stored_row(ctx: RequestContext, kind: str, name: str, workspace: str = "public") -> Any:
    from entrepot.store import reader as reader_module

    if (
        kind not in ("depot", "instance-secret", "workflow", "policy")
        or not ctx.settings_has_store()
    ):
        return None
    ws = workspace if kind == "workflow" else ""
    return reader_module.resources_named(ctx.reader, kind, [name], ws).get(name)


def _known(action: str) -> str:
    from entrepot.access.actions import ACTIONS

    if action not in ACTIONS:
        import difflib

        close = difflib.get_close_matches(action, list(ACTIONS), n=3)
        raise EntrepotError(
            f"no action '{action}'",
            hint="actions: " + (", ".join(close) if close else ", ".join(sorted(ACTIONS))),
            exit_code=ExitCode.USAGE,
        )
    return action


def _route_question(method: str, path: str) -> tuple[str, Target]:
    """The action whose route this method and path are (the same on the CLI and over HTTP)."""
    from entrepot.access.actions import ACTIONS

    path = path.rstrip("/") or "/"
    for action in ACTIONS.values():
        if action.method.lower() != method:
            continue
        pattern = re.escape(action.route).replace(r"\{name\}", "(?P<name>[^/]+)")
        pattern = pattern.replace(r"\{workspace\}", "(?P<workspace>[^/]+)")
        match = re.fullmatch(pattern, path)
        if match:
            found = match.groupdict()
            # GET on a collection asks for the listing of everyone's (what -a shows).
            name = (
                action.name.replace(":list", ":list-all") if action.verb == "list" else action.name
            )
            return name, Target(action.kind, found.get("name"), workspace=found.get("workspace"))
    raise EntrepotError(
        f"no action answers {method.upper()} {path}",
        hint="e.g. entrepot auth can-i get /ds/api/v2/depots",
        exit_code=ExitCode.USAGE,
    )
