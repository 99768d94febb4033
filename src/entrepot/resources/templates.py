"""`entrepot template depot <type>`: a ready-to-edit depot with its r and rw instance secrets,
generated from the same block models that validate it (so every template validates)."""

from __future__ import annotations

from typing import Any

import yaml

from entrepot.errors import EntrepotError, Location
from entrepot.resources.base import NAME_MAX, name_problem, suggest_name
from entrepot.resources.depot_types import DEPOT_TYPES, DepotType, lookup_type


def list_types() -> str:
    lines = ["Source types (entrepot template depot TYPE):"]
    for depot_type in DEPOT_TYPES.values():
        lines.append(f"  {depot_type.name:<14} {depot_type.category}")
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()


def _block_lines(depot_type: DepotType) -> list[str]:
    lines = []
    for name, info in depot_type.block.model_fields.items():
        key = info.alias or name
        example = info.examples[0] if info.examples else None
        if example is None and info.is_required():
            example = f"<{key}>"
        comment = f"  # {info.description}" if info.description else ""
        if example is None or example == {} or example == []:
            default = info.get_default() if not info.is_required() else None
            shown = _scalar(default) if default not in (None, {}, []) else "..."
            lines.append(f"    # {key}: {shown}{comment}")
        elif info.is_required() or info.examples:
            if isinstance(example, dict):
                lines.append(f"    {key}:{comment}")
                lines.extend(f"      {k}: {_scalar(v)}" for k, v in example.items())
            else:
                lines.append(f"    {key}: {_scalar(example)}{comment}")
    if depot_type.name == "postgresql":
        lines.insert(0, "    subprotocol: postgresql")
        lines = [line for line in lines if not line.startswith("    # subprotocol")]
    return lines


def _secret(name: str, acl: str, depot_type: DepotType) -> str:
    depot = name.rsplit("-", 1)[0]
    env = depot.upper() + ("_RW" if acl == "rw" else "")
    # Types whose keys are all optional (S3, Kafka, ...) still get a usable secret.
    keys = [*depot_type.secret_keys] or [*depot_type.optional_secret_keys]
    optional = [k for k in depot_type.optional_secret_keys if k not in keys]
    body = [
        f"name: {name}",
        "version: v1",
        "type: instance-secret",
        f"description: {'Read' if acl == 'r' else 'Read-write'} credentials of depot {depot}",
        "layer: user",
        "instance-secret:",
        "  type: key-value-properties",
        f"  acl: {acl}",
    ]
    if keys:
        body.append("  data:")
        body.extend(f"    {key}: ${{{env}_{key.upper()}}}" for key in keys)
    for key in optional:
        body.append(f"    # {key}: ${{{env}_{key.upper()}}}")
    if depot_type.secret_files:
        body.append("  files:")
        body.extend(f"    {key}: ./{key}.json" for key in depot_type.secret_files)
    return "\n".join(body)


def _check_name(depot: str) -> None:
    """The template must validate: the depot's name, and its secrets' `<name>-r`/`<name>-rw`."""
    problem = name_problem(depot, "depot") or name_problem(f"{depot}-rw", "instance-secret")
    if problem is not None:
        if len(depot) <= NAME_MAX and len(f"{depot}-rw") > NAME_MAX:
            problem = (
                f"invalid name '{depot}': its secret '{depot}-rw' would be longer than "
                f"{NAME_MAX} characters; a depot name for a template has at most "
                f"{NAME_MAX - 3}"
            )
        raise EntrepotError(
            problem,
            location=Location("-n/--name"),
            hint=f"for example -n {suggest_name(depot, 'depot')[: NAME_MAX - 3]}",
        )


def depot_template(source_type: str, name: str | None = None) -> str:
    depot_type = lookup_type(source_type)
    if depot_type is None:
        raise EntrepotError(
            f"unknown depot type '{source_type}'",
            hint=f"types: {', '.join(DEPOT_TYPES)}",
        )
    depot = name or f"my{depot_type.name}"
    _check_name(depot)
    block_key = depot_type.block_keys[0]
    if depot_type.name == "postgresql":
        block_key = "jdbc"  # as the tutorial writes it
    parts = [
        f"# {depot_type.name} depot: edit the values, export the variables, then\n"
        f"#   entrepot apply -f THIS_FILE\n"
        f"# Credentials live in instance secrets ({depot}-r, {depot}-rw), never in the depot."
    ]
    docs = []
    secrets_block = []
    if depot_type.needs_secret or depot_type.optional_secret_keys:
        docs.append(_secret(f"{depot}-r", "r", depot_type))
        docs.append(_secret(f"{depot}-rw", "rw", depot_type))
        secrets_block = [
            "  secrets:",
            f"    - name: {depot}-r",
            "      allkeys: true",
            f"    - name: {depot}-rw",
            "      allkeys: true",
        ]
    depot_doc = [
        f"name: {depot}",
        "version: v2alpha",
        "type: depot",
        f"description: {depot_type.name} data source",
        "layer: user",
        "depot:",
        f"  type: {depot_type.name}",
        "  external: true",
        *secrets_block,
        f"  {block_key}:",
        *_block_lines(depot_type),
    ]
    docs.append("\n".join(depot_doc))
    return parts[0] + "\n" + "\n---\n".join(docs) + "\n"


def policy_template(name: str | None = None) -> str:
    """An access policy to edit: DataOS's example of blocking the depot listing."""
    policy = name or "deny-depot-listing"
    problem = name_problem(policy, "policy")
    if problem is not None:
        raise EntrepotError(
            problem,
            location=Location("-n/--name"),
            hint=f"for example -n {suggest_name(policy, 'policy')}",
        )
    return f"""\
# An access policy, enforced by the authorization layer: edit it, then
#   entrepot apply -f THIS_FILE
# Every field: entrepot schema policy
name: {policy}
version: v1
type: policy
layer: user
description: data-dev may not list depots
policy:
  access:
    subjects:
      tags:                    # users:id:NAME, roles:id:NAME; globs: roles:id:*, users:id:**
        - roles:id:data-dev
    predicates:                # API paths: get, post, put, patch, delete
      - get                    # dataos:// addresses: read, write, create, update, delete
    objects:
      paths:                   # API paths, or dataos://depot:collection/dataset (globs: *, **)
        - /ds/api/v2/depots
    allow: false               # true grants; false denies
"""
