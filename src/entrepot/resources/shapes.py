"""Read a stored manifest in one vocabulary, whichever documented form it was applied in.

A resource is stored as applied (so `get -d` shows what the user wrote), and a depot or secret
may be written several ways:

- a depot as v1 (`depot.spec`), v2alpha (`depot.<type>:`) or the DataOS 2.0 docs' form
  (`spec: {type, spec: {...}, secrets: [{id: <tenant>:<secret>, purpose}]}`);
- an instance secret as `instance-secret:` (a mapping, or a list of one as the Kafka pages
  write it) or a DataOS 2.0 `type: secret` with a `secret:` section.

Whoever reads a stored manifest's connection (connections, the scanner, the exports) reads it
through these functions, never `manifest["depot"]` or `manifest["instance-secret"]` directly.
Plain dicts only: the read path must not import pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PURPOSE_ACL = {"scan": "r", "query": "r", "rw": "rw"}


@dataclass(frozen=True)
class SecretUse:
    """One secret a depot references: by name, and, in the DataOS 2.0 form, for a purpose."""

    name: str
    purpose: str | None = None  # scan | query | rw; None: the secret's own acl decides

    @property
    def acl(self) -> str | None:
        return PURPOSE_ACL.get(self.purpose) if self.purpose else None


def is_tenant_form(manifest: dict[str, Any]) -> bool:
    """A depot written in the DataOS 2.0 form (`spec:` rather than `depot:`)."""
    return "depot" not in manifest and isinstance(manifest.get("spec"), dict)


def depot_section(manifest: dict[str, Any]) -> dict[str, Any]:
    """The depot's section as v2alpha writes it: `type`, `source`, ..., its `<type>:` block
    (v1: `spec:`), `secrets` (each `{name}`; in the 2.0 form also `purpose`)."""
    if not is_tenant_form(manifest):
        section = manifest.get("depot")
        return section if isinstance(section, dict) else {}
    from entrepot.resources.depot_types import lookup_type

    spec = manifest["spec"]
    declared = lookup_type(str(spec.get("type", "")))
    block_key = declared.block_keys[0] if declared is not None else "spec"
    out = {key: value for key, value in spec.items() if key not in ("spec", "secrets")}
    out[block_key] = spec.get("spec") or {}
    out["secrets"] = [{"name": use.name, "purpose": use.purpose} for use in secret_uses(manifest)]
    return out


def secret_name(secret_id: str) -> str:
    """`engineering:snowflake-secret-r` names the secret `snowflake-secret-r`: entrepot has one
    tenant, so the tenant part only has to be there."""
    return secret_id.rpartition(":")[2]


def secret_uses(manifest: dict[str, Any]) -> list[SecretUse]:
    """The secrets a stored depot references, in order."""
    if is_tenant_form(manifest):
        refs = manifest["spec"].get("secrets") or []
        return [
            SecretUse(secret_name(str(ref["id"])), str(ref["purpose"]))
            for ref in refs
            if isinstance(ref, dict)
        ]
    section = manifest.get("depot")
    refs = section.get("secrets") if isinstance(section, dict) else None
    return [SecretUse(str(ref["name"])) for ref in refs or [] if isinstance(ref, dict)]


def secret_section(manifest: dict[str, Any]) -> dict[str, Any]:
    """An instance secret's section (`type`, `acl`, `data`, `files`; values hidden), whether
    applied as `instance-secret:` (a mapping or a list of one) or as a `type: secret`."""
    section = manifest.get("instance-secret", manifest.get("secret"))
    if isinstance(section, list) and len(section) == 1:
        section = section[0]
    return section if isinstance(section, dict) else {}


def secret_acl(manifest: dict[str, Any]) -> str:
    """The stored secret's own acl: 'r', 'rw', or '' (a `type: secret` without one, whose
    acl is the purpose each depot names it for)."""
    return str(secret_section(manifest).get("acl") or "")
