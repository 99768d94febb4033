"""The `policy` kind (v1): DataOS access policies, stored like every resource.

A policy names who (`subjects.tags`: `users:id:alice`, `roles:id:*`), what they do
(`predicates`: `get`/`post`/`put`/`patch`/`delete` on API paths, `read`/`write`/`create`/
`update`/`delete` on `dataos://` addresses), on what (`objects.paths`: both kinds) and whether
that is allowed. The authorization layer (`entrepot.access`) decides with them; this module only
says what a valid policy is and turns a stored one into `access.policy.Rule`s
(`rules_from_manifest`).

DataOS also has object tags (`objects.tags`) and data policies (`policy.data`: masking, filters).
Nothing enforces them here yet, so they are refused with a message, never stored and ignored:
a user who writes a masking policy must not believe the data is masked.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from entrepot.access.policy import ADDRESS_PREDICATES, PATH_PREDICATES, Rule
from entrepot.errors import StoreError
from entrepot.manifest.loader import format_path
from entrepot.manifest.validate import describe
from entrepot.resources.base import Flag, ResourceMeta, Strict

# Order of the DataOS docs: the API verbs, then the address verbs (`delete` serves both).
PREDICATES: tuple[str, ...] = tuple(dict.fromkeys((*PATH_PREDICATES, *ADDRESS_PREDICATES)))
PREDICATE_HINT = (
    "API paths take get, post, put, patch, delete (GET /ds/api/v2/depots lists depots); "
    "dataos:// addresses take read, write, create, update, delete"
)
ADDRESS_PREFIX = "dataos://"
# A tag is `namespace:rest`: `users:id:alice`, `roles:id:operator`, DataOS's
# `dataos:u:people-DW:user`. The namespace is plain text; the parts after it may be globs
# (`*` within one part, `**` across parts, `?` one character). No part is empty.
TAG = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*(:[^\s:]+)+")
TAG_HINT = (
    "a subject tag reads namespace:..., e.g. users:id:alice or roles:id:operator; globs "
    "match many: roles:id:* (one part), users:id:** (every user)"
)
PATH_HINT = (
    "an object is an API path starting with '/' (e.g. /ds/api/v2/depots, "
    "/ds/api/v2/depots/**) or a dataos:// address (e.g. dataos://postgres:public/orders, "
    "dataos://lakehouse:people_dw/*)"
)


def _error(message: str, hint: str) -> PydanticCustomError:
    """A validation error whose hint `manifest.validate.describe` prints on its own line.

    The message goes through the context, not the template: the template's `{name}`s are
    replaced from the context, in its order, and a value the user wrote may contain braces.
    """
    return PydanticCustomError("entrepot", "{message}", {"hint": hint, "message": message})


def _subject_tag(value: str) -> str:
    if not TAG.fullmatch(value):
        example = "users:id:**" if value.strip("*?") == "" else "users:id:alice"
        raise _error(
            f"invalid subject tag '{value}': expected namespace:..., e.g. {example}", TAG_HINT
        )
    return value


def _lower(value: Any) -> Any:
    """Predicates are case-insensitive (`GET`, as HTTP writes it, is `get`)."""
    return value.strip().lower() if isinstance(value, str) else value


def _predicate(value: str) -> str:
    if value not in PREDICATES:
        close = difflib.get_close_matches(value, PREDICATES, n=1)
        suggestion = f", did you mean '{close[0]}'?" if close else ""
        raise _error(f"unknown predicate '{value}'{suggestion}", PREDICATE_HINT)
    return value


def _object_path(value: str) -> str:
    # Paths and addresses never hold whitespace: one that does could never match.
    if is_address(value):
        if not value[len(ADDRESS_PREFIX) :] or any(c.isspace() for c in value):
            raise _error(
                f"invalid address '{value}': expected dataos://depot[:collection[/dataset]]",
                PATH_HINT,
            )
    elif not value.startswith("/"):
        raise _error(
            f"invalid object path '{value}': expected an API path starting with '/' or a "
            "dataos:// address",
            PATH_HINT,
        )
    elif any(c.isspace() for c in value):
        raise _error(f"invalid API path '{value}': a path holds no spaces", PATH_HINT)
    return value


def is_address(value: str) -> bool:
    return value.startswith(ADDRESS_PREFIX)


SubjectTag = Annotated[
    str,
    AfterValidator(_subject_tag),
    WithJsonSchema({"type": "string", "pattern": "^" + TAG.pattern + "$"}),
]
Predicate = Annotated[
    str,
    BeforeValidator(_lower),
    AfterValidator(_predicate),
    # Editors offer the ten verbs (`delete` serves both kinds); apply also takes capitals.
    WithJsonSchema({"type": "string", "enum": list(PREDICATES)}),
]
ObjectPath = Annotated[
    str,
    AfterValidator(_object_path),
    WithJsonSchema({"type": "string", "pattern": "^(/|dataos://)"}),
]


def _not_empty(what: str, hint: str) -> Any:
    def check(values: list[Any]) -> list[Any]:
        if not values:
            raise _error(f"must not be empty: a policy names at least one {what}", hint)
        return values

    return AfterValidator(check)


class Subjects(Strict):
    tags: Annotated[list[SubjectTag], _not_empty("tag", TAG_HINT)] = Field(
        description="Tags of the users the policy applies to (globs: roles:id:*, users:id:**).",
        examples=[["roles:id:data-dev"]],
        json_schema_extra={"minItems": 1},
    )


class Objects(Strict):
    paths: Annotated[list[ObjectPath], _not_empty("path or address", PATH_HINT)] = Field(
        description="API paths (/ds/api/v2/depots/**) or dataos:// addresses "
        "(dataos://postgres:public/*); globs: * within a segment, ** across them.",
        examples=[["/ds/api/v2/depots"]],
        json_schema_extra={"minItems": 1},
    )
    # Declared only to be refused by name (exclude: never offered as a valid field).
    tags: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        raise _error(
            "object tags are not supported yet",
            "name the objects by path instead: objects.paths takes API paths "
            "(/ds/api/v2/depots/**) and dataos:// addresses (dataos://postgres:public/*)",
        )


class Access(Strict):
    subjects: Subjects = Field(description="Who the policy applies to.")
    predicates: Annotated[list[Predicate], _not_empty("predicate", PREDICATE_HINT)] = Field(
        description="What they do: get, post, put, patch, delete on API paths; read, write, "
        "create, update, delete on dataos:// addresses.",
        json_schema_extra={"minItems": 1},
    )
    objects: Objects = Field(description="What on: API paths and dataos:// addresses.")
    allow: Flag = Field(description="true grants; false denies (a deny wins over any grant).")


class PolicySpec(Strict):
    access: Access = Field(description="An access policy: subjects, predicates, objects, allow.")
    data: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator("data", mode="before")
    @classmethod
    def _data(cls, value: Any) -> Any:
        raise _error(
            "data policies (masking, filters) are not supported yet",
            "only access policies are enforced: write policy.access (subjects, predicates, "
            "objects, allow), e.g. deny 'read' on dataos://depot:collection/dataset",
        )


class PolicyV1(ResourceMeta):
    """`type: policy`, `version: v1`. Instance-level: no workspace."""

    version: Literal["v1"]
    type: Literal["policy"]
    policy: PolicySpec = Field(description="An access policy: policy.access.")


def never_matching(access: Access) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Predicates and objects that can never take part in a match, as (path under
    `policy.access`, message, hint).

    A rule matches an API path by its HTTP method and a `dataos://` address by its predicate
    (`access.policy.Rule.matches`), so `read` with only API paths, or `get` with only addresses,
    decides nothing: a deny written that way would deny nothing, silently.
    """
    paths = [p for p in access.objects.paths if not is_address(p)]
    addresses = [p for p in access.objects.paths if is_address(p)]
    found: list[tuple[tuple[str | int, ...], str, str]] = []
    for i, predicate in enumerate(access.predicates):
        if predicate not in ADDRESS_PREDICATES and not paths:
            found.append(
                (
                    ("predicates", i),
                    f"predicate '{predicate}' applies to API paths, and this policy's objects "
                    "are only dataos:// addresses: it can never match",
                    "dataos:// addresses take read, write, create, update, delete; or add the "
                    "API path to objects.paths (e.g. /ds/api/v2/depots/**)",
                )
            )
        elif predicate not in PATH_PREDICATES and not addresses:
            found.append(
                (
                    ("predicates", i),
                    f"predicate '{predicate}' applies to dataos:// addresses, and this policy's "
                    "objects are only API paths: it can never match",
                    "API paths take get, post, put, patch, delete (GET /ds/api/v2/depots lists "
                    "depots); or add the address to objects.paths (e.g. dataos://postgres:*/*)",
                )
            )
    if found:
        return found  # one mistake, one message: the objects below follow from it
    by_kind = (
        (paths, PATH_PREDICATES, "API path", "API paths"),
        (addresses, ADDRESS_PREDICATES, "address", "addresses"),
    )
    for objects, verbs, kind, kinds in by_kind:
        if objects and not any(p in verbs for p in access.predicates):
            first = access.objects.paths.index(objects[0])
            found.append(
                (
                    ("objects", "paths", first),
                    f"{kind} '{objects[0]}' can never match: no predicate of this policy "
                    f"applies to it ({', '.join(access.predicates)})",
                    f"{kinds} take {', '.join(verbs)}: add one to predicates, or move the {kind} "
                    "to a policy of its own",
                )
            )
    return found


def rules_from_manifest(name: str, manifest: dict[str, Any]) -> list[Rule]:
    """The rules of a stored policy (the manifest JSON the store keeps), for the authorizer.

    The section is validated again rather than trusted: `Rule.of` takes a validated section,
    and a raw `allow: "false"` (text, which apply accepts) would be truthy there. A stored
    policy that no longer validates is an error, never a rule that half-applies.
    """
    section = manifest.get("policy")
    try:
        spec = PolicySpec.model_validate(section)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        message, _ = describe(first, PolicySpec, first["loc"])
        where = format_path(("policy", *first["loc"]))
        raise StoreError(
            f"stored policy '{name}' is not valid: {where}: {message}",
            hint=f"apply its manifest again (entrepot apply -f ...), or delete it: "
            f"entrepot delete -t policy -n {name}",
        ) from None
    return [Rule.of(name, spec.access.model_dump(mode="json"))]
