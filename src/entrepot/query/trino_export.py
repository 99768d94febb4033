"""Trino catalogs from depots: `entrepot export trino --dir etc/catalog`.

One catalog properties file per depot (`<dir>/<depot>.properties`, the catalog is named after
the depot), rendered by the depot's connector (`Connector.trino`). Secrets never enter these
files: each is a `${ENV:ENTREPOT_<DEPOT>_<KEY>}` reference (Trino's secrets syntax), and the
values go to one env file, created with mode 0600 from its first byte, `KEY='value'` lines in
POSIX shell quoting (`set -a; . entrepot-trino.env; set +a` before starting Trino). The values
come from each depot's `r` secret, decrypted through the `DepotAccess` it is handed (audited,
purpose "trino export"; services.query.export_trino builds it).

Every file is written to a temporary file in the same folder and renamed over the old one, so
a reader never sees half a file and re-running replaces cleanly. Exporting every depot rewrites
the env file; exporting some keeps the other depots' lines.

Depot types whose connector declares no Trino capability (and depots Trino cannot reach, such
as an Azurite endpoint) are skipped, each with its reason; skipping decrypts nothing when the
type alone decides.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from entrepot.errors import EntrepotError, ExitCode, MissingCredentialError

if TYPE_CHECKING:
    from entrepot.services.connections import DepotAccess
    from entrepot.store.reader import ResourceRow

ENV_PREFIX = "ENTREPOT"
ENV_FILE_NAME = "entrepot-trino.env"
PURPOSE = "trino export"
ENV_REF = re.compile(r"\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}")
PROPERTY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def env_prefix(depot: str) -> str:
    """`ENTREPOT_<DEPOT>`: upper case, every character but letters and digits as `_`."""
    return f"{ENV_PREFIX}_" + re.sub(r"[^A-Z0-9]", "_", depot.upper())


def default_env_file(directory: Path) -> Path:
    """`<dir>/../entrepot-trino.env`: next to Trino's `etc/catalog`, outside the catalogs."""
    return directory.parent / ENV_FILE_NAME


@dataclass
class Catalog:
    """One depot's catalog: its properties (references only) and the env values they need."""

    depot: str
    source_type: str
    path: Path
    properties: dict[str, str]
    env: dict[str, str] = field(default_factory=dict, repr=False)  # name -> secret value

    @property
    def connector(self) -> str:
        return self.properties.get("connector.name", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "depot": self.depot,
            "type": self.source_type,
            "connector": self.connector,
            "file": str(self.path),
            "env": sorted(self.env),  # names only
        }


@dataclass
class Skipped:
    depot: str
    source_type: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"depot": self.depot, "type": self.source_type, "reason": self.reason}


@dataclass
class TrinoExport:
    directory: Path
    env_file: Path
    catalogs: list[Catalog] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    complete: bool = True  # every depot was asked for: the env file is rewritten whole
    kept_env: dict[str, str] = field(default_factory=dict, repr=False)  # other depots' lines
    written: bool = False
    env_written: bool = False

    @property
    def env(self) -> dict[str, str]:
        merged = dict(self.kept_env)
        for catalog in self.catalogs:
            merged.update(catalog.env)
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "envFile": str(self.env_file),
            "written": self.written,
            "catalogs": [c.to_dict() for c in self.catalogs],
            "skipped": [s.to_dict() for s in self.skipped],
        }


# --- planning ------------------------------------------------------------------------------


def plan(
    access: DepotAccess,
    names: Sequence[str] = (),
    directory: Path | str = "etc/catalog",
    env_file: Path | str | None = None,
) -> TrinoExport:
    """Render the catalogs of `names` (default: every depot the actor may export), writing
    nothing."""
    directory = Path(directory)
    target = Path(env_file) if env_file is not None else default_env_file(directory)
    every = access.usable()
    by_name = {row.name: row for row in every}
    # A name not usable goes through access.depot for its error (not found, or refused).
    rows = [by_name.get(n) or access.depot(n) for n in dict.fromkeys(names)] if names else every
    _refuse_clashing_prefixes([row.name for row in every])
    result = TrinoExport(directory, target, complete=not names)
    for row in sorted(rows, key=lambda r: r.name):
        outcome = _render(access, row, directory)
        if isinstance(outcome, Catalog):
            result.catalogs.append(outcome)
        else:
            result.skipped.append(outcome)
    if names:
        exported = {c.depot for c in result.catalogs}
        result.kept_env = _other_depots_env(target, [r.name for r in every], exported)
    return result


def _render(access: DepotAccess, row: ResourceRow, directory: Path) -> Catalog | Skipped:
    from entrepot.connectors import capabilities, get_connector, types_with
    from entrepot.connectors.base import MissingCredential, StepFailed
    from entrepot.resources.depot_types import connection_config

    depot_type, _ = connection_config(row.manifest or {})
    source_type = depot_type.name
    declared = capabilities(source_type)
    connector = get_connector(source_type)
    if connector is None or not declared.trino:
        return Skipped(
            row.name,
            source_type,
            f"no Trino rendering for depot type '{source_type}': {declared.why_not('trino')} "
            f"(Trino catalogs: {', '.join(types_with('trino'))})",
        )
    prefix = env_prefix(row.name)
    try:
        conn = access.connection(row, "r", purpose=PURPOSE)
        properties = connector.trino(conn, prefix)
        env = connector.trino_env(conn, prefix)
    except NotImplementedError as exc:
        return Skipped(row.name, source_type, str(exc))
    except (MissingCredential, MissingCredentialError) as exc:
        return Skipped(row.name, source_type, str(exc))
    except StepFailed as exc:  # a credential that cannot be used (a key file that is not JSON)
        return Skipped(row.name, source_type, exc.reason)
    _check_rendering(row.name, properties, env, prefix)
    return Catalog(row.name, source_type, directory / f"{row.name}.properties", properties, env)


def _check_rendering(
    depot: str, properties: dict[str, str], env: dict[str, str], prefix: str
) -> None:
    """A connector's rendering must reference exactly the variables it defines, all its own."""
    referenced = {m for value in properties.values() for m in ENV_REF.findall(value)}
    bad_keys = [k for k in properties if not PROPERTY_KEY.fullmatch(k)]
    bad_env = [n for n in env if not (ENV_NAME.fullmatch(n) and n.startswith(prefix + "_"))]
    if referenced != set(env) or bad_keys or bad_env:
        raise RuntimeError(  # a connector bug; names only, never values
            f"Trino rendering of depot '{depot}' is inconsistent: references "
            f"{sorted(referenced)}, defines {sorted(env)}, bad keys {bad_keys + bad_env}"
        )


def _refuse_clashing_prefixes(depots: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in sorted(depots):
        prefix = env_prefix(name)
        if prefix in seen:
            raise EntrepotError(
                f"depots '{seen[prefix]}' and '{name}' would share the environment variables "
                f"{prefix}_*",
                hint="rename one of them",
                exit_code=ExitCode.REFUSED,
            )
        seen[prefix] = name


def _owner(variable: str, prefixes: dict[str, str]) -> str | None:
    """The depot whose prefix is the longest one `variable` starts with."""
    best = None
    for prefix in prefixes:
        if variable.startswith(prefix + "_") and (best is None or len(prefix) > len(best)):
            best = prefix
    return prefixes[best] if best is not None else None


def _other_depots_env(path: Path, depots: list[str], exported: set[str]) -> dict[str, str]:
    """The lines of an existing env file that belong to no depot exported now."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise EntrepotError(
            f"cannot read the env file {path}: {exc.strerror}",
            hint="fix its permissions, or export every depot to rewrite it",
        ) from None
    try:
        tokens = shlex.split(text, comments=True, posix=True)
    except ValueError:
        raise EntrepotError(
            f"the env file {path} is not in the KEY='value' form this command writes",
            hint="remove it, or export every depot to rewrite it",
        ) from None
    prefixes = {env_prefix(d): d for d in depots}
    kept: dict[str, str] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if sep and ENV_NAME.fullmatch(name) and _owner(name, prefixes) not in exported:
            kept[name] = value
    return kept


# --- rendering -----------------------------------------------------------------------------


def _escape_property(value: str) -> str:
    """A Java properties value: backslashes, line breaks and leading blanks escaped, and
    anything outside printable ASCII as \\uXXXX (read the same as Latin-1 or UTF-8)."""
    out = []
    for index, char in enumerate(value):
        if char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char == " " and index == 0:
            out.append("\\ ")
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.extend(f"\\u{unit:04x}" for unit in _utf16_units(char))
    return "".join(out)


def _utf16_units(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def properties_text(catalog: Catalog) -> str:
    head = [
        f"# Trino catalog '{catalog.depot}': depot '{catalog.depot}' ({catalog.source_type}), "
        "written by `entrepot export trino`.",
        "# Secrets are ${ENV:...} references; their values are in the env file, not here.",
    ]
    body = [f"{key}={_escape_property(value)}" for key, value in catalog.properties.items()]
    return "\n".join(head + body) + "\n"


def quote_env_value(value: str) -> str:
    """POSIX shell single quotes: literal, a `'` inside as `'\\''`."""
    if "\0" in value:
        raise EntrepotError(
            "a secret value contains a NUL character, which no environment variable can hold"
        )
    return "'" + value.replace("'", "'\\''") + "'"


def env_text(env: dict[str, str]) -> str:
    head = [
        "# Secrets for the Trino catalogs written by `entrepot export trino`. Keep private.",
        "# Load before starting Trino: set -a; . ./" + ENV_FILE_NAME + "; set +a",
    ]
    body = [f"{name}={quote_env_value(env[name])}" for name in sorted(env)]
    return "\n".join(head + body) + "\n"


# --- writing -------------------------------------------------------------------------------


def _atomic_write(path: Path, text: str, mode: int) -> None:
    """Write `text` to a new file created with `mode` next to `path`, then rename it over
    `path`: readers see the old file or the new one, never a part."""
    if path.exists() and not path.is_file():  # a folder, a FIFO, or a device such as /dev/null
        raise EntrepotError(  # (which root could otherwise replace by a file of secrets)
            f"cannot write {path}: it exists and is not a regular file",
            hint="choose a file path for --dir and --env-file",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)  # the mode from the start
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write(result: TrinoExport) -> None:
    """The env file first (so every reference a catalog makes can be resolved), then the
    catalogs. Nothing is written when no depot could be exported."""
    if not result.catalogs:
        return
    try:
        if result.env or result.env_file.exists():
            _atomic_write(result.env_file, env_text(result.env), 0o600)
            result.env_written = True
        for catalog in result.catalogs:
            _atomic_write(catalog.path, properties_text(catalog), 0o644)
    except OSError as exc:
        raise EntrepotError(
            f"cannot write {exc.filename or result.directory}: {exc.strerror}",
            hint="check the folder exists and is writable (--dir, --env-file)",
        ) from None
    result.written = True


def export_trino(
    access: DepotAccess,
    names: Sequence[str] = (),
    directory: Path | str = "etc/catalog",
    env_file: Path | str | None = None,
    *,
    dry_run: bool = False,
) -> TrinoExport:
    """Plan, then (unless `dry_run`) write the catalogs and the env file."""
    result = plan(access, names, directory, env_file)
    if not dry_run:
        write(result)
    return result
