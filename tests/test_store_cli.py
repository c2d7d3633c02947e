"""`venalab user ...` (the store's typer sub-app), against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pg_fixture import db_url, pg_server, pg_url  # noqa: F401
from venalab.cli.user import user_app
from venalab.store import (
    audit,
    authenticate,
    make_engine,
    session_factory,
    transaction,
    user_for_token,
)

app = typer.Typer()
app.add_typer(user_app, name="user")
runner = CliRunner()


@pytest.fixture(autouse=True)
def private_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Revocations signal running servers through VENALAB_VAR; keep that out of the checkout.
    monkeypatch.setenv("VENALAB_VAR", str(tmp_path / "var"))


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1].strip()


def test_user_add_list_token_disable(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("DATABASE_URL", db_url)
    added = runner.invoke(
        app, ["user", "add", "Alice", "--role", "physician", "--display-name", "Dr A"]
    )
    assert added.exit_code == 0, added.output
    password = _last_line(added.output)
    assert "one-time password" in added.output and len(password) >= 20

    admin = runner.invoke(app, ["user", "add", "root", "--role", "admin"])
    assert admin.exit_code == 0, admin.output

    listed = runner.invoke(app, ["user", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["username"], r["role"], r["state"], r["tokens"]) for r in rows] == [
        ("alice", "physician", "active", 0),
        ("root", "admin", "active", 0),
    ]
    assert runner.invoke(app, ["user", "list"]).exit_code == 0

    issued = runner.invoke(app, ["user", "token", "alice", "--name", "scripts"])
    assert issued.exit_code == 0, issued.output
    token = _last_line(issued.output)
    assert token.startswith("vl_")

    engine = make_engine(db_url)
    try:
        factory = session_factory(engine)
        with transaction(factory) as s:
            user = authenticate(s, "alice", password, "127.0.0.1")
            assert user is not None and user.must_change_password and user.display_name == "Dr A"
            assert user_for_token(s, token) is not None

        assert runner.invoke(app, ["user", "disable", "alice"]).exit_code == 0
        with transaction(factory) as s:
            assert user_for_token(s, token) is None
            assert authenticate(s, "alice", password, "127.0.0.1") is None
            cli_entries = [e.action for e in audit.query(s) if e.client == "cli"]
            assert cli_entries == ["user-disable", "token-create", "user-create", "user-create"]

        reset = runner.invoke(app, ["user", "reset-password", "root"])
        assert reset.exit_code == 0, reset.output
        with transaction(factory) as s:
            assert authenticate(s, "root", _last_line(reset.output), "127.0.0.1") is not None
    finally:
        engine.dispose()


def test_user_errors_exit_1_with_a_message(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert runner.invoke(app, ["user", "add", "bob", "--role", "sonographer"]).exit_code == 0
    for args, message in (
        (["user", "add", "bob", "--role", "admin"], "exists"),
        (["user", "add", "carol", "--role", "nurse"], "unknown role"),
        (["user", "disable", "nobody"], "no user"),
        (["user", "token", "nobody", "--name", "x"], "no user"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output


def test_tokens_expire_list_and_revoke(
    db_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("VENALAB_TOKEN_LIFETIME_DAYS", "30")
    assert runner.invoke(app, ["user", "add", "bob", "--role", "sonographer"]).exit_code == 0
    short = runner.invoke(app, ["user", "token", "bob", "--name", "ci"])
    assert short.exit_code == 0 and "valid 30 days" in short.output
    long = runner.invoke(app, ["user", "token", "bob", "--name", "pacs", "--days", "365"])
    assert long.exit_code == 0 and "valid 365 days" in long.output
    assert runner.invoke(app, ["user", "token", "bob", "--name", "x", "--days", "0"]).exit_code == 2

    listed = runner.invoke(app, ["user", "tokens", "--json"])
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["user"], r["name"], r["state"]) for r in rows] == [
        ("bob", "ci", "active"),
        ("bob", "pacs", "active"),
    ]
    now = dt.datetime.now(dt.UTC)
    days = [(dt.datetime.fromisoformat(r["expires_at"]) - now).days for r in rows]
    assert days == [29, 364]  # just under 30 and 365 days from now
    assert runner.invoke(app, ["user", "tokens", "bob"]).exit_code == 0

    revoked = runner.invoke(app, ["user", "token-revoke", str(rows[0]["id"])])
    assert revoked.exit_code == 0 and "revoked token" in revoked.output
    assert (tmp_path / "var" / "auth-changed").exists()  # running servers are told
    engine = make_engine(db_url)
    try:
        with transaction(session_factory(engine)) as s:
            assert user_for_token(s, _last_line(short.output)) is None
            assert user_for_token(s, _last_line(long.output)) is not None
            [entry] = audit.query(s, action="token-revoke")
            assert entry.client == "cli" and entry.detail == {"for": "bob", "name": "ci"}
        everything = runner.invoke(app, ["user", "token-revoke", "--user", "bob"])
        assert everything.exit_code == 0 and "pacs" in everything.output
        with transaction(session_factory(engine)) as s:
            assert user_for_token(s, _last_line(long.output)) is None
    finally:
        engine.dispose()
    states = [
        json.loads(x)["state"]
        for x in runner.invoke(app, ["user", "tokens", "--json"]).output.splitlines()
    ]
    assert states == ["revoked", "revoked"]
    missing = runner.invoke(app, ["user", "token-revoke", "999"])
    assert missing.exit_code == 1 and "no token 999" in missing.output
    assert runner.invoke(app, ["user", "token-revoke"]).exit_code == 1
