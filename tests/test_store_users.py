"""Users, passwords (real Argon2id), login throttling, API tokens and roles, on both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from pg_fixture import db_url, pg_server, pg_url  # noqa: F401
from venalab.store import (
    ApiToken,
    Conflict,
    Forbidden,
    InvalidState,
    InvalidValue,
    NotFound,
    User,
    audit,
    authenticate,
    can,
    check_password,
    create_token,
    create_user,
    disable_user,
    get_user,
    is_throttled,
    list_tokens,
    list_users,
    make_engine,
    require,
    reset_password,
    revoke_token,
    session_factory,
    set_password,
    transaction,
    upgrade,
    user_for_token,
)
from venalab.store import users as users_module
from venalab.store.users import THROTTLE_MAX_FAILURES, THROTTLE_WINDOW, token_hash

PASSWORD = "correct horse battery"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Still Argon2id, with cheap parameters, so that the many logins here stay fast; the
    # production parameters are checked in test_production_hash_parameters_and_rehash.
    monkeypatch.setattr(users_module, "_hasher", CHEAP)


def _login(
    factory: sessionmaker[Session], username: str, password: str, client: str = "127.0.0.1"
) -> User | None:
    """One login in its own transaction, as the login page does it: `login` counts the attempt
    in a transaction of its own, so it runs before the caller's session writes anything."""
    with transaction(factory) as s:
        return authenticate(s, username, password, client)


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:  # noqa: F811
    engine: Engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def test_create_user_with_generated_one_time_password(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        _, password = create_user(s, "  Alice ", "physician", "Dr Alice A")
    assert len(password) >= 20
    with transaction(factory) as s:
        alice = get_user(s, "ALICE")
        assert (alice.username, alice.display_name, alice.role) == (
            "alice",
            "Dr Alice A",
            "physician",
        )
        assert alice.must_change_password and alice.active
        assert password not in alice.password_hash and alice.password_hash.startswith("$argon2id$")
        logged_in = authenticate(s, "alice", password, "127.0.0.1")
        assert logged_in is not None and logged_in.must_change_password
        set_password(s, logged_in, "a much better passphrase")
        assert not logged_in.must_change_password
    assert _login(factory, "alice", password) is None
    assert _login(factory, "Alice", "a much better passphrase") is not None
    with transaction(factory) as s:
        actions = [e.action for e in reversed(audit.query(s, entity_id="alice"))]
        assert actions == [
            "user-create",
            "login-success",
            "password-set",
            "login-failure",
            "login-success",
        ]


def test_production_hash_parameters_and_rehash(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(factory) as s:
        create_user(s, "bob", "sonographer", password=PASSWORD)
        assert get_user(s, "bob").password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    production = PasswordHasher()
    monkeypatch.setattr(users_module, "_hasher", production)
    with transaction(factory) as s:
        # Logging in with a hash made under other parameters rehashes it.
        assert authenticate(s, "bob", PASSWORD, "127.0.0.1") is not None
        new_hash = get_user(s, "bob").password_hash
        assert new_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert not production.check_needs_rehash(new_hash)
    with transaction(factory) as s:
        assert authenticate(s, "bob", PASSWORD, "127.0.0.1") is not None


def test_given_password_is_not_one_time_and_display_name_defaults(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        user, password = create_user(s, "bob", "sonographer", password=PASSWORD)
        assert password == PASSWORD
        assert not user.must_change_password
        assert user.display_name == "bob"
        assert check_password(user, PASSWORD) and not check_password(user, PASSWORD + "x")


def test_bad_user_input(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        create_user(s, "bob", "sonographer", password=PASSWORD)
        with pytest.raises(Conflict):
            create_user(s, "BOB", "admin", password=PASSWORD)
        with pytest.raises(InvalidValue, match="role"):
            create_user(s, "carol", "nurse")
        for name in ("", "x", "has space", "-dash", "a" * 65):
            with pytest.raises(InvalidValue, match="username"):
                create_user(s, name, "admin")
        with pytest.raises(InvalidValue, match="at least 12"):
            create_user(s, "dave", "admin", password="short")
        with pytest.raises(InvalidValue, match="at least 12"):
            set_password(s, get_user(s, "bob"), "elevenchars")
        with pytest.raises(NotFound):
            get_user(s, "nobody")
        assert [u.username for u in list_users(s)] == ["bob"]


def test_password_boundary_12_characters(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        user, _ = create_user(s, "bob", "sonographer")
        set_password(s, user, "x" * 12)
        with pytest.raises(InvalidValue):
            set_password(s, user, "x" * 11)
        assert check_password(user, "x" * 12)


def test_failed_logins_are_recorded_and_throttled(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        create_user(s, "bob", "sonographer", password=PASSWORD)
    for attempt in range(THROTTLE_MAX_FAILURES):
        with transaction(factory) as s:
            assert not is_throttled(s, "bob", "10.0.0.9")
            assert authenticate(s, "bob", f"wrong {attempt}", "10.0.0.9") is None
    with transaction(factory) as s:
        assert is_throttled(s, "bob", "10.0.0.1")  # by username, from any client
        # Throttled: even the right password is refused, and the refusal is audited.
        assert authenticate(s, "bob", PASSWORD, "10.0.0.1") is None
        reasons = [(e.detail or {}).get("reason") for e in audit.query(s, action="login-failure")]
        assert reasons == ["throttled"] + ["wrong-password"] * THROTTLE_MAX_FAILURES
        later = dt.datetime.now(dt.UTC) + THROTTLE_WINDOW + dt.timedelta(seconds=1)
        assert not is_throttled(s, "bob", "10.0.0.9", now=later)


def test_throttling_by_client_across_usernames(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        create_user(s, "bob", "sonographer", password=PASSWORD)
    for i in range(THROTTLE_MAX_FAILURES - 1):
        assert _login(factory, f"ghost{i}", "guess guess guess", "10.6.6.6") is None
    with transaction(factory) as s:
        assert not is_throttled(s, "bob", "10.6.6.6")
    assert _login(factory, "ghost9", "guess guess guess", "10.6.6.6") is None
    with transaction(factory) as s:
        assert is_throttled(s, "bob", "10.6.6.6")
        assert not is_throttled(s, "bob", "10.0.0.1")
    assert _login(factory, "bob", PASSWORD, "10.0.0.1") is not None
    with transaction(factory) as s:
        unknown = audit.query(s, action="login-failure", username="ghost0")[0]
        assert (unknown.detail, unknown.client) == ({"reason": "unknown-user"}, "10.6.6.6")


def test_success_clears_the_username_streak(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        create_user(s, "bob", "sonographer", password=PASSWORD)
    for _ in range(THROTTLE_MAX_FAILURES - 1):
        _login(factory, "bob", "nope nope nope", "10.0.0.2")
    assert _login(factory, "bob", PASSWORD, "10.0.0.3") is not None
    _login(factory, "bob", "nope nope nope", "10.0.0.4")
    with transaction(factory) as s:
        assert not is_throttled(s, "bob", "10.0.0.4")


def test_disabled_users_cannot_log_in_or_use_tokens(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        admin, _ = create_user(s, "root", "admin", password=PASSWORD)
        user, _ = create_user(s, "bob", "sonographer", password=PASSWORD)
        token = create_token(s, user, "laptop")
        assert user_for_token(s, token) is user
        assert disable_user(s, "bob", actor=admin) is user
        disable_user(s, "bob", actor=admin)  # again: no-op
    assert _login(factory, "bob", PASSWORD, "10.0.0.1") is None
    with transaction(factory) as s:
        assert user_for_token(s, token) is None
        assert audit.query(s, action="login-failure")[0].detail == {"reason": "disabled"}
        [entry] = audit.query(s, action="user-disable")
        assert (entry.username, entry.entity_id) == ("root", "bob")
        bob = get_user(s, "bob")
        with pytest.raises(InvalidState):
            create_token(s, bob, "again")
        assert not can(bob, "edit")
        with pytest.raises(Forbidden):
            require(bob, "edit")


def test_the_last_active_admin_cannot_be_disabled(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        create_user(s, "root", "admin", password=PASSWORD)
        with pytest.raises(InvalidState, match="last active admin"):
            disable_user(s, "root")
        create_user(s, "root2", "admin", password=PASSWORD)
        disable_user(s, "root")
        with pytest.raises(InvalidState):
            disable_user(s, "root2")


def test_tokens_store_only_a_hash_and_can_be_revoked(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        alice, _ = create_user(s, "alice", "physician", password=PASSWORD)
        bob, _ = create_user(s, "bob", "sonographer", password=PASSWORD)
        token = create_token(s, alice, "scripts")
        other = create_token(s, bob, "bob's")
    assert token.startswith("vl_") and len(token) == 3 + 43
    with transaction(factory) as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
        assert token_hash(token) in stored and token not in stored
        user = user_for_token(s, token)
        assert user is not None and user.username == "alice"
        tokens = list_tokens(s, user)
        assert [t.name for t in tokens] == ["scripts"]
        assert tokens[0].last_used_at is not None
        bob = get_user(s, "bob")
        assert user_for_token(s, other) is bob
        for wrong in ("", token[:-1] + ("A" if token[-1] != "A" else "B"), "Bearer " + token):
            assert user_for_token(s, wrong) is None
        with pytest.raises(NotFound):
            revoke_token(s, bob, tokens[0].id)  # not bob's token
        revoke_token(s, user, tokens[0].id)
        revoke_token(s, user, tokens[0].id)  # again: no-op
    with transaction(factory) as s:
        assert user_for_token(s, token) is None
        assert user_for_token(s, other) is not None
        assert [e.action for e in audit.query(s, entity="token")] == [
            "token-revoke",
            "token-create",
            "token-create",
        ]


def test_reset_password_gives_a_new_one_time_password(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        create_user(s, "bob", "sonographer", password=PASSWORD)
        fresh = reset_password(s, "bob")
        bob = get_user(s, "bob")
        assert bob.must_change_password
        assert check_password(bob, fresh) and not check_password(bob, PASSWORD)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("sonographer", {"edit"}),
        ("physician", {"edit", "sign", "amend"}),
        ("admin", {"edit", "sign", "amend", "manage-users", "read-audit"}),
    ],
)
def test_role_permissions(role: str, allowed: set[str]) -> None:
    user = User(username="u", role=role, active=True)
    permissions = ("edit", "sign", "amend", "manage-users", "read-audit")
    assert {p for p in permissions if can(user, p)} == allowed  # type: ignore[arg-type]
    assert not can(None, "edit")
