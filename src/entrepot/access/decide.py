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

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache

from entrepot.access.actions import ACTIONS, Action
from entrepot.access.policy import Rule, _has_glob, glob, like_pattern
from entrepot.access.usecases import ALL, READABLE, USE_CASES, USER_LAYER, UseCase, granting


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


# (its text before any glob character, its match, on an address?, its rule): one object of one
# policy, compiled.
_Check = tuple[str, Callable[[str], "re.Match[str] | None"], bool, Rule]


@dataclass
class _Objects:
    """The objects of some policies that can match one action (see `_checks`), in rule order:
    a rule's paths, then its addresses, as `Rule.matches` tries them. The first that matches
    names the rule that decides, as looping over the rules and calling `Rule.matches` would."""

    checks: list[_Check]
    path_literals: tuple[str, ...]  # what the path objects' matches start with
    address_literals: tuple[str, ...]

    def first(self, path: str, address: str | None) -> Rule | None:
        # A match starts with its object's literal text: when no literal starts the path or
        # the address (one C-level test over them all, the common case), nothing matches.
        if not path.startswith(self.path_literals) and (
            address is None or not address.startswith(self.address_literals)
        ):
            return None
        for literal, match, on_address, rule in self.checks:
            if on_address:
                if address is not None and address.startswith(literal) and match(address):
                    return rule
            elif path.startswith(literal) and match(path):
                return rule
        return None


@dataclass
class _ActionRules:
    """What can decide one action for one set of tags, computed on its first decision: the use
    cases that grant it (with their condition), and the deny and allow policies' objects that
    can match it."""

    use_cases: list[tuple[UseCase, str, str]]  # (use case, tag it came through, condition)
    deny: _Objects
    allow: _Objects


@dataclass
class _ActorRules:
    """The grants and policies that concern one set of tags, computed once."""

    use_cases: list[tuple[str, str]]  # (use case id, tag it came through)
    deny: list[Rule] = field(default_factory=list)
    allow: list[Rule] = field(default_factory=list)
    actions: dict[str, _ActionRules] = field(default_factory=dict)  # by action name


class Authorizer:
    """Decisions from the stored grants (use case id -> tags) and the policies in force."""

    def __init__(self, grants: Iterable[tuple[str, str]], rules: Iterable[Rule]) -> None:
        self._by_tag: dict[str, list[str]] = {}
        for usecase, tag in grants:
            self._by_tag.setdefault(tag, []).append(usecase)
        self.rules = list(rules)
        self._cache: dict[frozenset[str], _ActorRules] = {}
        # The rules by subject: a tag's exact subjects are one lookup, and each glob subject is
        # tried once per actor however many rules name it.
        self._exact: dict[str, list[int]] = {}
        self._globbed: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            for subject in dict.fromkeys(rule.subjects):
                index = self._globbed if _has_glob(subject) else self._exact
                index.setdefault(subject, []).append(i)

    def _for(self, actor: Actor) -> _ActorRules:
        found = self._cache.get(actor.tags)
        if found is None:
            use_cases = [
                (uc, tag) for tag in sorted(actor.tags) for uc in self._by_tag.get(tag, [])
            ]
            found = _ActorRules(use_cases)
            applying: set[int] = set()
            for tag in actor.tags:
                applying.update(self._exact.get(tag, ()))
            for subject, indices in self._globbed.items():
                match = glob(subject, ":").match
                if any(match(tag) for tag in actor.tags):
                    applying.update(indices)
            for i in sorted(applying):  # the rules' order, as Rule.applies_to over each
                rule = self.rules[i]
                (found.allow if rule.allow else found.deny).append(rule)
            self._cache[actor.tags] = found
        return found

    def _for_action(self, rules: _ActorRules, action: Action) -> _ActionRules:
        found = rules.actions.get(action.name)
        if found is None:
            use_cases = []
            for usecase_id, tag in rules.use_cases:
                use_case = USE_CASES.get(usecase_id)
                if use_case is not None and action.name in use_case.grants:
                    use_cases.append((use_case, tag, use_case.grants[action.name]))
            found = _ActionRules(
                use_cases, _checks(rules.deny, action), _checks(rules.allow, action)
            )
            rules.actions[action.name] = found
        return found

    # --- decisions --------------------------------------------------------------------------

    def decide(self, actor: Actor, action_name: str, target: Target) -> Decision:
        action = ACTIONS[action_name]
        rules = self._for_action(self._for(actor), action)
        path = action.path(target.name, target.workspace)
        address = target.address
        if address is None and target.kind == "depot" and target.name:
            address = f"dataos://{target.name}"
        rule = rules.deny.first(path, address)
        if rule is not None:
            return Decision(False, rule.describe(), "deny-policy")
        if action.owner_may and target.owner is not None and target.owner == actor.name:
            return Decision(True, f"ownership ({target.kind} owned by '{actor.name}')", "ownership")
        for use_case, tag, condition in rules.use_cases:
            if self._holds(condition, actor, action, target):
                why = f"use case '{use_case.name}' ({use_case.id}) granted to {tag}"
                return Decision(True, why, "use-case")
        rule = rules.allow.first(path, address)
        if rule is not None:
            return Decision(True, rule.describe(), "allow-policy")
        missing = _missing(action_name)
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
        if read.kind == "depot":
            # A depot is also read at its address, dataos://NAME: a deny there hides it too.
            for rule in self._for(actor).deny:
                if read.predicate not in rule.predicates:
                    continue
                for address in rule.addresses:
                    rest = address.removeprefix("dataos://").replace("**", "*")
                    if ":" not in rest and "/" not in rest:
                        hidden.append(like_pattern(rest))
        return tuple(hidden)


def _checks(rules: list[Rule], action: Action) -> _Objects:
    """The objects of `rules` whose predicates name the action's method (paths) or its verb on
    addresses, in rule order, an object already listed left out (it would have matched
    first). A path object matches only paths that start with its literal text (before its first
    glob character); when that text and the route's before its first placeholder are not one a
    prefix of the other, no path of the route starts with it, and it is left out too."""
    method, predicate = action.method.lower(), action.predicate
    route = _route_prefix(action.route)
    checks: list[_Check] = []
    seen: set[tuple[str, bool]] = set()
    for rule in rules:
        if method in rule.predicates:
            for pattern in rule.paths:
                literal = _literal(pattern)
                if (pattern, False) not in seen and (
                    literal.startswith(route) or route.startswith(literal)
                ):
                    seen.add((pattern, False))
                    checks.append((literal, glob(pattern).match, False, rule))
        if predicate in rule.predicates:
            for pattern in rule.addresses:
                if (pattern, True) not in seen:
                    seen.add((pattern, True))
                    checks.append((_literal(pattern), glob(pattern).match, True, rule))
    return _Objects(
        checks,
        tuple(c[0] for c in checks if not c[2]),
        tuple(c[0] for c in checks if c[2]),
    )


@cache
def _route_prefix(route: str) -> str:
    """A route's text before its first placeholder: every path of the route starts with it, or
    is it less trailing slashes (`Action.path` strips them), a prefix of it all the same."""
    return route.split("{", 1)[0]


@lru_cache(maxsize=4096)
def _literal(pattern: str) -> str:
    """A glob's text before its first glob character: what every match starts with."""
    for i, char in enumerate(pattern):
        if char in "*?":
            return pattern[:i]
    return pattern


@cache
def _missing(action_name: str) -> tuple[str, ...]:
    """The use cases that would grant an action, for refusals by default."""
    return tuple(f"'{uc.name}' ({uc.id})" for uc in granting(action_name))
