"""The import rules are import-linter's contracts (pyproject.toml, [tool.importlinter]; `make
lint`), which leave `if TYPE_CHECKING:` imports out of the graph. This test narrows that
exception to what docs/architecture.md allows: below the service layer, annotations may name the
`DepotAccess` or the `RequestContext` a module is handed, and nothing else of the services."""

from __future__ import annotations

import grimp

FRONT_ENDS_AND_SERVICES = {"cli", "client", "spark", "services", "__main__"}
ANNOTATIONS = {
    "from entrepot.services.connections import DepotAccess",
    "from entrepot.services.context import RequestContext",
}


def test_below_the_services_only_annotations_name_them() -> None:
    graph = grimp.build_graph("entrepot", cache_dir=None)  # type-checking imports included
    found = []
    for importer in sorted(graph.modules):
        parts = importer.split(".")
        if len(parts) < 2 or parts[1] in FRONT_ENDS_AND_SERVICES:
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported.split(".")[:2] == ["entrepot", "services"]:
                details = graph.get_import_details(importer=importer, imported=imported)
                found += [(importer, d["line_contents"].split("#")[0].strip()) for d in details]
    assert found, "the scanner and the query engine annotate their DepotAccess"
    assert [(m, line) for m, line in found if line not in ANNOTATIONS] == []
