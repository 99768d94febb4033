"""The tutorial's FAQ, end to end through the CLI: "Can users see everyone's Depots or only
their own? By default, users with data-dev or operator roles can view all depots. Access can be
restricted by removing the Manage All Depot use-case or applying policies to block the depot
listing endpoint."
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import add_user, run_cli, write

DEPOT = """\
name: {name}-r
version: v1
type: instance-secret
instance-secret: {{type: key-value, acl: r, data: {{username: u, password: Faq-Pass-{name}}}}}
---
name: {name}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: {name}-r}}]
  postgresql: {{host: 127.0.0.1, port: 9, database: x}}
"""
BLOCK_LISTING = """\
name: no-depot-listing-for-data-dev
version: v1
type: policy
description: data-devs may not call the depot listing endpoint
policy:
  access:
    subjects: {tags: ["roles:id:data-dev"]}
    predicates: [get]
    objects: {paths: [/ds/api/v2/depots]}
    allow: false
"""
ALLOW_LISTING = BLOCK_LISTING.replace("no-depot-listing", "yes-depot-listing").replace(
    "allow: false", "allow: true"
)


def as_user(user: str, *args: str) -> tuple[int, list[str], str]:
    """Run `get` (json) as a user: exit code, depot names, stderr."""
    result = run_cli(*args, "--output", "json", env={"ENTREPOT_USER": user})
    names = [r["name"] for r in json.loads(result.stdout)] if result.exit_code == 0 else []
    return result.exit_code, names, result.stderr


def setup(tmp_path: Path) -> None:
    """alice (the store's first user: an operator) makes the users; each applies a depot."""
    assert (
        run_cli(
            "apply",
            "--no-verify",
            "-f",
            str(write(tmp_path / "a.yml", DEPOT.format(name="alicedb"))),
        ).exit_code
        == 0
    )
    add_user("bob")
    add_user("dana", "roles:id:data-dev")
    add_user("olga", "roles:id:operator")
    for user in ("bob", "dana"):
        path = write(tmp_path / f"{user}.yml", DEPOT.format(name=f"{user}db"))
        result = run_cli("apply", "--no-verify", "-f", str(path), env={"ENTREPOT_USER": user})
        assert result.exit_code == 0, result.output


def test_owners_see_their_own_roles_see_all(home: Path, tmp_path: Path) -> None:
    setup(tmp_path)
    assert as_user("bob", "get", "-t", "depot")[1] == ["bobdb"]
    assert as_user("dana", "get", "-t", "depot")[1] == ["danadb"]
    everyone = ["alicedb", "bobdb", "danadb"]
    assert as_user("dana", "get", "-t", "depot", "-a")[1] == everyone
    assert as_user("olga", "get", "-t", "depot", "-a")[1] == everyone
    code, _, err = as_user("bob", "get", "-t", "depot", "-a")
    assert code == 5
    assert "user 'bob' may not list everyone's depots" in err
    assert "'Manage All Depot' (manage-all-depot)" in err  # the missing use case, by name
    assert "entrepot auth can-i list-all depots" in err


def test_revoking_the_use_case_restricts_a_role(home: Path, tmp_path: Path) -> None:
    setup(tmp_path)
    revoke = run_cli("usecase", "revoke", "manage-all-depot", "--tag", "roles:id:operator")
    assert revoke.exit_code == 0 and "revoked use case 'Manage All Depot'" in revoke.stdout
    code, _, err = as_user("olga", "get", "-t", "depot", "-a")
    assert code == 5 and "may not list everyone's depots" in err
    assert as_user("olga", "get", "-t", "depot")[1] == []  # her own, still
    revoke = run_cli(
        "usecase",
        "revoke",
        "manage-all-other-resources-in-user-layer",
        "--tag",
        "roles:id:data-dev",
    )
    assert revoke.exit_code == 0
    assert as_user("dana", "get", "-t", "depot", "-a")[0] == 5
    grant = run_cli("usecase", "grant", "Manage All Depot", "--tag", "users:id:dana")
    assert grant.exit_code == 0
    assert as_user("dana", "get", "-t", "depot", "-a")[1] == ["alicedb", "bobdb", "danadb"]
    # Every grant change is audited, with who made it.
    audit = json.loads(run_cli("admin", "audit", "--output", "json").stdout)
    changes = [
        (e["actor"], e["action"], e["resource_name"])
        for e in audit
        if e["resource_type"] == "usecase"
    ]
    assert ("alice", "grant", "manage-all-depot") in changes
    assert ("alice", "revoke", "manage-all-other-resources-in-user-layer") in changes


def test_a_deny_policy_blocks_the_listing_endpoint_and_no_allow_overrides_it(
    home: Path, tmp_path: Path
) -> None:
    setup(tmp_path)
    applied = run_cli("apply", "-f", str(write(tmp_path / "deny.yml", BLOCK_LISTING)))
    assert applied.exit_code == 0, applied.output
    for args in (("get", "-t", "depot"), ("get", "-t", "depot", "-a")):
        code, _, err = as_user("dana", *args)
        assert code == 5, err
        assert "policy 'no-depot-listing-for-data-dev' (deny)" in err
    assert as_user("olga", "get", "-t", "depot", "-a")[0] == 0  # operators are not data-devs
    assert as_user("bob", "get", "-t", "depot")[1] == ["bobdb"]
    # An allow policy on the same endpoint for the same tag cannot override the deny.
    assert run_cli("apply", "-f", str(write(tmp_path / "allow.yml", ALLOW_LISTING))).exit_code == 0
    code, _, err = as_user("dana", "get", "-t", "depot", "-a")
    assert code == 5 and "no-depot-listing-for-data-dev" in err
    # auth can-i says the same, and names the rule.
    answer = run_cli("auth", "can-i", "get", "/ds/api/v2/depots", "--as", "dana")
    assert answer.exit_code == 1
    assert answer.stdout.strip() == (
        "no (dana): depot:list-all - policy 'no-depot-listing-for-data-dev' (deny)"
    )
    # Removing the deny lets the allow (and the use case) through again.
    assert run_cli("delete", "-t", "policy", "-n", "no-depot-listing-for-data-dev").exit_code == 0
    assert as_user("dana", "get", "-t", "depot", "-a")[0] == 0


def test_auth_can_i_names_the_rule(home: Path, tmp_path: Path) -> None:
    setup(tmp_path)

    def ask(*args: str) -> tuple[int, str]:
        result = run_cli("auth", "can-i", *args)
        return result.exit_code, result.stdout.strip()

    assert ask("list-all", "depots", "--as", "olga") == (
        0,
        "yes (olga): depot:list-all - use case 'Manage All Depot' (manage-all-depot) granted "
        "to roles:id:operator",
    )
    assert ask("delete", "depot/bobdb", "--as", "bob") == (
        0,
        "yes (bob): depot:delete - ownership (depot owned by 'bob')",
    )
    code, out = ask("delete", "depot/bobdb", "--as", "dana")  # data-dev: the user layer's
    assert code == 0 and "manage-all-other-resources-in-user-layer" in out
    code, out = ask("read", "dataos://alicedb:public/orders", "--as", "bob")
    assert code == 1 and out.endswith("no use case, ownership or policy grants it")
    code, out = ask("unsanitize", "instance-secret/bobdb-r", "--as", "bob")
    assert code == 1  # owning a secret does not show its values
    # Asking about someone else needs to read them.
    refused = run_cli(
        "auth", "can-i", "list", "depots", "--as", "olga", env={"ENTREPOT_USER": "bob"}
    )
    assert refused.exit_code == 5 and "may not read user 'olga'" in refused.stderr


def test_users_their_tags_and_unknown_users(home: Path, tmp_path: Path) -> None:
    setup(tmp_path)
    me = json.loads(run_cli("user", "get", "--output", "json").stdout)
    assert me == [
        {
            "name": "alice",
            "id": "alice",
            "tags": ["users:id:alice", "roles:id:user", "roles:id:operator"],
        }
    ]
    everyone = json.loads(run_cli("user", "get", "-a", "--output", "json").stdout)
    assert [u["name"] for u in everyone] == ["alice", "bob", "dana", "olga"]
    assert run_cli("user", "get", "-a", env={"ENTREPOT_USER": "bob"}).exit_code == 5
    assert run_cli("user", "tag", "add", "bob", "roles:id:data-dev").exit_code == 0
    assert as_user("bob", "get", "-t", "depot", "-a")[0] == 0
    removed = run_cli("user", "tag", "remove", "bob", "roles:id:user")
    assert removed.exit_code == 3 and "carried by every user" in removed.stderr
    assert run_cli("user", "tag", "remove", "bob", "roles:id:data-dev").exit_code == 0
    assert as_user("bob", "get", "-t", "depot", "-a")[0] == 5
    stranger = run_cli("get", "-t", "depot", env={"ENTREPOT_USER": "mallory"})
    assert stranger.exit_code == 5
    assert "user 'mallory' is not a user of this store" in stranger.stderr
    assert "entrepot user create mallory" in stranger.stderr
    assert run_cli("user", "delete", "dana").exit_code == 0
    assert run_cli("get", "-t", "depot", env={"ENTREPOT_USER": "dana"}).exit_code == 5
    bad = run_cli("user", "create", "eve", "--tag", "operator")
    assert bad.exit_code == 3 and "namespace:kind:value" in bad.stderr


def test_every_refusal_is_audited(home: Path, tmp_path: Path) -> None:
    setup(tmp_path)
    as_user("bob", "get", "-t", "depot", "-a")
    run_cli("delete", "-t", "depot", "-n", "alicedb", env={"ENTREPOT_USER": "bob"})
    run_cli("query", "SELECT 1 FROM alicedb.public.t", env={"ENTREPOT_USER": "bob"})
    audit = json.loads(run_cli("admin", "audit", "--output", "json").stdout)
    denials = [
        (e["actor"], e["purpose"], e["resource_name"]) for e in audit if e["action"] == "deny"
    ]
    assert ("bob", "depot:list-all", None) in denials
    assert ("bob", "depot:delete", "alicedb") in denials
    assert ("bob", "dataset:read", "alicedb") in denials
    assert all(e["detail"] for e in audit if e["action"] == "deny")  # the rule that decided
    # Reading the trail is an operator's: bob is refused, and that is audited too.
    assert run_cli("admin", "audit", env={"ENTREPOT_USER": "bob"}).exit_code == 5


def test_unsanitize_shows_values_to_those_granted_and_audits_it(home: Path, tmp_path: Path) -> None:
    setup(tmp_path)
    olga = {"ENTREPOT_USER": "olga"}
    args = ("get", "-t", "instance-secret", "-a", "-n", "bobdb-r", "--unSanitize")
    shown = run_cli(*args, "--output", "json", env=olga)
    assert shown.exit_code == 0, shown.stderr
    [record] = json.loads(shown.stdout)
    assert record["data"] == {"username": "u", "password": "Faq-Pass-bobdb"}
    refused = run_cli(*args, env={"ENTREPOT_USER": "dana"})  # lists it, may not read values
    assert refused.exit_code == 5 and "may not read the values of instance-secret" in refused.stderr
    assert "Faq-Pass-bobdb" not in refused.output
    audit = json.loads(run_cli("admin", "audit", "--output", "json").stdout)
    assert any(
        e["actor"] == "olga" and e["action"] == "decrypt" and e["purpose"] == "get --unSanitize"
        for e in audit
    )


def test_get_every_kind_shows_what_you_may_list(home: Path, tmp_path: Path) -> None:
    """`get -a` without -t: everyone's depots and secrets for a data-dev, and no refusal for
    the kinds a data-dev may not list everyone's of (policies)."""
    setup(tmp_path)
    result = run_cli("get", "-a", "--output", "json", env={"ENTREPOT_USER": "dana"})
    assert result.exit_code == 0, result.stderr
    kinds = {(r["type"], r["name"]) for r in json.loads(result.stdout)}
    assert ("depot", "alicedb") in kinds and ("instance-secret", "bobdb-r") in kinds
