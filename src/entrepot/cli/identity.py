"""`user`, `usecase` and `auth can-i`: who is who, what each use case grants to whom, and why a
decision goes the way it does. Thin: services/identity.py does the work."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from entrepot.cli.context import request
from entrepot.cli.output import CONTEXT, dump, echo, table
from entrepot.cli.params import Group

if TYPE_CHECKING:
    from entrepot.services.identity import UserView

FORMAT = click.option(
    "--output", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table"
)


@click.group(cls=Group, context_settings=CONTEXT)
def user() -> None:
    """Users and their tags (every user carries users:id:NAME and roles:id:user).

    \b
    Examples:
      entrepot user get                          # you, and your tags
      entrepot user get -a
      entrepot user create bob --tag roles:id:data-dev
      entrepot user tag add bob roles:id:operator
      entrepot user tag remove bob roles:id:operator
      entrepot user delete bob
    """


def _one_user(name: str | None, user_id: str | None, flag: str = "-i/--id") -> str | None:
    """NAME as an argument (entrepot's form) or -i ID (dataos-ctl's): one of them."""
    if name is not None and user_id is not None and name != user_id:
        raise click.UsageError(f"give the user as NAME or {flag}, not both")
    return user_id if user_id is not None else name


def _tag_rows(users: list[UserView]) -> list[tuple[str, ...]]:
    """NAME | ID | TYPE | EMAIL | TAGS, one tag a line, as dataos-ctl prints users."""
    rows: list[tuple[str, ...]] = []
    for u in users:
        tags = u.tags or [""]
        rows.append((u.name, u.name, "person", "", tags[0]))
        rows += [("", "", "", "", tag) for tag in tags[1:]]
    return rows


@user.command("get", context_settings=CONTEXT)
@click.argument("name", required=False)
@click.option("-i", "--id", "user_id", metavar="ID", help="The user (default: you).")
@click.option("-a", "--all", "everyone", is_flag=True, help="Every user.")
@FORMAT
def user_get(name: str | None, user_id: str | None, everyone: bool, fmt: str) -> None:
    """A user (you by default) and their tags; -a for every user.

    \b
    Examples:
      dataos-ctl user get
      dataos-ctl user get -i bob
      dataos-ctl user get -a
      entrepot user get bob --output json
    Local users have no email (the EMAIL column stays empty).
    """
    from entrepot.services import identity

    name = _one_user(name, user_id)
    with request() as ctx:
        users = identity.get_users(ctx, name, everyone=everyone)
    if fmt != "table":
        dump([u.to_dict() for u in users], fmt)
        return
    table(("NAME", "ID", "TYPE", "EMAIL", "TAGS"), _tag_rows(users))


@user.command("create", context_settings=CONTEXT)
@click.argument("name")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="A tag, e.g. roles:id:data-dev.")
def user_create(name: str, tags: tuple[str, ...]) -> None:
    """Create a user (needs the use case Manage Users, Use Cases and Policies).

    \b
    Examples:
      entrepot user create bob
      entrepot user create carol --tag roles:id:data-dev --tag roles:id:operator
    """
    from entrepot.services import identity

    with request() as ctx:
        created = identity.create_user(ctx, name, list(tags))
    echo(f"created user {created.name}: {', '.join(created.tags)}")


@user.command("delete", context_settings=CONTEXT)
@click.argument("name", required=False)
@click.option("-i", "--id", "user_id", metavar="ID", help="The user to delete.")
def user_delete(name: str | None, user_id: str | None) -> None:
    """Delete a user (the resources they own keep their owner).

    \b
    Examples:
      dataos-ctl user delete -i bob
      entrepot user delete bob
    """
    from entrepot.services import identity

    wanted = _one_user(name, user_id)
    if wanted is None:
        raise click.UsageError("name the user: -i ID (or NAME)")
    with request() as ctx:
        identity.delete_user(ctx, wanted)
    echo(f"deleted user {wanted}")


@user.group("tag", context_settings=CONTEXT)
def user_tag() -> None:
    """Add or delete a user's tags.

    \b
    Examples:
      dataos-ctl user tag add -i bob -t roles:id:data-dev
      dataos-ctl user tag delete -i bob -t roles:id:data-dev
    """


def _tag_arguments(
    args: tuple[str, ...], user_id: str | None, tags: tuple[str, ...], verb: str
) -> tuple[str | None, list[str]]:
    """dataos-ctl's `-i ID -t TAG[,TAG]` (-i: you by default) or entrepot's `NAME TAG...`."""
    if user_id is not None or tags:
        if args:
            raise click.UsageError(
                f"give the tags as -t (with -i ID), or as NAME TAG..., not both: {' '.join(args)}"
            )
        wanted = [t.strip() for value in tags for t in value.split(",") if t.strip()]
        if not wanted:
            raise click.UsageError(f"name the tags to {verb}: -t TAG (repeatable, or TAG,TAG)")
        return user_id, wanted
    if len(args) < 2:
        raise click.UsageError(f"give -i ID -t TAG, or NAME TAG...: which tags to {verb}?")
    return args[0], list(args[1:])


def _print_tags(view: UserView, changed: list[str], verb: str) -> None:
    if changed:
        echo(f"{verb} tags: {', '.join(changed)}")
    elif verb == "new":
        echo(f"no new tags: user {view.name} has them already")
    else:
        echo(f"no tags deleted: user {view.name} had none of them")
    rows = [(view.name if i == 0 else "", tag) for i, tag in enumerate(view.tags)]
    table(("ID", "TAGS"), rows)


@user_tag.command("add", context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[NAME TAG...]")
@click.option("-i", "--id", "user_id", metavar="ID", help="The user (default: you).")
@click.option(
    "-t", "--tags", "tags", multiple=True, metavar="TAG", help="Tags to add (repeatable, or a,b)."
)
def user_tag_add(args: tuple[str, ...], user_id: str | None, tags: tuple[str, ...]) -> None:
    """Add tags to a user.

    \b
    Examples:
      dataos-ctl user tag add -i bob -t roles:id:data-dev
      dataos-ctl user tag add -t dataos:u:people-dw:user          # yourself
      entrepot user tag add bob roles:id:data-dev roles:id:operator
    """
    from entrepot.services import identity

    name, wanted = _tag_arguments(args, user_id, tags, "add")
    with request() as ctx:
        changed = identity.change_tags(ctx, name or ctx.user_name, add=wanted)
    _print_tags(changed, changed.changed, "new")


@user_tag.command("delete", context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[NAME TAG...]")
@click.option("-i", "--id", "user_id", metavar="ID", help="The user (default: you).")
@click.option(
    "-t", "--tags", "tags", multiple=True, metavar="TAG", help="Tags to delete (repeatable)."
)
def user_tag_delete(args: tuple[str, ...], user_id: str | None, tags: tuple[str, ...]) -> None:
    """Delete tags from a user (not users:id:NAME nor roles:id:user, which every user has).
    `user tag remove` is the same command.

    \b
    Examples:
      dataos-ctl user tag delete -i bob -t roles:id:data-dev
      entrepot user tag remove bob roles:id:data-dev
    """
    from entrepot.services import identity

    name, wanted = _tag_arguments(args, user_id, tags, "delete")
    with request() as ctx:
        changed = identity.change_tags(ctx, name or ctx.user_name, remove=wanted)
    _print_tags(changed, changed.changed, "deleted")


user_tag.add_command(user_tag_delete, "remove")


@click.group(cls=Group, context_settings=CONTEXT)
def usecase() -> None:
    """Use cases (DataOS's catalogue) and the tags they are granted to.

    \b
    Examples:
      entrepot usecase ls
      entrepot usecase revoke manage-all-depot --tag roles:id:operator
      entrepot usecase grant "Manage All Depot" --tag users:id:bob
    """


@usecase.command("ls", context_settings=CONTEXT)
@FORMAT
def usecase_ls(fmt: str) -> None:
    """Every use case, what it is for, and the tags that hold it.

    \b
    Examples:
      entrepot usecase ls
      entrepot usecase ls --output json      # with the actions each grants
    """
    from entrepot.services import identity

    with request() as ctx:
        rows = identity.use_cases(ctx)
    if fmt != "table":
        dump(
            [
                {"id": uc.id, "name": uc.name, "category": uc.category,
                 "description": uc.description, "actions": sorted(uc.grants), "grantedTo": tags}
                for uc, tags in rows
            ],
            fmt,
        )  # fmt: skip
        return
    table(
        ("ID", "NAME", "CATEGORY", "GRANTED TO"),
        [(uc.id, uc.name, uc.category, ", ".join(tags)) for uc, tags in rows],
    )


def _grant(usecase_name: str, tag: str, granted: bool) -> None:
    from entrepot.services import identity

    with request() as ctx:
        changed = identity.set_grant(ctx, usecase_name, tag, granted=granted)
        found = identity.find_use_case(usecase_name)
    verb = "granted" if granted else "revoked"
    prep = "to" if granted else "from"
    echo(
        f"{verb} use case '{found.name}' ({found.id}) {prep} {tag}"
        + ("" if changed else " (no change)")
    )


@usecase.command("grant", context_settings=CONTEXT)
@click.argument("usecase_name", metavar="USECASE")
@click.option("--tag", required=True, help="The tag that gets it: roles:id:data-dev, users:id:bob.")
def usecase_grant(usecase_name: str, tag: str) -> None:
    """Grant a use case to a tag (audited).

    \b
    Examples:
      entrepot usecase grant manage-all-depot --tag roles:id:data-dev
      entrepot usecase grant "Read All Dataset" --tag users:id:bob
    """
    _grant(usecase_name, tag, True)


@usecase.command("revoke", context_settings=CONTEXT)
@click.argument("usecase_name", metavar="USECASE")
@click.option("--tag", required=True, help="The tag that loses it.")
def usecase_revoke(usecase_name: str, tag: str) -> None:
    """Revoke a use case from a tag (audited).

    \b
    Example:
      entrepot usecase revoke manage-all-depot --tag roles:id:operator
    """
    _grant(usecase_name, tag, False)


@click.group(cls=Group, context_settings=CONTEXT)
def auth() -> None:
    """Ask the authorization function: may I (or another user) do this, and which rule says so.

    \b
    Example:
      entrepot auth can-i list-all depots
    """


@auth.command("can-i", context_settings=CONTEXT)
@click.argument("verb")
@click.argument("subject")
@click.option("--as", "as_user", metavar="USER", help="Ask for another user (needs to read them).")
@click.option(
    "-w", "--workspace", default="public", show_default=True, help="Workflows' workspace."
)
def can_i(verb: str, subject: str, as_user: str | None, workspace: str) -> None:
    """Answer yes or no and name the rule that decided. Exit 0: yes; 1: no.

    \b
    Examples:
      entrepot auth can-i list-all depots
      entrepot auth can-i get /ds/api/v2/depots --as bob
      entrepot auth can-i delete depot/sales
      entrepot auth can-i read dataos://sales:public/orders
      entrepot auth can-i unsanitize instance-secret/sales-r
    """
    from entrepot.services import identity

    with request() as ctx:
        action, target = identity.question(ctx, verb, subject, workspace)
        decision = identity.can_i(ctx, action, target, as_user=as_user)
    who = f" ({as_user})" if as_user else ""
    echo(f"{'yes' if decision else 'no'}{who}: {action} - {decision.rule}")
    if decision.missing:
        echo("granted by the use case " + " or ".join(decision.missing), err=True)
    if not decision:
        sys.exit(1)


COMMANDS = (user, usecase, auth)
