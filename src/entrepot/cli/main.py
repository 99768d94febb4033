"""Commands. dataos-ctl's names and flags, plus what kubectl users expect (diff, --dry-run, -o)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from entrepot import __version__
from entrepot.cli.output import (
    GET_COLUMNS,
    check_block,
    check_line,
    dump,
    echo,
    step_line,
    table,
)
from entrepot.errors import EntrepotError, ExitCode

if TYPE_CHECKING:
    from entrepot.service import ApplyOptions, ApplyResult, Service

RESOURCE_TYPES = ("depot", "instance-secret", "workflow")
F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _service() -> Service:
    from entrepot.service import Service

    return Service()


def _fail(error: EntrepotError) -> NoReturn:
    echo(error.render(), err=True)
    sys.exit(int(error.exit_code))


def _parse_set(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got '{item}'", param_hint="--set")
        out[key.strip()] = value
    return out


def _type_option(required: bool = False) -> Callable[[F], F]:
    return click.option(
        "-t",
        "--type",
        "rtype",
        type=click.Choice(RESOURCE_TYPES, case_sensitive=False),
        required=required,
        help="Resource type.",
    )


def manifest_options(func: Any) -> Any:
    for decorator in reversed(
        [
            click.option(
                "-f",
                "--manifestFile",
                "paths",
                multiple=True,
                required=True,
                metavar="PATH",
                help="Manifest file, folder, or - for stdin (repeatable).",
            ),
            click.option("-R", "--recursive", is_flag=True, help="Read folders' sub-folders too."),
            click.option(
                "--disable-interpolation",
                is_flag=True,
                help="Do not interpolate $ENV|${ENV} (for values containing '$').",
            ),
            click.option(
                "--set",
                "set_values",
                multiple=True,
                metavar="KEY=VALUE",
                help="Fill a template placeholder {{KEY}} or ${{KEY}} (repeatable).",
            ),
            click.option(
                "-w",
                "--workspace",
                default="public",
                show_default=True,
                help="Workspace of workflows (instance-level kinds have none).",
            ),
        ]
    ):
        func = decorator(func)
    return func


def _apply_options(
    paths: tuple[str, ...],
    recursive: bool,
    disable_interpolation: bool,
    set_values: tuple[str, ...],
    workspace: str,
    **extra: Any,
) -> ApplyOptions:
    from entrepot.service import ApplyOptions

    return ApplyOptions(
        paths=list(paths),
        recursive=recursive,
        interpolate=not disable_interpolation,
        values=_parse_set(set_values),
        workspace=workspace,
        **extra,
    )


def _print_warnings(result: ApplyResult) -> None:
    for warning in result.warnings:
        echo(warning.render(), err=True)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="entrepot")
def cli() -> None:
    """Entrepôt: declare data sources once (instance secrets + depots), store them safely.

    \b
    Quick start:
      entrepot apply -f instance_secret.yaml      # encrypted at rest
      entrepot apply -f depot.yaml
      entrepot get -t depot
    Every dataos-ctl command of the tutorial works verbatim (`dataos-ctl` is this program).
    """


@cli.group(context_settings=CONTEXT)
def resource() -> None:
    """The long forms: `resource apply|get|delete|diff` (same flags as the short ones)."""


@click.command(context_settings=CONTEXT)
@manifest_options
@click.option("-l", "--lint", is_flag=True, help="Validate only; write nothing.")
@click.option("--dry-run", is_flag=True, help="Check against the store and show what would change.")
@click.option("--show-diff", is_flag=True, help="Print the change of each updated resource.")
@click.option("--no-verify", is_flag=True, help="Do not check the connection of changed depots.")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 600),
    default=10.0,
    show_default=True,
    help="Deadline of each depot check, in seconds.",
)
def apply(
    lint: bool, dry_run: bool, show_diff: bool, no_verify: bool, timeout: float, **kwargs: Any
) -> None:
    """Create or update resources from manifests, all or nothing.

    \b
    Examples:
      entrepot apply -f instance_secret.yaml
      POSTGRES_PASSWORD=... entrepot apply -f manifests/ -R
      entrepot apply -f depot.yaml --lint
      entrepot apply -f azure.yaml --set owner=alice --dry-run
      cat depot.yaml | entrepot apply -f -
    Prints `applying NAME:VERSION:TYPE...created|updated|unchanged` per resource, then
    verifies the connection of each depot created or changed (`--no-verify` to skip).
    """
    options = _apply_options(
        lint=lint,
        dry_run=dry_run,
        want_diff=show_diff,
        verify=not no_verify,
        timeout=timeout,
        **kwargs,
    )
    result = _service().apply(options)
    _print_warnings(result)
    suffix = " (dry run)" if dry_run else ""
    for outcome in result.outcomes:
        where = f"({outcome.workspace}) " if outcome.workspace else " "
        echo(f"applying{where}{outcome.id}...{outcome.action}{suffix}")
        if show_diff and outcome.diff:
            echo(outcome.diff.rstrip())
    for check in result.checks:
        echo(check_line(check), err=not check.ok)


@click.command(context_settings=CONTEXT)
@_type_option()
@click.option("-n", "--name", help="Only this name.")
@click.option("-a", "--all", "all_owners", is_flag=True, help="Resources of all owners.")
@click.option("-o", "--owner", help="Resources of this owner (default: you).")
@click.option("-w", "--workspace", help="Workspace of workflows.")
@click.option("-d", "--details", is_flag=True, help="Manifest, secret key names, references.")
@click.option(
    "--output",
    "fmt",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
    help="Output format.",
)
def get(
    rtype: str | None,
    name: str | None,
    all_owners: bool,
    owner: str | None,
    workspace: str | None,
    details: bool,
    fmt: str,
) -> None:
    """List resources: yours by default, everyone's with -a.

    \b
    Examples:
      entrepot get -t depot
      entrepot get -t depot -a
      entrepot get -t instance-secret -n postgres-r -d
      entrepot get -t depot --output json
    Secret values are never shown; -d lists key names only.
    """
    rows = _service().list_resources(
        rtype=rtype.lower() if rtype else None,
        name=name,
        owner=owner,
        all_owners=all_owners,
        workspace=workspace,
        details=details,
    )
    if fmt != "table":
        dump([row.to_dict(details) for row in rows], fmt)
        return
    if not rows:
        who = "" if all_owners or owner else " owned by you (use -a for all owners)"
        echo(f"no {rtype or 'resource'}s found{who}", err=True)
        return
    cells: list[tuple[str, ...]] = [
        (r.name, r.version, r.type, r.workspace, r.status, "", r.owner) for r in rows
    ]
    columns: tuple[str, ...] = GET_COLUMNS
    if all(r.type == "depot" for r in rows):
        columns = (*GET_COLUMNS, "CONNECTION")
        cells = [(*cell, r.connection or "") for cell, r in zip(cells, rows, strict=True)]
    table(columns, cells)
    if details:
        for row in rows:
            _print_details(row.to_dict(details=True))


def _print_details(record: dict[str, Any]) -> None:
    echo(f"\n--- {record['id']}")
    info = {
        "generation": record["generation"],
        "resourceVersion": record["resourceVersion"],
        "created": f"{record['createdAt']} by {record['createdBy']}",
        "updated": f"{record['updatedAt']} by {record['updatedBy']}",
        "source": record["source"],
    }
    if record["secrets"]:
        info["secrets"] = record["secrets"]
    if record["references"]:
        info["references"] = record["references"]
    if record["dependents"]:
        info["dependents"] = [d["id"] for d in record["dependents"]]
    info["manifest"] = record["manifest"]
    dump(info, "yaml")
    for check in record.get("checks") or []:
        echo(f"last check ({check['acl']}), {check['checkedAt']}: {check['summary']}")
        for step in check["steps"]:
            echo(step_line(step))


@click.command(context_settings=CONTEXT)
@_type_option()
@click.option("-n", "--name", help="Name of the resource.")
@click.option("-f", "--manifestFile", "paths", multiple=True, metavar="PATH", help="Manifests.")
@click.option("-R", "--recursive", is_flag=True, help="Read folders' sub-folders too.")
@click.option("-w", "--workspace", default="public", show_default=True, help="Workflow workspace.")
@click.option("--force", is_flag=True, help="Delete even though other resources depend on it.")
def delete(
    rtype: str | None,
    name: str | None,
    paths: tuple[str, ...],
    recursive: bool,
    workspace: str,
    force: bool,
) -> None:
    """Delete resources by type and name, or those a manifest names.

    \b
    Examples:
      entrepot delete -t depot -n postgres
      entrepot delete -f depot.yaml
      entrepot delete -t instance-secret -n postgres-r --force
    Deleting an instance secret a depot uses is refused unless --force.
    """
    service = _service()
    if paths:
        outcomes = service.delete_files(
            _apply_options(paths, recursive, True, (), workspace), force=force
        )
    elif rtype and name:
        rtype = rtype.lower()
        ws = workspace if rtype == "workflow" else ""
        outcomes = service.delete([(rtype, ws, name)], force=force)
    else:
        raise click.UsageError("give -t TYPE -n NAME, or -f PATH")
    for outcome in outcomes:
        echo(f"deleting {outcome.id}...deleted")


@click.command(context_settings=CONTEXT)
@manifest_options
def diff(**kwargs: Any) -> None:
    """Show what an apply would change. Exit 0: no change; 1: changes; >1: an error.

    \b
    Examples:
      entrepot diff -f depot.yaml
      entrepot diff -f manifests/ -R
    Secret values are never shown: a changed key reads `changed (value hidden)`.
    """
    result = _service().apply(_apply_options(dry_run=True, want_diff=True, **kwargs))
    _print_warnings(result)
    for outcome in result.outcomes:
        if outcome.action == "unchanged":
            continue
        echo(f"{outcome.action}: {outcome.id}")
        if outcome.diff:
            echo(outcome.diff.rstrip())
    if result.changed:
        sys.exit(int(ExitCode.DIFF_CHANGES))
    echo("no changes", err=True)


@click.command(context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(RESOURCE_TYPES, case_sensitive=False))
@click.option("-v", "--version", "version", help="Only this manifest version (default: all).")
def schema(kind: str, version: str | None) -> None:
    """Print the JSON Schema of a resource kind (for editors and CI linting).

    \b
    Examples:
      entrepot schema depot > depot.schema.json
      entrepot schema instance-secret
      entrepot schema depot -v v2alpha
    """
    import json

    from entrepot.resources.schema import json_schema

    echo(json.dumps(json_schema(kind.lower(), version), indent=2))


@click.command(context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(["depot"]))
@click.argument("source_type", required=False)
@click.option("-n", "--name", help="Depot name to write into the template.")
def template(kind: str, source_type: str | None, name: str | None) -> None:
    """Print a ready-to-edit manifest: the depot and its r/rw instance secrets.

    \b
    Examples:
      entrepot template depot                 # list the source types
      entrepot template depot postgresql > postgres.yaml
      entrepot template depot abfss -n thirdparty
    """
    from entrepot.resources.templates import depot_template, list_types

    if source_type is None:
        echo(list_types())
        return
    echo(depot_template(source_type, name).rstrip())


@click.command(context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(["depot"]))
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "check_all", is_flag=True, help="Check every depot, concurrently.")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 600),
    default=10.0,
    show_default=True,
    help="Deadline of each check, in seconds.",
)
@click.option(
    "--acl",
    type=click.Choice(["r", "rw"]),
    default="r",
    show_default=True,
    help="Which secrets to check with; rw adds a write-privilege probe.",
)
@click.option("--output", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table")
def check(
    kind: str, names: tuple[str, ...], check_all: bool, timeout: float, acl: str, fmt: str
) -> None:
    """Verify depot connections step by step: dns, tcp, tls, auth, open, list, read, write.

    \b
    Examples:
      entrepot check depot postgres
      entrepot check depot -a --timeout 5
      entrepot check depot postgres --acl rw
    Exit 0 when every check passed, 7 when one failed.
    """
    if not names and not check_all:
        raise click.UsageError("name a depot, or pass -a for all")
    results = _service().check_depots(None if check_all else list(names), acl=acl, timeout=timeout)
    if fmt != "table":
        dump([r.to_dict() for r in results], fmt)
    elif check_all and len(results) > 1:
        rows = [
            (r.depot, r.source_type, "ok" if r.ok else "failed", r.summary, r.message)
            for r in results
        ]
        table(("DEPOT", "TYPE", "CHECK", "CONNECTION", "REASON"), rows)
    else:
        for result in results:
            echo(check_block(result))
    if not all(r.ok for r in results):
        sys.exit(int(ExitCode.CHECK_FAILED))


@cli.group(context_settings=CONTEXT)
def admin() -> None:
    """Administration: master key rotation, the audit trail.

    \b
    Examples:
      entrepot admin rotate-key
      entrepot admin audit -n 20
    """


@admin.command("rotate-key", context_settings=CONTEXT)
def rotate_key() -> None:
    """Re-wrap every data key under a new master key (values are not re-encrypted).

    \b
    Examples:
      entrepot admin rotate-key       # key in $ENTREPOT_HOME/master.key: replaced
      ENTREPOT_NEW_MASTER_KEY=... entrepot admin rotate-key   # key from ENTREPOT_MASTER_KEY
    With ENTREPOT_MASTER_KEY, set ENTREPOT_MASTER_KEY to the new key afterwards.
    """
    count, key_id = _service().rotate_master_key()
    echo(f"re-wrapped {count} data keys under master key {key_id}")


@admin.command("audit", context_settings=CONTEXT)
@click.option("-n", "--limit", default=50, show_default=True, help="Newest N events.")
@click.option("--output", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table")
def audit(limit: int, fmt: str) -> None:
    """Who applied, deleted or decrypted what, when and why.

    \b
    Examples:
      entrepot admin audit
      entrepot admin audit -n 500 --output json
    """
    events = _service().audit_events(limit)
    if fmt != "table":
        dump(events, fmt)
        return
    rows = [
        (
            e["at"],
            e["actor"],
            e["action"],
            f"{e['resource_type'] or ''}:{e['resource_name'] or ''}".strip(":"),
            e["purpose"] or "",
        )
        for e in events
    ]
    table(("AT", "ACTOR", "ACTION", "RESOURCE", "PURPOSE"), rows)


@click.command(context_settings=CONTEXT)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script.

    \b
    Example:
      eval "$(entrepot completion bash)"
    """
    from click.shell_completion import get_completion_class

    prog = os.path.basename(sys.argv[0]) or "entrepot"
    cls = get_completion_class(shell)
    assert cls is not None
    complete_var = "_" + prog.replace("-", "_").upper() + "_COMPLETE"
    echo(cls(cli, {}, prog, complete_var).source())


for _command in (apply, get, delete, diff):
    cli.add_command(_command)
    resource.add_command(_command)
for _command in (schema, template, completion, check):
    cli.add_command(_command)


def main(args: list[str] | None = None) -> None:
    """Entry point: user mistakes end in a message and an exit code, never a traceback."""
    try:
        cli.main(args, standalone_mode=False, prog_name=os.path.basename(sys.argv[0]) or "entrepot")
    except EntrepotError as error:
        _fail(error)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        echo(f"error: {exc.format_message()}", err=True)
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            echo(f"hint: see '{exc.ctx.command_path} --help'", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: say so, keep the details in the log
        _internal_error(exc)


def _internal_error(exc: BaseException) -> NoReturn:
    import traceback

    from entrepot.config import load_settings
    from entrepot.logs import get_logger
    from entrepot.secrets.redact import redactor

    text = redactor.redact("".join(traceback.format_exception(exc)))
    try:
        get_logger(load_settings()).error("internal error\n%s", text)
        where = "the log ($ENTREPOT_HOME/logs/entrepot.log)"
    except OSError:
        where = "nowhere (the log is not writable)"
    echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
    echo(f"this is a bug; the traceback was written to {where}", err=True)
    if os.environ.get("ENTREPOT_DEBUG"):
        echo(text, err=True)
    sys.exit(int(ExitCode.INTERNAL))


if __name__ == "__main__":  # pragma: no cover
    main()
