"""JSON Schema of each kind, for editors (yaml-language-server) and CI linting."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from entrepot.resources.compile import KINDS, SECRET_KINDS, TENANT_DEPOT
from entrepot.resources.depot_types import DEPOT_TYPES

# The other documented forms a kind takes (resources.compile): a depot's DataOS 2.0 `spec:`,
# and the DataOS 2.0 `type: secret`, stored as an instance secret.
FORMS: dict[str, list[tuple[str, type[BaseModel]]]] = {
    "depot": [("v2alpha", TENANT_DEPOT)],
    "instance-secret": [(version, model) for (_, version), model in SECRET_KINDS.items()],
}


def json_schema(kind: str, version: str | None = None) -> dict[str, Any]:
    models: list[tuple[str, type[BaseModel]]] = [
        (v, m) for (k, v), m in sorted(KINDS.items()) if k == kind
    ]
    models += FORMS.get(kind, [])
    if version is not None:
        models = [(v, m) for v, m in models if v == version]
        if not models:
            from entrepot.errors import EntrepotError

            versions = ", ".join(
                sorted({v for v, _ in FORMS.get(kind, [])} | {v for (k, v) in KINDS if k == kind})
            )
            raise EntrepotError(f"no version '{version}' of {kind}", hint=f"versions: {versions}")
    schemas: list[dict[str, Any]] = []
    for ver, model in models:
        schema = model.model_json_schema(by_alias=True)
        if kind == "depot" and ver == "v2alpha" and model is not TENANT_DEPOT:
            _add_blocks(schema)
        if "instance-secret" in schema.get("properties", {}):
            _list_of_one(schema)
        schemas.append(schema)
    if len(schemas) == 1:
        result = schemas[0]
    else:  # references point at the root: hoist every member's definitions there
        defs: dict[str, Any] = {}
        for member in schemas:
            defs.update(member.pop("$defs", {}))
        result = {"oneOf": schemas, "$defs": defs}
    result = dict(_allow_interpolation(result))
    result["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    result.setdefault("title", kind)
    return result


# `acl: ${ACCESS_CONTROL_LIST}` or `port: $PG_PORT` are valid before interpolation.
INTERPOLATED = {"type": "string", "pattern": "^\\$\\{?[A-Za-z_]"}


def _allow_interpolation(node: Any) -> Any:
    if isinstance(node, list):
        return [_allow_interpolation(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _allow_interpolation(value) for key, value in node.items()}
    typed = out.get("type") in ("integer", "boolean", "number") or "enum" in out or "const" in out
    if typed and "properties" not in out:
        extra = {k: out.pop(k) for k in ("title", "description", "default", "examples") if k in out}
        return {"anyOf": [out, INTERPOLATED], **extra}
    return out


def _add_blocks(schema: dict[str, Any]) -> None:
    """Type each `<type>:` block with the models of the source types that use that key."""
    defs = schema.setdefault("$defs", {})
    spec = defs.get("DepotSpecV2", {})
    for key, prop in spec.get("properties", {}).items():
        users = [t for t in DEPOT_TYPES.values() if key in t.block_keys]
        if not users:
            continue
        refs = []
        for depot_type in users:
            block = depot_type.block
            block_schema = block.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
            defs.update(block_schema.pop("$defs", {}))
            defs[block.__name__] = block_schema
            ref = {"$ref": f"#/$defs/{block.__name__}"}
            if ref not in refs:
                refs.append(ref)
        spec["properties"][key] = {
            "anyOf": [*refs, {"type": "null"}],
            "description": prop.get("description", ""),
        }


def _list_of_one(schema: dict[str, Any]) -> None:
    """`instance-secret:` may be a list of one mapping, as the Kafka pages write it."""
    properties = schema["properties"]
    mapping = properties["instance-secret"]
    properties["instance-secret"] = {
        "anyOf": [mapping, {"type": "array", "items": mapping, "minItems": 1, "maxItems": 1}]
    }
