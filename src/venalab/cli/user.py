"""`venalab user`: manage accounts from the shell of the machine that holds the database.

    venalab user add USERNAME --role sonographer|physician|admin [--display-name "Dr X"]
    venalab user list
    venalab user disable USERNAME
    venalab user reset-password USERNAME
    venalab user token USERNAME --name NAME

The database is DATABASE_URL (else SQLite at var/venalab.db); migrations run first. Generated
one-time passwords and bearer tokens are printed once and never stored in plaintext. Every
change is audited with client "cli".
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from venalab.store import users
from venalab.store.db import database_url, make_engine, session_factory, transaction, upgrade
from venalab.store.errors import StoreError
from venalab.store.models import ROLES

user_app = typer.Typer(
    help="User accounts: add, list, disable, reset-password, token.", no_args_is_help=True
)
out = Console(width=None if sys.stdout.isatty() else 110)
err = Console(stderr=True)
CLIENT = "cli"


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(database_url())
    try:
        upgrade(engine)
        with transaction(session_factory(engine)) as s:
            yield s
    except StoreError as error:
        _fail(str(error))
    finally:
        engine.dispose()


@user_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Login name (stored in lower case).")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="Name shown in the app and reports.")
    ] = None,
) -> None:
    """Create a user and print their one-time password (they choose their own at first login)."""
    with _session() as s:
        user, password = users.create_user(s, username, role, display_name, client=CLIENT)
    out.print(f"created {user.username} ({user.role})")
    out.print("one-time password (shown only now; to be changed at first login):")
    print(password)


@user_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """List users with role, state and number of active API tokens."""
    with _session() as s:
        rows = [
            (
                u.username,
                u.display_name,
                u.role,
                "active" if u.active else "disabled",
                "yes" if u.must_change_password else "",
                sum(1 for t in users.list_tokens(s, u) if t.revoked_at is None),
                u.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
            for u in users.list_users(s)
        ]
    if as_json:
        import json

        keys = ("username", "display_name", "role", "state", "must_change_password", "tokens")
        for row in rows:
            print(json.dumps(dict(zip(keys, row[:6], strict=True))))
        return
    table = Table("username", "name", "role", "state", "must change pw", "tokens", "created")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    out.print(table)


@user_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="User to disable.")]) -> None:
    """Disable a user: no more logins or API calls (the account and its history stay)."""
    with _session() as s:
        user = users.disable_user(s, username, client=CLIENT)
    out.print(f"disabled {user.username}")


@user_app.command("reset-password")
def reset_password(username: Annotated[str, typer.Argument(help="User to reset.")]) -> None:
    """Give a user a new one-time password (printed once)."""
    with _session() as s:
        password = users.reset_password(s, username, client=CLIENT)
    out.print(f"new one-time password for {users.normalize_username(username)} (shown only now):")
    print(password)


@user_app.command("token")
def token(
    username: Annotated[str, typer.Argument(help="Owner of the token.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
) -> None:
    """Create an API bearer token for a user and print it once."""
    with _session() as s:
        user = users.get_user(s, username)
        plain = users.create_token(s, user, name, client=CLIENT)
    out.print(f"bearer token for {user.username} (shown only now; send as Authorization: Bearer):")
    print(plain)
