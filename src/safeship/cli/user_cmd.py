"""safeship user add|list|remove|passwd|token|tokens|revoke-token, and safeship audit.

A password is never an argument (it would be in the shell's history and in ``ps``): it is read
from a prompt without echo, twice, or from stdin (``--password-stdin``, for scripts). A token is
printed once, when it is made.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from safeship.cli.options import ConfigOption

if TYPE_CHECKING:
    from datetime import timedelta

    from safeship.core import ApiToken

user_app = typer.Typer(help="Dashboard users, their roles and API tokens.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The user's name.")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from stdin (one line) instead of a prompt."
    ),
]


class RoleChoice(StrEnum):
    viewer = "viewer"
    deployer = "deployer"
    approver = "approver"
    admin = "admin"


@user_app.callback()
def _group() -> None:
    """Dashboard users, their roles and API tokens."""


@user_app.command("add")
def add(
    name: NameArgument,
    role: Annotated[
        RoleChoice,
        typer.Option(
            help="viewer reads; deployer rolls back, promotes, aborts; approver approves; "
            "admin manages users."
        ),
    ],
    password_stdin: PasswordStdin = False,
    config: ConfigOption = None,
) -> None:
    """Create a user who may sign in to the dashboard."""
    from safeship import core
    from safeship.cli.common import load

    loaded = load(config)
    password = _read_password(password_stdin)
    user = core.user_add(loaded, name, role.value, password, actor=_actor())
    print(f"user {user.name} added ({user.role})")


@user_app.command("list")
def list_users(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """The users and their roles."""
    from safeship import core
    from safeship.cli.common import load

    users = core.user_list(load(config))
    if json_output:
        print(json.dumps([u.as_json() for u in users], indent=2))
    elif not users:
        print("no users yet: safeship user add NAME --role ROLE")
    for user in [] if json_output else users:
        changed = user.password_changed_at.strftime("%Y-%m-%d %H:%M")
        print(f"{user.name:<24} {user.role:<9} password set {changed} UTC")


@user_app.command("remove")
def remove(name: NameArgument, config: ConfigOption = None) -> None:
    """Remove a user: their sessions end and their tokens stop working."""
    from safeship import core
    from safeship.cli.common import load

    core.user_remove(load(config), name, actor=_actor())
    print(f"user {name} removed")


@user_app.command("passwd")
def passwd(
    name: NameArgument, password_stdin: PasswordStdin = False, config: ConfigOption = None
) -> None:
    """Set a user's password; their signed-in browsers are signed out."""
    from safeship import core
    from safeship.cli.common import load

    loaded = load(config)
    core.user_set_password(loaded, name, _read_password(password_stdin), actor=_actor())
    print(f"password of {name} changed; their sessions ended")


@user_app.command("token")
def token(
    name: NameArgument,
    label: Annotated[
        str | None, typer.Option(help="What the token is for (e.g. the CI job).")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(help="Lifetime, e.g. 90d, 12h (default: until revoked)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Make an API token for NAME and print it, once: it is not stored, only its digest."""
    from safeship import core
    from safeship.cli.common import load

    lifetime = _lifetime(expires)
    record, secret = core.token_create(
        load(config), name, label=label, expires_in=lifetime, actor=_actor()
    )
    until = record.expires_at.strftime("%Y-%m-%d %H:%M UTC") if record.expires_at else "revoked"
    print(secret)
    print(
        f"token {record.id} for {name} (valid until {until}); it is shown only now: "
        "send it as 'Authorization: Bearer TOKEN'",
        file=sys.stderr,
    )


@user_app.command("tokens")
def tokens(
    name: NameArgument,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """NAME's API tokens (their ids and prefixes, never the tokens)."""
    from safeship import core
    from safeship.cli.common import load

    listed = core.token_list(load(config), name)
    if json_output:
        print(json.dumps([_token_json(t) for t in listed], indent=2))
        return
    if not listed:
        print(f"{name} has no tokens")
    for t in listed:
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
        print(f"{t.id:>5}  {t.prefix}…  {t.state():<8} {t.label or '-':<20} last used {used}")


@user_app.command("revoke-token")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="The token's id (safeship user tokens NAME).")],
    config: ConfigOption = None,
) -> None:
    """Revoke an API token: it stops working at once."""
    from safeship import core
    from safeship.cli.common import load

    core.token_revoke(load(config), token_id, actor=_actor())
    print(f"token {token_id} revoked")


def audit(limit: int, json_output: bool, config: Path | None) -> int:
    """`safeship audit`: the newest entries of the audit trail, newest first."""
    from safeship import core
    from safeship.cli.common import load
    from safeship.validation import printable

    entries = core.audit_log(load(config, reuse=True), limit)
    if json_output:
        print(json.dumps([e.as_json() for e in entries], indent=2))
        return 0
    if not entries:
        print("the audit trail is empty")
    for e in entries:
        at = e.at.strftime("%Y-%m-%d %H:%M:%S")
        line = f"{at}  {e.actor:<20} {e.action:<16} {e.target or '-':<16} {e.outcome:<10} "
        print(printable(line + f"{e.client or '-':<15} {e.detail}"))
    return 0


def _actor() -> str:
    """How the audit trail names who ran the command: ``cli:`` and the system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for the uid (some containers)
        return "cli"


def _read_password(from_stdin: bool) -> str:
    """The password from stdin's first line, or typed twice at a prompt without echo."""
    from safeship import core

    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise core.AuthError("no terminal to ask the password on: use --password-stdin")
    import getpass

    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise core.AuthError("the two passwords differ")
    return first


def _lifetime(text: str | None) -> timedelta | None:
    from datetime import timedelta

    from safeship import core

    if text is None:
        return None
    try:
        seconds = core.parse_duration_seconds(text, "--expires")
    except core.UsageError as exc:
        raise core.AuthError(str(exc)) from None
    if seconds > 3650 * 86_400:
        raise core.AuthError("--expires: at most 3650d")
    return timedelta(seconds=seconds)


def _token_json(t: ApiToken) -> dict[str, object]:
    return {
        "id": t.id,
        "user": t.user,
        "label": t.label,
        "prefix": t.prefix,
        "state": t.state(),
        "createdAt": t.created_at.isoformat(),
        "expiresAt": t.expires_at.isoformat() if t.expires_at else None,
        "lastUsedAt": t.last_used_at.isoformat() if t.last_used_at else None,
        "revokedAt": t.revoked_at.isoformat() if t.revoked_at else None,
    }
