"""The authorization matrix, at the service level (no CLI process): every action, for the owner,
another user, a data-dev, an operator, a user with an allow policy and a user with a deny
policy; then every path to a depot's secret (check, scan, query, Spark, export) for those who
may not read it, with the audit trail showing no decryption.

The store is real (SQLite in a temporary $ENTREPOT_HOME); the depot points at a closed port, so
an allowed check decrypts, then fails to connect, which is what an allowed check does there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrepot.access.decide import Target
from entrepot.config import load_settings
from entrepot.errors import EntrepotError
from entrepot.services import connections, identity, resources, workflows
from entrepot.services.context import Forbidden, RequestContext
from entrepot.services.resources import ApplyOptions
from tests.conftest import write

OWNED = """\
name: bobdb-r
version: v1
type: instance-secret
instance-secret: {type: key-value, acl: r, data: {username: bob, password: Matrix-Secret-R1}}
---
name: bobdb-rw
version: v1
type: instance-secret
instance-secret: {type: key-value, acl: rw, data: {username: bob, password: Matrix-Secret-RW}}
---
name: bobdb
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{name: bobdb-r}, {name: bobdb-rw}]
  postgresql: {host: 127.0.0.1, port: 9, database: sales}
---
name: bobscan
version: v1
type: workflow
workflow:
  dag:
    - name: scan
      spec: {stack: "scanner:2.0", stackSpec: {depot: dataos://bobdb}}
"""
POLICIES = """\
name: pat-reads-bobdb
version: v1
type: policy
policy:
  access:
    subjects: {tags: ["users:id:pat"]}
    predicates: [get, read]
    objects: {paths: ["/ds/api/v2/depots/bobdb", "/ds/api/v2/depots/bobdb/**", "dataos://bobdb**"]}
    allow: true
---
name: dan-never-bobdb
version: v1
type: policy
policy:
  access:
    subjects: {tags: ["users:id:dan"]}
    predicates: [get, post, put, delete, read, write]
    objects: {paths: ["/ds/api/v2/depots/bobdb", "/ds/api/v2/depots/bobdb/**", "dataos://bobdb**"]}
    allow: false
"""
SUBJECTS = {
    "owner": "bob",
    "other": "carol",
    "data-dev": "dana",
    "operator": "olga",
    "allowed": "pat",
    "denied": "dan",
}
TAGS = {"dana": ["roles:id:data-dev"], "olga": ["roles:id:operator"], "dan": ["roles:id:data-dev"]}

# action -> who may (the others are refused). The target is bob's depot, its secret, its data,
# or bob's workflow; the last rows have no owner.
EXPECTED: dict[str, set[str]] = {
    "depot:list": {"owner", "other", "data-dev", "operator", "allowed", "denied"},  # their own
    "depot:list-all": {"data-dev", "operator", "denied"},  # dan lists; bobdb hidden (below)
    "depot:read": {"owner", "data-dev", "operator", "allowed"},
    "depot:update": {"owner", "data-dev", "operator"},
    "depot:delete": {"owner", "data-dev", "operator"},
    "depot:check": {"owner", "data-dev", "operator", "allowed"},
    "depot:scan": {"owner", "data-dev", "operator", "allowed"},
    "depot:export": {"owner", "data-dev", "operator", "allowed"},
    "dataset:read": {"owner", "data-dev", "operator", "allowed"},
    "dataset:write": {"owner", "operator"},
    # dan's deny names bob's depot, not its secret: as a data-dev he manages the user layer's
    # instance secrets (DataOS's model; a deny on /ds/api/v2/instance-secrets/** would stop it).
    "instance-secret:read": {"owner", "data-dev", "operator", "denied"},
    "instance-secret:update": {"owner", "data-dev", "operator", "denied"},
    "instance-secret:unsanitize": {"operator"},
    "workflow:read": {"owner", "data-dev", "operator", "denied"},
    "workflow:run": {"owner", "operator"},
    "policy:create": {"operator"},
    "user:create": {"operator"},
    "usecase:grant": {"operator"},
    "audit:read": {"operator"},
    "key:rotate": {"operator"},
}


@pytest.fixture
def world(home: Path, tmp_path: Path) -> Iterator[dict[str, RequestContext]]:
    """alice bootstraps as the first operator and sets the scene; one context per subject."""
    settings = load_settings()
    with identity.for_user(settings, "alice") as admin:
        for name in SUBJECTS.values():
            identity.create_user(admin, name, TAGS.get(name, []))
        apply(admin, write(tmp_path / "policies.yml", POLICIES))
    with identity.for_user(settings, "bob") as bob:
        apply(bob, write(tmp_path / "owned.yml", OWNED))
    contexts = {role: identity.for_user(settings, name) for role, name in SUBJECTS.items()}
    yield contexts
    for ctx in contexts.values():
        ctx.close()


def apply(ctx: RequestContext, path: Path) -> None:
    resources.apply(ctx, ApplyOptions(paths=[str(path)], verify=False, run=False))


def target(ctx: RequestContext, action: str) -> Target:
    from entrepot.store import reader

    kind = action.split(":")[0]
    if kind in ("depot", "dataset"):
        row = reader.resources_named(ctx.reader, "depot", ["bobdb"])["bobdb"]
        if action.endswith(":list"):
            return Target("depot", owner=ctx.actor.name)
        if action.endswith(":list-all"):
            return Target("depot")
        address = "dataos://bobdb:public/orders" if kind == "dataset" else None
        return Target(kind, "bobdb", row.owner, row.layer, address=address)
    if kind == "instance-secret":
        row = reader.resources_named(ctx.reader, "instance-secret", ["bobdb-r"])["bobdb-r"]
        return resources.target_of(row)
    if kind == "workflow":
        row = reader.resources_named(ctx.reader, "workflow", ["bobscan"], "public")["bobscan"]
        return resources.target_of(row)
    return Target(kind, "x")


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_the_matrix(world: dict[str, RequestContext], action: str) -> None:
    allowed = {role for role, ctx in world.items() if ctx.decide(action, target(ctx, action))}
    assert allowed == EXPECTED[action], action


def test_deny_wins_over_every_allow(world: dict[str, RequestContext]) -> None:
    """dan is a data-dev (Read All Dataset) with a deny policy on bobdb: the deny decides."""
    dan = world["denied"]
    decision = dan.decide("dataset:read", target(dan, "dataset:read"))
    assert not decision and decision.rule == "policy 'dan-never-bobdb' (deny)"
    # ...and the listing leaves bobdb out, in SQL.
    listed = [r.name for r in resources.list_resources(dan, rtype="depot", all_owners=True)]
    assert "bobdb" not in listed


def test_listings_show_what_each_may_see(world: dict[str, RequestContext]) -> None:
    def names(role: str, **kwargs: bool) -> list[str]:
        rows = resources.list_resources(world[role], rtype="depot", **kwargs)
        return [r.name for r in rows]

    assert names("owner") == ["bobdb"]
    assert names("other") == []
    assert names("data-dev", all_owners=True) == ["bobdb"]
    with pytest.raises(Forbidden, match="may not list everyone's depots"):
        names("other", all_owners=True)


def test_no_path_decrypts_a_depot_its_user_may_not_read(
    world: dict[str, RequestContext], tmp_path: Path
) -> None:
    """check, scan, query, Spark, export: refused before any decryption, for carol (no
    grant) and dan (denied); the audit trail shows no decryption by either."""
    from entrepot.query import spark as spark_read
    from entrepot.query import trino_export
    from entrepot.services import query as query_service

    for role in ("other", "denied"):
        ctx = world[role]
        with pytest.raises(Forbidden):
            connections.check_depots(ctx, ["bobdb"])
        run = workflows_run(ctx)
        assert run is None or run.status == "failed"
        engine = query_service.engine(ctx)
        with pytest.raises(Forbidden):
            engine.sql("SELECT * FROM bobdb.public.orders")
        engine.close()
        with pytest.raises(EntrepotError, match="may not"):
            spark_read.read(
                None,
                "dataos://bobdb:public/orders",
                access=connections.depot_access(ctx, "spark"),
            )
        with pytest.raises(Forbidden):
            trino_export.plan(connections.depot_access(ctx, "export"), ["bobdb"], tmp_path)
        assert connections.depot_access(ctx, "export").usable() == []
    with identity.for_user(load_settings(), "alice") as admin:
        from entrepot.services import admin as admin_service

        events = admin_service.audit_events(admin, 500)
    decrypts = [e for e in events if e["action"] == "decrypt"]
    assert not [e for e in decrypts if e["actor"] in ("carol", "dan")], decrypts
    refusals = [e for e in events if e["action"] == "deny" and e["actor"] in ("carol", "dan")]
    assert refusals and all(e["detail"] for e in refusals)  # who, what, which rule
    assert "Matrix-Secret" not in json.dumps(events)


def workflows_run(ctx: RequestContext) -> object:
    """Running bob's scanner: refused outright (workflow:run) for those without a grant."""
    try:
        return workflows.run_workflow(ctx, "bobscan")
    except Forbidden:
        return None


def test_allowed_paths_decrypt_and_are_audited(world: dict[str, RequestContext]) -> None:
    """pat's allow policy lets her check bobdb: its r secret is decrypted for her, audited."""
    [result] = connections.check_depots(world["allowed"], ["bobdb"], timeout=2)
    assert not result.ok  # the port is closed; the credentials were resolved
    with pytest.raises(Forbidden):  # reading is not writing
        connections.check_depots(world["allowed"], ["bobdb"], acl="rw", timeout=2)
    events = [e for e in resources_audit() if e["action"] == "decrypt" and e["actor"] == "pat"]
    assert [e["resource_name"] for e in events] == ["bobdb-r"]


def resources_audit() -> list[dict[str, object]]:
    from entrepot.services import admin as admin_service

    with identity.for_user(load_settings(), "alice") as admin:
        return admin_service.audit_events(admin, 500)


def test_owners_and_operators_give_resources_away(
    world: dict[str, RequestContext], tmp_path: Path
) -> None:
    """A manifest's owner other than yourself needs a use case managing everyone's."""
    manifest = OWNED.split("---\n")[0].replace("name: bobdb-r", "name: gift-r")
    given = write(tmp_path / "gift.yml", "owner: bob\n" + manifest)
    with pytest.raises(Forbidden, match="create instance-secret 'gift-r' owned by 'bob'"):
        apply(world["other"], given)
    apply(world["operator"], given)
    rows = resources.list_resources(world["owner"], rtype="instance-secret", name="gift-r")
    assert [r.owner for r in rows] == ["bob"]


def test_using_a_secret_in_a_depot_needs_read_on_it(
    world: dict[str, RequestContext], tmp_path: Path
) -> None:
    """carol may not point a depot of hers at bob's secret (and so never decrypt it)."""
    depot = OWNED.split("---\n")[2].replace("name: bobdb\n", "name: caroldb\n")
    depot = depot.replace(
        "secrets: [{name: bobdb-r}, {name: bobdb-rw}]", "secrets: [{name: bobdb-r}]"
    )
    with pytest.raises(Forbidden, match="use instance secret 'bobdb-r' in depot 'caroldb'"):
        apply(world["other"], write(tmp_path / "carol.yml", depot))


def test_unsanitize_needs_the_use_case_and_is_audited(world: dict[str, RequestContext]) -> None:
    with pytest.raises(Forbidden):
        connections.instance_secret_values(world["owner"], "bobdb-r")  # owning is not enough
    values = connections.instance_secret_values(world["operator"], "bobdb-r")
    assert values.data["password"] == "Matrix-Secret-R1"
    purposes = [e["purpose"] for e in resources_audit() if e["actor"] == "olga"]
    assert "get --unSanitize" in purposes


def test_catalog_listings_hide_what_a_policy_denies(home: Path, tmp_path: Path) -> None:
    """A deny on dataset addresses hides them from every catalog listing, in SQL."""
    from entrepot.catalog.model import Address
    from entrepot.errors import NotFoundError
    from entrepot.services import catalog

    for folder in ("open", "private"):
        write(tmp_path / "files" / folder / "people.csv", "id,name\n1,a\n")
        write(tmp_path / "files" / folder / "orders.csv", "id,total\n1,2\n")
    settings = load_settings()
    with identity.for_user(settings, "alice") as admin:
        identity.create_user(admin, "dana", ["roles:id:data-dev"])
        deny = """\
name: no-private-people
version: v1
type: policy
policy:
  access:
    subjects: {tags: ["users:id:dana"]}
    predicates: [read]
    objects: {paths: ["dataos://files:private/people"]}
    allow: false
"""
        apply(admin, write(tmp_path / "deny.yml", deny))
        scan = OWNED.split("---\n")[3].replace("bobscan", "filescan").replace("bobdb", "files")
        folder = tmp_path / "files"
        depot = "name: files\nversion: v2alpha\ntype: depot\ndepot:\n  type: file\n"
        depot += f'  file: {{path: "{folder}"}}\n'
        apply(admin, write(tmp_path / "files.yml", depot))
        apply(admin, write(tmp_path / "scan.yml", scan))
        workflows.run_workflow(admin, "filescan")
        everything = [r["address"] for r in catalog.search(admin, "people")]
        assert everything == ["dataos://files:open/people", "dataos://files:private/people"]
    with identity.for_user(settings, "dana") as dana:
        listed = [r["address"] for r in catalog.datasets(dana, "files", "private")]
        assert listed == ["dataos://files:private/orders"]
        assert [r["address"] for r in catalog.search(dana, "people")] == [
            "dataos://files:open/people"
        ]
        assert all(
            "private/people" not in r["address"] for r in catalog.history(dana, Address("files"))
        )
        with pytest.raises(NotFoundError):
            catalog.dataset(dana, Address("files", "private", "people"))
        assert [s["source"] for s in catalog.sources(dana)] == ["files"]


def test_a_deny_on_a_depots_address_hides_it_from_listings(home: Path, tmp_path: Path) -> None:
    """`read` denied on dataos://bobdb: can-i says no, and the listing agrees (in SQL)."""
    settings = load_settings()
    with identity.for_user(settings, "alice") as admin:
        identity.create_user(admin, "dana", ["roles:id:data-dev"])
        apply(admin, write(tmp_path / "owned.yml", OWNED.replace("bobdb", "pgtwo")))
        policy = (
            "name: no-pgtwo\nversion: v1\ntype: policy\npolicy:\n  access:\n"
            '    subjects: {tags: ["users:id:dana"]}\n    predicates: [read]\n'
            '    objects: {paths: ["dataos://pgtwo"]}\n    allow: false\n'
        )
        apply(admin, write(tmp_path / "deny.yml", policy))
    with identity.for_user(settings, "dana") as dana:
        assert not dana.decide("depot:read", target_of_depot(dana, "pgtwo"))
        assert resources.list_resources(dana, rtype="depot", all_owners=True) == []


def target_of_depot(ctx: RequestContext, name: str) -> Target:
    from entrepot.store import reader

    return resources.target_of(reader.resources_named(ctx.reader, "depot", [name])[name])
