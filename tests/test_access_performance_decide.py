"""`Authorizer.decide` indexes and caches its rules for speed (rules by subject, and per actor
and action the policy objects that can match, in order); it must answer exactly as the
straightforward reading of its rules: every rule tested with `Rule.applies_to` and
`Rule.matches`, in order. Randomized rules and questions, over a small vocabulary so that
subjects, globs, routes and names collide often, including shapes `apply` would refuse
(trailing slashes, names with '/', empty names) since the index must not depend on them."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from entrepot.access.actions import ACTIONS, Action
from entrepot.access.decide import Actor, Authorizer, Decision, Target
from entrepot.access.policy import ADDRESS_PREDICATES, PATH_PREDICATES, Rule
from entrepot.access.usecases import (
    ALL,
    DATA_DEV,
    OPERATOR,
    READABLE,
    ROLES,
    SYSTEM_DEV,
    USE_CASES,
    USER,
    USER_LAYER,
    default_grants,
    granting,
)

# --- the reference: the rules read one by one, as the docstring of access.decide states them ---


class Reference:
    def __init__(self, grants: list[tuple[str, str]], rules: list[Rule]) -> None:
        self.grants = grants
        self.rules = rules

    def decide(self, actor: Actor, action_name: str, target: Target) -> Decision:
        action = ACTIONS[action_name]
        applying = [r for r in self.rules if r.applies_to(actor.tags)]
        path = action.path(target.name, target.workspace)
        address = target.address
        if address is None and target.kind == "depot" and target.name:
            address = f"dataos://{target.name}"
        for rule in applying:
            if not rule.allow and rule.matches(action.method, path, action.predicate, address):
                return Decision(False, rule.describe(), "deny-policy")
        if action.owner_may and target.owner is not None and target.owner == actor.name:
            return Decision(True, f"ownership ({target.kind} owned by '{actor.name}')", "ownership")
        for tag in sorted(actor.tags):
            for usecase_id, granted_to in self.grants:
                use_case = USE_CASES.get(usecase_id)
                if granted_to != tag or use_case is None or action_name not in use_case.grants:
                    continue
                if self._holds(use_case.grants[action_name], actor, action, target):
                    why = f"use case '{use_case.name}' ({usecase_id}) granted to {tag}"
                    return Decision(True, why, "use-case")
        for rule in applying:
            if rule.allow and rule.matches(action.method, path, action.predicate, address):
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


# --- random rules, actors and questions ---------------------------------------------------------

USERS = ["ann", "bob", "bo", "carl", "dev", "d"]
TEAMS = ["roles:id:team-1", "roles:id:team-2", "roles:id:team-10", "dataos:u:people-dw:user"]
NAMES = ["pg1", "pg12", "pg2", "secret1", "sales", "s", "team-1", "ann", "a/b", "x/", ""]
ROUTE_BITS = ["ds", "api", "v2", "depots", "instance-secrets", "workspaces", "workflows",
              "policies", "heimdall", "v1", "users", "metis", "datasets", "check", "data", "runs",
              "public", "team-1", "use-cases", "audit", "admin"]  # fmt: skip
GLOBS = ["*", "**", "?", "pg*", "pg1?", "*1", "s**", "t*-1"]


def random_subject(rng: random.Random) -> str:
    return rng.choice(
        [
            *(f"users:id:{u}" for u in USERS),
            *ROLES,
            *TEAMS,
            "users:id:b*",
            "users:id:?",
            "users:id:**",
            "roles:id:*",
            "roles:id:team-?",
            "roles:id:team-*",
            "roles:**",
            "dataos:u:*:user",
            "dataos:**",
        ]
    )


def random_path(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:  # an action's own route, its name replaced by a name or a glob
        route = rng.choice(list(ACTIONS.values())).route
        name = rng.choice([*NAMES[:8], *GLOBS])
        path = route.replace("{name}", name).replace("{workspace}", rng.choice(["public", *GLOBS]))
        if rng.random() < 0.2:
            path += rng.choice(["/**", "/*", "/", "/datasets"])
        return path
    if roll < 0.65:  # a prefix of a route, cut anywhere, sometimes globbed there
        route = rng.choice(list(ACTIONS.values())).route.split("{", 1)[0]
        cut = route[: rng.randint(1, len(route))]
        return cut + rng.choice(["", "*", "**", "?", "/**"])
    segments = [rng.choice([*ROUTE_BITS, *GLOBS]) for _ in range(rng.randint(1, 6))]
    return "/" + "/".join(segments)


def random_address(rng: random.Random) -> str:
    depot = rng.choice(["pg1", "pg12", "pg*", "pg1?", "*", "**", "secret1", "s"])
    rest = rng.choice(["", ":public/*", ":public/orders", ":**", ":*/orders", "*"])
    return f"dataos://{depot}{rest}"


def random_rule(rng: random.Random, i: int) -> Rule:
    predicates = set(rng.sample([*PATH_PREDICATES, *ADDRESS_PREDICATES], rng.randint(1, 4)))
    paths = tuple(random_path(rng) for _ in range(rng.randint(0, 3)))
    addresses = tuple(random_address(rng) for _ in range(rng.randint(0, 2)))
    if not paths and not addresses:
        paths = (random_path(rng),)
    return Rule(
        policy=f"p{i:03d}",
        allow=rng.random() < 0.5,
        subjects=tuple(random_subject(rng) for _ in range(rng.randint(1, 3))),
        predicates=frozenset(predicates),
        paths=paths,
        addresses=addresses,
    )


def random_actor(rng: random.Random) -> Actor:
    name = rng.choice(USERS)
    tags = {f"users:id:{name}", USER}
    tags.update(rng.sample([DATA_DEV, SYSTEM_DEV, OPERATOR, *TEAMS], rng.randint(0, 2)))
    return Actor(name, frozenset(tags))


def random_target(rng: random.Random, action: Action) -> Target:
    return Target(
        kind=action.kind if rng.random() < 0.9 else rng.choice(["depot", "dataset", "user"]),
        name=rng.choice([None, *NAMES]),
        owner=rng.choice([None, *USERS]),
        layer=rng.choice([None, "user", "system"]),
        workspace=rng.choice([None, "public", "team-1", ""]),
        address=rng.choice([None, None, "", random_address(rng).replace("*", "x")]),
    )


def random_grants(rng: random.Random) -> list[tuple[str, str]]:
    grants = default_grants()
    extra = [(uc, rng.choice([*TEAMS, *(f"users:id:{u}" for u in USERS)])) for uc in USE_CASES]
    return grants + rng.sample(extra, rng.randint(0, len(extra)))


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_decisions_are_those_of_the_rules_read_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    rules = [random_rule(rng, i) for i in range(rng.choice([0, 1, 30, 150, 400]))]
    rules += rng.sample(rules, len(rules) // 5)  # the same rule twice: the first one decides
    grants = random_grants(rng)
    reference = Reference(grants, rules)
    authorizer = Authorizer(grants, rules)  # one for every question: its caches warm up
    actions = list(ACTIONS)
    decided_by: Counter[str] = Counter()
    for i in range(3000):
        actor = random_actor(rng)
        action = rng.choice(actions)
        target = random_target(rng, ACTIONS[action])
        expected = reference.decide(actor, action, target)
        assert authorizer.decide(actor, action, target) == expected, (seed, i, action, target)
        decided_by[expected.via] += 1
        if i % 100 == 0:  # and a fresh one: nothing cached
            assert Authorizer(grants, rules).decide(actor, action, target) == expected
    if len(rules) >= 150:  # the questions reach the policies, not only grants and ownership
        assert decided_by["deny-policy"] > 100 and decided_by["allow-policy"] > 50, decided_by


@pytest.mark.parametrize("seed", range(4))
def test_an_actors_rules_are_those_that_apply_to_their_tags_in_order(seed: int) -> None:
    """`_for` (which `visible`, `denied_addresses` and the services read) lists the rules that
    apply to the actor, in their order, as testing each rule's subjects would."""
    rng = random.Random(100 + seed)
    rules = [random_rule(rng, i) for i in range(300)]
    authorizer = Authorizer(default_grants(), rules)
    for _ in range(300):
        actor = random_actor(rng)
        applying = [r for r in rules if r.applies_to(actor.tags)]
        found = authorizer._for(actor)
        assert found.deny == [r for r in applying if not r.allow]
        assert found.allow == [r for r in applying if r.allow]


def test_a_path_policy_on_another_route_or_a_prefix_of_this_one() -> None:
    """The per-action index leaves out path objects that cannot match the action's route;
    prefixes of the route and globs before it stay in."""
    actor = Actor("dev", frozenset({"users:id:dev", USER}))
    dev, get = ("users:id:dev",), frozenset({"get"})
    rules = [
        Rule("other", False, dev, get, ("/ds/api/v2/policies/**",), ()),
        Rule("prefix", False, dev, get, ("/ds/api/v2/dep*",), ()),
        Rule("glob-first", False, dev, get, ("/*/api/**",), ()),
        Rule("collection", True, dev, get, ("/ds/api/v2/depots",), ()),
    ]
    for kept in ([0, 1], [0, 2], [0, 3], [0]):
        chosen = [rules[i] for i in kept]
        authorizer = Authorizer(default_grants(), chosen)
        reference = Reference(default_grants(), chosen)
        for action, target in [
            ("depot:read", Target("depot", "pg1", "ann", "user")),
            ("depot:read", Target("depot", None, "ann", "user")),  # path /ds/api/v2/depots
            ("depot:list-all", Target("depot")),
            ("policy:read", Target("policy", "p")),
        ]:
            assert authorizer.decide(actor, action, target) == reference.decide(
                actor, action, target
            )
    # `*` stops at '/': /ds/api/v2/dep* is the path of a depot without a name, not of pg1's.
    authorizer = Authorizer(default_grants(), rules[:2])
    decided = authorizer.decide(actor, "depot:read", Target("depot", None, "ann"))
    assert decided.rule == "policy 'prefix' (deny)"
    assert authorizer.decide(actor, "depot:read", Target("depot", "pg1", "ann")).via == "default"
