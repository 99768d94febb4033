"""The command forms dataos-ctl's documentation writes, beyond one flag per value.

- **Identifiers.** `-i/--identifier` names a resource in one string, as DataOS prints it:
  `NAME:VERSION:TYPE[:WORKSPACE]`, or a row copied from a `get` table with its pipes and spaces
  (`"postgres | v2alpha | depot |"`); `--id` is `TYPE:VERSION:NAME[:WORKSPACE]`. Either order is
  read where a known resource type decides it.
- **Flags before the verb.** `dataos-ctl -t workflow -n NAME get runtime -r` and
  `dataos-ctl -i "..." --node N log`: click parses a group's options at the group, so the root
  group moves these flags after the command path before parsing (`hoist`).
- **DataOS's resource types.** `-t service` is refused saying which types entrepot manages, not
  merely that the word is not one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from entrepot.errors import EntrepotError, ExitCode

# The manifest kinds (resources.compile.RESOURCE_TYPES, which `get` must not import: pydantic).
RESOURCE_TYPES = ("depot", "instance-secret", "policy", "workflow")
# Every type dataos-ctl's `-t` help names (workspace, then instance resources).
DATAOS_TYPES = (
    "workflow", "service", "worker", "secret", "database", "cluster", "volume", "resource",
    "monitor", "pager", "lakehouse",
    "policy", "depot", "compute", "dataplane", "stack", "operator", "bundle", "instance-secret",
    "grant",
)  # fmt: skip
IDENTIFIER_HELP = (
    "The resource in one string: NAME:VERSION:TYPE[:WORKSPACE], or a row of a get table in "
    'quotes ("NAME | VERSION | TYPE | WORKSPACE").'
)
ID_HELP = "The resource in one string: TYPE:VERSION:NAME[:WORKSPACE] (depot:v2alpha:postgres)."


def not_managed(rtype: str) -> str:
    return (
        f"'{rtype}' is a DataOS resource type entrepot does not manage: "
        f"it manages {', '.join(RESOURCE_TYPES)}"
    )


class ResourceType(click.Choice):  # type: ignore[type-arg]
    """A resource type among `choices`; DataOS's types entrepot does not manage get a message
    saying so, not merely that the word is not one of the choices."""

    def __init__(self, choices: tuple[str, ...] = RESOURCE_TYPES) -> None:
        super().__init__(choices, case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value).lower()
        if text == "secret" and "instance-secret" in self.choices:
            # DataOS 2.0's `type: secret` is stored as an instance secret.
            return "instance-secret"
        if text in DATAOS_TYPES and text not in RESOURCE_TYPES:
            self.fail(not_managed(text), param, ctx)
        return super().convert(value, param, ctx)


@dataclass(frozen=True)
class Identifier:
    type: str
    version: str
    name: str
    workspace: str  # "" when the string names none


def _known(word: str) -> bool:
    return word.lower() in DATAOS_TYPES


def _usage(message: str, hint: str) -> EntrepotError:
    return EntrepotError(message, hint=hint, exit_code=ExitCode.USAGE)


def parse_identifier(text: str, option: str) -> Identifier:
    """`-i` (option "-i/--identifier") or `--id` (option "--id"): see the module's doc.
    A string that names no resource is a usage error saying what was expected."""
    example = (
        "write NAME:VERSION:TYPE[:WORKSPACE] (postgres:v2alpha:depot), a get table's row in "
        'quotes ("postgres | v2alpha | depot |"), or --id TYPE:VERSION:NAME[:WORKSPACE]'
    )
    piped = "|" in text
    parts = [part.strip() for part in text.split("|" if piped else ":")]
    if len(parts) not in (3, 4) or not all(parts[:3]):
        raise _usage(f"{option}: '{text}' is not a resource identifier", example)
    first, version, third = parts[0], parts[1], parts[2]
    workspace = parts[3] if len(parts) == 4 else ""
    if piped:  # a table row: NAME | VERSION | TYPE | WORKSPACE, unless only the first is a type
        type_first = _known(first) and not _known(third)
    elif _known(first) and _known(third):
        if option != "--id":
            raise _usage(
                f"{option}: '{text}' is ambiguous: both '{first}' and '{third}' are resource types",
                f"say which one is the type: --id TYPE:VERSION:NAME, or -t TYPE -n NAME "
                f"-v {version}",
            )
        type_first = True
    elif _known(first) or _known(third):
        type_first = _known(first)
    else:
        raise _usage(
            f"{option}: '{text}' names no resource type ('{first}' or '{third}')",
            f"{example}; types: {', '.join(RESOURCE_TYPES)}",
        )
    rtype, name = (first, third) if type_first else (third, first)
    return Identifier(rtype.lower(), version, name, workspace)


def resolve(
    identifier: str | None,
    resource_id: str | None,
    *,
    rtype: str | None,
    name: str | None,
    workspace: str | None,
    version: str | None,
    types: tuple[str, ...] = RESOURCE_TYPES,
) -> tuple[str | None, str | None, str | None, str | None]:
    """(type, name, workspace, version) from -t/-n/-w/-v and an identifier, which must agree
    where both are given. The workspace is only a workflow's (instance-level kinds have none)."""
    if identifier and resource_id:
        raise click.UsageError("give -i/--identifier or --id, not both")
    text = identifier or resource_id
    if text is None:
        return rtype, name, workspace, version
    option = "-i/--identifier" if identifier else "--id"
    found = parse_identifier(text, option)
    if found.type not in RESOURCE_TYPES:
        raise _usage(
            f"{option}: {not_managed(found.type)}",
            "entrepot get -t TYPE lists the resources of a type it manages",
        )
    if found.type not in types:
        raise _usage(
            f"{option}: '{text}' is of type {found.type}; this command takes {' or '.join(types)}",
            f"list it with: dataos-ctl get -i '{text}'",
        )
    for flag, given, parsed in (
        ("-t/--type", rtype, found.type),
        ("-n/--name", name, found.name),
        ("-v/--version", version, found.version),
    ):
        if given is not None and given.lower() != parsed.lower():
            raise click.UsageError(f"{flag} '{given}' and {option} '{text}' disagree: give one")
    ws = workspace
    if found.type == "workflow" and found.workspace:
        if workspace is not None and workspace != found.workspace:
            raise click.UsageError(
                f"-w/--workspace '{workspace}' and {option} '{text}' disagree: give one"
            )
        ws = found.workspace
    return found.type, found.name, ws, found.version


# --- flags before the verb ------------------------------------------------------------------

# Flags dataos-ctl's examples write before the command (`dataos-ctl -t workflow -n X get`):
# those taking a value, and switches. `--version` and `-h/--help` stay the root's own.
VALUE_FLAGS = frozenset(
    {"-t", "--type", "-n", "--name", "-w", "--workspace", "-i", "--identifier", "--id",
     "--node", "-o", "--owner", "--refreshRate"}
)  # fmt: skip
SWITCHES = frozenset({"-a", "--all", "-d", "--details", "-r", "--refresh"})


def _flag(token: str) -> tuple[bool, int]:
    """(movable, how many tokens it spans) of a token met before the command."""
    head = token.split("=", 1)[0]
    if head in SWITCHES and "=" not in token:
        return True, 1
    if head in VALUE_FLAGS:
        return True, 1 if "=" in token else 2
    return False, 0


def hoist(root: click.Group, args: list[str]) -> list[str]:
    """Move the flags written between the program (or a group) and the command after the
    command path: `-t workflow -n X get runtime -r` -> `get runtime -t workflow -n X -r`.
    Everything after the command is left as it is."""
    path: list[str] = []
    moved: list[str] = []
    node: click.Command = root
    index = 0
    while index < len(args):
        token = args[index]
        if isinstance(node, click.Group) and token in node.commands:
            path.append(token)
            node = node.commands[token]
            index += 1
            continue
        if not isinstance(node, click.Group):
            break
        movable, span = _flag(token)
        if not movable:
            break
        moved += args[index : index + span]
        index += span
    if not moved:
        return args
    rest = args[index:]
    if not path:
        if any(arg in ("-h", "--help") for arg in rest):
            return ["--help"]
        raise click.UsageError(
            f"{moved[0]} is a flag of a command, and no command follows it: write one, "
            f"e.g. dataos-ctl {' '.join(moved)} get"
        )
    return [*path, *moved, *rest]
