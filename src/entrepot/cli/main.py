"""Commands. dataos-ctl's names and flags, plus what kubectl users expect (diff, --dry-run, -o)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from entrepot import __version__
from entrepot.cli import export as export_commands
from entrepot.cli import identity as identity_commands
from entrepot.cli import query as query_commands
from entrepot.cli.context import request
from entrepot.cli.forms import (
    ID_HELP,
    IDENTIFIER_HELP,
    RESOURCE_TYPES,
    ResourceType,
    hoist,
    resolve,
)
from entrepot.cli.output import (
    CONTEXT,
    GET_COLUMNS,
    change_text,
    check_block,
    check_line,
    dataset_text,
    dump,
    echo,
    run_line,
    run_progress,
    step_line,
    table,
)
from entrepot.cli.params import Command, Group, Seconds
from entrepot.errors import EntrepotError, ExitCode

if TYPE_CHECKING:
    from entrepot.services.resources import ApplyOptions, ApplyResult
    from entrepot.store.reader import ResourceRow, RunRow

# The largest --limit: it goes to SQLite, whose integers are 64-bit.
MAX_ROWS = 2**63 - 1
F = TypeVar("F", bound=Callable[..., Any])


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
        type=ResourceType(),
        required=required,
        help="Resource type.",
    )


def identifier_options(func: F) -> F:
    """-i/--identifier, --id and -v/--version: the resource in one string, as DataOS writes it."""
    for decorator in reversed(
        [
            click.option("-i", "--identifier", "identifier", metavar="ID", help=IDENTIFIER_HELP),
            click.option("--id", "resource_id", metavar="ID", help=ID_HELP),
            click.option(
                "-v", "--version", "version", help="Only this version (v1, v2alpha, ...)."
            ),
        ]
    ):
        func = decorator(func)
    return func


def refresh_options(func: F) -> F:
    for decorator in reversed(
        [
            click.option(
                "-r", "--refresh", is_flag=True, help="Print again on every change (Ctrl-C stops)."
            ),
            click.option(
                "--refreshRate",
                "refresh_rate",
                type=click.IntRange(1, 86400),
                default=5,
                show_default=True,
                metavar="SECONDS",
                help="Seconds between two looks with -r.",
            ),
        ]
    ):
        func = decorator(func)
    return func


def manifest_options(func: Any) -> Any:
    for decorator in reversed(
        [
            click.option(
                "-f",
                "--manifestFile",
                "paths",
                type=click.Path(allow_dash=True),
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
                "--allow-files-outside",
                is_flag=True,
                help="Let instance secrets' `files:` read files outside the manifest's folder "
                "(absolute paths, ~, ../, symlinks leading out).",
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
    from entrepot.services.resources import ApplyOptions

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


class RootGroup(Group):
    """The program: flags written before the command (`dataos-ctl -t workflow -n X get`) are
    moved after it (cli/forms.py)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            args = hoist(self, args)
        except click.UsageError:
            if not ctx.resilient_parsing:  # shell completion of a line still being typed
                raise
        return super().parse_args(ctx, args)


@click.group(cls=RootGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="entrepot")
def cli() -> None:
    """Entrepôt: declare data sources once (instance secrets + depots), store them safely.

    \b
    Quick start:
      entrepot apply -f instance_secret.yaml      # encrypted at rest
      entrepot apply -f depot.yaml
      entrepot get -t depot
    Every dataos-ctl command of the tutorial works verbatim (`dataos-ctl` is this program),
    flags before the command too: dataos-ctl -t workflow -n NAME get runtime -r
    """


@cli.group(context_settings=CONTEXT)
def resource() -> None:
    """The long forms: resource apply, create, update, get, delete, diff, log, runtime get.

    Same flags as the short forms (`dataos-ctl apply` is `dataos-ctl resource apply`).

    \b
    Examples:
      dataos-ctl resource apply -f depot.yaml
      dataos-ctl resource update -f depot.yaml      # refuses to create
      dataos-ctl resource delete -i "postgres | v2alpha | depot |"
      dataos-ctl resource runtime get -t workflow -n scanner -w public
    """


def write_options(func: Any) -> Any:
    """What apply, create and update share beyond the manifest: checks and runs."""
    for decorator in reversed(
        [
            click.option(
                "--dry-run",
                is_flag=True,
                help="Check against the store and show what would change.",
            ),
            click.option(
                "--show-diff", is_flag=True, help="Print the change of each updated resource."
            ),
            click.option(
                "--no-verify", is_flag=True, help="Do not check the connection of changed depots."
            ),
            click.option(
                "--timeout",
                type=Seconds(0.1, 600),
                default=10.0,
                show_default=True,
                help="Deadline of each depot check, in seconds.",
            ),
            click.option(
                "--force-deletes",
                is_flag=True,
                help="Let a scan mark deleted more datasets than its threshold allows.",
            ),
        ]
    ):
        func = decorator(func)
    return func


@click.command(cls=Command, context_settings=CONTEXT)
@manifest_options
@click.option("-l", "--lint", is_flag=True, help="Validate only; write nothing.")
@write_options
@click.option(
    "-r", "--re-run", "rerun", is_flag=True, help="Run applied workflows, changed or not."
)
def apply(**kwargs: Any) -> None:
    """Create or update resources from manifests, all or nothing.

    \b
    Examples:
      entrepot apply -f instance_secret.yaml
      POSTGRES_PASSWORD=... entrepot apply -f manifests/ -R
      entrepot apply -f depot.yaml --lint
      entrepot apply -f azure.yaml --set owner=alice --dry-run
      cat depot.yaml | entrepot apply -f -
      entrepot apply -f secret.yaml --allow-files-outside   # files: /etc/ssl/ca.pem
    Prints `applying NAME:VERSION:TYPE...created|updated|unchanged` per resource, then
    verifies the connection of each depot created or changed (`--no-verify` to skip), and
    runs each workflow created or changed (`-r` runs unchanged ones too).
    """
    _apply("apply", **kwargs)


@click.command(cls=Command, context_settings=CONTEXT)
@manifest_options
@write_options
def update(**kwargs: Any) -> None:
    """Update resources from manifests; a resource that does not exist yet is an error (use
    apply to create it). All or nothing: nothing is written when one is missing.

    \b
    Examples:
      dataos-ctl update -f depot.yaml
      dataos-ctl resource update -f manifests/ -R --dry-run
    """
    _apply("update", lint=False, rerun=False, **kwargs)


@click.command(cls=Command, context_settings=CONTEXT)
@manifest_options
@write_options
def create(**kwargs: Any) -> None:
    """Create resources from manifests; a resource that exists already is an error (use apply
    to change it). All or nothing: nothing is written when one exists.

    \b
    Examples:
      dataos-ctl resource create -f depot.yaml
    """
    _apply("create", lint=False, rerun=False, **kwargs)


def _apply(
    mode: str,
    *,
    lint: bool,
    dry_run: bool,
    show_diff: bool,
    no_verify: bool,
    timeout: float,
    rerun: bool,
    force_deletes: bool,
    **kwargs: Any,
) -> None:
    with run_progress() as progress:
        options = _apply_options(
            lint=lint,
            dry_run=dry_run,
            want_diff=show_diff,
            verify=not no_verify,
            timeout=timeout,
            rerun=rerun,
            force_deletes=force_deletes,
            progress=progress,
            mode=mode,
            **kwargs,
        )
        from entrepot.services import resources

        with request() as ctx:
            result = resources.apply(ctx, options)
            me = ctx.user_name
    _print_warnings(result)
    suffix = " (dry run)" if dry_run else ""
    for outcome in result.outcomes:
        where = f"({outcome.workspace}) " if outcome.workspace else " "
        echo(f"applying{where}{outcome.id}...{outcome.action}{suffix}")
        if outcome.owner and outcome.owner != me:
            echo(_owner_note(outcome.id, outcome.owner))
        if show_diff and outcome.diff:
            echo(outcome.diff.rstrip())
    for check in result.checks:
        echo(check_line(check), err=not check.ok)
    for run in result.runs:
        for warning in run.warnings:
            echo(f"warning: {warning}", err=True)
        echo(run_line(run), err=run.status != "succeeded")
    if any(run.status != "succeeded" for run in result.runs):
        sys.exit(int(ExitCode.RUN_FAILED))


def _owner_note(rid: str, owner: str) -> str:
    """A manifest's `owner:` named someone else: `get` (yours) will not show it."""
    name, _version, rtype = rid.split(":", 2)
    return (
        f"  owned by '{owner}' (its manifest's owner), so not among yours: list it with "
        f"'dataos-ctl get -t {rtype} -n {name} -o {owner}' (or -a)"
    )


@click.group(cls=Group, context_settings=CONTEXT, invoke_without_command=True)
@_type_option()
@click.option("-n", "--name", help="Only this name.")
@identifier_options
@click.option("-a", "--all", "all_owners", is_flag=True, help="Resources of all owners.")
@click.option("-o", "--owner", help="Resources of this owner (default: you).")
@click.option("-w", "--workspace", help="Workspace of workflows.")
@click.option("-d", "--details", is_flag=True, help="Manifest, secret key names, references.")
@click.option("--tags", "show_tags", is_flag=True, help="Add a TAGS column.")
@refresh_options
@click.option(
    "--unSanitize",
    "unsanitize",
    is_flag=True,
    help="Show instance secrets' values (needs Un-sanitize or Read All Secrets; audited).",
)
@click.option(
    "--output",
    "fmt",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.pass_context
def get(
    ctx: click.Context,
    rtype: str | None,
    name: str | None,
    identifier: str | None,
    resource_id: str | None,
    version: str | None,
    all_owners: bool,
    owner: str | None,
    workspace: str | None,
    details: bool,
    show_tags: bool,
    refresh: bool,
    refresh_rate: int,
    unsanitize: bool,
    fmt: str,
) -> None:
    """List resources: yours by default, everyone's with -a.

    \b
    Examples:
      entrepot get -t depot
      entrepot get -t depot -a
      entrepot get -t instance-secret -n postgres-r -d
      entrepot get -i "postgres | v2alpha | depot |"     # a row of a get table
      entrepot get -i postgres:v2alpha:depot
      entrepot get -t policy -a -d                # policies, with their manifests
      entrepot get -t workflow -a -r              # print again on every change
      entrepot get -t depot --output json
    Secret values are never shown; -d lists key names only. A name (-n, -i) that matches
    nothing exits 4. `get runtime -t workflow -n NAME` shows a workflow's runs and nodes.
    """
    if ctx.invoked_subcommand is not None:
        return
    from entrepot.services import resources

    rtype, name, workspace, version = resolve(
        identifier, resource_id, rtype=rtype, name=name, workspace=workspace, version=version
    )
    rtype = rtype.lower() if rtype else None
    if unsanitize:
        if refresh:
            raise click.UsageError("--unSanitize prints values once: drop -r")
        _unsanitized(rtype, name, all_owners, owner, fmt)
        return

    def fetch() -> list[ResourceRow]:
        with request() as rctx:
            rows = resources.list_resources(
                rctx,
                rtype=rtype,
                name=name,
                owner=owner,
                all_owners=all_owners,
                workspace=workspace,
                details=details,
            )
            if name is not None and not rows:
                raise resources.not_listed(
                    rctx, rtype, name, workspace, all_owners=all_owners, owner=owner
                )
        if version is not None:
            matching = [row for row in rows if row.version == version]
            if name is not None and rows and not matching:
                found = ", ".join(sorted({f"{r.rid}" for r in rows}))
                raise EntrepotError(
                    f"{rtype or 'resource'} '{name}' has no version {version}: found {found}",
                    hint="name one of those, or leave the version out",
                    exit_code=ExitCode.NOT_FOUND,
                )
            rows = matching
        return rows

    def show(rows: list[ResourceRow]) -> None:
        _show_resources(rows, rtype, all_owners or bool(owner), details, show_tags, fmt)

    if not refresh:
        show(fetch())
        return
    from entrepot.cli.refresh import refresh as refresh_loop

    refresh_loop(
        fetch,
        show,
        rate=refresh_rate,
        key=lambda rows: _key([row.to_dict(details) for row in rows]),
    )


def _key(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def _show_resources(
    rows: list[ResourceRow],
    rtype: str | None,
    anyone: bool,
    details: bool,
    show_tags: bool,
    fmt: str,
) -> None:
    if fmt != "table":
        dump([row.to_dict(details) for row in rows], fmt)
        return
    if not rows:
        who = "" if anyone else " owned by you (use -a for all owners)"
        echo(f"no {_plural(rtype or 'resource')} found{who}", err=True)
        return
    cells: list[tuple[str, ...]] = [
        (r.name, r.version, r.type, r.workspace, r.status, r.runtime or "", r.owner) for r in rows
    ]
    columns: tuple[str, ...] = GET_COLUMNS
    if all(r.type == "depot" for r in rows):
        columns = (*columns, "CONNECTION")
        cells = [(*cell, r.connection or "") for cell, r in zip(cells, rows, strict=True)]
    if show_tags:
        columns = (*columns, "TAGS")
        cells = [(*cell, ", ".join(r.tags)) for cell, r in zip(cells, rows, strict=True)]
    table(columns, cells)
    if details:
        for row in rows:
            _print_details(row.to_dict(details=True))


def _unsanitized(
    rtype: str | None, name: str | None, all_owners: bool, owner: str | None, fmt: str
) -> None:
    """`get -t instance-secret [-n NAME] --unSanitize`: each secret with its values. The one
    output that shows secret values, after the authorization function allowed it for each
    secret (Un-sanitize Resources on one you may read, or Read All Secrets From Heimdall) and
    each decryption was audited."""
    import base64

    from entrepot.cli.output import reveal
    from entrepot.services import connections, resources

    if (rtype or "").lower() != "instance-secret":
        raise click.UsageError(
            "--unSanitize shows instance secrets' values: add -t instance-secret"
        )
    records = []
    with request() as rctx:
        rows = resources.list_resources(
            rctx, rtype="instance-secret", name=name, owner=owner, all_owners=all_owners
        )
        if name is not None and not rows:
            raise resources.not_listed(
                rctx, "instance-secret", name, all_owners=all_owners, owner=owner
            )
        for row in rows:
            values = connections.instance_secret_values(rctx, row.name)
            files = {}
            for key, content in values.files.items():
                try:
                    files[key] = content.decode()
                except UnicodeDecodeError:
                    files[key] = "base64:" + base64.b64encode(content).decode()
            record: dict[str, Any] = {"id": row.rid, "owner": row.owner, "acl": values.acl}
            record.update(type=values.secret_type, data=values.data, files=files)
            records.append(record)
    if not records:
        echo(
            "no instance-secrets found" + ("" if all_owners or owner else " owned by you"), err=True
        )
        return
    reveal(records, "json" if fmt == "json" else "yaml")


RUNTIME_TYPES = ("workflow", "depot")


def _runtime_target(
    identifier: str | None,
    resource_id: str | None,
    rtype: str | None,
    name: str | None,
    workspace: str | None,
    version: str | None,
) -> tuple[str | None, str, str | None, str | None]:
    """The workflow or depot `get runtime` and `log` are about, from -i/--id or -t/-n/-w/-v."""
    rtype, name, workspace, version = resolve(
        identifier,
        resource_id,
        rtype=rtype,
        name=name,
        workspace=workspace,
        version=version,
        types=RUNTIME_TYPES,
    )
    if name is None:
        raise click.UsageError("name the resource: -n NAME, or -i NAME:VERSION:TYPE")
    return rtype, name, workspace, version


@get.command("runtime", context_settings=CONTEXT)
@click.option(
    "-t",
    "--type",
    "rtype",
    type=ResourceType(RUNTIME_TYPES),
    help="workflow (default), or depot (its checks and scans).",
)
@click.option("-n", "--name", help="Workflow (or depot) name.")
@identifier_options
@click.option("-w", "--workspace", help="Workspace of the workflow (default: public).")
@click.option("--node", help="One node of the last run: its phase, times, counts and error.")
@refresh_options
@click.option("-y", "--yaml", "as_yaml", is_flag=True, help="Print as YAML (--output yaml).")
@click.option("--output", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table")
def get_runtime(
    rtype: str | None,
    name: str | None,
    identifier: str | None,
    resource_id: str | None,
    version: str | None,
    workspace: str | None,
    node: str | None,
    refresh: bool,
    refresh_rate: int,
    as_yaml: bool,
    fmt: str,
) -> None:
    """A workflow's jobs, its runs (newest first) and the nodes of the last run; a depot's
    checks and scans. -r prints again on every change until the run ends (or Ctrl-C).

    \b
    Examples:
      dataos-ctl get runtime -t workflow -n postgresscanner -w public
      dataos-ctl get runtime -i "postgresscanner | v1 | workflow | public"
      dataos-ctl -t workflow -w public -n postgresscanner get runtime -r
      dataos-ctl get runtime -t workflow -n postgresscanner --node scan-execute
      dataos-ctl get runtime -t depot -n postgres
      dataos-ctl resource runtime get -t workflow -n postgresscanner --output json
    """
    from entrepot.services import workflows

    rtype, name, workspace, version = _runtime_target(
        identifier, resource_id, rtype, name, workspace, version
    )
    fmt = "yaml" if as_yaml else fmt
    if rtype == "depot":
        if refresh or node:
            raise click.UsageError("-r and --node follow a workflow's run; a depot has none")
        _depot_runtime(name, version, fmt)
        return
    ws = workspace or "public"

    def fetch() -> tuple[ResourceRow, list[RunRow]]:
        with request() as ctx:
            row = workflows.workflow(ctx, name, ws)
            _check_version(row, version)
            return row, workflows.workflow_runs(ctx, name, ws)

    def show(found: tuple[ResourceRow, list[RunRow]]) -> None:
        row, runs = found
        if node is not None:
            _show_node(row, runs, node, fmt)
        else:
            _show_runtime(row, runs, fmt)

    if not refresh:
        show(fetch())
        return
    from entrepot.cli.refresh import refresh as refresh_loop

    refresh_loop(
        fetch,
        show,
        rate=refresh_rate,
        key=lambda found: _key([found[0].to_dict(), [run.to_dict() for run in found[1]]]),
        done=lambda found: bool(found[1]) and found[1][0].status != "running",
        until="until the run ends (or Ctrl-C)",
    )


def _check_version(row: ResourceRow, version: str | None) -> None:
    if version is not None and row.version != version:
        raise EntrepotError(
            f"{row.type} '{row.name}' has no version {version}: it is {row.rid}",
            hint=f"name it {row.rid}, or leave the version out: -t {row.type} -n {row.name}",
            exit_code=ExitCode.NOT_FOUND,
        )


def _show_runtime(row: ResourceRow, runs: list[RunRow], fmt: str) -> None:
    if fmt != "table":
        dump({"workflow": row.to_dict(), "runs": [run.to_dict() for run in runs]}, fmt)
        return
    spec = (row.manifest or {}).get("workflow", {})
    table(
        ("NAME", "VERSION", "TYPE", "WORKSPACE", "TITLE", "OWNER"),
        [(row.name, row.version, row.type, row.workspace, spec.get("title") or "", row.owner)],
    )
    echo()
    jobs = [
        (j["name"], j["spec"]["stack"], j.get("title") or "", ", ".join(j.get("dependencies", [])))
        for j in spec.get("dag", [])
    ]
    table(("JOB NAME", "STACK", "JOB TITLE", "JOB DEPENDENCIES"), jobs)
    echo()
    if not runs:
        echo("no runs yet: apply the workflow, or re-run it with apply -r", err=True)
        return
    last = runs[0]
    done = sum(1 for n in last.nodes if n["status"] in ("succeeded", "failed", "skipped"))
    table(
        ("RUNTIME", "PROGRESS", "STARTED", "FINISHED"),
        [(last.status, f"{done}/{len(last.nodes)}", last.started_at, last.finished_at or "")],
    )
    echo()
    table(
        ("NODE NAME", "JOB NAME", "STACK", "PHASE", "ERROR"),
        [(n["name"], n["job"], n["stack"], n["status"], n.get("error") or "") for n in last.nodes],
    )
    echo()
    table(
        ("RUN", "STATUS", "STARTED", "FINISHED", "COUNTS"),
        [
            (
                str(run.id),
                run.status,
                run.started_at,
                run.finished_at or "",
                ", ".join(f"{k} {v}" for k, v in run.counts.items() if v),
            )
            for run in runs
        ],
    )


def _no_node(row: ResourceRow, runs: list[RunRow], node: str) -> EntrepotError:
    names = [n["name"] for n in runs[0].nodes] if runs else []
    return EntrepotError(
        f"no node '{node}' in the last run of workflow '{row.name}'"
        + (f" (run {runs[0].id})" if runs else ": it has not run yet"),
        hint=f"its nodes: {', '.join(names)}" if names else "apply the workflow to run it",
        exit_code=ExitCode.NOT_FOUND,
    )


def _show_node(row: ResourceRow, runs: list[RunRow], wanted: str, fmt: str) -> None:
    from entrepot.services.runtime import find_node

    node = find_node(runs[0].nodes, wanted) if runs else None
    if node is None:
        raise _no_node(row, runs, wanted)
    if fmt != "table":
        dump({"run": runs[0].id, "node": node}, fmt)
        return
    table(
        ("NODE NAME", "JOB NAME", "STACK", "PHASE", "STARTED", "FINISHED"),
        [
            (
                node["name"],
                node["job"],
                node["stack"],
                node["status"],
                node.get("startedAt") or "",
                node.get("finishedAt") or "",
            )
        ],
    )
    counts = node.get("counts") or {}
    details = [("run", str(runs[0].id))]
    if node.get("depot"):
        details.append(("depot", node["depot"]))
    if node.get("scanSeconds") is not None:
        details.append(("scan seconds", str(node["scanSeconds"])))
    details += [(key, str(value)) for key, value in counts.items()]
    echo()
    table(("DETAIL", "VALUE"), details)
    if node.get("error"):
        echo(f"\nerror: {node['error']}")


def _depot_runtime(name: str, version: str | None, fmt: str) -> None:
    """`get runtime -t depot`: a depot runs no pods here; its runtime is its checks and the
    scanner nodes that read it (`log -t depot` prints their lines)."""
    from entrepot.services import runtime

    with request() as ctx:
        history = runtime.depot_history(ctx, name)
    row = history.depot
    _check_version(row, version)
    if fmt != "table":
        dump({"depot": row.to_dict(), "nodes": [n.to_dict() for n in history.nodes]}, fmt)
        return
    table(
        ("NAME", "VERSION", "TYPE", "WORKSPACE", "TITLE", "OWNER"),
        [(row.name, row.version, row.type, "", row.description or "", row.owner)],
    )
    echo()
    if not history.nodes:
        echo(f"no checks or scans of depot '{name}' yet: entrepot check depot {name}", err=True)
        return
    table(
        ("NODE NAME", "CONTAINER NAME", "PHASE", "STARTED", "FINISHED", "ERROR"),
        [(n.name, n.container, n.phase, n.started, n.finished, n.error) for n in history.nodes],
    )
    echo(f"\nlines of each node: dataos-ctl log -t depot -n {name}", err=True)


@click.command("log", cls=Command, context_settings=CONTEXT)
@click.option(
    "-t",
    "--type",
    "rtype",
    type=ResourceType(RUNTIME_TYPES),
    help="workflow (default), or depot: its checks and the scans that read it.",
)
@click.option("-n", "--name", help="Workflow (or depot) name.")
@identifier_options
@click.option("-w", "--workspace", help="Workspace of the workflow (default: public).")
@click.option("--node", help="Only this node's log (a NODE NAME of the table).")
@click.option("--run", "run_id", type=int, help="This run of a workflow (default: the last).")
@click.option(
    "-l", "--tailLines", "tail", type=int, default=300, show_default=True, help="-1 for all."
)
def log_command(
    rtype: str | None,
    name: str | None,
    identifier: str | None,
    resource_id: str | None,
    version: str | None,
    workspace: str | None,
    node: str | None,
    run_id: int | None,
    tail: int,
) -> None:
    """Print a workflow run's log, one node's with --node; or a depot's history: its
    connection checks, step by step, and the scans that read it.

    \b
    Examples:
      dataos-ctl log -t workflow -n postgresscanner
      dataos-ctl log -w public -t workflow -n postgresscanner --node scan-execute
      dataos-ctl log -t workflow -n postgresscanner --run 3 -l -1
      dataos-ctl -i "postgresscanner | v1 | workflow | public" --node scan-execute log
      dataos-ctl log -t depot -n postgres
    """
    rtype, name, workspace, version = _runtime_target(
        identifier, resource_id, rtype, name, workspace, version
    )
    if rtype == "depot":
        if run_id is not None:
            raise click.UsageError("--run picks a workflow's run; a depot's log has them all")
        _depot_log(name, version, node, tail)
        return
    from entrepot.services import workflows
    from entrepot.services.runtime import find_node, node_lines

    ws = workspace or "public"
    with request() as ctx:
        row = workflows.workflow(ctx, name, ws)
        _check_version(row, version)
        runs = workflows.workflow_runs(ctx, name, ws, limit=1000)
    if run_id is not None:
        runs = [run for run in runs if run.id == run_id]
    if not runs:
        raise EntrepotError(
            f"no run of workflow '{name}' in workspace '{ws}'"
            + (f" with id {run_id}" if run_id is not None else ""),
            hint="runs happen when a workflow is applied (or re-run with apply -r)",
            exit_code=ExitCode.NOT_FOUND,
        )
    run = runs[0]
    nodes = run.nodes
    lines = run.log.splitlines()
    if node is not None:
        found = find_node(run.nodes, node)
        if found is None:
            raise _no_node(row, runs, node)
        nodes = [found]
        lines = [f"{stamp} {text}" for stamp, text in node_lines(run.log, found["job"])]
    table(
        ("NODE NAME", "CONTAINER NAME", "ERROR"),
        [(n["name"], "main", n.get("error") or "") for n in nodes],
    )
    echo("\n-------------------LOGS-------------------")
    echo("\n".join(lines if tail < 0 else lines[-tail:] if tail else []))


def _depot_log(name: str, version: str | None, node: str | None, tail: int) -> None:
    from entrepot.services import runtime

    with request() as ctx:
        history = runtime.depot_history(ctx, name)
    _check_version(history.depot, version)
    nodes, lines = history.nodes, history.lines
    if node is not None:
        nodes = [n for n in nodes if n.name == node]
        if not nodes:
            names = ", ".join(n.name for n in history.nodes)
            raise EntrepotError(
                f"no node '{node}' in the log of depot '{name}'",
                hint=f"its nodes: {names}" if names else f"check it: entrepot check depot {name}",
                exit_code=ExitCode.NOT_FOUND,
            )
        lines = [line for line in lines if line.node == node]
    if not nodes:
        echo(
            f"no checks or scans of depot '{name}' yet: check it with 'entrepot check depot "
            f"{name}', scan it with a scanner workflow",
            err=True,
        )
        return
    table(("NODE NAME", "CONTAINER NAME", "ERROR"), [(n.name, n.container, n.error) for n in nodes])
    echo("\n-------------------LOGS-------------------")
    texts = [line.render() for line in lines]
    echo("\n".join(texts if tail < 0 else texts[-tail:] if tail else []))


def _plural(kind: str) -> str:
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"


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


@click.command(cls=Command, context_settings=CONTEXT)
@_type_option()
@click.option("-n", "--name", help="Name of the resource.")
@identifier_options
@click.option(
    "-f",
    "--manifestFile",
    "paths",
    type=click.Path(allow_dash=True),
    multiple=True,
    metavar="PATH",
    help="Manifests.",
)
@click.option("-R", "--recursive", is_flag=True, help="Read folders' sub-folders too.")
@click.option("-w", "--workspace", help="Workspace of a workflow (default: public).")
@click.option("--force", is_flag=True, help="Delete even though other resources depend on it.")
def delete(
    rtype: str | None,
    name: str | None,
    identifier: str | None,
    resource_id: str | None,
    version: str | None,
    paths: tuple[str, ...],
    recursive: bool,
    workspace: str | None,
    force: bool,
) -> None:
    """Delete resources by type and name, by identifier, or those a manifest names.

    \b
    Examples:
      dataos-ctl delete -t depot -n postgres
      dataos-ctl delete -i postgres-r:v1:instance-secret
      dataos-ctl delete -i "postgresscanner | v1 | workflow | public"   # a get table's row
      dataos-ctl delete --id workflow:v1:postgresscanner:public
      dataos-ctl delete -t policy -n deny-depot-listing
      dataos-ctl delete -f depot.yaml
      dataos-ctl delete -t instance-secret -n postgres-r --force
    Deleting an instance secret a depot uses is refused unless --force.
    """
    from entrepot.services import resources

    rtype, name, workspace, version = resolve(
        identifier, resource_id, rtype=rtype, name=name, workspace=workspace, version=version
    )
    if paths and (rtype or name):
        raise click.UsageError("give -t TYPE -n NAME (or -i), or -f PATH, not both")
    if not paths and not (rtype and name):
        raise click.UsageError("give -t TYPE -n NAME, -i NAME:VERSION:TYPE, or -f PATH")
    ws_default = workspace or "public"
    with request() as ctx:
        if paths:
            options = _apply_options(paths, recursive, True, (), ws_default)
            outcomes = resources.delete_files(ctx, options, force=force)
        else:
            assert rtype and name
            rtype = rtype.lower()
            ws = ws_default if rtype == "workflow" else ""
            if version is not None:  # -i NAME:VERSION:TYPE names one version
                _check_version(
                    resources.resource(ctx, rtype, name, ws, action=f"{rtype}:delete"), version
                )
            outcomes = resources.delete(ctx, [(rtype, ws, name)], force=force)
    for outcome in outcomes:
        echo(f"deleting {outcome.id}...deleted")


@click.command(cls=Command, context_settings=CONTEXT)
@manifest_options
def diff(**kwargs: Any) -> None:
    """Show what an apply would change. Exit 0: no change; 1: changes; >1: an error.

    \b
    Examples:
      entrepot diff -f depot.yaml
      entrepot diff -f manifests/ -R
    Secret values are never shown: a changed key reads `changed (value hidden)`.
    """
    from entrepot.services import resources

    with request() as ctx:
        result = resources.apply(ctx, _apply_options(dry_run=True, want_diff=True, **kwargs))
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


@click.command(cls=Command, context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(RESOURCE_TYPES, case_sensitive=False))
@click.option("-v", "--version", "version", help="Only this manifest version (default: all).")
def schema(kind: str, version: str | None) -> None:
    """Print the JSON Schema of a resource kind (for editors and CI linting).

    \b
    Examples:
      entrepot schema depot > depot.schema.json
      entrepot schema instance-secret
      entrepot schema policy
      entrepot schema depot -v v2alpha
    """
    import json

    from entrepot.resources.schema import json_schema

    echo(json.dumps(json_schema(kind.lower(), version), indent=2))


@click.command(cls=Command, context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(["depot", "policy"]))
@click.argument("source_type", required=False)
@click.option("-n", "--name", help="Name to write into the template.")
def template(kind: str, source_type: str | None, name: str | None) -> None:
    """Print a ready-to-edit manifest: a depot and its r/rw instance secrets, or a policy.

    \b
    Examples:
      entrepot template depot                 # list the source types
      entrepot template depot postgresql > postgres.yaml
      entrepot template depot abfss -n thirdparty
      entrepot template policy -n deny-depot-listing > policy.yaml
    """
    from entrepot.resources.templates import depot_template, list_types, policy_template

    if kind == "policy":
        if source_type is not None:
            raise click.UsageError(f"a policy template takes no type ('{source_type}' given)")
        echo(policy_template(name).rstrip())
        return
    if source_type is None:
        echo(list_types())
        return
    echo(depot_template(source_type, name).rstrip())


@click.command(cls=Command, context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(["depot"]))
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "check_all", is_flag=True, help="Check every depot, concurrently.")
@click.option(
    "--timeout",
    type=Seconds(0.1, 600),
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
    from entrepot.services import connections

    with request() as ctx:
        results = connections.check_depots(
            ctx, None if check_all else list(names), acl=acl, timeout=timeout
        )
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
def catalog() -> None:
    """Metis: what scans found in each depot (datasets, columns, keys, history, search).

    \b
    Examples:
      entrepot catalog ls
      entrepot catalog ls dataos://postgres:public
      entrepot catalog show dataos://postgres:public/orders
      entrepot catalog history dataos://postgres
      entrepot catalog search customer email
    """


FORMAT = click.option(
    "--output", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table"
)


@catalog.command("ls", context_settings=CONTEXT)
@click.argument("address", required=False)
@click.option("--deleted", is_flag=True, help="Include datasets marked deleted.")
@FORMAT
def catalog_ls(address: str | None, deleted: bool, fmt: str) -> None:
    """List sources, a depot's collections, or a collection's datasets.

    \b
    Examples:
      entrepot catalog ls                          # sources
      entrepot catalog ls dataos://postgres        # collections (schemas, folders)
      entrepot catalog ls dataos://postgres:public # datasets
    """
    from entrepot.catalog.model import Address
    from entrepot.services import catalog as metis

    with request() as ctx:
        if address is None:
            rows = metis.sources(ctx)
            columns: tuple[str, ...] = ("source", "depot", "type", "datasets", "last_scan")
        else:
            where = Address.parse(address)
            if where.collection is None and not deleted:
                rows = metis.collections(ctx, where.depot)
                columns = ("collection", "datasets", "updated")
            else:
                rows = metis.datasets(ctx, where.depot, where.collection, deleted)
                columns = ("address", "kind", "columns", "rows", "description")
                if deleted:
                    columns = (*columns, "deleted")
    if fmt != "table":
        dump(rows, fmt)
        return
    if not rows:
        echo("nothing in the catalog here yet: run a scanner workflow", err=True)
        return
    table(
        tuple(c.upper() for c in columns),
        [tuple("" if r.get(c) is None else str(r.get(c)) for c in columns) for r in rows],
    )


@catalog.command("show", context_settings=CONTEXT)
@click.argument("address")
@FORMAT
def catalog_show(address: str, fmt: str) -> None:
    """A dataset: columns, keys, indexes, comments, size.

    \b
    Examples:
      entrepot catalog show dataos://postgres:public/orders
      entrepot catalog show dataos://postgres:public/orders --output json
    """
    from entrepot.catalog.model import Address
    from entrepot.services import catalog as metis

    with request() as ctx:
        record = metis.dataset(ctx, Address.parse(address))
    if fmt != "table":
        dump(record, fmt)
        return
    echo(dataset_text(record))


@catalog.command("history", context_settings=CONTEXT)
@click.argument("address")
@click.option("-n", "--limit", type=click.IntRange(0, MAX_ROWS), default=200, show_default=True)
@FORMAT
def catalog_history(address: str, limit: int, fmt: str) -> None:
    """What scans changed: datasets and columns added, removed, altered.

    \b
    Examples:
      entrepot catalog history dataos://postgres
      entrepot catalog history dataos://postgres:public/orders
    """
    from entrepot.catalog.model import Address
    from entrepot.services import catalog as metis

    with request() as ctx:
        rows = metis.history(ctx, Address.parse(address), limit)
    if fmt != "table":
        dump(rows, fmt)
        return
    table(
        ("AT", "CHANGE", "DATASET", "DETAIL", "RUN"),
        [
            (r["at"], r["change"], r["address"], change_text(r["detail"]), str(r["run_id"] or ""))
            for r in rows
        ],
    )


@catalog.command("search", context_settings=CONTEXT)
@click.argument("words", nargs=-1, required=True)
@click.option("-n", "--limit", type=click.IntRange(0, MAX_ROWS), default=50, show_default=True)
@FORMAT
def catalog_search(words: tuple[str, ...], limit: int, fmt: str) -> None:
    """Find datasets by names, comments and column names, best matches first.

    \b
    Examples:
      entrepot catalog search orders
      entrepot catalog search customer email --output json
    """
    from entrepot.services import catalog as metis

    with request() as ctx:
        rows = metis.search(ctx, " ".join(words), limit)
    if fmt != "table":
        dump(rows, fmt)
        return
    if not rows:
        echo("no dataset matches", err=True)
        return
    table(
        ("ADDRESS", "KIND", "SCORE", "MATCHED"),
        [(r["address"], r["kind"], str(r["score"]), r["matched"]) for r in rows],
    )


@cli.group(context_settings=CONTEXT)
def admin() -> None:
    """Administration: master key rotation, the audit trail.

    \b
    Examples:
      entrepot admin rotate-key
      entrepot admin audit -n 20
    """


@admin.command("rotate-key", context_settings=CONTEXT)
@click.option(
    "--wait",
    type=click.FloatRange(0, 3600),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for a rotation (or an apply) running in another process; then exit 5.",
)
def rotate_key(wait: float) -> None:
    """Re-wrap every data key under a new master key (values are not re-encrypted).

    \b
    Examples:
      entrepot admin rotate-key       # key in $ENTREPOT_HOME/master.key: replaced
      ENTREPOT_NEW_MASTER_KEY=... entrepot admin rotate-key   # key from ENTREPOT_MASTER_KEY
    With ENTREPOT_MASTER_KEY, set ENTREPOT_MASTER_KEY to the new key afterwards.
    One rotation runs at a time: another one waits for it (--wait), then rotates again.
    """
    from entrepot.services import admin as admin_service

    with request() as ctx:
        count, key_id = admin_service.rotate_master_key(ctx, wait=wait)
    echo(f"re-wrapped {count} data keys under master key {key_id}")


@admin.command("audit", context_settings=CONTEXT)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(0, MAX_ROWS),
    default=50,
    show_default=True,
    help="Newest N events.",
)
@click.option("--output", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table")
def audit(limit: int, fmt: str) -> None:
    """Who applied, deleted or decrypted what, when and why.

    \b
    Examples:
      entrepot admin audit
      entrepot admin audit -n 500 --output json
    """
    from entrepot.services import admin as admin_service

    with request() as ctx:
        events = admin_service.audit_events(ctx, limit)
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


@click.command(cls=Command, context_settings=CONTEXT)
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


@click.command("version", cls=Command, context_settings=CONTEXT)
def version_command() -> None:
    """Print the version of this client, and of the server it talks to: none, as entrepot
    works on its store directly (a server comes later).

    \b
    Example:
      dataos-ctl version
    """
    from entrepot.config import load_settings

    settings = load_settings()
    store = (
        f"local store in {settings.home}"
        if settings.sqlite_path is not None
        else "PostgreSQL store of ENTREPOT_STORE_URL"
    )
    echo(f"client: entrepot {__version__} (dataos-ctl)")
    echo(f"server: none ({store})")


@click.group("runtime", cls=Group, context_settings=CONTEXT)
def runtime_group() -> None:
    """Runtimes of workflows: `runtime get` is `get runtime`.

    \b
    Example:
      dataos-ctl resource runtime get -t workflow -n postgresscanner -w public
    """


runtime_group.add_command(get_runtime, "get")
for _command in (apply, update, get, delete, diff, log_command, runtime_group):
    cli.add_command(_command)
    resource.add_command(_command)
resource.add_command(create)  # dataos-ctl has no short `create`
cli.add_command(log_command, "logs")  # dataos-ctl's alias
for _command in (schema, template, completion, check, version_command):
    cli.add_command(_command)
cli.add_command(query_commands.query)
cli.add_command(query_commands.sql_shell)
cli.add_command(export_commands.export)
for _group in identity_commands.COMMANDS:
    cli.add_command(_group)


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
