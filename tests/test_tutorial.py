"""The tutorial (shared/seed), Steps 1 to 4, run verbatim with `dataos-ctl` in real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, TUTORIAL, SalesDatabase, run_process, write

pytestmark = pytest.mark.postgres


def tutorial_env(home: Path, postgres: SalesDatabase) -> dict[str, str]:
    return {
        "ENTREPOT_HOME": str(home),
        "ENTREPOT_USER": "max",
        "POSTGRES_USERNAME": postgres.reader,
        "POSTGRES_PASSWORD": postgres.password,
        "ACCESS_CONTROL_LIST": "r",
    }


def test_steps_1_to_4_verbatim_against_the_demo_database(
    home: Path, postgres: SalesDatabase
) -> None:
    env = tutorial_env(home, postgres)
    # The demo's copy of the depot manifest differs from the tutorial's only in host and port,
    # template placeholders filled with --set.
    local = ["--set", f"pg_host={postgres.host}", "--set", f"pg_port={postgres.port}"]
    manifests = ROOT / "demo" / "manifests"

    step1 = run_process(
        "resource", "apply", "-f", str(manifests / "postgres-instance-secret.yml"),
        program="dataos-ctl", env=env,
    )  # fmt: skip
    assert step1.exit_code == 0, step1.stderr
    assert step1.stdout.strip() == "applying postgres-r:v1:instance-secret...created"

    step3 = run_process(
        "resource", "apply", "-f", str(manifests / "postgres-depot.yml"), *local,
        program="dataos-ctl", env=env,
    )  # fmt: skip
    assert step3.exit_code == 0, step3.stderr
    created, verified = step3.stdout.strip().splitlines()
    assert created == "applying postgres:v2alpha:depot...created"
    assert verified.startswith("verifying postgres...active (ok ")  # connected for real
    # postgres-r follows the ${depot}-${acl} convention, and host and port come from --set,
    # not from the environment: no warning at all.
    assert step3.stderr == "", step3.stderr

    step4 = run_process("get", "-t", "depot", program="dataos-ctl", env=env)
    assert step4.exit_code == 0
    header, _rule, row = step4.stdout.strip().splitlines()
    assert [c.strip() for c in header.split("|")] == [
        "NAME", "VERSION", "TYPE", "WORKSPACE", "STATUS", "RUNTIME", "OWNER", "CONNECTION",
    ]  # fmt: skip
    cells = [c.strip() for c in row.split("|")]
    assert cells[:7] == ["postgres", "v2alpha", "depot", "", "active", "", "max"]
    assert cells[7].startswith("ok ") and cells[7].endswith(" ms")

    detail = run_process("get", "-t", "depot", "-n", "postgres", "-d", "--output", "json", env=env)
    [depot] = json.loads(detail.stdout)
    assert depot["sourceType"] == "postgresql"
    assert depot["manifest"]["depot"]["jdbc"]["host"] == postgres.host
    assert depot["manifest"]["depot"]["jdbc"]["port"] == postgres.port  # a number, as written
    assert depot["references"] == [
        {"type": "instance-secret", "name": "postgres-r", "id": "postgres-r:v1:instance-secret",
         "exists": True}
    ]  # fmt: skip


def test_the_tutorial_manifests_as_written(home: Path, postgres: SalesDatabase) -> None:
    """The depot with host db.postgres.example.com applies, and shows `error` with DNS failed."""
    env = tutorial_env(home, postgres)
    for name in ("instance_secret.yml", "depot_manifest.yml"):
        result = run_process(
            "resource", "apply", "-f", str(TUTORIAL / name), program="dataos-ctl", env=env
        )
        assert result.exit_code == 0, result.stderr
    assert "verifying postgres...error: dns: host 'db.postgres.example.com' does not resolve" in (
        result.stderr
    )
    listing = run_process("get", "-t", "depot", "-a", program="dataos-ctl", env=env)
    row = [c.strip() for c in listing.stdout.splitlines()[2].split("|")]
    assert (row[0], row[4], row[7]) == ("postgres", "error", "dns")
    check = run_process("check", "depot", "postgres", "--timeout", "3", env=env)
    assert check.exit_code == 7
    assert "failed  dns" in check.stdout and "skipped tcp" in check.stdout

    # Step 5's scanner names depot `postgresdepot`, a typo of `postgres`: refused, with the fix.
    applied = run_process("apply", "-f", str(TUTORIAL / "scanner.yml"), env=env)
    assert applied.exit_code == 3
    assert "scanner.yml:16:11: error: workflow.dag[0].spec.stackSpec.depot: depot " in (
        applied.stderr
    )
    assert "'postgresdepot' does not exist, did you mean 'postgres'?" in applied.stderr
    # --lint checks the document alone: a depot not applied yet is a warning there.
    lint = run_process("apply", "-f", str(TUTORIAL / "scanner.yml"), "-l", env=env)
    assert lint.exit_code == 0, lint.stderr
    assert "scanner.yml:16:11: warning: workflow.dag[0].spec.stackSpec.depot: depot " in (
        lint.stderr
    )
    assert "'postgresdepot' is not applied yet, did you mean 'postgres'?" in lint.stderr


def test_the_tutorial_azure_depot(home: Path, tmp_path: Path) -> None:
    secrets = write(
        tmp_path / "thirdparty-secrets.yml",
        "\n---\n".join(
            f"""name: thirdparty-{acl}
version: v1
type: instance-secret
layer: user
instance-secret:
  type: key-value-properties
  acl: {acl}
  data:
    azurestorageaccountname: mockdataos
    azurestorageaccountkey: $AZURE_KEY
"""
            for acl in ("r", "rw")
        ),
    )
    env = {"ENTREPOT_HOME": str(home), "ENTREPOT_USER": "max", "AZURE_KEY": "a2V5a2V5a2V5"}
    result = run_process(
        "apply", "-f", str(secrets), "-f", str(TUTORIAL / "azure_depot.yml"),
        program="dataos-ctl", env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "applying thirdparty:v1:depot...created" in result.stdout
    detail = run_process(
        "get", "-t", "depot", "-n", "thirdparty", "-d", "--output", "yaml", env=env
    )
    assert "owner: max" in detail.stdout  # {{owner}} defaults to the applying user
    assert "sourceType: abfss" in detail.stdout
