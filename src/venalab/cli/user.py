"""`venalab user`: manage accounts from the shell of the machine that holds the database.

    venalab user add USERNAME --role sonographer|physician|admin [--display-name "Dr X"]
    venalab user list
    venalab user disable USERNAME
    venalab user reset-password USERNAME
    venalab user token USERNAME --name NAME [--days N]
    venalab user tokens [USERNAME] [--json]
    venalab user token-revoke ID... | --user USERNAME

The database is DATABASE_URL (else SQLite at var/venalab.db); migrations run first. Generated
one-time passwords and bearer tokens are printed once and never stored in plaintext. Every
change is audited with client "cli". Revoking a token or disabling a user also tells running
servers that share VENALAB_VAR to drop the tokens they cached (web/token_cache.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from venalab.errors import InvalidInput
from venalab.store import users
from venalab.store.db import database_url, make_engine, session_factory, transaction, upgrade
from venalab.store.errors import StoreError
from venalab.store.models import ROLES
from venalab.web.settings import Settings
from venalab.web.token_cache import signal_auth_change

user_app = typer.Typer(
    help="User accounts: add, list, disable, reset-password; API tokens: token, tokens, "
    "token-revoke.",
    no_args_is_help=True,
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
    credentials: Annotated[
        str | None,
        typer.Option(
            "--credentials", help='Printed after the name as the signer, e.g. "MD, RPVI".'
        ),
    ] = None,
) -> None:
    """Create a user and print their one-time password (they choose their own at first login)."""
    with _session() as s:
        user, password = users.create_user(
            s, username, role, display_name, credentials=credentials, client=CLIENT
        )
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
                sum(1 for t in users.list_tokens(s, u) if users.token_state(t) == "active"),
                u.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
            for u in users.list_users(s)
        ]
    if as_json:
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
    _signal_servers()
    out.print(f"disabled {user.username} (sessions ended, tokens refused)")


@user_app.command("reset-password")
def reset_password(username: Annotated[str, typer.Argument(help="User to reset.")]) -> None:
    """Give a user a new one-time password (printed once)."""
    with _session() as s:
        password = users.reset_password(s, username, client=CLIENT)
    out.print(f"new one-time password for {users.normalize_username(username)} (shown only now):")
    print(password)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except InvalidInput as e:
        _fail("; ".join(str(p) for p in e.problems))


def _signal_servers() -> None:
    signal_auth_change(_settings().var_dir)


@user_app.command("token")
def token(
    username: Annotated[str, typer.Argument(help="Owner of the token.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            max=users.TOKEN_MAX_LIFETIME_DAYS,
            help="Lifetime in days (default VENALAB_TOKEN_LIFETIME_DAYS, else 90).",
        ),
    ] = None,
) -> None:
    """Create an API bearer token for a user and print it once."""
    lifetime = days if days is not None else _settings().token_lifetime_days
    with _session() as s:
        user = users.get_user(s, username)
        plain = users.create_token(s, user, name, lifetime_days=lifetime, client=CLIENT)
    out.print(
        f"bearer token for {user.username}, valid {lifetime} days "
        "(shown only now; send as Authorization: Bearer):"
    )
    print(plain)


@user_app.command("tokens")
def tokens(
    username: Annotated[
        str | None, typer.Argument(help="Only this user's tokens (default: everyone's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """List API tokens: id, owner, name, created, last used, expiry, state."""
    with _session() as s:
        owner = users.get_user(s, username) if username else None
        rows = [
            {
                "id": t.id,
                "user": t.user.username,
                "name": t.name,
                "created_at": t.created_at.isoformat(timespec="seconds"),
                "last_used_at": t.last_used_at.isoformat(timespec="seconds")
                if t.last_used_at
                else None,
                "expires_at": t.expires_at.isoformat(timespec="seconds"),
                "state": users.token_state(t),
            }
            for t in users.list_tokens(s, owner)
        ]
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    table = Table("id", "user", "name", "created", "last used", "expires", "state")
    for row in rows:
        table.add_row(
            *(str(row[k] or "never") for k in ("id", "user", "name", "created_at")),
            str(row["last_used_at"] or "never"),
            str(row["expires_at"]),
            str(row["state"]),
        )
    out.print(table)


@user_app.command("token-revoke")
def token_revoke(
    token_ids: Annotated[
        list[int] | None, typer.Argument(help="Token ids (see `venalab user tokens`).")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Revoke every live token of this user.")
    ] = None,
) -> None:
    """Revoke API tokens by id, or all of a user's; running servers stop accepting them."""
    if not token_ids and not user:
        _fail("give token ids or --user USERNAME")
    with _session() as s:
        owner = users.get_user(s, user) if user else None
        ids = list(token_ids or [])
        if owner is not None:
            ids += [t.id for t in users.list_tokens(s, owner) if users.token_state(t) == "active"]
        revoked = [users.revoke_token(s, owner, i, client=CLIENT) for i in dict.fromkeys(ids)]
    _signal_servers()
    for t in revoked:
        out.print(f"revoked token {t.id} ({t.user.username}: {t.name})")
    if not revoked:
        out.print("no live token to revoke")
