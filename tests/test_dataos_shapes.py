"""Manifests shaped like the DataOS documentation are accepted, stored as written and served.

tests/corpus/dataos/ holds one manifest per depot type of the documentation (depots/) and one per
documented form (forms/): the DataOS 2.0 `spec:` depot and `type: secret`, a scanner with
`title` and job `spec.tags`, an S3 endpoint without a scheme; the Kafka pages' list-form
instance secrets are depots/kafka.yaml, the `${name-with-hyphens}` placeholders
depots/abfss.yaml. Each file's leading comments say which local server serves it
(`# local: postgres|mariadb|azurite|s3|gcs|file`) and fill its placeholders (`# set: k=v`);
the local servers' addresses and credentials fill the others, through `--set`.

Every file lints alone, applies, is verified against its local server where one exists, and
round-trips through `get -d`. The forms refused instead (a list of two acls, scanner options
inside a filter, unfilled placeholders, ...) are in tests/corpus/broken/ (80-89).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from azure.storage.blob import BlobServiceClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from scripts.services import AzuriteServer, GCSServer, MariaDBServer, S3Server
from tests.conftest import SalesDatabase, audit_events, run_cli, write

CORPUS = Path(__file__).parent / "corpus" / "dataos"
DEPOT_FILES = sorted((CORPUS / "depots").glob("*.yaml"))
TENANT = CORPUS / "forms" / "tenant_depot.yaml"
SCANNER = CORPUS / "forms" / "scanner_title_and_tags.yaml"
GOVCLOUD = CORPUS / "forms" / "s3_endpoint_without_scheme.yaml"
BUCKET = "dataos-corpus"
PLACEHOLDER = re.compile(r"\$?\{\{\s*([^{}]*?)\s*\}\}|\$\{([-A-Za-z0-9_. ]+)\}")
HIDDEN = "<hidden>"


def parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2, 3], "amount": [12.5, 99.0, 3.2]}), buffer)
    return buffer.getvalue()


OBJECTS = {
    "landing/sales/part-0.parquet": parquet_bytes(),
    "landing/customers.csv": b"id,name\n1,Ada\n2,Grace\n",
}


def header(path: Path) -> tuple[str | None, dict[str, str]]:
    """`# local: KIND` and `# set: key=value` lines of a corpus file."""
    local, values = None, {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].strip().partition(":")
        if key == "local":
            local = value.strip()
        elif key == "set":
            name, _, filled = value.strip().partition("=")
            values[name] = filled
    return local, values


# --- the local servers, as values for the corpus's placeholders --------------------------------


@pytest.fixture(scope="module")
def s3_bucket(s3: S3Server) -> Iterator[dict[str, str]]:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        region_name=s3.region,
    )
    client.create_bucket(Bucket=BUCKET)
    for key, body in OBJECTS.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    yield {
        "endpoint": s3.endpoint_url,
        "access-key-id": s3.access_key_id,
        "secret-access-key": s3.secret_access_key,
    }
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture(scope="module")
def azure_container(azurite: AzuriteServer) -> Iterator[dict[str, str]]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(BUCKET)
    if container.exists():
        container.delete_container()
    container.create_container()
    for name, content in OBJECTS.items():
        container.upload_blob(name, content)
    yield {
        "endpoint": azurite.blob_endpoint,
        "azure-storage-account-name": azurite.account_name,
        "azure-storage-account-key": azurite.account_key,
        "azure-endpoint-suffix": "core.windows.net",
        "abfss-depot-name": "abfsslake",
        "description": "ABFSS secret, as the docs write it",
    }
    container.delete_container()


@pytest.fixture(scope="module")
def gcs_bucket(gcs: GCSServer) -> Iterator[dict[str, str]]:
    client = storage.Client(
        project=gcs.project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs.endpoint},
    )
    bucket = client.create_bucket(BUCKET)
    for name, content in OBJECTS.items():
        bucket.blob(name).upload_from_string(content)
    yield {"endpoint": gcs.endpoint, "project-id": gcs.project}
    bucket.delete(force=True)


def postgres_values(postgres: SalesDatabase) -> dict[str, str]:
    return {
        "host": postgres.host,
        "port": str(postgres.port),
        "username": postgres.reader,
        "password": postgres.password,
    }


def local_values(
    request: pytest.FixtureRequest, local: str | None, tmp_path: Path
) -> dict[str, str]:
    if local is None:
        return {}
    if local == "postgres":
        return postgres_values(request.getfixturevalue("postgres"))
    if local == "mariadb":
        server: MariaDBServer = request.getfixturevalue("mariadb")
        return {
            "host": server.host,
            "port": str(server.port),
            "username": server.root_user,
            "password": server.root_password,
        }
    if local == "file":
        folder = tmp_path / "files"
        for name, content in OBJECTS.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
        return {"path": str(folder)}
    fixture = {"s3": "s3_bucket", "azurite": "azure_container", "gcs": "gcs_bucket"}[local]
    return dict(request.getfixturevalue(fixture))


def uncommented(path: Path) -> str:
    """The file without its comments (never interpolated), whole lines and trailing ones."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in path.read_text().splitlines())


def set_args(path: Path, values: dict[str, str]) -> list[str]:
    """--set for each placeholder the file uses (and only those: no 'matched nothing')."""
    used = {a or b for a, b in PLACEHOLDER.findall(uncommented(path))}
    missing = used - set(values)
    assert not missing, f"{path.name}: no value for {sorted(missing)}"
    return [arg for name in sorted(used) for arg in ("--set", f"{name}={values[name]}")]


def expected_documents(path: Path, values: dict[str, str]) -> list[dict[str, Any]]:
    """The file as a user reads it once filled in, secret values hidden: what `get -d` shows."""

    def fill(match: re.Match[str]) -> str:
        return values[match.group(1) or match.group(2)]

    documents = [doc for doc in yaml.safe_load_all(PLACEHOLDER.sub(fill, uncommented(path))) if doc]
    for doc in documents:
        for key in ("instance-secret", "secret"):
            bodies = doc.get(key)
            for body in bodies if isinstance(bodies, list) else [bodies] if bodies else []:
                body["data"] = {name: HIDDEN for name in body.get("data") or {}}
    return documents


def stored_type(doc: dict[str, Any]) -> str:
    return "instance-secret" if doc["type"] == "secret" else str(doc["type"])


def details(rtype: str, name: str) -> dict[str, Any]:
    shown = run_cli("get", "-t", rtype, "-n", name, "-d", "--output", "json")
    assert shown.exit_code == 0, shown.output
    [record] = json.loads(shown.stdout)
    return record  # type: ignore[no-any-return]


# --- every documented depot type ---------------------------------------------------------------


def test_the_corpus_covers_every_documented_depot_type() -> None:
    """One file per depot type of the reference (sections 1.4 and 1.5), with each local server
    serving at least one."""
    from entrepot.resources.depot_types import DEPOT_TYPES, effective_type, lookup_type

    covered: set[str] = set()
    for path in DEPOT_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["type"] == "depot":
                block = next(v for k, v in doc["depot"].items() if isinstance(v, dict))
                declared = lookup_type(doc["depot"]["type"])
                assert declared is not None, path.name
                covered.add(declared.name)
                covered.add(effective_type(declared, block.get("subprotocol")).name)
    assert covered == set(DEPOT_TYPES)
    locals_ = {header(path)[0] for path in [*DEPOT_FILES, TENANT]}
    assert locals_ >= {"postgres", "mariadb", "azurite", "s3", "gcs", "file"}


@pytest.mark.parametrize("path", [*DEPOT_FILES, TENANT, GOVCLOUD], ids=lambda p: p.name)
def test_a_documented_manifest_lints_applies_and_round_trips(
    home: Path, tmp_path: Path, request: pytest.FixtureRequest, path: Path
) -> None:
    local, values = header(path)
    values.update(local_values(request, local, tmp_path))
    args = set_args(path, values)
    documents = expected_documents(path, values)

    lint = run_cli("apply", "--lint", "-f", str(path), *args)
    assert lint.exit_code == 0, lint.output
    assert lint.stdout.count("...valid") == len(documents), lint.stdout
    assert " error: " not in lint.stderr and "did not match" not in lint.stderr
    assert "naming convention" not in lint.stderr  # the docs' names keep to it (2.0: none)

    verify = [] if local else ["--no-verify"]  # no server to reach: validated and stored
    applied = run_cli("apply", "-f", str(path), *args, *verify)
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.count("...created") == len(documents), applied.stdout
    assert "matched no" not in applied.stderr
    for doc in documents:
        if doc["type"] == "depot" and local:
            assert f"verifying {doc['name']}...active" in applied.stdout, applied.output

    for doc in documents:
        record = details(stored_type(doc), doc["name"])
        assert record["manifest"] == doc, f"{doc['name']} is not stored as applied"
        assert record["version"] == doc["version"]
    again = run_cli("apply", "-f", str(path), *args, *verify)
    assert again.stdout.count("...unchanged") == len(documents), again.output


# --- the DataOS 2.0 form is the same depot -----------------------------------------------------


@pytest.fixture
def tenant(home: Path, postgres: SalesDatabase) -> dict[str, str]:
    """tenant_depot.yaml and its v2alpha twin (depots/postgresql.yaml) applied and verified."""
    values = postgres_values(postgres)
    for path in (TENANT, CORPUS / "depots" / "postgresql.yaml"):
        applied = run_cli("apply", "-f", str(path), *set_args(path, values))
        assert applied.exit_code == 0, applied.output
    return values


def query_json(sql: str, *extra: str) -> Any:
    result = run_cli("query", sql, "--output", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_tenant_form_depot_is_checked_queried_and_exported_like_its_v2alpha_twin(
    tenant: dict[str, str], tmp_path: Path
) -> None:
    for name in ("pgtenant", "pgdocs"):
        check = run_cli("check", "depot", name, "--output", "json")
        assert check.exit_code == 0, check.output
        assert json.loads(check.stdout)[0]["ok"] is True
        # The rw secret (purpose rw) is the reader's account: it authenticates, cannot write.
        rw = run_cli("check", "depot", name, "--acl", "rw")
        assert rw.exit_code == 7 and f"{name} (postgresql, acl rw)" in rw.stdout, rw.output
        assert "ok      auth" in rw.stdout and "failed  write" in rw.stdout, rw.output
    listing = run_cli("get", "-t", "depot")
    assert re.search(r"pgtenant\s*\|\s*v2alpha\s*\|\s*depot\s*\|\s*\|\s*active", listing.stdout)

    sql = "SELECT status, count(*) AS n FROM {}.public.orders GROUP BY status ORDER BY status"
    assert query_json(sql.format("pgtenant")) == query_json(sql.format("pgdocs"))
    assert query_json(sql.format("pgtenant")), "the sales database has orders"

    exported = run_cli("export", "trino", "--dir", str(tmp_path / "catalog"), "pgtenant", "pgdocs")
    assert exported.exit_code == 0, exported.output
    tenant_file = (tmp_path / "catalog" / "pgtenant.properties").read_text()
    docs_file = (tmp_path / "catalog" / "pgdocs.properties").read_text()
    assert "connection-url=jdbc:postgresql://" in tenant_file

    def body(text: str, name: str) -> list[str]:
        return [
            # pgdocs also sets params.sslmode, which the URL carries
            line.replace(name.upper(), "X").replace(name, "x").replace("sslmode=disable&", "")
            for line in text.splitlines()
            if not line.startswith("#")
        ]

    assert body(tenant_file, "pgtenant") == body(docs_file, "pgdocs")


def test_a_tenant_form_depot_scans_with_its_scan_secret_and_queries_with_its_query_secret(
    home: Path, tmp_path: Path, postgres: SalesDatabase
) -> None:
    """scan and query both read; each use reads with the secret named for it. A wrong password
    in the query secret fails queries and checks, and not scans."""
    values = {**postgres_values(postgres)}
    text = TENANT.read_text().replace(
        "name: pgtenant-query\nversion: v2alpha\ntype: secret\nsecret:\n  type: key-value\n"
        "  data:\n    username: ${{username}}\n    password: ${{password}}",
        "name: pgtenant-query\nversion: v2alpha\ntype: secret\nsecret:\n  type: key-value\n"
        "  data:\n    username: ${{username}}\n    password: not-the-password",
    )
    assert "not-the-password" in text
    path = write(tmp_path / "tenant.yaml", text)
    applied = run_cli("apply", "-f", str(path), *set_args(path, values))
    assert applied.exit_code == 0, applied.output
    assert "verifying pgtenant...error: auth" in applied.stderr  # a check reads as a query

    scan = run_cli("apply", "-f", str(SCANNER))
    assert scan.exit_code == 0, scan.output
    assert "succeeded" in scan.stdout
    query = run_cli("query", "SELECT count(*) FROM pgtenant.public.orders")
    assert query.exit_code == 8 and "password authentication failed" in query.stderr

    decrypted = [
        (event["resource_name"], event["purpose"])
        for event in audit_events(200)
        if event["action"] == "decrypt"
    ]
    assert ("pgtenant-scan", "scan by workflow pgtenantscanner") in decrypted
    assert all(name != "pgtenant-query" for name, purpose in decrypted if "scan" in purpose)
    assert any(name == "pgtenant-query" and "query" in purpose for name, purpose in decrypted)


def test_a_scanner_with_title_and_job_spec_tags_scans_the_tenant_form_depot(
    tenant: dict[str, str],
) -> None:
    scan = run_cli("apply", "-f", str(SCANNER))
    assert scan.exit_code == 0, scan.output
    assert "pgtenantscanner:v1:workflow...created" in scan.stdout
    assert re.search(r"succeeded \(run 1: \d+ datasets", scan.stdout), scan.stdout
    # `source:` of the depot names the catalog source; addresses name the depot.
    listing = run_cli("catalog", "ls", "dataos://pgtenant:public", "--output", "json")
    assert listing.exit_code == 0, listing.output
    names = {row["name"] for row in json.loads(listing.stdout)}
    assert {"orders", "order_items", "customers", "products"} <= names

    record = details("workflow", "pgtenantscanner")
    manifest = record["manifest"]
    assert manifest["title"] == "Scan the sales database"
    job = manifest["workflow"]["dag"][0]
    assert job["spec"]["tags"] == ["sales", "metadata"] and job["title"] == "Scan pgtenant"
    assert job["spec"]["stackSpec"]["sourceConfig"]["config"]["includeTags"] is True


def test_a_tenant_form_depot_is_read_by_spark(tenant: dict[str, str]) -> None:
    from pyspark.sql import SparkSession

    import entrepot.spark
    from tests.test_spark import JDBC_JAR, MARIADB_JAR

    session = (
        SparkSession.builder.master("local[1]")
        .appName("entrepot-shapes")
        .config("spark.ui.enabled", "false")
        # The JVM outlives the session, with these jars: those test_spark.py needs too.
        .config("spark.jars", f"{JDBC_JAR},{MARIADB_JAR}")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    try:
        tenant_rows = entrepot.spark.read(session, "dataos://pgtenant:public/orders").count()
        docs_rows = entrepot.spark.read(session, "dataos://pgdocs:public/orders").count()
    finally:
        session.stop()
    assert tenant_rows == docs_rows > 0


def test_a_type_secret_is_an_instance_secret_shown_as_applied(tenant: dict[str, str]) -> None:
    listing = run_cli("get", "-t", "instance-secret", "--output", "json")
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["pgtenant-scan"]["version"] == "v2alpha"
    assert rows["pgtenant-scan"]["type"] == "instance-secret"
    record = details("instance-secret", "pgtenant-scan")
    assert record["manifest"]["type"] == "secret"
    assert record["manifest"]["title"] == "PostgreSQL secret for scans"
    assert record["manifest"]["secret"] == {
        "type": "key-value",
        "data": {"username": HIDDEN, "password": HIDDEN},
    }
    assert tenant["password"] not in json.dumps(record)
    assert {"id": "depot:v2alpha:pgtenant"} in record["dependents"]
    refused = run_cli("delete", "-t", "instance-secret", "-n", "pgtenant-scan")
    assert refused.exit_code == 5 and "depot:v2alpha:pgtenant" in refused.stderr
    deleted = run_cli("delete", "-f", str(TENANT))  # `type: secret` documents name them too
    assert deleted.exit_code == 0, deleted.output
    assert "pgtenant-scan:v2alpha:instance-secret...deleted" in deleted.stdout


# --- lint alone, placeholders, endpoints, redaction ----------------------------------------------


def test_a_new_depot_and_its_secrets_lint_before_anything_is_applied(
    home: Path, tmp_path: Path
) -> None:
    """--lint checks documents alone: the depot's file without its secrets lints (warnings say
    what is not applied yet); apply refuses it until they are."""
    secret_text, depot_text = uncommented(CORPUS / "depots" / "oracle.yaml").split("\n---\n")
    depot = write(tmp_path / "depot.yaml", depot_text)
    secret = write(tmp_path / "secret.yaml", secret_text)
    lint = run_cli("apply", "--lint", "-f", str(depot))
    assert lint.exit_code == 0, lint.output
    assert "applying oracledepot:v2alpha:depot...valid" in lint.stdout
    assert (
        f"{depot}:12:7: warning: depot.secrets[0].name: instance secret 'oracledepot-r' is not "
        "applied yet"
    ) in lint.stderr
    assert "--lint checks the documents alone" in lint.stderr
    assert run_cli("get", "-a", "--output", "json").stdout.strip() in ("", "[]")

    refused = run_cli("apply", "-f", str(depot), "--no-verify")
    assert refused.exit_code == 3
    assert "instance secret 'oracledepot-r' does not exist" in refused.stderr
    both = run_cli("apply", "--lint", "-f", str(secret), "-f", str(depot))
    assert both.exit_code == 0 and "warning" not in both.stderr, both.output
    applied = run_cli("apply", "-f", str(secret), "-f", str(depot), "--no-verify")
    assert applied.exit_code == 0, applied.output


def test_doc_placeholders_are_filled_by_set_and_named_when_not(home: Path, tmp_path: Path) -> None:
    path = CORPUS / "depots" / "abfss.yaml"
    unfilled = run_cli("apply", "--lint", "-f", str(path))
    assert unfilled.exit_code == 3
    assert "malformed" not in unfilled.stderr
    assert (
        f"{path}:5:7: error: name: template placeholder '${{abfss-depot-name}}' is not filled"
    ) in unfilled.stderr
    assert "hint: replace it in the file, or pass --set abfss-depot-name=VALUE" in unfilled.stderr
    # `${description}` could be a variable: the error says both ways to give it.
    assert "--set description=VALUE to fill it in" in unfilled.stderr
    # --disable-interpolation keeps every `$` as written: a name with `${` is then invalid.
    literal = run_cli(
        "apply", "--lint", "-f", str(path), "--disable-interpolation", "--set", "endpoint=http://x"
    )
    assert "invalid name '${abfss-depot-name}-r'" in literal.stderr


def test_an_endpoint_without_a_scheme_is_https(home: Path, tmp_path: Path) -> None:
    applied = run_cli("apply", "-f", str(GOVCLOUD), "--no-verify")
    assert applied.exit_code == 0, applied.output
    exported = run_cli("export", "trino", "--dry-run", "govlake")
    assert "s3.endpoint=https://s3.us-gov-east-1.amazonaws.com\n" in exported.stdout
    check = run_cli("check", "depot", "govlake", "--output", "json", "--timeout", "3")
    [record] = json.loads(check.stdout)
    dns = next(step for step in record["steps"] if step["name"] == "dns")
    assert "s3.us-gov-east-1.amazonaws.com" in dns["title"]  # a host, not a path
    assert details("depot", "govlake")["manifest"]["depot"]["s3"]["endpoint"] == (
        "s3.us-gov-east-1.amazonaws.com"  # stored as written
    )


def test_values_a_source_type_declares_public_are_never_masked(home: Path, tmp_path: Path) -> None:
    """An Azure secret's endpoint suffix (core.windows.net) and account name are no secrets:
    masking them would hide every Azure host name in the check's output. The key stays hidden."""
    path = write(
        tmp_path / "azure.yaml",
        """name: nosuchlake-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data:
    azureendpointsuffix: $AZURE_SUFFIX
    azurestorageaccountname: entrepotnosuchaccount
    azurestorageaccountkey: $AZURE_KEY
---
name: nosuchlake
version: v2alpha
type: depot
depot:
  type: abfss
  secrets: [{name: nosuchlake-r, allkeys: true}]
  abfss: {account: entrepotnosuchaccount, container: box}
""",
    )
    env = {"AZURE_SUFFIX": "core.windows.net", "AZURE_KEY": "Q2FuYXJ5LWF6dXJlLWtleQ=="}
    applied = run_cli("apply", "-f", str(path), env=env)
    assert applied.exit_code == 0, applied.output
    assert "entrepotnosuchaccount.blob.core.windows.net" in applied.stderr, applied.stderr
    check = run_cli("check", "depot", "nosuchlake", "--timeout", "3", env=env)
    assert "resolve host entrepotnosuchaccount.blob.core.windows.net" in check.stdout
    assert "******" not in check.output
    assert env["AZURE_KEY"] not in applied.output + check.output


def test_secret_keys_are_declared_public_or_credential_once() -> None:
    from entrepot.resources.depot_types import (
        CREDENTIAL_SECRET_KEYS,
        DEPOT_TYPES,
        PUBLIC_SECRET_KEYS,
        is_public_secret_key,
    )

    assert not PUBLIC_SECRET_KEYS & CREDENTIAL_SECRET_KEYS
    for depot_type in DEPOT_TYPES.values():
        for key in (*depot_type.secret_keys, *depot_type.optional_secret_keys):
            assert is_public_secret_key(key) == (key in depot_type.public_keys), key
    assert is_public_secret_key("AzureEndpointSuffix") and is_public_secret_key("username")
    assert not is_public_secret_key("password") and not is_public_secret_key("anything-else")


def test_the_json_schemas_take_the_documented_forms() -> None:
    """`entrepot schema depot|instance-secret` describe the forms apply takes, for editors."""
    import jsonschema

    values = {"username": "u", "password": "p", "host": "db.example.com", "port": "5432"}
    schemas = {
        kind: json.loads(run_cli("schema", kind).stdout) for kind in ("depot", "instance-secret")
    }
    for path in (TENANT, CORPUS / "depots" / "kafka.yaml"):
        for doc in expected_documents(path, values):
            jsonschema.validate(doc, schemas[stored_type(doc)])
    tenant_depot = expected_documents(TENANT, values)[-1]
    tenant_depot["spec"]["secrets"][0]["purpose"] = "read"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(tenant_depot, schemas["depot"])
    two = expected_documents(CORPUS / "depots" / "kafka.yaml", values)[0]
    two["instance-secret"] = two["instance-secret"] * 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(two, schemas["instance-secret"])


def test_get_t_secret_lists_the_secrets(home: Path, tmp_path: Path) -> None:
    """DataOS 2.0 users write `get -t secret`: a type: secret is stored as an instance secret."""
    text = (
        "name: plain-secret\nversion: v2alpha\ntype: secret\n"
        "secret: {type: key-value, acl: r, data: {password: Secret-T-1}}\n"
    )
    assert run_cli("apply", "-f", str(write(tmp_path / "s.yml", text))).exit_code == 0
    result = run_cli("get", "-t", "secret", "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in json.loads(result.stdout)] == ["plain-secret"]
