"""`entrepot export`: hand depots to other engines. Today: Trino catalogs.

Kept out of `main.py` (one command group, registered there) and light to import: the export
itself loads only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from entrepot.cli.output import CONTEXT, dump, echo
from entrepot.cli.params import Group


@click.group("export", cls=Group, context_settings=CONTEXT)
def export() -> None:
    """Hand depots to other engines, without moving the data.

    \b
    Examples:
      entrepot export trino --dir etc/catalog
      entrepot export trino postgres --dir etc/catalog --dry-run
    """


@export.command("trino", context_settings=CONTEXT)
@click.argument("names", nargs=-1, metavar="[DEPOT]...")
@click.option(
    "--dir",
    "directory",
    default="etc/catalog",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Trino's catalog folder: one DEPOT.properties file per depot.",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the secrets go (mode 0600). Default: DIR/../entrepot-trino.env.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be written (no secret values).")
@click.option("--output", "fmt", type=click.Choice(["text", "json", "yaml"]), default="text")
def trino(
    names: tuple[str, ...], directory: Path, env_file: Path | None, dry_run: bool, fmt: str
) -> None:
    """Write a Trino catalog for each depot (all by default): `connector.name`,
    `connection-url`, ... with every secret as a ${ENV:ENTREPOT_<DEPOT>_<KEY>} reference; the
    values (from each depot's r secret, decrypted and audited) go to a separate env file
    created with mode 0600. Files are replaced atomically; re-running overwrites them.

    \b
    Object-storage depots become Hive catalogs with Trino's file metastore in the depot's
    folder (.trino-metastore/), or the depot's metastoreUrl (thrift://) when it has one.
    Depot types Trino cannot reach are skipped, each with its reason.

    \b
    Examples:
      entrepot export trino --dir /etc/trino/catalog
      entrepot export trino postgres lake --dir etc/catalog --env-file /run/trino.env
      entrepot export trino --dry-run
    Then: set -a; . etc/entrepot-trino.env; set +a; and start Trino.
    """
    from entrepot.cli.context import request
    from entrepot.query.trino_export import env_text, properties_text
    from entrepot.services import query

    with request() as ctx:
        result = query.export_trino(ctx, names, directory, env_file, dry_run=dry_run)
    if fmt != "text":
        dump(result.to_dict(), fmt)
        return
    if dry_run:
        for catalog in result.catalogs:
            echo(f"# {catalog.path} ({catalog.source_type})")
            echo(properties_text(catalog))
        if result.catalogs:
            hidden = dict.fromkeys(result.env, "<hidden>")
            echo(f"# {result.env_file} (mode 0600; values hidden)")
            echo(env_text(hidden))
    for catalog in result.catalogs:
        verb = "would write" if dry_run else "wrote"
        echo(f"{verb} {catalog.path} ({catalog.connector}, depot type {catalog.source_type})")
    for skipped in result.skipped:
        echo(f"skipped {skipped.depot} ({skipped.source_type}): {skipped.reason}")
    if result.env_written:
        echo(f"wrote {result.env_file} ({len(result.env)} variables, mode 0600)")
    elif not result.catalogs:
        echo("no catalog written: no depot could be exported" if result.skipped else "no depots")
