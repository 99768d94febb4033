"""Each connector declares what it can do once (`Connector.capabilities`) and every command reads
that declaration. These tests hold the declarations to the code (the renderings each connector
defines, the DuckDB extensions installed, the registry), the README's table to the declarations,
and check what a user sees for a type that lacks a capability. (`query` refusing a gcs depot is
in test_connector_objectstores.py, against the GCS emulator; Trino's and Spark's refusals in
test_trino_export.py and test_spark.py.)
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from entrepot.connectors import MODULES, capabilities, get_connector, types_with
from entrepot.connectors.base import Connector
from entrepot.connectors.capabilities import CAPABILITIES, Capabilities, DuckDBSupport
from entrepot.query.engine import EXTENSIONS, extension_path
from entrepot.resources.depot_types import DEPOT_TYPES
from scripts import capability_table
from tests.conftest import run_cli, write


def test_the_registry_and_the_connectors_name_the_same_types() -> None:
    declared = {
        source_type
        for module in set(MODULES.values())
        for source_type in importlib.import_module(module).CONNECTOR.source_types
    }
    assert declared == set(MODULES)
    for source_type in MODULES:
        connector = get_connector(source_type)
        assert connector is not None and source_type in connector.source_types
    assert set(MODULES) <= set(DEPOT_TYPES)  # every served type validates


@pytest.mark.parametrize("source_type", list(MODULES))
def test_a_declaration_matches_what_its_connector_implements(source_type: str) -> None:
    """A capability is declared exactly when the connector defines the method behind it: no
    consumer is promised a rendering that raises, and none is left undeclared (unused)."""
    connector = get_connector(source_type)
    assert connector is not None
    cls = type(connector)
    implemented = {
        "check": cls.check is not Connector.check,
        "scan": cls.scan is not Connector.scan,
        "duckdb": cls.duckdb is not Connector.duckdb,
        "spark": cls.spark is not Connector.spark,
        "trino": cls.trino is not Connector.trino,
    }
    declared = capabilities(source_type)
    assert declared is connector.capabilities
    assert {name: declared.has(name) for name in CAPABILITIES} == implemented


def test_every_declared_duckdb_extension_is_installed_and_every_installed_one_declared() -> None:
    declared = {
        support.extension
        for source_type in types_with("duckdb")
        if (support := capabilities(source_type).duckdb) is not None and support.extension
    }
    assert declared == set(EXTENSIONS)  # no wheel pinned for nothing, none missing
    for extension in declared:
        assert extension_path(extension).is_file(), extension


def test_gcs_declares_no_duckdb_support_and_says_why() -> None:
    gcs = capabilities("gcs")
    assert gcs.duckdb is None and gcs.spark and gcs.trino
    assert "HMAC keys" in gcs.why_not("duckdb")
    assert "gcs" not in types_with("duckdb")
    assert types_with("duckdb") == ["postgresql", "mysql", "abfss", "wasbs", "s3", "file"]


def test_a_type_no_connector_serves_can_do_nothing_and_says_why() -> None:
    unserved = sorted(set(DEPOT_TYPES) - set(MODULES))
    assert "snowflake" in unserved and "mssql" in unserved
    for source_type in unserved:
        declared = capabilities(source_type)
        assert declared.storage is None
        for name in CAPABILITIES:
            assert not declared.has(name)
            assert declared.why_not(name) == f"no connector serves depot type '{source_type}' yet"


def test_a_declaration_names_a_reason_for_each_missing_capability_only() -> None:
    with pytest.raises(ValueError, match=r"missing capabilities \['duckdb'\]"):
        Capabilities("objects", True, True, None, True, True)
    with pytest.raises(ValueError, match=r"missing capabilities \[\]"):
        Capabilities(
            "objects", True, True, DuckDBSupport("httpfs"), True, True, reasons={"trino": "?"}
        )
    with pytest.raises(ValueError, match="storage is None"):
        reasons = {"duckdb": "a", "spark": "b", "trino": "c"}
        Capabilities(None, True, True, None, False, False, reasons=reasons)
    declared = capabilities("gcs")
    with pytest.raises(TypeError):
        declared.reasons["duckdb"] = "changed"  # type: ignore[index]


def test_the_readme_table_is_the_declarations() -> None:
    readme = capability_table.README.read_text(encoding="utf-8")
    assert capability_table.current(readme) == capability_table.render(), (
        "README.md's capability table is stale: run python -m scripts.capability_table"
    )
    assert (
        "| `gcs` | yes | yes | no: DuckDB reads GCS with HMAC keys, not the service-account JSON "
        "key a gcs depot holds | yes | yes |"
    ) in readme


def test_check_and_scanner_refuse_a_type_without_a_connector_with_the_declared_reason(
    home: Path, tmp_path: Path
) -> None:
    manifests = write(
        tmp_path / "warehouse.yml",
        """name: warehouse-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {username: analyst, password: Warehouse-Secret-1}
---
name: warehouse
version: v2alpha
type: depot
depot:
  type: snowflake
  secrets: [{name: warehouse-r, allkeys: true}]
  snowflake: {warehouse: WH, url: abc.snowflakecomputing.com, database: SALES}
---
version: v1
name: warehousescan
type: workflow
workflow:
  dag:
    - name: scanjob
      spec:
        stack: scanner:2.0
        compute: runnable-default
        stackSpec:
          depot: dataos://warehouse
""",
    )
    applied = run_cli("apply", "-f", str(manifests))
    assert applied.exit_code == 8, applied.output
    assert (
        "verifying warehouse...pending: no connector serves depot type 'snowflake' yet; the "
        "depot is stored and valid, but cannot be verified\n"
        "  hint: connectors today: postgresql, mysql, abfss, wasbs, s3, gcs, file\n"
    ) in applied.stderr
    assert (
        "scanjob: no connector serves depot type 'snowflake' yet (hint: scanners today: "
        "postgresql, mysql, abfss, wasbs, s3, gcs, file)"
    ) in applied.stderr
    checked = run_cli("check", "depot", "warehouse")
    assert checked.exit_code == 7
    assert (
        "no connector serves depot type 'snowflake' yet; the depot is stored and valid, but "
        "cannot be verified"
    ) in checked.stdout
    assert "connectors today: postgresql, mysql, abfss, wasbs, s3, gcs, file" in checked.stdout
