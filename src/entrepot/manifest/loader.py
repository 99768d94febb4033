"""Load YAML manifests with every value's position kept, safely.

Why not `yaml.safe_load`: it loses positions (errors must say file:line:column), silently keeps
the last of duplicate keys, and expands alias bombs. We compose nodes with libyaml, then build
plain data ourselves, recording the mark of every field and counting visited nodes.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from entrepot.errors import Location, ManifestError, Problems

try:  # libyaml is ~10x faster for large multi-document applies.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PathKey = tuple[str | int, ...]

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the default; ENTREPOT_MAX_MANIFEST_BYTES overrides it
MAX_NODES_PER_DOCUMENT = 100_000  # counted with aliases expanded: stops "billion laughs"
MAX_DEPTH = 64
MANIFEST_SUFFIXES = (".yaml", ".yml")

_PLACEHOLDER = re.compile(r"\$?\{\{\s*([^{}]*?)\s*\}\}")
_ENV = re.compile(
    r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*)"
    r"|(\{[^}]*\}?))"  # group 4: a malformed ${...}: unterminated or an invalid name
)
# `${abfss-depot-name}`: the DataOS docs write values to replace this way. A name with '-', '.'
# or a space is no environment variable (a shell cannot export it), so it is a placeholder.
_DOC_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z0-9_][-A-Za-z0-9_. ]*?)\s*\}")
# Entrepôt's own settings (the store URL with its password, the master key): never interpolated.
RESERVED_PREFIX = "ENTREPOT_"


def max_manifest_bytes(where: Location | None = None) -> int:
    """The size limit of one manifest, read when used: a bad value is a user's error, not ours."""
    raw = os.environ.get("ENTREPOT_MAX_MANIFEST_BYTES", "").strip()
    if not raw:
        return MAX_MANIFEST_BYTES
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else 0
    if limit <= 0:
        raise ManifestError(
            f"ENTREPOT_MAX_MANIFEST_BYTES is '{raw[:40]}', not a number of bytes above 0",
            location=where,
            hint=f"set it to a whole number of bytes (e.g. {2 * MAX_MANIFEST_BYTES}), or unset "
            f"it for the default of {MAX_MANIFEST_BYTES} (4 MiB)",
        )
    return limit


@dataclass(frozen=True)
class Interpolated:
    """One `$VAR` filled in: where, which variable, and its value (to redact if it is secret)."""

    path: PathKey
    variable: str
    value: str
    location: Location


@dataclass
class Document:
    """One YAML document: its data, where it came from, and the position of each field."""

    source: str
    base_dir: Path
    index: int
    data: dict[str, Any]
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # Values that came from the environment, by field (the service decides which are secret).
    interpolated: list[Interpolated] = field(default_factory=list)
    placeholders: set[str] = field(default_factory=set)  # --set names this document used
    # The text as written of each scalar YAML 1.1 turned into something else (`0123` -> 83,
    # `yes` -> True, `2024-01-01` -> a date): secret values are read from here, never converted.
    written: dict[PathKey, str] = field(default_factory=dict)

    def locate(self, path: PathKey = ()) -> Location:
        """The location of a field, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe not in self.positions and probe:
            probe = probe[:-1]
        line, column = self.positions.get(probe, (None, None))
        return Location(self.source, line, column, format_path(path))


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class LoadOptions:
    interpolate: bool = True
    env: dict[str, str] | None = None  # defaults to os.environ
    values: dict[str, str] = field(default_factory=dict)  # --set key=value for {{key}}
    lenient: bool = False  # leave unfilled placeholders as text (delete -f reads names only)


@dataclass
class Source:
    display: str
    path: Path | None  # None for stdin

    def read(self) -> bytes:
        limit = max_manifest_bytes(Location(self.display))
        if self.path is None:
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with self.path.open("rb") as fh:
                data = fh.read(limit + 1)
        if len(data) > limit:
            raise ManifestError(
                f"file is larger than {limit} bytes",
                location=Location(self.display),
                hint="split it into several files, or raise ENTREPOT_MAX_MANIFEST_BYTES",
            )
        return data


def collect_sources(paths: list[str], recursive: bool = False) -> list[Source]:
    """Expand `-f` arguments: files, directories (`-R` to descend) and `-` for stdin."""
    sources: list[Source] = []
    for raw in paths:
        if raw == "-":
            sources.append(Source("<stdin>", None))
            continue
        path = Path(raw)
        try:
            path.stat()
        except OSError as exc:  # missing, too long a name, a loop of links, no permission
            reason = (
                "no such file or folder" if isinstance(exc, FileNotFoundError) else exc.strerror
            )
            raise ManifestError(
                f"cannot open: {reason}" if reason != "no such file or folder" else reason,
                location=Location(raw[:200] + ("..." if len(raw) > 200 else "")),
                hint="check the path given to -f",
            ) from None
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(
                p for p in path.glob(pattern) if p.is_file() and p.suffix in MANIFEST_SUFFIXES
            )
            if not found:
                hint = "use -R to search sub-folders" if not recursive else None
                raise ManifestError(
                    "no .yaml or .yml files in this folder", location=Location(raw), hint=hint
                )
            sources.extend(Source(str(p), p) for p in found)
        elif path.is_file():
            sources.append(Source(raw, path))
        else:
            raise ManifestError(
                "no such file or folder",
                location=Location(raw),
                hint="check the path given to -f",
            )
    return sources


def load_paths(paths: list[str], recursive: bool, options: LoadOptions) -> list[Document]:
    """Load every document of every source; all problems are reported together."""
    problems = Problems()
    documents: list[Document] = []
    for source in collect_sources(paths, recursive):
        base = source.path.parent if source.path is not None else Path.cwd()
        try:
            documents.extend(load_bytes(source.read(), source.display, base, options, problems))
        except OSError as exc:
            problems.error(f"cannot read file: {exc.strerror}", Location(source.display))
    problems.raise_if_errors()
    return documents


def decode(raw: bytes, display: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            location=Location(display, line, column),
            hint="save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


def load_bytes(
    raw: bytes,
    display: str,
    base_dir: Path,
    options: LoadOptions,
    problems: Problems,
) -> list[Document]:
    text = decode(raw, display)
    documents: list[Document] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        message, location, hint = _yaml_problem(exc, text, display)
        problems.error(message, location, hint)
        return documents
    except yaml.reader.ReaderError as exc:  # control characters
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        problems.error(
            f"invalid YAML: control character #x{exc.character:04x} is not allowed",
            Location(display, line, column),
            hint="remove it, or write it as an escape (\\x07) inside a double-quoted string",
        )
        return documents
    for index, node in enumerate(nodes):
        if node is None:
            continue
        builder = _Builder(display, options, problems)
        data = builder.build(node, ())
        start = (node.start_mark.line + 1, node.start_mark.column + 1)
        if builder.failed:
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.error(
                f"a manifest must be a mapping (name, version, type, ...), found {_kind(data)}",
                Location(display, *start),
                hint="each YAML document describes one resource",
            )
            continue
        doc = Document(
            display,
            base_dir,
            index,
            data,
            builder.positions,
            builder.interpolated,
            builder.placeholders,
            builder.written,
        )
        doc.positions.setdefault((), start)
        documents.append(doc)
    return documents


def _yaml_problem(
    exc: yaml.MarkedYAMLError, text: str, display: str
) -> tuple[str, Location, str | None]:
    """A parser error as a user reads it: where it went wrong, in words."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    hint = None
    if mark is not None and exc.problem_mark is not None:
        lines = text.splitlines()
        if mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t":
            problem = "a tab character cannot indent YAML"
            hint = "indent with spaces"
    context = exc.context or ""
    if exc.context_mark is not None and (
        "quoted scalar" in context or "end of stream" in problem or mark is None
    ):
        # Point where the unclosed thing starts, not at the end of the file.
        mark = exc.context_mark
        if "quoted scalar" in context:
            hint = "close the quote, or escape quotes inside the value"
    text_problem = f"{context}: {problem}" if context else problem
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return f"invalid YAML: {text_problem}", Location(display, line, column), hint


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


class _Builder:
    """Builds plain data from a node tree, recording positions and filling placeholders."""

    _scalars = _Loader("")  # a constructor for scalar tags (int, bool, null, timestamps)

    def __init__(self, display: str, options: LoadOptions, problems: Problems) -> None:
        self.display = display
        self.options = options
        self.problems = problems
        self.positions: dict[PathKey, tuple[int, int]] = {}
        self.interpolated: list[Interpolated] = []
        self.written: dict[PathKey, str] = {}
        self.placeholders: set[str] = set()
        self.visited = 0
        self.failed = False
        self.env = options.env if options.env is not None else dict(os.environ)

    def _loc(self, node: yaml.Node, path: PathKey) -> Location:
        mark = node.start_mark
        return Location(self.display, mark.line + 1, mark.column + 1, format_path(path))

    def _fail(self, message: str, node: yaml.Node, path: PathKey, hint: str | None = None) -> None:
        self.failed = True
        self.problems.error(message, self._loc(node, path), hint)

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES_PER_DOCUMENT:
            if not self.failed:
                self._fail(
                    f"document expands to more than {MAX_NODES_PER_DOCUMENT} values",
                    node,
                    path,
                    hint="anchors and aliases (&x / *x) nested this way are refused (alias bomb)",
                )
            return None
        if len(path) > MAX_DEPTH:
            self._fail(f"nested deeper than {MAX_DEPTH} levels", node, path)
            return None
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            placeholder = _flow_placeholder(node)
            if placeholder is not None:
                return self._fill_whole(placeholder, node, path)
            return self._mapping(node, path)
        self._fail("unsupported YAML node", node, path)  # pragma: no cover
        return None

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:merge":
                merged.update(self._merge(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail("a key must be a plain name, not a list or mapping", key_node, path)
                continue
            key = str(key_node.value)
            if key in first_seen:
                self._fail(
                    f"duplicate key '{key}' (first defined at line {first_seen[key]})",
                    key_node,
                    (*path, key),
                    hint="remove one of the two; YAML would silently keep only the last",
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            self.positions[(*path, key)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            child = (*path, key)
            out[key] = self.build(value_node, child)
            # Point at the key, not the value: that is where a user looks for the field.
            self.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge(self, node: yaml.Node, path: PathKey) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self._fail("'<<' merges only mappings", source, path)
                continue
            for key, value in self._mapping(source, path).items():
                merged.setdefault(key, value)
        return merged

    def _scalar(self, node: yaml.ScalarNode, path: PathKey) -> Any:
        value = self._construct(node, path)
        if not isinstance(value, str):
            return value
        whole = self._whole_placeholder(node, value)
        if whole is not None:
            # `port: ${{port}}` filled with 5432 is the number YAML reads in `port: 5432`.
            self.placeholders.add(whole)
            return self._resolved(self.options.values[whole], node, path)
        if "{{" in value:
            before = len(self.problems.items)
            value = self._fill_placeholders(value, node, path)
            if len(self.problems.items) > before:
                return value  # an unfilled placeholder: no interpolation errors on top of it
        if self.options.interpolate and "$" in value:
            value = self._interpolate(value, node, path)
        return value

    def _placeholder_value(self, name: str, node: yaml.Node, path: PathKey) -> str | None:
        if name in self.options.values:
            self.placeholders.add(name)
            return self.options.values[name]
        if self.options.lenient:
            return None
        self._fail(
            f"template placeholder '{{{{{name}}}}}' is not filled",
            node,
            path,
            hint=f"replace it in the file, or pass --set {name}=VALUE",
        )
        return None

    def _fill_placeholders(self, value: str, node: yaml.Node, path: PathKey) -> str:
        def replace(match: re.Match[str]) -> str:
            filled = self._placeholder_value(match.group(1), node, path)
            return match.group(0) if filled is None else filled

        return _PLACEHOLDER.sub(replace, value)

    def _fill_whole(self, name: str, node: yaml.Node, path: PathKey) -> Any:
        filled = self._placeholder_value(name, node, path)
        if filled is None:
            return f"{{{{{name}}}}}" if self.options.lenient else None
        return self._resolved(filled, node, path)

    def _whole_placeholder(self, node: yaml.ScalarNode, value: str) -> str | None:
        """The --set name of a plain (unquoted) scalar that is one placeholder and nothing
        else: `${{port}}`, or with interpolation on `${abfss-depot-name}` and `${name}`."""
        if node.style:  # libyaml gives a plain scalar style '' (PyYAML: None)
            return None  # quoted or a block scalar: text, whatever fills it
        match = _PLACEHOLDER.fullmatch(value)
        if match is None and self.options.interpolate and value.startswith("$"):
            match = _DOC_PLACEHOLDER.fullmatch(value[1:])
        name = match.group(1) if match is not None else None
        return name if name is not None and name in self.options.values else None

    def _resolved(self, filled: str, node: yaml.Node, path: PathKey) -> Any:
        """The filled text resolved as YAML would have read it written there (so `{{port}}`
        filled with 5432 is a number); its text is kept too, for secret values."""
        tag = self._scalars.resolve(yaml.ScalarNode, filled, (True, False))  # type: ignore[no-untyped-call]
        scalar = yaml.ScalarNode(tag, filled, node.start_mark, node.end_mark)
        return self._construct(scalar, path)

    def _construct(self, node: yaml.ScalarNode, path: PathKey) -> Any:
        """Construct one scalar by its tag, without the loader's per-node object cache."""
        if node.tag != "tag:yaml.org,2002:str":
            self.written[path] = str(node.value)
        constructor = self._scalars.yaml_constructors.get(node.tag)
        if constructor is None:
            self._fail(
                f"unsupported YAML tag '{node.tag}'",
                node,
                path,
                hint="remove the tag; manifests use plain strings, numbers and booleans",
            )
            return None
        try:
            return constructor(self._scalars, node)
        except yaml.YAMLError as exc:
            self._fail(f"invalid value: {getattr(exc, 'problem', exc)}", node, path)
            return None
        except ValueError:
            # Python refuses to convert integers of more than sys.get_int_max_str_digits()
            # digits (a denial-of-service guard); PyYAML lets that ValueError through.
            digits = sum(ch.isdigit() for ch in str(node.value))
            self._fail(
                f"a number of {digits} digits is too long (at most {sys.get_int_max_str_digits()})",
                node,
                path,
                hint="put the value in quotes if it is text",
            )
            return None

    def _interpolate(self, value: str, node: yaml.Node, path: PathKey) -> str:
        def replace(match: re.Match[str]) -> str:
            text = match.group(0)
            if text == "$$":
                return "$"
            if match.group(4) is not None:
                placeholder = _DOC_PLACEHOLDER.fullmatch(match.group(4))
                if placeholder is not None:
                    return self._doc_placeholder(placeholder.group(1), text, node, path)
                self._fail(
                    f"malformed variable reference '{text[:40]}'",
                    node,
                    path,
                    hint="write ${NAME} with a closing '}' and a name of letters, digits and '_' "
                    "(or $$ for a literal '$')",
                )
                return text
            name = match.group(1) or match.group(3)
            default = match.group(2)
            if match.group(1) is not None and default is None and name in self.options.values:
                # `${description}` is also how the DataOS docs write a value to replace:
                # `--set description=...` says so explicitly, and wins over the environment.
                self.placeholders.add(name)
                return self.options.values[name]
            if name.upper().startswith(RESERVED_PREFIX):
                self._fail(
                    f"environment variable '{name}' cannot be interpolated: ENTREPOT_* variables "
                    "configure entrepot itself and may hold credentials (the store URL, the "
                    "master key)",
                    node,
                    path,
                    hint=(
                        f"write the value itself, or export a variable of your own; "
                        f"$${{{name}}} keeps the text '${{{name}}}' as written, and "
                        "--disable-interpolation turns interpolation off"
                    ),
                )
                return text
            if name in self.env:
                resolved = self.env[name]
            elif default is not None:
                resolved = default
            else:
                # The DataOS docs also write `${description}` for a value to fill in.
                fill = f", --set {name}=VALUE to fill it in" if match.group(1) else ""
                self._fail(
                    f"environment variable '{name}' is not set",
                    node,
                    path,
                    hint=(
                        f"export {name}=... before applying{fill}, write $${name} for a "
                        "literal '$', or pass --disable-interpolation"
                    ),
                )
                return text
            self.interpolated.append(Interpolated(path, name, resolved, self._loc(node, path)))
            return resolved

        return _ENV.sub(replace, value)

    def _doc_placeholder(self, name: str, text: str, node: yaml.Node, path: PathKey) -> str:
        """`${abfss-depot-name}`: filled by `--set abfss-depot-name=...`, else an error that
        says what it is (not a malformed environment variable)."""
        if name in self.options.values:
            self.placeholders.add(name)
            return self.options.values[name]
        if self.options.lenient:
            return text
        self._fail(
            f"template placeholder '${{{name}}}' is not filled: a name with '-', '.' or a space "
            "is a value to replace (as the DataOS docs write them), not an environment variable",
            node,
            path,
            hint=f"replace it in the file, or pass --set {name}=VALUE",
        )
        return text


def _flow_placeholder(node: yaml.MappingNode) -> str | None:
    """Recognise `{{name}}` written unquoted: YAML reads it as a mapping inside a mapping."""
    if len(node.value) != 1:
        return None
    key, value = node.value[0]
    if not (isinstance(value, yaml.ScalarNode) and value.value in ("", None)):
        return None
    if not isinstance(key, yaml.MappingNode) or len(key.value) != 1:
        return None
    inner_key, inner_value = key.value[0]
    if (
        isinstance(inner_key, yaml.ScalarNode)
        and isinstance(inner_value, yaml.ScalarNode)
        and inner_value.value in ("", None)
    ):
        return str(inner_key.value)
    return None
