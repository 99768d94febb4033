"""The cost of one authorization decision, against its target: under 50 µs at p99 with 1,000
policies in force.

    .venv/bin/python bench/authorize.py [--rules 1000] [--decisions 100000] [--seed 1]

In process, no store: an `Authorizer` with the default use-case grants and `--rules` policies
generated at random (seeded) and validated as `apply` validates them (`rules_from_manifest`),
then `decide()` timed one call at a time with `time.perf_counter_ns` over a mix of actors,
actions and targets. Two figures:

- **cold**: the first decision of each actor on a fresh authorizer, which computes the actor's
  applicable grants and policies (the CLI pays it once per command, the server once per actor);
- **warm**: every decision after that (the per-actor work cached): the figure the target is held
  to.

Exit status: 0 when the measurement ran (the PASS/FAIL line is informative), 1 otherwise.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from entrepot.access.actions import ACTIONS
from entrepot.access.decide import Actor, Authorizer, Target
from entrepot.access.policy import Rule, glob
from entrepot.access.usecases import DATA_DEV, OPERATOR, SYSTEM_DEV, USER, default_grants
from entrepot.resources.policy import rules_from_manifest

P99_TARGET_US = 50.0

USERS = 2000  # user names u0000 ... u1999 that policies name
TEAMS = 60  # custom roles roles:id:team-00 ... team-59
DEPOTS = 1000  # depot names pg0 ... pg999
DS = "/ds/api/v2"


# --- policies -----------------------------------------------------------------------------------


def _user(rng: random.Random) -> str:
    return f"u{rng.randrange(USERS):04d}"


def subject(rng: random.Random) -> str:
    """One subject tag: mostly exact users and roles, one in eight a glob (one in fifty of all
    subjects names everyone: `roles:id:*`, `users:id:**`, `roles:id:user`)."""
    roll = rng.random()
    if roll < 0.50:
        return f"users:id:{_user(rng)}"
    if roll < 0.78:
        return f"roles:id:team-{rng.randrange(TEAMS):02d}"
    if roll < 0.88:
        return rng.choice([DATA_DEV, SYSTEM_DEV, OPERATOR, "dataos:u:people-dw:user"])
    if roll < 0.98:
        return rng.choice(
            [
                f"users:id:u00{rng.randrange(10)}*",  # 10 users
                f"users:id:u1?{rng.randrange(10)}*",  # 100 users
                f"roles:id:team-{rng.randrange(6)}?",  # 10 teams
                "roles:id:team-*",
                "roles:id:data-*",
                "dataos:u:*:user",
                "dataos:**",
            ]
        )
    return rng.choice(["roles:id:*", "users:id:**", USER])


def _depot(rng: random.Random) -> str:
    return f"pg{rng.randrange(DEPOTS)}"


def path_object(rng: random.Random, *, broad: bool) -> str:
    """An API path, with globs more often than not; `broad` adds paths over every depot."""
    depot = _depot(rng)
    narrow = [
        f"{DS}/depots/{depot}",
        f"{DS}/depots/{depot[:-1]}*",
        f"{DS}/depots/pg{rng.randrange(10)}?{rng.randrange(10)}",
        f"{DS}/depots/secret*",
        f"{DS}/depots/{depot}/**",
        f"{DS}/instance-secrets/{depot}-r",
        f"{DS}/instance-secrets/{depot[:-1]}*-rw",
        f"{DS}/workspaces/*/workflows/scan-{depot}",
        f"{DS}/workspaces/team-{rng.randrange(TEAMS):02d}/workflows/**",
        f"/heimdall/api/v1/users/u{rng.randrange(20):02d}*",
    ]
    wide = [
        f"{DS}/depots/*/datasets",
        f"{DS}/depots/**",
        f"{DS}/instance-secrets/*/data",
        f"{DS}/policies/**",
        "/metis/api/v2/datasets",
    ]
    return rng.choice(narrow + wide if broad else narrow)


def address_object(rng: random.Random, *, broad: bool) -> str:
    depot = _depot(rng)
    narrow = [
        f"dataos://{depot}",
        f"dataos://{depot[:-1]}*",
        f"dataos://{depot}:public/*",
        f"dataos://{depot}:sales/orders",
        f"dataos://{depot}:**",
        f"dataos://pg{rng.randrange(10)}?{rng.randrange(10)}:**",
    ]
    wide = ["dataos://*:people_dw/*", "dataos://**"]
    return rng.choice(narrow + wide if broad else narrow)


def policy_access(rng: random.Random) -> dict[str, Any]:
    """One `policy.access` section: 1-3 subjects, path and/or address objects; 30% deny, whose
    objects are narrower (a depot, a few, a workspace) than allows'."""
    allow = rng.random() < 0.7
    kind = rng.choices(["path", "address", "both"], weights=[5, 3, 2])[0]
    predicates: list[str] = []
    paths: list[str] = []
    if kind in ("path", "both"):
        predicates += rng.sample(["get", "post", "put", "patch", "delete"], rng.randint(1, 3))
        paths += [path_object(rng, broad=allow) for _ in range(rng.randint(1, 3))]
    if kind in ("address", "both"):
        predicates += rng.sample(["read", "write", "create", "update"], rng.randint(1, 2))
        paths += [address_object(rng, broad=allow) for _ in range(rng.randint(1, 2))]
    return {
        "subjects": {"tags": sorted({subject(rng) for _ in range(rng.choice([1, 1, 1, 2, 2, 3]))})},
        "predicates": sorted(set(predicates)),
        "objects": {"paths": paths},
        "allow": allow,
    }


def generate_rules(count: int, seed: int) -> list[Rule]:
    """`count` policies validated as `apply` validates them, compiled as the service compiles
    stored ones."""
    rng = random.Random(seed)
    rules: list[Rule] = []
    for i in range(count):
        manifest = {
            "name": f"bench-{i:04d}",
            "version": "v1",
            "type": "policy",
            "layer": "user",
            "policy": {"access": policy_access(rng)},
        }
        rules += rules_from_manifest(f"bench-{i:04d}", manifest)
    return rules


# --- actors and questions -----------------------------------------------------------------------


def generate_actors(count: int, rng: random.Random) -> list[Actor]:
    """Users with their implicit tags and 0 to 3 roles (few operators)."""
    actors = []
    for name in rng.sample([f"u{i:04d}" for i in range(USERS)], count):
        tags = {f"users:id:{name}", USER}
        roll = rng.random()
        if roll < 0.05:
            tags.add(OPERATOR)
        elif roll < 0.45:
            tags.add(DATA_DEV)
        elif roll < 0.60:
            tags.add(SYSTEM_DEV)
        tags.update(f"roles:id:team-{rng.randrange(TEAMS):02d}" for _ in range(rng.randint(0, 2)))
        if rng.random() < 0.3:
            tags.add("dataos:u:people-dw:user")
        actors.append(Actor(name, frozenset(tags)))
    return actors


# What a server answers most: reads and listings, then data reads, then writes.
WEIGHTED_ACTIONS = {
    "depot:read": 12,
    "depot:list": 4,
    "depot:list-all": 4,
    "depot:update": 3,
    "depot:delete": 1,
    "depot:check": 2,
    "dataset:read": 14,
    "dataset:write": 3,
    "instance-secret:read": 5,
    "instance-secret:unsanitize": 2,
    "instance-secret:list-all": 2,
    "workflow:read": 4,
    "workflow:run": 2,
    "policy:read": 1,
    "catalog:read": 3,
    "user:read": 1,
    "audit:read": 1,
}


def question(
    rng: random.Random, actors: list[Actor], owners: list[str]
) -> tuple[Actor, str, Target]:
    actor = rng.choice(actors)
    action = rng.choices(list(WEIGHTED_ACTIONS), weights=list(WEIGHTED_ACTIONS.values()))[0]
    kind = ACTIONS[action].kind
    owner = actor.name if rng.random() < 0.1 else rng.choice(owners)
    layer = "user" if rng.random() < 0.8 else "system"
    depot = _depot(rng) if rng.random() < 0.95 else f"secret{rng.randrange(50)}"
    if action.endswith((":list", ":list-all")):
        target = Target(kind, owner=actor.name if action.endswith(":list") else None)
    elif kind == "dataset":
        collection = rng.choice(["public", "sales", "people_dw"])
        table = rng.choice(["orders", "customers", f"t{rng.randrange(100)}"])
        target = Target(kind, depot, owner, layer, address=f"dataos://{depot}:{collection}/{table}")
    elif kind == "instance-secret":
        target = Target(kind, f"{depot}-{rng.choice(['r', 'rw'])}", owner, layer)
    elif kind == "workflow":
        target = Target(kind, f"scan-{depot}", owner, layer, f"team-{rng.randrange(TEAMS):02d}")
    elif kind == "user":
        name = _user(rng)
        target = Target(kind, name, owner=name)
    elif kind in ("depot", "policy"):
        target = Target(kind, depot if kind == "depot" else f"bench-{rng.randrange(1000):04d}",
                        owner, layer)  # fmt: skip
    else:
        target = Target(kind)
    return actor, action, target


# --- timing -------------------------------------------------------------------------------------


@dataclass
class Percentiles:
    label: str
    samples_ns: list[int]

    def at(self, fraction: float) -> float:
        ordered = sorted(self.samples_ns)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index] / 1000

    @property
    def mean_us(self) -> float:
        return statistics.fmean(self.samples_ns) / 1000


def time_decisions(
    authorizer: Authorizer, questions: Sequence[tuple[Actor, str, Target]]
) -> list[int]:
    clock = time.perf_counter_ns
    decide = authorizer.decide
    out = []
    for actor, action, target in questions:
        start = clock()
        decide(actor, action, target)
        out.append(clock() - start)
    return out


def clock_overhead_ns() -> int:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(10_000):
        start = clock()
        samples.append(clock() - start)
    return int(statistics.median(samples))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time Authorizer.decide against its target.")
    parser.add_argument("--rules", type=int, default=1000, help="policies in force")
    parser.add_argument("--decisions", type=int, default=100_000, help="warm decisions timed")
    parser.add_argument("--actors", type=int, default=500, help="distinct actors asking")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.rules < 0 or args.decisions < 100 or not 1 <= args.actors <= USERS:
        parser.error("--rules >= 0, --decisions >= 100, 1 <= --actors <= 2000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    print(f"python {sys.version.split()[0]}; load average {_load()}")
    started = time.perf_counter()
    rules = generate_rules(args.rules, args.seed)
    built = time.perf_counter() - started
    actors = generate_actors(args.actors, rng)
    owners = [f"u{i:04d}" for i in range(USERS)]
    questions = [question(rng, actors, owners) for _ in range(args.decisions)]
    deny = sum(not r.allow for r in rules)
    globbed = sum(any(c in s for c in "*?") for r in rules for s in r.subjects)
    print(
        f"{len(rules):,} policies ({deny} deny, {len(rules) - deny} allow; {globbed} glob subjects)"
        f" generated and validated in {built:.2f} s; {len(actors)} actors; "
        f"{len(questions):,} decisions"
    )
    applicable = Authorizer(default_grants(), rules)
    per_actor = [len(applicable._for(a).deny) + len(applicable._for(a).allow) for a in actors]
    print(
        f"policies applying to an actor: median {statistics.median(per_actor):.0f}, "
        f"max {max(per_actor)}"
    )
    firsts: dict[Actor, tuple[Actor, str, Target]] = {}
    for actor, action, target in questions:
        firsts.setdefault(actor, (actor, action, target))
    # The bench's own 100,000 questions are not the authorizer's: kept out of the collector's
    # passes (which would otherwise walk them, 80 ms each, inside some decision's timing).
    gc.collect()
    gc.freeze()

    # Cold: each actor's first decision on a fresh authorizer. The first round also compiles
    # every pattern (globs are compiled once per process): reported apart.
    glob.cache_clear()
    first_round = time_decisions(Authorizer(default_grants(), rules), list(firsts.values()))
    cold: list[int] = []
    for _ in range(3):
        authorizer = Authorizer(default_grants(), rules)
        cold += time_decisions(authorizer, list(firsts.values()))

    # Warm: one untimed pass (every actor's and every (actor, action)'s rules cached), then timed.
    authorizer = Authorizer(default_grants(), rules)
    time_decisions(authorizer, questions)
    warm = time_decisions(authorizer, questions)
    outcomes = Counter(authorizer.decide(*q).via for q in questions)

    overhead = clock_overhead_ns()
    print(f"perf_counter_ns overhead: {overhead} ns (included in every sample)")
    print()
    print(f"{'decide()':<28} {'samples':>8} {'mean µs':>8} {'p50 µs':>8} {'p99 µs':>8} "
          f"{'max µs':>9}")  # fmt: skip
    for timing in (
        Percentiles("cold, patterns compiled too", first_round),
        Percentiles("cold (first of an actor)", cold),
        Percentiles("warm", warm),
    ):
        print(
            f"{timing.label:<28} {len(timing.samples_ns):>8,} {timing.mean_us:8.1f} "
            f"{timing.at(0.50):8.1f} {timing.at(0.99):8.1f} {max(timing.samples_ns) / 1000:9.1f}"
        )
    print(
        "decisions by what decided: "
        + ", ".join(f"{via} {n / len(questions):.0%}" for via, n in outcomes.most_common())
    )
    print()
    p99 = Percentiles("warm", warm).at(0.99)
    verdict = "PASS" if p99 < P99_TARGET_US else "FAIL"
    print(
        f"one decision < {P99_TARGET_US:.0f} µs at p99 with {len(rules):,} policies (warm): "
        f"{verdict} ({p99:.1f} µs)"
    )
    print(f"load average at the end {_load()}")
    return 0


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
