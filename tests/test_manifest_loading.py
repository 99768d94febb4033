"""Loading manifests through the CLI: files, folders, stdin, interpolation, placeholders, types.

Everything is checked as a user sees it: `apply` (or `apply --lint`), then `get --output json`
to read back what the store kept. Secret values are never read back; interpolation is checked on
depot fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from entrepot.secrets.redact import redactor
from tests.conftest import TUTORIAL, Result, run_cli, write


def secret(name: str = "postgres-r", acl: str = "r") -> str:
    return (
        f"name: {name}\n"
        "version: v1\n"
        "type: instance-secret\n"
        "instance-secret:\n"
        "  type: key-value-properties\n"
        f"  acl: {acl}\n"
        "  data:\n"
        "    username: reader\n"
        "    password: reader-password\n"
    )


def depot(
    host: str = "db.example.com",
    *,
    name: str = "postgres",
    secret_name: str = "postgres-r",
    source_type: str = "postgresql",
    block: str = "postgresql",
    database: str = "sales",
    extra: str = "",
) -> str:
    return (
        f"name: {name}\n"
        "version: v2alpha\n"
        "type: depot\n"
        "depot:\n"
        f"  type: {source_type}\n"
        "  external: true\n"
        "  secrets:\n"
        f"    - name: {secret_name}\n"
        "      allkeys: true\n"
        f"  {block}:\n"
        f"{extra}"
        f"    host: {host}\n"
        f"    database: {database}\n"
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def records(*args: str) -> list[dict[str, Any]]:
    """`get -a --output json` as a new process runs it.

    In-process, values interpolated from the environment by an earlier `apply` stay registered
    with the process-wide redactor (they may be secrets), so a later `get` in the same process
    would print a depot's `host: $PG_HOST` as '******'. A separate `get` process starts with an
    empty redactor: clear it to read back what the store holds, as a user would.
    """
    redactor.clear()
    result = ok(run_cli("get", "-a", "--output", "json", *args))
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def ids() -> list[str]:
    return sorted(record["id"] for record in records())


def stored_depot(name: str = "postgres") -> dict[str, Any]:
    found = records("-t", "depot", "-n", name, "-d")
    assert len(found) == 1, found
    return found[0]


def block(name: str = "postgres", key: str = "postgresql") -> dict[str, Any]:
    return stored_depot(name)["manifest"]["depot"][key]  # type: ignore[no-any-return]


# --- sources: files, documents, folders, stdin ---------------------------------------------------


def test_one_file(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "secret.yaml", secret())
    result = ok(run_cli("apply", "-f", str(path)))
    assert "applying postgres-r:v1:instance-secret...created" in result.stdout
    [record] = records()
    assert record["id"] == "postgres-r:v1:instance-secret"
    assert record["owner"] == "alice"


def test_multi_document_file(home: Path, tmp_path: Path) -> None:
    text = "---\n" + secret() + "---\n# only a comment\n---\n" + depot() + "...\n"
    path = write(tmp_path / "all.yaml", text)
    result = ok(run_cli("apply", "-f", str(path)))
    assert "postgres-r:v1:instance-secret...created" in result.stdout
    assert "postgres:v2alpha:depot...created" in result.stdout
    assert ids() == ["postgres-r:v1:instance-secret", "postgres:v2alpha:depot"]


def test_several_files_in_one_apply(home: Path, tmp_path: Path) -> None:
    first = write(tmp_path / "secret.yaml", secret())
    second = write(tmp_path / "depot.yml", depot())
    ok(run_cli("apply", "-f", str(first), "-f", str(second)))
    assert ids() == ["postgres-r:v1:instance-secret", "postgres:v2alpha:depot"]


def _tree(root: Path) -> Path:
    folder = root / "manifests"
    write(folder / "a.yaml", secret("alpha-r"))
    write(folder / "b.yml", secret("beta-r"))
    write(folder / "notes.txt", "not a manifest: {{{")
    write(folder / "nested" / "c.yaml", secret("gamma-r"))
    write(folder / "nested" / "deeper" / "d.yml", secret("delta-r"))
    return folder


def test_folder_reads_only_its_top_level_without_r(home: Path, tmp_path: Path) -> None:
    ok(run_cli("apply", "-f", str(_tree(tmp_path))))
    assert ids() == ["alpha-r:v1:instance-secret", "beta-r:v1:instance-secret"]


def test_folder_with_r_descends_into_sub_folders(home: Path, tmp_path: Path) -> None:
    ok(run_cli("apply", "-f", str(_tree(tmp_path)), "-R"))
    assert ids() == [
        "alpha-r:v1:instance-secret",
        "beta-r:v1:instance-secret",
        "delta-r:v1:instance-secret",
        "gamma-r:v1:instance-secret",
    ]


def test_folder_without_yaml_files_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    write(folder / "README.txt", "nothing here")
    result = run_cli("apply", "-f", str(folder))
    assert result.exit_code == 3, result.output
    assert f"{folder}: error: no .yaml or .yml files in this folder" in result.stderr
    assert "Traceback" not in result.output
    assert records() == []


def test_folder_with_yaml_only_in_sub_folders_suggests_r(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    write(folder / "sub" / "secret.yaml", secret())
    result = run_cli("apply", "-f", str(folder))
    assert result.exit_code == 3, result.output
    assert "no .yaml or .yml files in this folder" in result.stderr
    assert "hint: use -R to search sub-folders" in result.stderr
    assert records() == []


def test_missing_path_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run_cli("apply", "-f", str(missing))
    assert result.exit_code == 3, result.output
    assert f"{missing}: error: no such file or folder" in result.stderr
    assert "Traceback" not in result.output


def test_stdin(home: Path) -> None:
    result = ok(run_cli("apply", "-f", "-", stdin=secret() + "---\n" + depot()))
    assert "postgres:v2alpha:depot...created" in result.stdout
    assert ids() == ["postgres-r:v1:instance-secret", "postgres:v2alpha:depot"]


def test_stdin_together_with_a_file(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "secret.yaml", secret())
    ok(run_cli("apply", "-f", str(path), "-f", "-", stdin=depot()))
    assert ids() == ["postgres-r:v1:instance-secret", "postgres:v2alpha:depot"]


def test_lint_validates_and_writes_nothing(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "all.yaml", secret() + "---\n" + depot())
    result = ok(run_cli("apply", "--lint", "-f", str(path)))
    assert "postgres-r:v1:instance-secret...valid" in result.stdout
    assert "postgres:v2alpha:depot...valid" in result.stdout
    assert records() == []


def test_utf8_byte_order_mark_is_accepted(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + depot(host="hôte.example.com").encode())
    ok(run_cli("apply", "-f", "-", "-f", str(path), stdin=secret()))
    assert block()["host"] == "hôte.example.com"


def test_anchors_and_merge_keys_are_expanded(home: Path, tmp_path: Path) -> None:
    text = (
        secret()
        + "---\n"
        + depot(extra="    <<: &common\n      port: 6432\n      params: {sslmode: require}\n")
    )
    ok(run_cli("apply", "-f", str(write(tmp_path / "m.yaml", text))))
    stored = block()
    assert stored["port"] == 6432
    assert stored["params"] == {"sslmode": "require"}
    assert "<<" not in stored


# --- environment interpolation -------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["$PG_HOST", "${PG_HOST}", '"${PG_HOST}"'])
def test_environment_variables_are_interpolated(home: Path, tmp_path: Path, reference: str) -> None:
    path = write(tmp_path / "depot.yaml", secret() + "---\n" + depot(reference))
    ok(run_cli("apply", "-f", str(path), env={"PG_HOST": "db.internal.example"}))
    assert block()["host"] == "db.internal.example"


def test_interpolation_inside_a_longer_value(home: Path, tmp_path: Path) -> None:
    text = secret() + "---\n" + depot("db-${REGION}.example.com", database="sales_$ENVIRONMENT")
    path = write(tmp_path / "depot.yaml", text)
    ok(run_cli("apply", "-f", str(path), env={"REGION": "eu1", "ENVIRONMENT": "prod"}))
    assert block()["host"] == "db-eu1.example.com"
    assert block()["database"] == "sales_prod"


def test_double_dollar_is_a_literal_dollar(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_A_VARIABLE", raising=False)
    text = secret() + "---\n" + depot("db.example.com", database="'sales$$2024 $${NOT_A_VARIABLE}'")
    ok(run_cli("apply", "-f", str(write(tmp_path / "depot.yaml", text))))
    assert block()["database"] == "sales$2024 ${NOT_A_VARIABLE}"


def test_default_value_when_the_variable_is_unset(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PG_HOST", raising=False)
    text = secret() + "---\n" + depot("${PG_HOST:-localhost}")
    ok(run_cli("apply", "-f", str(write(tmp_path / "depot.yaml", text))))
    assert block()["host"] == "localhost"


def test_default_value_is_ignored_when_the_variable_is_set(home: Path, tmp_path: Path) -> None:
    text = secret() + "---\n" + depot("${PG_HOST:-localhost}")
    path = write(tmp_path / "depot.yaml", text)
    ok(run_cli("apply", "-f", str(path), env={"PG_HOST": "db.internal.example"}))
    assert block()["host"] == "db.internal.example"


def test_disable_interpolation_keeps_dollar_signs(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PG_HOST", raising=False)
    monkeypatch.delenv("PG_DB", raising=False)
    text = secret() + "---\n" + depot("$PG_HOST", database="'${PG_DB}$$x'")
    path = write(tmp_path / "depot.yaml", text)
    ok(run_cli("apply", "--disable-interpolation", "-f", str(path)))
    assert block()["host"] == "$PG_HOST"
    assert block()["database"] == "${PG_DB}$$x"


def test_disable_interpolation_accepts_dollar_in_secret_values(home: Path, tmp_path: Path) -> None:
    text = secret().replace("password: reader-password", "password: p@$$w0rd$ecret")
    path = write(tmp_path / "secret.yaml", text)
    result = ok(run_cli("apply", "--disable-interpolation", "-f", str(path)))
    assert "postgres-r:v1:instance-secret...created" in result.stdout
    assert "p@$$w0rd$ecret" not in result.output


def test_comments_are_not_interpolated(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tutorial's instance secret has `${DEPOT_NAME}` in a comment; it is not a variable."""
    monkeypatch.delenv("DEPOT_NAME", raising=False)
    env = {
        "ACCESS_CONTROL_LIST": "r",
        "POSTGRES_USERNAME": "reader",
        "POSTGRES_PASSWORD": "tutorial-password",
    }
    result = ok(run_cli("apply", "-f", str(TUTORIAL / "instance_secret.yml"), env=env))
    assert "postgres-r:v1:instance-secret...created" in result.stdout
    assert "DEPOT_NAME" not in result.output
    [record] = records("-d")
    assert record["manifest"]["instance-secret"]["acl"] == "r"
    assert "tutorial-password" not in json.dumps(record)


# --- template placeholders -----------------------------------------------------------------------


def _thirdparty_secrets(tmp_path: Path) -> Path:
    return write(
        tmp_path / "thirdparty-secrets.yaml",
        secret("thirdparty-r") + "---\n" + secret("thirdparty-rw", acl="rw"),
    )


def test_owner_placeholder_defaults_to_the_applying_user(home: Path, tmp_path: Path) -> None:
    secrets = _thirdparty_secrets(tmp_path)
    ok(run_cli("apply", "-f", str(secrets), "-f", str(TUTORIAL / "azure_depot.yml")))
    record = stored_depot("thirdparty")
    assert record["owner"] == "alice"
    assert record["manifest"]["owner"] == "alice"


def test_set_owner_overrides_the_default(home: Path, tmp_path: Path) -> None:
    secrets = _thirdparty_secrets(tmp_path)
    azure = str(TUTORIAL / "azure_depot.yml")
    ok(run_cli("apply", "-f", str(secrets), "-f", azure, "--set", "owner=bob"))
    record = stored_depot("thirdparty")
    assert record["owner"] == "bob"
    assert record["manifest"]["owner"] == "bob"
    mine = json.loads(ok(run_cli("get", "-t", "depot", "--output", "json")).stdout)
    assert mine == [], "bob's depot is not listed among alice's own resources"


@pytest.mark.parametrize("written", ["${{host}}", '"${{host}}"', "{{host}}", "'{{ host }}'"])
def test_placeholder_filled_by_set(home: Path, tmp_path: Path, written: str) -> None:
    text = secret() + "---\n" + depot(written)
    path = write(tmp_path / "depot.yaml", text)
    ok(run_cli("apply", "-f", str(path), "--set", "host=db.filled.example"))
    assert block()["host"] == "db.filled.example"


def test_unquoted_placeholder_filled_with_a_number_stays_a_number(
    home: Path, tmp_path: Path
) -> None:
    text = secret() + "---\n" + depot(extra="    port: {{port}}\n")
    path = write(tmp_path / "depot.yaml", text)
    ok(run_cli("apply", "-f", str(path), "--set", "port=6543"))
    assert block()["port"] == 6543


# --- depot types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_type", "block_key", "extra"),
    [
        ("POSTGRESQL", "postgresql", ""),
        ("PostgreSQL", "postgresql", ""),
        ("postgres", "postgresql", ""),
        ("POSTGRES", "postgresql", ""),
        ("jdbc", "jdbc", "    subprotocol: postgresql\n"),
        ("JDBC", "jdbc", "    subprotocol: postgresql\n"),
        ("postgresql", "jdbc", "    subprotocol: postgresql\n"),
    ],
)
def test_depot_types_are_case_insensitive(
    home: Path, tmp_path: Path, source_type: str, block_key: str, extra: str
) -> None:
    text = secret() + "---\n" + depot(source_type=source_type, block=block_key, extra=extra)
    ok(run_cli("apply", "-f", str(write(tmp_path / "depot.yaml", text))))
    record = stored_depot()
    assert record["sourceType"] == "postgresql"
    assert record["manifest"]["depot"]["type"] == source_type


def test_tutorial_postgres_depot_applies(home: Path, tmp_path: Path) -> None:
    ok(run_cli("apply", "-f", str(write(tmp_path / "s.yaml", secret()))))
    ok(run_cli("apply", "-f", str(TUTORIAL / "depot_manifest.yml")))
    record = stored_depot()
    assert record["sourceType"] == "postgresql"
    assert record["manifest"]["depot"]["jdbc"]["host"] == "db.postgres.example.com"
    assert record["manifest"]["depot"]["jdbc"]["port"] == 5432


def test_tutorial_azure_v1_depot_keeps_every_field(home: Path, tmp_path: Path) -> None:
    secrets = _thirdparty_secrets(tmp_path)
    result = ok(run_cli("apply", "-f", str(secrets), "-f", str(TUTORIAL / "azure_depot.yml")))
    assert "thirdparty:v1:depot...created" in result.stdout
    tags = [
        "dataos:type:resource",
        "dataos:type:cluster-resource",
        "dataos:resource:depot",
        "dataos:layer:user",
    ]
    record = stored_depot("thirdparty")
    assert record["sourceType"] == "abfss"
    assert record["tags"] == tags
    manifest = record["manifest"]
    assert manifest["tags"] == tags
    assert manifest["description"] == "Default Third Party Depot for new"
    spec = manifest["depot"]
    assert spec["name"] == "thirdparty"
    assert "owner" in spec
    assert spec["owner"] in (None, "")
    assert spec["type"] == "ABFSS"
    assert spec["compute"] == "query-default"
    assert spec["source"] == "thirdparty"
    assert spec["external"] is True
    assert spec["resources"] == {
        "requests": {"cpu": "100m", "memory": "550Mi"},
        "limits": {"cpu": "1000m", "memory": "1500Mi"},
    }
    assert spec["spec"] == {
        "account": "mockdataos",
        "container": "dropzone001",
        "relativePath": "large_dataset_20200511",
    }
    assert [s["name"] for s in spec["secrets"]] == ["thirdparty-rw", "thirdparty-r"]
    assert spec["secrets"][0]["keys"] == ["thirdparty-rw"]


# --- cross-resource rules ------------------------------------------------------------------------


def test_secret_name_off_convention_is_a_warning(home: Path, tmp_path: Path) -> None:
    text = secret("pgsecret") + "---\n" + depot(secret_name="pgsecret")
    path = write(tmp_path / "all.yaml", text)
    result = ok(run_cli("apply", "-f", str(path)))
    assert (
        f"{path}:18:7: warning: depot.secrets[0].name: instance secret 'pgsecret' (acl: r) "
        "does not follow the ${depot}-${acl} naming convention"
    ) in result.stderr
    assert "hint: by convention it is named 'postgres-r'" in result.stderr
    assert " error: " not in result.stderr
    assert ids() == ["pgsecret:v1:instance-secret", "postgres:v2alpha:depot"]


def test_conventional_names_give_no_warning(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "all.yaml", secret() + "---\n" + depot())
    result = ok(run_cli("apply", "-f", str(path)))
    assert "warning" not in result.stderr


def test_depot_may_reference_a_secret_already_in_the_store(home: Path, tmp_path: Path) -> None:
    ok(run_cli("apply", "-f", str(write(tmp_path / "s.yaml", secret()))))
    ok(run_cli("apply", "-f", str(write(tmp_path / "d.yaml", depot()))))
    record = stored_depot()
    assert [ref["id"] for ref in record["references"]] == ["postgres-r:v1:instance-secret"]


def test_reapplying_the_same_files_changes_nothing(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "all.yaml", secret() + "---\n" + depot())
    ok(run_cli("apply", "-f", str(path)))
    result = ok(run_cli("apply", "-f", str(path)))
    assert "postgres-r:v1:instance-secret...unchanged" in result.stdout
    assert "postgres:v2alpha:depot...unchanged" in result.stdout


def test_interpolated_depot_fields_do_not_mask_resource_names(home: Path, tmp_path: Path) -> None:
    """A value from the environment in a depot's connection block is not a secret: a database
    that happens to be named like the depot must not turn the output into '******'."""
    text = secret() + "---\n" + depot(database="$PG_DB")
    path = write(tmp_path / "all.yaml", text)
    result = ok(run_cli("apply", "-f", str(path), env={"PG_DB": "postgres"}))
    assert "applying postgres-r:v1:instance-secret...created" in result.stdout
    assert "applying postgres:v2alpha:depot...created" in result.stdout
