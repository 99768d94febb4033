"""Turn validated documents into `PlannedResource`s: the sanitised manifest the store keeps, the
secret values to encrypt (split out here and nowhere else), and the references between resources.
"""

from __future__ import annotations

import copy
import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from entrepot.errors import Location, Problems
from entrepot.manifest.loader import Document, PathKey
from entrepot.manifest.validate import validate
from entrepot.resources.base import ResourceMeta, name_problem, suggest_name
from entrepot.resources.depot import DepotV1, DepotV2Alpha, DepotV2Spec, InlineConnectionSecret
from entrepot.resources.depot_types import (
    ALL_BLOCK_KEYS,
    DEPOT_TYPES,
    DepotType,
    effective_type,
    lookup_type,
)
from entrepot.resources.instance_secret import InstanceSecretV1, SecretPayloadMixin, SecretV2Alpha
from entrepot.resources.policy import PolicyV1, never_matching
from entrepot.resources.shapes import PURPOSE_ACL, secret_name
from entrepot.resources.workflow import STACK_SPECS, WorkflowV1

MAX_SECRET_FILE_BYTES = 1024 * 1024
REDACTED = "<hidden>"
SECRET_SECTIONS = ("data", "values", "files")  # `values`: the v1 Elasticsearch form of `data`
ALLOW_OUTSIDE_FLAG = "--allow-files-outside"

KINDS: dict[tuple[str, str], type[ResourceMeta]] = {
    ("instance-secret", "v1"): InstanceSecretV1,
    ("depot", "v1"): DepotV1,
    ("depot", "v2alpha"): DepotV2Alpha,
    ("workflow", "v1"): WorkflowV1,
    ("policy", "v1"): PolicyV1,
}
RESOURCE_TYPES = sorted({t for t, _ in KINDS})
# Other documented forms of the same kinds: a DataOS 2.0 `type: secret` is stored as an
# instance secret; a depot with `spec:` (DataOS 2.0) instead of `depot:` is a v2alpha depot.
SECRET_KINDS: dict[tuple[str, str], type[ResourceMeta]] = {("secret", "v2alpha"): SecretV2Alpha}
TENANT_DEPOT = DepotV2Spec
STORED_AS = {"secret": "instance-secret"}
MANIFEST_TYPES = sorted({*RESOURCE_TYPES, *STORED_AS})
WORKSPACE_TYPES = {"workflow"}  # instance-level kinds have no workspace


@dataclass
class SecretPayload:
    """Values to encrypt: `slot` is '' for an instance secret, `connectionSecret[i]` inline."""

    slot: str
    acl: str
    secret_type: str | None
    data: dict[str, str]
    files: dict[str, bytes]

    def fingerprint_items(self) -> dict[str, bytes]:
        items = {f"data.{k}": v.encode() for k, v in self.data.items()}
        items.update({f"files.{k}": v for k, v in self.files.items()})
        return items


@dataclass
class Ref:
    type: str
    name: str
    acl: str | None = None
    path: PathKey = ()
    purpose: str | None = None  # DataOS 2.0 depots: scan | query (acl r), rw (acl rw)


@dataclass
class PlannedResource:
    type: str
    name: str
    version: str
    workspace: str
    owner: str | None
    layer: str
    tags: list[str]
    description: str | None
    manifest: dict[str, Any]  # as applied, secret values replaced by REDACTED
    spec: Any  # the part whose change bumps the generation (secret fingerprints added later)
    document: Document
    source_type: str | None = None
    acl: str | None = None
    secrets: list[SecretPayload] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}:{self.type}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type, self.workspace, self.name)


def compile_document(
    doc: Document, problems: Problems, workspace: str, *, allow_files_outside: bool = False
) -> PlannedResource | None:
    """Validate one document into a planned resource, or record its problems and return None.

    `allow_files_outside`: `files:` may name files outside the manifest's folder.
    """
    kind = _kind(doc, problems)
    if kind is None:
        return None
    applied = doc.data  # kept as written for the store (`get -d`); `doc` may become a view
    if kind is InstanceSecretV1:
        view = _secret_list_view(doc, problems)
        if view is None:
            return None
        doc = view
    _secret_values_as_written(doc)
    _policy_values_as_written(doc)
    model = validate(doc, kind, problems)
    if model is None:
        return None
    if (problem := name_problem(model.name, model.type)) is not None:
        problems.error(
            problem, doc.locate(("name",)), f"for example '{suggest_name(model.name, model.type)}'"
        )
        return None
    if isinstance(model, InstanceSecretV1 | SecretV2Alpha):
        return _instance_secret(doc, model, problems, allow_files_outside, applied)
    if isinstance(model, DepotV1 | DepotV2Alpha | DepotV2Spec):
        return _depot(doc, model, problems, allow_files_outside)
    if isinstance(model, WorkflowV1):
        return _workflow(doc, model, problems, workspace)
    if isinstance(model, PolicyV1):
        return _policy(doc, model, problems)
    raise AssertionError(f"no compiler for {type(model).__name__}")  # pragma: no cover


def _secret_list_view(doc: Document, problems: Problems) -> Document | None:
    """`instance-secret:` written as a list of one mapping (the Kafka pages of the DataOS docs:
    `- acl: r`) read as that mapping, positions and all. More entries would be several secrets
    in one resource, which has one name and one acl: refused, showing the form to write."""
    body = doc.data.get("instance-secret")
    if not isinstance(body, list):
        return doc
    if len(body) == 1 and isinstance(body[0], dict):
        head: PathKey = ("instance-secret", 0)

        def unwrap(path: PathKey) -> PathKey:
            return ("instance-secret", *path[2:]) if path[:2] == head else path

        return Document(
            doc.source,
            doc.base_dir,
            doc.index,
            {**doc.data, "instance-secret": body[0]},
            {unwrap(path): mark for path, mark in doc.positions.items()},
            doc.interpolated,
            doc.placeholders,
            {unwrap(path): text for path, text in doc.written.items()},
        )
    problems.error(
        f"expected a mapping, found a list of {len(body)} entries: an instance secret has one "
        "acl, and a list of one entry is read as that entry",
        doc.locate(("instance-secret",)),
        "write one instance secret per acl, each with `instance-secret:` as a mapping "
        "(`instance-secret: {type: key-value-properties, acl: r, data: {...}}`), named "
        "<depot>-r and <depot>-rw",
    )
    return None


def _secret_sections(data: dict[str, Any]) -> list[tuple[PathKey, dict[str, Any]]]:
    """The mappings holding secret values (and secret file paths), wherever a kind has them."""
    found: list[tuple[PathKey, dict[str, Any]]] = []
    for top in ("instance-secret", "secret"):
        body = data.get(top)
        if top == "secret" and data.get("type") != "secret":
            continue
        if isinstance(body, dict):
            found.extend(((top, s), body[s]) for s in SECRET_SECTIONS if s in body)
    depot = data.get("depot")
    for key in ("connectionSecret", "connectionSecrets"):
        entries = depot.get(key) if isinstance(depot, dict) else None
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict):
                found.extend(
                    (("depot", key, i, s), entry[s]) for s in SECRET_SECTIONS if s in entry
                )
    return [(path, section) for path, section in found if isinstance(section, dict)]


def _secret_values_as_written(doc: Document) -> None:
    """A secret value is the text the user wrote: YAML 1.1 would store `password: 0123` as 83,
    `0x1F` as 31, `1_000` as 1000, `yes` as true and `2024-01-01` as a date."""
    for path, section in _secret_sections(doc.data):
        for key, value in section.items():
            written = doc.written.get((*path, key))
            if written is not None and value is not None and not isinstance(value, str):
                section[key] = written


_POLICY_LISTS: tuple[PathKey, ...] = (
    ("policy", "access", "subjects", "tags"),
    ("policy", "access", "predicates"),
    ("policy", "access", "objects", "paths"),
)


def _policy_values_as_written(doc: Document) -> None:
    """Tags, predicates and paths are text: YAML 1.1 would read the tag `1:30` as 90 and the
    predicate `on` as true, and the error would then be about a number or a boolean."""
    if doc.data.get("type") != "policy":
        return
    for path in _POLICY_LISTS:
        items: Any = doc.data
        for key in path:
            items = items.get(key) if isinstance(items, dict) else None
        for i, value in enumerate(items if isinstance(items, list) else []):
            written = doc.written.get((*path, i))
            if written is not None and value is not None and not isinstance(value, str):
                items[i] = written


def _kind(doc: Document, problems: Problems) -> type[ResourceMeta] | None:
    rtype, version = doc.data.get("type"), doc.data.get("version")
    if rtype is None or version is None:
        missing = "type" if rtype is None else "version"
        problems.error(
            f"missing required field '{missing}'",
            doc.locate(()),
            f"every manifest has name, version and type; types: {', '.join(RESOURCE_TYPES)}",
        )
        return None
    if not isinstance(rtype, str) or not isinstance(version, str | int | float):
        field = "type" if not isinstance(rtype, str) else "version"
        problems.error("expected text", doc.locate((field,)), f"types: {', '.join(RESOURCE_TYPES)}")
        return None
    rtype, version = rtype.strip().lower(), str(version).strip()
    if rtype not in MANIFEST_TYPES:
        import difflib

        close = difflib.get_close_matches(rtype, MANIFEST_TYPES, n=1)
        problems.error(
            f"unknown resource type '{rtype}'" + (f", did you mean '{close[0]}'?" if close else ""),
            doc.locate(("type",)),
            f"types: {', '.join(MANIFEST_TYPES)}",
        )
        return None
    kind = KINDS.get((rtype, version)) or SECRET_KINDS.get((rtype, version))
    if kind is DepotV2Alpha and "spec" in doc.data:
        if "depot" in doc.data:
            problems.error(
                "a depot has either 'depot:' (v2alpha) or 'spec:' (the DataOS 2.0 form), not both",
                doc.locate(("spec",)),
                "keep one: depot: {type, secrets: [{name}], <type>: {...}} or "
                "spec: {type, spec: {...}, secrets: [{id, purpose}]}",
            )
            return None
        kind = TENANT_DEPOT
    if kind is None:
        versions = sorted(v for t, v in (*KINDS, *SECRET_KINDS) if t == rtype)
        problems.error(
            f"unsupported version '{version}' for type '{rtype}'",
            doc.locate(("version",)),
            f"supported: {', '.join(versions)}",
        )
        return None
    doc.data["type"] = rtype
    return kind


def _meta(model: ResourceMeta) -> dict[str, Any]:
    return {
        "name": model.name,
        "version": model.version,
        "type": model.type,
        "tags": list(model.tags),
        "description": model.description,
        "owner": model.owner or None,
        "layer": model.layer,
    }


def _planned(
    doc: Document, model: ResourceMeta, manifest: dict[str, Any], spec: Any, workspace: str = ""
) -> PlannedResource:
    return PlannedResource(
        type=model.type,
        name=model.name,
        version=model.version,
        workspace=workspace,
        owner=model.owner or None,
        layer=model.layer,
        tags=list(model.tags),
        description=model.description,
        manifest=manifest,
        spec=spec,
        document=doc,
    )


def _read_payload(
    doc: Document,
    payload: SecretPayloadMixin,
    path: PathKey,
    problems: Problems,
    allow_outside: bool,
    extra_data: dict[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, bytes]]:
    data = dict(payload.data or {})
    data.update(extra_data or {})
    files: dict[str, bytes] = {}
    for key, rel in (payload.files or {}).items():
        where = doc.locate((*path, "files", key))
        content = _read_secret_file(doc.base_dir, rel, allow_outside, problems, where)
        if content is not None:
            files[key] = content
    return data, files


_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_REGULAR_HINT = "'files' takes regular files (a certificate, a key file), read at apply time"


def _read_secret_file(
    base_dir: Path, rel: str, allow_outside: bool, problems: Problems, where: Location
) -> bytes | None:
    """A `files:` entry's content: a regular file inside the manifest's folder (unless allowed
    elsewhere), of at most MAX_SECRET_FILE_BYTES, read without ever blocking or reading more."""
    given = Path(rel).expanduser()
    file_path = given if given.is_absolute() else base_dir / given
    # Judge where the path really leads (`..`, symlinks), then open exactly that: a manifest
    # from someone else must not pull ~/.ssh/id_rsa into a secret a depot sends to a server.
    real = Path(os.path.realpath(file_path))
    folder = Path(os.path.realpath(base_dir))
    if not allow_outside and not real.is_relative_to(folder):
        leads = f", it leads to {real}" if real != file_path else ""
        problems.error(
            f"file '{rel}' is outside the manifest's folder {folder}{leads}",
            where,
            "keep secret files in the manifest's folder or below it, or pass "
            f"{ALLOW_OUTSIDE_FLAG} to apply/diff to read files from elsewhere",
        )
        return None
    try:
        # O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW)
    except FileNotFoundError:
        problems.error(
            f"file '{rel}' not found (looked for {file_path})",
            where,
            "paths in 'files' are relative to the manifest's folder",
        )
        return None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket cannot be opened at all
            problems.error(f"file '{rel}' is a socket, not a regular file", where, _REGULAR_HINT)
        else:
            problems.error(f"cannot read file '{rel}': {exc.strerror}", where)
        return None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
        problems.error(f"file '{rel}' is {kind}, not a regular file", where, _REGULAR_HINT)
        return None
    with os.fdopen(fd, "rb") as fh:
        # The size stat reports can lie (/proc files say 0) or change: read one byte past the
        # limit instead of trusting it.
        content = fh.read(MAX_SECRET_FILE_BYTES + 1)
    if len(content) > MAX_SECRET_FILE_BYTES:
        problems.error(
            f"file '{rel}' is larger than {MAX_SECRET_FILE_BYTES} bytes",
            where,
            "'files' takes certificates and key files; a larger file is not a credential",
        )
        return None
    return content


def _sanitised_payload(raw: Any) -> Any:
    """The manifest's `data`/`files` section with values hidden (keys and file names kept)."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for section in ("data", "values"):
        if isinstance(out.get(section), dict):
            out[section] = {key: REDACTED for key in out[section]}
    return out


def _instance_secret(
    doc: Document,
    model: InstanceSecretV1 | SecretV2Alpha,
    problems: Problems,
    allow_files_outside: bool,
    applied: dict[str, Any],
) -> PlannedResource | None:
    """An instance secret, or a DataOS 2.0 `type: secret` stored as one. `applied`: the
    document as written (the Kafka pages' list of one entry stays a list in the store)."""
    section = "secret" if isinstance(model, SecretV2Alpha) else "instance-secret"
    spec = model.secret if isinstance(model, SecretV2Alpha) else model.instance_secret
    before = len(problems.errors)
    data, files = _read_payload(doc, spec, (section,), problems, allow_files_outside)
    if len(problems.errors) > before:
        return None
    manifest = copy.deepcopy(applied)
    body = manifest.get(section)
    manifest[section] = (
        [_sanitised_payload(entry) for entry in body]
        if isinstance(body, list)
        else _sanitised_payload(body)
    )
    sanitised = {"type": spec.type, "acl": spec.acl, "keys": sorted(data), "files": spec.files}
    planned = _planned(doc, model, manifest, sanitised)
    planned.type = STORED_AS.get(planned.type, planned.type)
    # A `type: secret` without acl: each depot's purpose decides (stored as '').
    planned.acl = spec.acl
    planned.secrets.append(SecretPayload("", spec.acl or "", spec.type, data, files))
    return planned


def _depot(
    doc: Document,
    model: DepotV1 | DepotV2Alpha | DepotV2Spec,
    problems: Problems,
    allow_files_outside: bool,
) -> PlannedResource | None:
    spec = model.spec if isinstance(model, DepotV2Spec) else model.depot
    section = "spec" if isinstance(model, DepotV2Spec) else "depot"
    declared = lookup_type(spec.type)
    if declared is None:
        import difflib

        names = sorted(DEPOT_TYPES)
        close = difflib.get_close_matches(spec.type.lower(), names, n=1)
        problems.error(
            f"unknown depot type '{spec.type}'"
            + (f", did you mean '{close[0]}'?" if close else ""),
            doc.locate((section, "type")),
            f"types: {', '.join(names)}",
        )
        return None
    if isinstance(model, DepotV2Spec):
        return _tenant_depot(doc, model, declared, problems)
    if isinstance(model, DepotV1):
        block_key, block = "spec", model.depot.spec
        depot_type = _validate_block(doc, declared, block, ("depot", "spec"), problems)
    else:
        present = [k for k in ALL_BLOCK_KEYS if getattr(spec, k, None) is not None]
        if not present:
            problems.error(
                f"missing the connection block '{declared.block_keys[0]}:'",
                doc.locate(("depot",)),
                f"a {declared.name} depot has a '{declared.block_keys[0]}:' block with "
                f"{', '.join(_required_fields(declared))}; see `entrepot template depot "
                f"{declared.name}`",
            )
            return None
        if len(present) > 1:
            problems.error(
                f"more than one connection block: {', '.join(present)}",
                doc.locate(("depot", present[1])),
                "keep exactly one block, named after the depot type",
            )
            return None
        block_key = present[0]
        if block_key not in declared.block_keys:
            problems.error(
                f"a '{block_key}:' block does not fit 'type: {spec.type}'",
                doc.locate(("depot", block_key)),
                "expected " + " or ".join(f"'{key}:'" for key in declared.block_keys),
            )
            return None
        block = getattr(spec, block_key)
        depot_type = _validate_block(doc, declared, block, ("depot", block_key), problems)
    if depot_type is None:
        return None
    manifest = copy.deepcopy(doc.data)
    refs = [
        Ref("instance-secret", ref.name, None, ("depot", "secrets", i, "name"))
        for i, ref in enumerate(model.depot.secrets)
    ]
    payloads: list[SecretPayload] = []
    if isinstance(model, DepotV1):
        for i, inline in enumerate(model.depot.connectionSecret):
            payload = _inline_secret(doc, inline, i, problems, allow_files_outside)
            if payload is None:
                return None
            payloads.append(payload)
        raw_inline = manifest["depot"].get("connectionSecret") or manifest["depot"].get(
            "connectionSecrets"
        )
        if isinstance(raw_inline, list):
            for i, entry in enumerate(raw_inline):
                raw_inline[i] = _sanitised_payload(entry)
    sanitised_spec = copy.deepcopy(manifest["depot"])
    planned = _planned(doc, model, manifest, sanitised_spec)
    planned.source_type = depot_type.name
    planned.refs = refs
    planned.secrets = payloads
    return planned


def _tenant_depot(
    doc: Document, model: DepotV2Spec, declared: DepotType, problems: Problems
) -> PlannedResource | None:
    """A depot in the DataOS 2.0 form: the block is `spec.spec`, validated as the v2alpha block
    of its type; each secret is named by `<tenant>:<name>` for a purpose (scan, query: r;
    rw: rw). Stored as written; `resources.shapes` reads it as v2alpha."""
    spec = model.spec
    depot_type = _validate_block(doc, declared, spec.spec, ("spec", "spec"), problems)
    if depot_type is None:
        return None
    manifest = copy.deepcopy(doc.data)
    planned = _planned(doc, model, manifest, copy.deepcopy(manifest["spec"]))
    planned.source_type = depot_type.name
    planned.refs = [
        Ref(
            "instance-secret",
            secret_name(ref.id),
            PURPOSE_ACL[ref.purpose],
            ("spec", "secrets", i, "id"),
            ref.purpose,
        )
        for i, ref in enumerate(spec.secrets)
    ]
    return planned


def _required_fields(depot_type: DepotType) -> list[str]:
    return [
        info.alias or name
        for name, info in depot_type.block.model_fields.items()
        if info.is_required()
    ]


def _validate_block(
    doc: Document,
    declared: DepotType,
    block: dict[str, Any],
    path: PathKey,
    problems: Problems,
) -> DepotType | None:
    subprotocol = block.get("subprotocol") if isinstance(block, dict) else None
    depot_type = effective_type(declared, str(subprotocol) if subprotocol else None)
    result: BaseModel | None = validate(doc, depot_type.block, problems, block, path)
    return depot_type if result is not None else None


def _inline_secret(
    doc: Document,
    inline: InlineConnectionSecret,
    index: int,
    problems: Problems,
    allow_files_outside: bool,
) -> SecretPayload | None:
    path: PathKey = ("depot", "connectionSecret", index)
    before = len(problems.errors)
    data, files = _read_payload(doc, inline, path, problems, allow_files_outside, inline.values)
    if len(problems.errors) > before:
        return None
    if not data and not files:
        problems.error("a connection secret needs 'data' or 'files'", doc.locate(path))
        return None
    return SecretPayload(f"connectionSecret[{index}]", inline.acl, inline.type, data, files)


def _workflow(
    doc: Document, model: WorkflowV1, problems: Problems, workspace: str
) -> PlannedResource | None:
    ok = True
    for i, job in enumerate(model.workflow.dag):
        stack_name = job.spec.stack.split(":", 1)[0]
        stack_model = STACK_SPECS.get(stack_name)
        if stack_model is None:
            continue
        path: PathKey = ("workflow", "dag", i, "spec", "stackSpec")
        if validate(doc, stack_model, problems, job.spec.stackSpec, path) is None:
            ok = False
    if not ok:
        return None
    manifest = copy.deepcopy(doc.data)
    planned = _planned(doc, model, manifest, copy.deepcopy(manifest["workflow"]), workspace)
    for i, job in enumerate(model.workflow.dag):
        depot = job.spec.stackSpec.get("depot") if job.spec.stack.startswith("scanner:") else None
        if isinstance(depot, str):
            where: PathKey = ("workflow", "dag", i, "spec", "stackSpec", "depot")
            planned.refs.append(Ref("depot", depot_name(depot), None, where))
    return planned


def _policy(doc: Document, model: PolicyV1, problems: Problems) -> PlannedResource | None:
    access = model.policy.access
    found = never_matching(access)
    for path, message, hint in found:
        problems.error(message, doc.locate(("policy", "access", *path)), hint)
    if found:
        return None
    manifest = copy.deepcopy(doc.data)
    # Stored as validated: `allow: "false"` as false, `GET` as get. The authorization layer
    # reads this section; text where a boolean belongs must never reach it.
    manifest["policy"] = {"access": access.model_dump(mode="json")}
    return _planned(doc, model, manifest, copy.deepcopy(manifest["policy"]))


def depot_name(address: str) -> str:
    """`dataos://postgres`, `dataos://postgres:public` or `postgres` name the depot postgres."""
    return address.strip().removeprefix("dataos://").split(":", 1)[0].split("/", 1)[0]


__all__ = [
    "KINDS",
    "MANIFEST_TYPES",
    "REDACTED",
    "RESOURCE_TYPES",
    "WORKSPACE_TYPES",
    "PlannedResource",
    "Ref",
    "SecretPayload",
    "compile_document",
]
