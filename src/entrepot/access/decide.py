"""The one authorization function, and what a listing may show.

`Authorizer.decide(actor, action, target)` answers every question of access the same way:

1. an explicit **deny** policy that applies to one of the actor's tags and matches the action's
   route (method and path) or its `dataos://` address refuses, whatever else allows;
2. **ownership** grants what the action declares owners may do;
3. a **use case** granted to one of the actor's tags grants its actions (some under a condition);
4. an **allow** policy grants;
5. otherwise the answer is no (deny by default).

The answer names the rule that decided. `visible(actor, kind, all_owners)` turns the same rules
into a filter the store applies in SQL, so listings never fetch what they must not show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from entrepot.access.actions import ACTIONS, Action
from entrepot.access.policy import Rule, glob, like_pattern
from entrepot.access.usecases import ALL, READABLE, USE_CASES, USER_LAYER, granting


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user name and every tag they carry (`users:id:NAME`, roles, ...)."""

    name: str
    tags: frozenset[str]


@dataclass(frozen=True)
class Target:
    """What an action is on. Fields unknown or irrelevant stay None."""

    kind: str
    name: str | None = None
    owner: str | None = None
    layer: str | None = None
    workspace: str | None = None
    address: str | None = None  # dataos://depot[:collection/dataset] for data actions


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str  # what decided, in words: "use case 'Manage All Depot' (manage-all-depot)"
    via: str  # deny-policy | ownership | use-case | allow-policy | default
    missing: tuple[str, ...] = ()  # when refused by default: use cases that would grant it

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Visibility:
    """Which rows of a kind a listing shows: the store renders it as a WHERE clause."""

    owner: str | None = None  # only this owner's
    layer: str | None = None  # only this layer's
    hidden_names: tuple[str, ...] = ()  # LIKE patterns (escape '\') of names refused


@dataclass
class _ActorRules:
    """The grants and policies that concern one set of tags, computed once."""

    use_cases: list[tuple[str, str]]  # (use case id, tag it came through)
    deny: list[Rule] = field(default_factory=list)
    allow: list[Rule] = field(default_factory=list)


class Authorizer:
    """Decisions from the stored grants (use case id -> tags) and the policies in force."""

    def __init__(self, grants: Iterable[tuple[str, str]], rules: Iterable[Rule]) -> None:
        self._by_tag: dict[str, list[str]] = {}
        for usecase, tag in grants:
            self._by_tag.setdefault(tag, []).append(usecase)
        self.rules = list(rules)
        self._cache: dict[frozenset[str], _ActorRules] = {}

    def _for(self, actor: Actor) -> _ActorRules:
        found = self._cache.get(actor.tags)
        if found is None:
            use_cases = [
                (uc, tag) for tag in sorted(actor.tags) for uc in self._by_tag.get(tag, [])
            ]
            found = _ActorRules(use_cases)
            for rule in self.rules:
                if rule.applies_to(actor.tags):
                    (found.allow if rule.allow else found.deny).append(rule)
            self._cache[actor.tags] = found
        return found

    # --- decisions --------------------------------------------------------------------------

    def decide(self, actor: Actor, action_name: str, target: Target) -> Decision:
        action = ACTIONS[action_name]
        rules = self._for(actor)
        path = action.path(target.name, target.workspace)
        address = target.address
        if address is None and target.kind == "depot" and target.name:
            address = f"dataos://{target.name}"
        for rule in rules.deny:
            if rule.matches(action.method, path, action.predicate, address):
                return Decision(False, rule.describe(), "deny-policy")
        if action.owner_may and target.owner is not None and target.owner == actor.name:
            return Decision(True, f"ownership ({target.kind} owned by '{actor.name}')", "ownership")
        for usecase_id, tag in rules.use_cases:
            use_case = USE_CASES.get(usecase_id)
            if use_case is None or action_name not in use_case.grants:
                continue
            if self._holds(use_case.grants[action_name], actor, action, target):
                why = f"use case '{use_case.name}' ({usecase_id}) granted to {tag}"
                return Decision(True, why, "use-case")
        for rule in rules.allow:
            if rule.matches(action.method, path, action.predicate, address):
                return Decision(True, rule.describe(), "allow-policy")
        missing = tuple(f"'{uc.name}' ({uc.id})" for uc in granting(action_name))
        return Decision(False, "no use case, ownership or policy grants it", "default", missing)

    def _holds(self, condition: str, actor: Actor, action: Action, target: Target) -> bool:
        if condition == ALL:
            return True
        if condition == USER_LAYER:
            return target.layer in (None, "user")
        if condition == READABLE:
            read = f"{target.kind}:read"
            return read != action.name and bool(self.decide(actor, read, target))
        return False

    # --- listings ---------------------------------------------------------------------------

    def visible(self, actor: Actor, kind: str, *, all_owners: bool) -> tuple[Decision, Visibility]:
        """May the actor list `kind` (their own, or everyone's), and which rows show. Refused:
        the decision says why; the visibility is then empty."""
        own = self.decide(actor, f"{kind}:list", Target(kind, owner=actor.name))
        if not own:
            return own, Visibility(owner="\x00")
        decision = own
        owner: str | None = actor.name
        layer: str | None = None
        if all_owners:
            decision = self.decide(actor, f"{kind}:list-all", Target(kind))
            if not decision:
                return decision, Visibility(owner="\x00")
            owner = None
            # A grant that holds for the user layer only shows that layer.
            unconditional = self.decide(actor, f"{kind}:list-all", Target(kind, layer="system"))
            layer = None if unconditional else "user"
        return decision, Visibility(owner, layer, self._hidden(actor, ACTIONS[f"{kind}:read"]))

    def denied_addresses(self, actor: Actor, predicate: str = "read") -> tuple[str, ...]:
        """LIKE patterns (escape '\\') of `dataos://` addresses a deny policy refuses the actor:
        `*` widened to any text, which over-hides, never under-hides."""
        out = []
        for rule in self._for(actor).deny:
            if predicate in rule.predicates:
                out += [like_pattern(p.replace("**", "*")) for p in rule.addresses]
        return tuple(out)

    def _hidden(self, actor: Actor, read: Action) -> tuple[str, ...]:
        """Name patterns of items a deny policy refuses to read (GET on the item's path)."""
        prefix = read.path("\x00").split("\x00")[0]  # ".../depots/"
        hidden: list[str] = []
        for rule in self._for(actor).deny:
            if read.method.lower() not in rule.predicates:
                continue
            for pattern in rule.paths:
                if pattern.startswith(prefix) and "/" not in pattern[len(prefix) :].replace(
                    "**", "*"
                ):
                    hidden.append(like_pattern(pattern[len(prefix) :].replace("**", "*")))
                elif glob(pattern).match(prefix + "any-name"):
                    hidden.append("%")
        return tuple(hidden)
