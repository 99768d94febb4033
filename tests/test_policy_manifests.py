"""`type: policy` as a user meets it: apply, get -d, diff, lint, delete, schema, template; and the
stored manifest compiled into the authorizer's rules (`rules_from_manifest`).

Broken policies, each with its message and position, are in tests/corpus/broken/ (64-79).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from entrepot.access.decide import Actor, Authorizer, Target
from entrepot.access.usecases import DATA_DEV, OPERATOR, default_grants
from entrepot.errors import StoreError
from entrepot.resources.policy import rules_from_manifest
from tests.conftest import ROOT, run_cli, write

DENY_LISTING = """\
name: deny-depot-listing
version: v1
type: policy
layer: user
description: data-dev may not list depots
policy:
  access:
    subjects:
      tags:
        - roles:id:data-dev        # tags, globs allowed: users:id:**, roles:id:*
    predicates:
      - get
    objects:
      paths:
        - /ds/api/v2/depots
    allow: false
"""

# DataOS's address policy, written as its flags often are: text booleans, capitals.
ALLOW_PEOPLE = """\
name: people-readers
version: v1
type: policy
description: analysts read the people warehouse
policy:
  access:
    subjects:
      tags: ["roles:id:analyst-*", "users:id:bob"]
    predicates: [READ, Get]
    objects:
      paths:
        - dataos://lakehouse:people_dw/*
        - /ds/api/v2/depots/lakehouse/**
    allow: "true"
"""


def stored(name: str) -> dict[str, Any]:
    """What `get -d --output json` shows of one policy."""
    result = run_cli("get", "-t", "policy", "-n", name, "-d", "--output", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 1, rows
    return rows[0]  # type: ignore[no-any-return]


def test_a_deny_policy_applies_lists_shows_and_deletes(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yml", DENY_LISTING)
    applied = run_cli("apply", "-f", str(path))
    assert (applied.exit_code, applied.stdout) == (
        0,
        "applying deny-depot-listing:v1:policy...created\n",
    )
    assert applied.stderr == ""  # no warning, no connection check, no run
    listed = run_cli("get", "-t", "policy")
    assert listed.exit_code == 0
    row = listed.stdout.splitlines()[2].split("|")
    assert [cell.strip() for cell in row] == [
        "deny-depot-listing", "v1", "policy", "", "active", "", "alice",
    ]  # fmt: skip
    details = run_cli("get", "-t", "policy", "-n", "deny-depot-listing", "-d")
    assert "--- deny-depot-listing:v1:policy" in details.stdout
    shown = yaml.safe_load(details.stdout.split("--- deny-depot-listing:v1:policy", 1)[1])
    assert shown["manifest"]["policy"] == {
        "access": {
            "subjects": {"tags": ["roles:id:data-dev"]},
            "predicates": ["get"],
            "objects": {"paths": ["/ds/api/v2/depots"]},
            "allow": False,
        }
    }
    assert "secrets" not in shown  # a policy holds none
    again = run_cli("apply", "-f", str(path))
    assert again.stdout == "applying deny-depot-listing:v1:policy...unchanged\n"
    deleted = run_cli("delete", "-t", "policy", "-n", "deny-depot-listing")
    assert (deleted.exit_code, deleted.stdout) == (
        0,
        "deleting deny-depot-listing:v1:policy...deleted\n",
    )
    empty = run_cli("get", "-t", "policy")
    assert (empty.exit_code, empty.stdout) == (0, "")
    assert "no policies found owned by you" in empty.stderr


def test_an_address_policy_is_stored_as_validated(home: Path, tmp_path: Path) -> None:
    """`allow: "true"` is stored as a boolean and `READ` as read: the authorization layer reads
    the stored section, and text where a boolean belongs must never reach it."""
    path = write(tmp_path / "people.yml", ALLOW_PEOPLE)
    applied = run_cli("apply", "-f", str(path), "-w", "sales")
    assert applied.stdout == "applying people-readers:v1:policy...created\n", applied.output
    row = stored("people-readers")
    assert row["workspace"] is None  # instance-level: -w does not apply
    assert row["manifest"]["policy"]["access"] == {
        "subjects": {"tags": ["roles:id:analyst-*", "users:id:bob"]},
        "predicates": ["read", "get"],
        "objects": {"paths": ["dataos://lakehouse:people_dw/*", "/ds/api/v2/depots/lakehouse/**"]},
        "allow": True,
    }
    assert row["description"] == "analysts read the people warehouse"
    removed = run_cli("delete", "-f", str(path))
    assert removed.stdout == "deleting people-readers:v1:policy...deleted\n", removed.output


def test_lint_and_dry_run_write_nothing(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "p.yml", DENY_LISTING + "---\n" + ALLOW_PEOPLE)
    lint = run_cli("apply", "--lint", "-f", str(path))
    assert lint.stdout.splitlines() == [
        "applying deny-depot-listing:v1:policy...valid",
        "applying people-readers:v1:policy...valid",
    ]
    dry = run_cli("apply", "--dry-run", "-f", str(path))
    assert dry.stdout.splitlines() == [
        "applying deny-depot-listing:v1:policy...created (dry run)",
        "applying people-readers:v1:policy...created (dry run)",
    ]
    listed = run_cli("get", "-a", "--output", "json")
    assert json.loads(listed.stdout) == []


def test_diff_shows_a_policy_turned_from_deny_to_allow(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "p.yml", DENY_LISTING)
    first = run_cli("diff", "-f", str(path))
    assert first.exit_code == 1 and "created: deny-depot-listing:v1:policy" in first.stdout
    run_cli("apply", "-f", str(path))
    same = run_cli("diff", "-f", str(path))
    assert (same.exit_code, same.stdout) == (0, "")
    write(path, DENY_LISTING.replace("allow: false", 'allow: "true"'))
    changed = run_cli("diff", "-f", str(path))
    assert changed.exit_code == 1, changed.output
    assert "-    allow: false\n+    allow: true\n" in changed.stdout
    updated = run_cli("apply", "-f", str(path))
    assert updated.stdout == "applying deny-depot-listing:v1:policy...updated\n"
    assert stored("deny-depot-listing")["generation"] == 2


def test_every_problem_of_a_policy_is_reported_at_once(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.yml",
        """\
name: bad
version: v1
type: policy
policy:
  data: {type: mask}
  access:
    subjects: {tags: ["{hint}"]}
    predicates: [gett]
    objects: {tags: [PII], paths: [ds/api]}
    allow: maybe
""",
    )
    result = run_cli("apply", "-f", str(path))
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if " error: " in line]
    assert errors == [
        f"{path}:7:23: error: policy.access.subjects.tags[0]: invalid subject tag '{{hint}}': "
        "expected namespace:..., e.g. users:id:alice",
        f"{path}:8:18: error: policy.access.predicates[0]: unknown predicate 'gett', "
        "did you mean 'get'?",
        f"{path}:9:36: error: policy.access.objects.paths[0]: invalid object path 'ds/api': "
        "expected an API path starting with '/' or a dataos:// address",
        f"{path}:9:15: error: policy.access.objects.tags: object tags are not supported yet",
        f"{path}:10:5: error: policy.access.allow: expected true or false",
        f"{path}:5:3: error: policy.data: data policies (masking, filters) are not supported yet",
    ]
    assert json.loads(run_cli("get", "-a", "--output", "json").stdout) == []


def test_schema_policy_validates_what_apply_takes(home: Path) -> None:
    result = run_cli("schema", "policy")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.validate(yaml.safe_load(DENY_LISTING), schema)
    jsonschema.validate(yaml.safe_load(ALLOW_PEOPLE.replace("READ, Get", "read, get")), schema)
    for broken in (
        DENY_LISTING.replace("- get", "- list"),
        DENY_LISTING.replace("- /ds/api/v2/depots", "- ds/api/v2/depots"),
        DENY_LISTING.replace("- roles:id:data-dev", "- alice"),
        DENY_LISTING.replace("    allow: false\n", ""),
        DENY_LISTING.replace("allow: false", "allow: maybe"),
        DENY_LISTING.replace("      paths:", "      tags: [PII]\n      paths:"),
        DENY_LISTING.replace("policy:\n", "policy:\n  data: {type: mask}\n"),
        DENY_LISTING.replace("      paths:\n        - /ds/api/v2/depots", "      paths: []"),
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(broken), schema)
    one = run_cli("schema", "policy", "-v", "v1")
    assert json.loads(one.stdout) == schema
    missing = run_cli("schema", "policy", "-v", "v2")
    assert missing.exit_code == 3 and "no version 'v2' of policy" in missing.stderr


def test_the_readme_example_applies(home: Path, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Policies") :]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    applied = run_cli("apply", "-f", str(write(tmp_path / "readme.yml", example)))
    assert applied.stdout == "applying deny-depot-listing:v1:policy...created\n", applied.output


def test_the_policy_template_applies(home: Path, tmp_path: Path) -> None:
    result = run_cli("template", "policy", "-n", "no-depots")
    assert result.exit_code == 0, result.output
    applied = run_cli("apply", "-f", str(write(tmp_path / "t.yml", result.stdout)))
    assert applied.stdout == "applying no-depots:v1:policy...created\n", applied.output
    bad = run_cli("template", "policy", "-n", "No_Depots")
    assert bad.exit_code == 3 and "hint: for example -n no-depots" in bad.stderr
    typed = run_cli("template", "policy", "postgresql")
    assert typed.exit_code == 2 and "a policy template takes no type" in typed.stderr


# --- the stored manifest, compiled for the authorizer --------------------------------------------


def test_rules_from_a_stored_deny_policy_refuse_what_a_use_case_grants(
    home: Path, tmp_path: Path
) -> None:
    run_cli("apply", "-f", str(write(tmp_path / "p.yml", DENY_LISTING)))
    row = stored("deny-depot-listing")
    rules = rules_from_manifest(row["name"], row["manifest"])
    authorizer = Authorizer(default_grants(), rules)
    dev = Actor("dana", frozenset({"users:id:dana", DATA_DEV}))
    refused = authorizer.decide(dev, "depot:list-all", Target("depot"))
    assert (refused.allowed, refused.via) == (False, "deny-policy")
    assert refused.rule == "policy 'deny-depot-listing' (deny)"
    # Reading one depot is another path: the use case still grants it.
    assert authorizer.decide(dev, "depot:read", Target("depot", name="sales")).allowed
    operator = Actor("olga", frozenset({"users:id:olga", OPERATOR}))
    assert authorizer.decide(operator, "depot:list-all", Target("depot")).allowed


def test_rules_from_a_stored_address_policy_match_by_glob(home: Path, tmp_path: Path) -> None:
    run_cli("apply", "-f", str(write(tmp_path / "p.yml", ALLOW_PEOPLE)))
    row = stored("people-readers")
    [rule] = rules_from_manifest(row["name"], row["manifest"])
    assert rule.allow is True
    assert rule.applies_to(frozenset({"roles:id:analyst-eu"}))
    assert not rule.applies_to(frozenset({"roles:id:data-dev", "users:id:bobby"}))
    people = "dataos://lakehouse:people_dw/people"
    assert rule.matches("GET", "/ds/api/v2/depots/lakehouse/datasets", "read", people)
    assert rule.matches("POST", "/ds/api/v2/other", "read", people)  # by its address
    assert not rule.matches("POST", "/ds/api/v2/other", "write", people)
    assert not rule.matches("POST", "/x", "read", "dataos://lakehouse:other_dw/people")


def test_rules_from_a_raw_manifest_never_read_text_false_as_true() -> None:
    """A manifest handed over as written (`allow: "false"`) is validated, not trusted:
    bool("false") is True, and a deny must not become a grant."""
    raw = yaml.safe_load(DENY_LISTING.replace("allow: false", 'allow: "false"'))
    [rule] = rules_from_manifest("deny-depot-listing", raw)
    assert rule.allow is False
    assert rule.predicates == frozenset({"get"})


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            {"policy": {"access": {"allow": "maybe"}}},
            "policy.access.subjects: missing required field 'subjects'",
        ),
        ({}, "policy: expected a mapping (key: value lines)"),
        (
            yaml.safe_load(DENY_LISTING.replace("- get", "- list")),
            "policy.access.predicates[0]: unknown predicate 'list'",
        ),
    ],
)
def test_a_stored_policy_that_no_longer_validates_is_an_error(
    manifest: dict[str, Any], message: str
) -> None:
    with pytest.raises(StoreError) as raised:
        rules_from_manifest("old", manifest)
    assert raised.value.exit_code == 6
    rendered = raised.value.render()
    assert f"error: stored policy 'old' is not valid: {message}" in rendered
    assert "hint: apply its manifest again" in rendered
    assert "entrepot delete -t policy -n old" in rendered
