"""`axis user ...`: the people who log in to the clerks' pages for an agency."""

from __future__ import annotations

import sys

import click

from axis.cli.agency import _run
from axis.cli.output import emit, fail
from axis.core import users


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("--password-stdin: standard input held no password")
        return password
    if not sys.stdin.isatty():
        fail("no terminal to ask the password on; pipe it with --password-stdin")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def user() -> None:
    """Accounts for the clerks' pages (log in at /login).

    \b
    Examples:
      axis user add --agency 000.00.00.G22 --login vanthu.vpcp --role clerk
      echo "$PASSWORD" | axis user add --agency 000.00.00.G22 --login admin.vpcp --role admin --password-stdin
      axis user list --agency 000.00.00.G22
    """


@user.command("add")
@click.option(
    "--agency", "organ_id", required=True, help="Organ id of the user's agency, e.g. 000.00.00.G22."
)
@click.option("--login", required=True, help="The name typed at /login, e.g. vanthu.vpcp.")
@click.option(
    "--role",
    type=click.Choice(users.ROLES),
    default="clerk",
    show_default=True,
    help="clerk: sees and acts on the agency's letters; admin: the same, and more to come.",
)
@click.option("--name", "full_name", default=None, help='The person\'s name, e.g. "Trần Thị Bình".')
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def add(
    organ_id: str,
    login: str,
    role: str,
    full_name: str | None,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Create a user of an agency; the password is asked for (twice) unless --password-stdin.

    Example: axis user add --agency 000.00.00.G22 --login vanthu.vpcp --role clerk
    """
    password = _password(password_stdin)
    created = _run(
        lambda conn: users.add(
            conn,
            organ_id=organ_id,
            login=login,
            password=password,
            role=role,
            full_name=full_name,
        )
    )
    emit(
        created.public(),
        as_json=as_json,
        text=f"added {created.login} ({created.role}) for {created.organ_id} {created.agency_name}",
    )


@user.command("list")
@click.option("--agency", "organ_id", default=None, help="Only the users of this agency.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def list_(organ_id: str | None, as_json: bool) -> None:
    """List users, with their agency and role.

    Example: axis user list --agency 000.00.00.G22
    """
    found = _run(lambda conn: users.list_users(conn, organ_id))
    rows = [u.public() for u in found]
    text = (
        "\n".join(
            f"{u.organ_id:<16} {u.login:<24} {u.role:<6} {'active' if u.active else 'DISABLED'}"
            for u in found
        )
        or "no users"
    )
    emit(rows, as_json=as_json, text=text)


@user.command("set-password")
@click.option("--login", required=True, help="The user's login.")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def set_password(login: str, password_stdin: bool) -> None:
    """Give a user a new password; their open sessions end and a lock-out is lifted.

    Example: axis user set-password --login vanthu.vpcp
    """
    password = _password(password_stdin)
    _run(lambda conn: users.set_password(conn, login, password))
    click.echo(f"the password of {login} is changed")


@user.command("disable")
@click.option("--login", required=True, help="The user's login.")
def disable(login: str) -> None:
    """Stop a user from logging in; their open sessions end at once.

    Example: axis user disable --login vanthu.vpcp
    """
    _run(lambda conn: users.set_active(conn, login, False))
    click.echo(f"{login} is disabled")


@user.command("enable")
@click.option("--login", required=True, help="The user's login.")
def enable(login: str) -> None:
    """Let a disabled user log in again.

    Example: axis user enable --login vanthu.vpcp
    """
    _run(lambda conn: users.set_active(conn, login, True))
    click.echo(f"{login} is enabled")
