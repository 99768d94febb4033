"""Fields and rules every resource kind shares."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

NAME_MAX = 48
# Instance secrets, workflows and most resources: lowercase, digits, inner hyphens.
RESOURCE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Depots (and clusters): no hyphen, must start with a letter.
DEPOT_NAME = re.compile(r"[a-z][a-z0-9]*")
# A `type: secret` of the DataOS 2.0 docs: '_' and '.' too, under 60 characters.
SECRET_NAME = re.compile(r"[a-z]([-_.a-z0-9]*[a-z0-9])?")
SECRET_NAME_MAX = 59
USER_ID = re.compile(r"[a-z0-9][-a-z0-9_.@]*")


class Strict(BaseModel):
    """Unknown fields are errors (with the nearest valid field suggested by the validator)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        coerce_numbers_to_str=True,
        str_strip_whitespace=True,
        # Build each validator on first use: an apply of a workflow never pays for the
        # 20-odd depot block models (about 0.15 s of the CLI's start).
        defer_build=True,
    )


def _scalar_text(value: Any) -> Any:
    """Secret values and params: YAML scalars become text; lists and mappings stay errors."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_text)]
# Connection fields that cannot be blank (hosts, databases, buckets, ...).
Required = Annotated[str, Field(min_length=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
DATA_KEY = re.compile(r"[A-Za-z0-9._-]+")


def _data_key(key: str) -> str:
    if not DATA_KEY.fullmatch(key):
        raise ValueError(f"invalid key '{key}': keys use letters, digits, '-', '_' or '.'")
    return key


DataKey = Annotated[str, AfterValidator(_data_key)]
Params = dict[str, Text]


def _truthy(value: Any) -> Any:
    """`external: "true"` is written as a string in many DataOS examples."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


# The schema takes what apply takes, so an editor does not flag `allow: "false"`.
_FLAG_TEXT = "^\\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])\\s*$"
Flag = Annotated[
    bool,
    BeforeValidator(_truthy),
    WithJsonSchema({"anyOf": [{"type": "boolean"}, {"type": "string", "pattern": _FLAG_TEXT}]}),
]


class ResourceMeta(Strict):
    """The resource meta section: the same fields for every kind."""

    name: str = Field(description="Unique name of the resource of this type.")
    version: str = Field(description="Manifest version of the kind.")
    type: str = Field(description="Resource type.")
    title: str | None = Field(None, description="A display title (kept, informational).")
    tags: list[Text] = Field(default_factory=list, description="Free-form tags.")
    description: str | None = None
    owner: str | None = Field(None, description="Owner's user id; defaults to the applying user.")
    layer: Literal["user", "system"] = "user"


def name_problem(name: str, kind: str) -> str | None:
    """The exact rule a name breaks, or None."""
    if kind == "secret":
        if len(name) > SECRET_NAME_MAX:
            return (
                f"invalid name '{name}': at most {SECRET_NAME_MAX} characters ({len(name)} given)"
            )
        if not SECRET_NAME.fullmatch(name):
            return (
                f"invalid name '{name}': a secret name uses only lowercase letters (a-z), digits "
                "(0-9), '-', '_' and '.', starts with a letter and ends with a letter or digit"
            )
        return None
    if len(name) > NAME_MAX:
        return f"invalid name '{name}': at most {NAME_MAX} characters ({len(name)} given)"
    if kind == "depot":
        if not DEPOT_NAME.fullmatch(name):
            return (
                f"invalid name '{name}': a depot name uses only lowercase letters (a-z) and "
                "digits (0-9) and starts with a letter; no '-', '_' or other characters"
            )
    elif not RESOURCE_NAME.fullmatch(name):
        return (
            f"invalid name '{name}': {'an' if kind[0] in 'aeiou' else 'a'} {kind} name uses only "
            "lowercase letters (a-z), digits (0-9) and '-', and does not start or end with '-'"
        )
    return None


def suggest_name(name: str, kind: str) -> str:
    lowered = name.lower()
    if kind == "depot":
        fixed = re.sub(r"[^a-z0-9]", "", lowered).lstrip("0123456789")
    else:
        fixed = re.sub(r"[^a-z0-9-]+", "-", lowered).strip("-")
    return fixed[:NAME_MAX] or "example"
