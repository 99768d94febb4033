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

# The manifest kinds (resources.compile.RESOURCE_TYPES, which `get` must not import: pydantic).
RESOURCE_TYPES = ("depot", "instance-secret", "policy", "workflow")
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


@click.group(cls=Group, context_settings=CONTEXT)
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


@click.command(cls=Command, context_settings=CONTEXT)
@manifest_options
@click.option("-l", "--lint", is_flag=True, help="Validate only; write nothing.")
@click.option("--dry-run", is_flag=True, help="Check against the store and show what would change.")
@click.option("--show-diff", is_flag=True, help="Print the change of each updated resource.")
@click.option("--no-verify", is_flag=True, help="Do not check the connection of changed depots.")
@click.option(
    "--timeout",
    type=Seconds(0.1, 600),
    default=10.0,
    show_default=True,
    help="Deadline of each depot check, in seconds.",
)
@click.option(
    "-r", "--re-run", "rerun", is_flag=True, help="Run applied workflows, changed or not."
)
@click.option(
    "--force-deletes",
    is_flag=True,
    help="Let a scan mark deleted more datasets than its threshold allows.",
)
def apply(
    lint: bool,
    dry_run: bool,
    show_diff: bool,
    no_verify: bool,
    timeout: float,
    rerun: bool,
    force_deletes: bool,
    **kwargs: Any,
) -> None:
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
            **kwargs,
        )
        from entrepot.services import resources

        with request() as ctx:
            result = resources.apply(ctx, options)
    _print_warnings(result)
    suffix = " (dry run)" if dry_run else ""
    for outcome in result.outcomes:
        where = f"({outcome.workspace}) " if outcome.workspace else " "
        echo(f"applying{where}{outcome.id}...{outcome.action}{suffix}")
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


@click.group(cls=Group, context_settings=CONTEXT, invoke_without_command=True)
@_type_option()
@click.option("-n", "--name", help="Only this name.")
@click.option("-a", "--all", "all_owners", is_flag=True, help="Resources of all owners.")
@click.option("-o", "--owner", help="Resources of this owner (default: you).")
@click.option("-w", "--workspace", help="Workspace of workflows.")
@click.option("-d", "--details", is_flag=True, help="Manifest, secret key names, references.")
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
    all_owners: bool,
    owner: str | None,
    workspace: str | None,
    details: bool,
    unsanitize: bool,
    fmt: str,
) -> None:
    """List resources: yours by default, everyone's with -a.

    \b
    Examples:
      entrepot get -t depot
      entrepot get -t depot -a
      entrepot get -t instance-secret -n postgres-r -d
      entrepot get -t policy -a -d                # policies, with their manifests
      entrepot get -t depot --output json
    Secret values are never shown; -d lists key names only.
    `get runtime -t workflow -n NAME` shows a workflow's runs and their nodes.
    """
    if ctx.invoked_subcommand is not None:
        return
    from entrepot.services import resources

    if unsanitize:
        _unsanitized(rtype, name, all_owners, owner, fmt)
        return

    with request() as rctx:
        rows = resources.list_resources(
            rctx,
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
        echo(f"no {_plural(rtype or 'resource')} found{who}", err=True)
        return
    cells: list[tuple[str, ...]] = [
        (r.name, r.version, r.type, r.workspace, r.status, r.runtime or "", r.owner) for r in rows
    ]
    columns: tuple[str, ...] = GET_COLUMNS
    if all(r.type == "depot" for r in rows):
        columns = (*GET_COLUMNS, "CONNECTION")
        cells = [(*cell, r.connection or "") for cell, r in zip(cells, rows, strict=True)]
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


@get.command("runtime", context_settings=CONTEXT)
@click.option("-t", "--type", "rtype", type=click.Choice(["workflow"]), default="workflow")
@click.option("-n", "--name", required=True, help="Workflow name.")
@click.option("-w", "--workspace", default="public", show_default=True)
@click.option("--output", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table")
def get_runtime(rtype: str, name: str, workspace: str, fmt: str) -> None:
    """A workflow's jobs, its runs (newest first) and the nodes of the last run.

    \b
    Examples:
      entrepot get runtime -t workflow -n postgresscanner
      entrepot get runtime -t workflow -n postgresscanner -w public --output json
    """
    from entrepot.services import workflows

    with request() as ctx:
        row = workflows.workflow(ctx, name, workspace)
        runs = workflows.workflow_runs(ctx, name, workspace)
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


@click.command("log", cls=Command, context_settings=CONTEXT)
@click.option("-t", "--type", "rtype", type=click.Choice(["workflow"]), default="workflow")
@click.option("-n", "--name", required=True, help="Workflow name.")
@click.option("-w", "--workspace", default="public", show_default=True)
@click.option("--run", "run_id", type=int, help="This run (default: the last).")
@click.option(
    "-l", "--tailLines", "tail", type=int, default=300, show_default=True, help="-1 for all."
)
def log_command(rtype: str, name: str, workspace: str, run_id: int | None, tail: int) -> None:
    """Print a workflow run's log.

    \b
    Examples:
      entrepot log -t workflow -n postgresscanner
      entrepot log -t workflow -n postgresscanner --run 3 -l -1
    """
    from entrepot.services import workflows

    with request() as ctx:
        runs = workflows.workflow_runs(ctx, name, workspace, limit=1000)
    if run_id is not None:
        runs = [run for run in runs if run.id == run_id]
    if not runs:
        raise EntrepotError(
            f"no run of workflow '{name}' in workspace '{workspace}'"
            + (f" with id {run_id}" if run_id is not None else ""),
            hint="runs happen when a workflow is applied (or re-run with apply -r)",
            exit_code=ExitCode.NOT_FOUND,
        )
    run = runs[0]
    table(
        ("NODE NAME", "CONTAINER NAME", "ERROR"),
        [(n["name"], "main", n.get("error") or "") for n in run.nodes],
    )
    echo("\n-------------------LOGS-------------------")
    lines = run.log.splitlines()
    echo("\n".join(lines if tail < 0 else lines[-tail:]))


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
      entrepot delete -t policy -n deny-depot-listing
      entrepot delete -f depot.yaml
      entrepot delete -t instance-secret -n postgres-r --force
    Deleting an instance secret a depot uses is refused unless --force.
    """
    from entrepot.services import resources

    if not paths and not (rtype and name):
        raise click.UsageError("give -t TYPE -n NAME, or -f PATH")
    with request() as ctx:
        if paths:
            options = _apply_options(paths, recursive, True, (), workspace)
            outcomes = resources.delete_files(ctx, options, force=force)
        else:
            assert rtype and name
            rtype = rtype.lower()
            ws = workspace if rtype == "workflow" else ""
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


for _command in (apply, get, delete, diff):
    cli.add_command(_command)
    resource.add_command(_command)
for _command in (schema, template, completion, check, log_command):
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
