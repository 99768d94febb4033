"""Validate a document against a pydantic model; turn failures into positioned, hinted problems.

Messages never quote the rejected input: it may be a secret value.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from entrepot.errors import Problems
from entrepot.manifest.loader import Document, PathKey

M = TypeVar("M", bound=BaseModel)

_EXPECTED = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping (key: value lines)",
    "list_type": "expected a list ('- item' lines)",
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
}


def validate(
    doc: Document,
    model: type[M],
    problems: Problems,
    data: Any = None,
    prefix: PathKey = (),
) -> M | None:
    """Validate `data` (default: the whole document) at `prefix`; record problems, return None."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            # Pydantic puts "[key]" after a dict key whose name failed: point at the key itself.
            parts = [p for p in error["loc"] if p not in ("__root__", "[key]")]
            loc: PathKey = (*prefix, *parts)
            message, hint = describe(error, model, error["loc"])
            problems.error(message, doc.locate(loc), hint)
        return None


def describe(error: Any, model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, str | None]:
    kind = error["type"]
    if kind == "missing":
        field = loc[-1] if loc else "?"
        return f"missing required field '{field}'", _field_hint(model, loc)
    if kind == "extra_forbidden":
        field = str(loc[-1])
        valid = allowed_fields(model, loc[:-1])
        close = difflib.get_close_matches(field, valid, n=1, cutoff=0.6)
        if not close:
            close = [v for v in valid if v.lower() == field.lower()]
        message = f"unknown field '{field}'"
        if close:
            message += f", did you mean '{close[0]}'?"
        hint = f"valid fields here: {', '.join(valid)}" if valid else None
        return message, hint
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}", None
    if kind in _EXPECTED:
        return _EXPECTED[kind], None
    if kind == "entrepot":  # our validators' own errors (PydanticCustomError): message and hint
        return str(error["msg"]), error.get("ctx", {}).get("hint")
    if kind in ("too_short", "string_too_short"):
        return "must not be empty", None
    if kind in ("less_than_equal", "greater_than_equal") and loc and loc[-1] == "port":
        return "expected a port number from 1 to 65535", None
    message = str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message, None


def _field_hint(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    parent = _model_at(model, loc[:-1])
    if parent is None or not loc:
        return None
    for name, info in parent.model_fields.items():
        if (info.alias or name) == loc[-1] and info.description:
            return f"{loc[-1]}: {info.description}"
    return None


def allowed_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    target = _model_at(model, loc)
    if target is None:
        return []
    # A field declared with exclude=True exists only to be refused with its own message
    # (policy.data, objects.tags: not supported yet): never suggest it.
    return [info.alias or name for name, info in target.model_fields.items() if not info.exclude]


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow a location through nested models, lists and dicts."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) or (isinstance(current, type) and not _is_model(current)):
            current = _item_type(current)
            if isinstance(part, int):
                continue
        if not _is_model(current):
            return None
        for name, info in current.model_fields.items():
            if (info.alias or name) == part or name == part:
                current = info.annotation
                break
        else:
            return None
    current = _unwrap(current)
    return current if _is_model(current) else None


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` to X."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _item_type(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and args:
        return _unwrap(args[0])
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    return annotation
