"""Users, roles, passwords, login throttling and API tokens.

- Roles: sonographer (enters and edits drafts), physician (also signs and amends signed exams),
  admin (everything, plus user management and the audit log). `can(user, permission)` is the
  one place that says which role may do what.
- Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 low-memory profile) and rehashed
  at login when the parameters change. A password the store generates is a one-time password:
  the user must choose a new one (`must_change_password`) before doing anything else.
- Login throttling: 5 failures for one username, or from one client, within 15 minutes block
  further attempts for that username / client until the window has passed. The attempt is
  counted before the password is checked, in its own committed transaction, by one
  conditional INSERT (serialised by SQLite's write lock, on PostgreSQL by an advisory lock):
  however many guesses arrive at once, at most 5 passwords are checked per window.
- Sessions live in the database (`user_sessions`): the browser holds a random id, the table
  its SHA-256. Logout ends the session; a password change or reset and disabling the user end
  all of the user's sessions.
- API tokens are `vl_` + 43 random URL-safe characters (256 bits); only their SHA-256 is
  stored, so the plaintext is shown once, when created. Each expires (default 90 days) and
  can be revoked.

Usernames are case-insensitive: stored and looked up in lower case.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, String, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import venalab.store.audit as audit
from venalab.store.errors import Conflict, Forbidden, InvalidState, InvalidValue, NotFound
from venalab.store.models import (
    ROLES,
    ApiToken,
    LoginFailure,
    Role,
    User,
    UserSession,
    UTCDateTime,
    utcnow,
)
from venalab.text_rules import single_line

PASSWORD_MIN_LENGTH: Final = 12
PASSWORD_MAX_LENGTH: Final = 1024  # bounds the hashing work an attacker can ask for
THROTTLE_MAX_FAILURES: Final = 5
THROTTLE_WINDOW: Final = dt.timedelta(minutes=15)
# PostgreSQL advisory lock that serialises the reservation of login attempts (any constant
# key unique to this purpose; SQLite serialises writers by itself).
THROTTLE_LOCK_KEY: Final = 0x76656E61
SESSION_LIFETIME: Final = dt.timedelta(hours=8)
TOKEN_PREFIX: Final = "vl_"
TOKEN_LIFETIME_DAYS: Final = 90
TOKEN_MAX_LIFETIME_DAYS: Final = 3650
ACTION_LOGOUT: Final = "logout"
# Writing last_used_at on every request would make every API call a write; once a minute is
# precise enough for "when was this token last used".
TOKEN_TOUCH_INTERVAL: Final = dt.timedelta(minutes=1)
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")

Permission = Literal["edit", "sign", "amend", "manage-users", "read-audit"]
PERMISSIONS: Final[dict[Permission, frozenset[Role]]] = {
    "edit": frozenset(ROLES),
    "sign": frozenset({"physician", "admin"}),
    "amend": frozenset({"physician", "admin"}),
    "manage-users": frozenset({"admin"}),
    "read-audit": frozenset({"admin"}),
}
assert set(PERMISSIONS) == set(get_args(Permission))

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the username does not exist, so that a login for an unknown user
    # takes as long as one for a known user (no user enumeration by timing).
    return _hasher.hash(secrets.token_urlsafe(16))


def can(user: User | None, permission: Permission) -> bool:
    """Whether `user` (active) may do `permission`; None (anonymous) may do nothing."""
    return user is not None and user.active and user.role in PERMISSIONS[permission]


def require(user: User | None, permission: Permission) -> User:
    """`user` if it may do `permission`, else Forbidden naming the roles that may."""
    if user is None or not user.active:
        raise Forbidden("an active user account is required")
    if user.role not in PERMISSIONS[permission]:
        allowed = " or ".join(sorted(PERMISSIONS[permission]))
        raise Forbidden(f"{permission!r} needs the role {allowed}; {user.username} is {user.role}")
    return user


def normalize_username(username: str) -> str:
    return username.strip().lower()


def _check_username(username: str) -> str:
    name = normalize_username(username)
    if not _USERNAME.fullmatch(name):
        raise InvalidValue(
            "username",
            "use 2 to 64 characters: letters, digits and . _ @ - (starting with a letter or digit)",
        )
    return name


def _check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InvalidValue("role", f"unknown role {role!r}; roles are {', '.join(ROLES)}")


def _check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidValue("password", f"use at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidValue("password", f"use at most {PASSWORD_MAX_LENGTH} characters")
    return password


def generate_password() -> str:
    """A one-time password: 20 URL-safe random characters (120 bits)."""
    return secrets.token_urlsafe(15)


def create_user(
    s: Session,
    username: str,
    role: str,
    display_name: str | None = None,
    password: str | None = None,
    *,
    credentials: str | None = None,
    actor: User | None = None,
    client: str | None = None,
) -> tuple[User, str]:
    """Create a user; returns it with its password (a generated one-time password when None)."""
    name = _check_username(username)
    checked_role = _check_role(role)
    one_time = password is None
    plain = generate_password() if password is None else _check_password(password)
    if s.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"user {name!r} exists")
    user = User(
        username=name,
        display_name=(display_name or "").strip()[:200] or name,
        credentials=_check_identity_text(credentials, "credentials", CREDENTIALS_MAX),
        role=checked_role,
        password_hash=_hasher.hash(plain),
        active=True,
        must_change_password=one_time,
        created_at=utcnow(),
    )
    s.add(user)
    try:
        s.flush()
    except IntegrityError as err:  # created concurrently by someone else
        raise Conflict(f"user {name!r} exists") from err
    audit.record(
        s,
        audit.ACTION_USER_CREATE,
        user=actor,
        entity="user",
        entity_id=name,
        detail={"role": checked_role, "one_time_password": one_time},
        client=client,
    )
    return user, plain


CREDENTIALS_MAX = 100


def _check_identity_text(value: str | None, field: str, limit: int) -> str | None:
    text = " ".join((value or "").split())
    if len(text) > limit:
        raise InvalidValue(field, f"at most {limit} characters")
    try:
        single_line(text)
    except ValueError as err:
        raise InvalidValue(field, str(err)) from None
    return text or None


def signature_name(user: User) -> str:
    """The name printed as the signer: display name and credentials ("Jane Doe, MD, RPVI")."""
    name = user.display_name or user.username
    return f"{name}, {user.credentials}" if user.credentials else name


def set_identity(
    s: Session,
    username: str,
    display_name: str | None,
    credentials: str | None,
    *,
    actor: User | None = None,
    client: str | None = None,
) -> User:
    """Set a user's display name and credentials (single line each; credentials at most
    CREDENTIALS_MAX characters). Versions already signed keep the name they were signed with."""
    user = get_user(s, username)
    name = _check_identity_text(display_name, "display name", 200) or user.username
    creds = _check_identity_text(credentials, "credentials", CREDENTIALS_MAX)
    before = {"display_name": user.display_name, "credentials": user.credentials}
    user.display_name, user.credentials = name, creds
    s.flush()
    audit.record(
        s,
        audit.ACTION_USER_IDENTITY,
        user=actor,
        entity="user",
        entity_id=user.username,
        detail={"before": before, "after": {"display_name": name, "credentials": creds}},
        client=client,
    )
    return user


def get_user(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == normalize_username(username)))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def list_users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.username)))


def disable_user(
    s: Session, username: str, *, actor: User | None = None, client: str | None = None
) -> User:
    """Disable an account (it can no longer log in or use its tokens). Users are never deleted:
    the audit log and exam versions refer to them. The last active admin cannot be disabled."""
    user = get_user(s, username)
    if user.active and user.role == "admin":
        admins = s.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.active)
        )
        if (admins or 0) <= 1:
            raise InvalidState("the last active admin cannot be disabled")
    if user.active:
        user.active = False
        ended = end_sessions(s, user)
        s.flush()
        audit.record(
            s,
            audit.ACTION_USER_DISABLE,
            user=actor,
            entity="user",
            entity_id=user.username,
            detail={"sessions_ended": ended},
            client=client,
        )
    return user


def set_password(
    s: Session,
    user: User,
    new_password: str,
    *,
    actor: User | None = None,
    client: str | None = None,
) -> None:
    """Set a password the user chose (min. 12 characters); clears must_change_password and
    ends every session of the user (the caller starts a fresh one for the browser in use)."""
    user.password_hash = _hasher.hash(_check_password(new_password))
    user.must_change_password = False
    ended = end_sessions(s, user)
    s.flush()
    audit.record(
        s,
        audit.ACTION_PASSWORD_SET,
        user=actor if actor is not None else user,
        entity="user",
        entity_id=user.username,
        detail={"sessions_ended": ended} if ended else None,
        client=client,
    )


def reset_password(
    s: Session, username: str, *, actor: User | None = None, client: str | None = None
) -> str:
    """Give the user a new one-time password (returned once); they must change it at login.
    Their sessions end."""
    user = get_user(s, username)
    plain = generate_password()
    user.password_hash = _hasher.hash(plain)
    user.must_change_password = True
    ended = end_sessions(s, user)
    s.flush()
    audit.record(
        s,
        audit.ACTION_PASSWORD_SET,
        user=actor,
        entity="user",
        entity_id=user.username,
        detail={"one_time_password": True, "sessions_ended": ended},
        client=client,
    )
    return plain


# ---------------------------------------------------------------------------------------
# Login


def _recent_attempts(since: dt.datetime) -> Any:
    return select(func.count()).select_from(LoginFailure).where(LoginFailure.at >= since)


def is_throttled(s: Session, username: str, client: str, now: dt.datetime | None = None) -> bool:
    """True when the username or the client has THROTTLE_MAX_FAILURES attempts (failures and
    attempts being checked right now) in the window."""
    recent = _recent_attempts((now or utcnow()) - THROTTLE_WINDOW)
    by_user = s.scalar(recent.where(LoginFailure.username == normalize_username(username)[:64]))
    if (by_user or 0) >= THROTTLE_MAX_FAILURES:
        return True
    by_client = s.scalar(recent.where(LoginFailure.client == client[:200])) or 0
    return by_client >= THROTTLE_MAX_FAILURES


def _reserve_attempt(s: Session, name: str, client: str, now: dt.datetime) -> bool:
    """Count this attempt before its password is checked: insert a row when the username and
    the client each have fewer than THROTTLE_MAX_FAILURES rows in the window. Its own
    transaction, committed at once, so concurrent attempts see each other; one conditional
    INSERT ... SELECT, so the count and the insert cannot be split by another attempt (SQLite
    takes its write lock for the whole statement, PostgreSQL waits on an advisory lock).
    False: throttled, and no password may be checked."""
    bind = s.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    recent = _recent_attempts(now - THROTTLE_WINDOW)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(THROTTLE_LOCK_KEY)))
        # Rows older than the window only slow the counts down.
        conn.execute(delete(LoginFailure).where(LoginFailure.at < now - 4 * THROTTLE_WINDOW))
        row = select(
            literal(name, String()), literal(client, String()), literal(now, UTCDateTime())
        ).where(
            recent.where(LoginFailure.username == name).scalar_subquery() < THROTTLE_MAX_FAILURES,
            recent.where(LoginFailure.client == client).scalar_subquery() < THROTTLE_MAX_FAILURES,
        )
        reserved = conn.execute(
            insert(LoginFailure)
            .from_select(["username", "client", "at"], row)
            .returning(LoginFailure.id)
        ).first()
        return reserved is not None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password(user: User, password: str) -> bool:
    """Whether `password` is the user's (no audit, no throttling: e.g. to confirm the current
    password on a password-change form; use `login` for logins)."""
    return len(password) <= PASSWORD_MAX_LENGTH and _verify(user.password_hash, password)


LoginReason = Literal["", "throttled", "unknown-user", "wrong-password", "disabled"]


@dataclass(frozen=True)
class LoginOutcome:
    """The user on success (reason ""), else None and why (audited, never shown as such)."""

    user: User | None
    reason: LoginReason

    @property
    def throttled(self) -> bool:
        return self.reason == "throttled"


def login(
    s: Session, username: str, password: str, client: str, now: dt.datetime | None = None
) -> LoginOutcome:
    """Check a login: the attempt is counted first (`_reserve_attempt`, committed in its own
    transaction: call this before `s` has written anything), then the password.

    Every attempt is audited (login-success / login-failure with the reason) in `s`. A user
    with `must_change_password` is returned: the caller sends them to the password change.
    """
    now = now or utcnow()
    name = normalize_username(username)[:64]
    client = client[:200]
    if not _reserve_attempt(s, name, client, now):
        outcome = LoginOutcome(None, "throttled")
    else:
        user = s.scalar(select(User).where(User.username == name))
        if user is None:
            _verify(_dummy_hash(), password[:PASSWORD_MAX_LENGTH])
            outcome = LoginOutcome(None, "unknown-user")
        elif len(password) > PASSWORD_MAX_LENGTH or not _verify(user.password_hash, password):
            outcome = LoginOutcome(None, "wrong-password")
        elif not user.active:
            outcome = LoginOutcome(None, "disabled")
        else:
            outcome = LoginOutcome(user, "")
    if outcome.user is None:
        # The reserved row stays: it is the record of this failure.
        audit.record(
            s,
            audit.ACTION_LOGIN_FAILURE,
            user=None,
            username=name,
            entity="user",
            entity_id=name,
            detail={"reason": outcome.reason},
            client=client,
        )
        return outcome
    user = outcome.user
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    # A success ends this username's failure streak (not the client's: a client that guessed
    # at other accounts stays throttled).
    s.execute(delete(LoginFailure).where(LoginFailure.username == name))
    audit.record(
        s,
        audit.ACTION_LOGIN_SUCCESS,
        user=user,
        entity="user",
        entity_id=name,
        detail={"must_change_password": user.must_change_password},
        client=client,
    )
    return outcome


def confirm_password(s: Session, user: User, password: str, client: str) -> LoginReason:
    """Check the current password of a signed-in user (before changing it), counted and
    throttled like a login, so a borrowed session cannot guess it at leisure. Returns ""
    when it matches, else "throttled" or "wrong-password" (audited as a login failure).
    Call it before `s` has written anything (see `login`)."""
    client = client[:200]
    if not _reserve_attempt(s, user.username, client, utcnow()):
        reason: LoginReason = "throttled"
    elif not check_password(user, password):
        reason = "wrong-password"
    else:
        s.execute(delete(LoginFailure).where(LoginFailure.username == user.username))
        return ""
    audit.record(
        s,
        audit.ACTION_LOGIN_FAILURE,
        user=user,
        entity="user",
        entity_id=user.username,
        detail={"reason": reason, "during": "password-change"},
        client=client,
    )
    return reason


def authenticate(s: Session, username: str, password: str, client: str) -> User | None:
    """The active user with this username and password, else None (also when throttled);
    `login` without the reason."""
    return login(s, username, password, client).user


# ---------------------------------------------------------------------------------------
# Sessions


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def start_session(
    s: Session,
    user: User,
    *,
    client: str | None = None,
    lifetime: dt.timedelta = SESSION_LIFETIME,
    now: dt.datetime | None = None,
) -> tuple[str, UserSession]:
    """A new session for `user`: (the random id for the cookie, shown only here; the row)."""
    now = now or utcnow()
    # Sessions past their end for a day are only clutter.
    s.execute(delete(UserSession).where(UserSession.expires_at < now - dt.timedelta(days=1)))
    plain = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        id_hash=_sha256(plain),
        csrf=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + lifetime,
        client=client[:200] if client else None,
    )
    s.add(row)
    s.flush()
    return plain, row


def find_session(
    s: Session, session_id: str, now: dt.datetime | None = None
) -> tuple[UserSession, User] | None:
    """The live session with this id and its active user, else None (unknown, ended, expired,
    or the user is disabled)."""
    if not session_id or len(session_id) > 100:
        return None
    row = s.execute(
        select(UserSession, User)
        .join(User, UserSession.user_id == User.id)
        .where(UserSession.id_hash == _sha256(session_id))
    ).first()
    if row is None:
        return None
    session, user = row
    if session.ended_at is not None or session.expires_at <= (now or utcnow()):
        return None
    if not user.active:
        return None
    return session, user


def end_session(s: Session, session: UserSession, user: User, *, client: str | None = None) -> None:
    """Log out: the session ends now (its cookie is refused from here on); audited."""
    if session.ended_at is None:
        session.ended_at = utcnow()
        s.flush()
    audit.record(s, ACTION_LOGOUT, user=user, entity="user", entity_id=user.username, client=client)


def end_sessions(s: Session, user: User) -> int:
    """End every live session of `user`; returns how many."""
    now = utcnow()
    result = s.execute(
        update(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.ended_at.is_(None),
            UserSession.expires_at > now,
        )
        .values(ended_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------------------------------
# API tokens


def token_hash(token: str) -> str:
    return _sha256(token)


def create_token(
    s: Session,
    user: User,
    name: str,
    *,
    lifetime_days: int = TOKEN_LIFETIME_DAYS,
    actor: User | None = None,
    client: str | None = None,
) -> str:
    """A new bearer token for `user`, valid for `lifetime_days`; the plaintext is returned here
    only, never stored."""
    label = name.strip()
    if not label or len(label) > 100:
        raise InvalidValue("name", "give the token a name of 1 to 100 characters")
    if not 1 <= lifetime_days <= TOKEN_MAX_LIFETIME_DAYS:
        raise InvalidValue(
            "lifetime_days", f"a token lives from 1 to {TOKEN_MAX_LIFETIME_DAYS} days"
        )
    if not user.active:
        raise InvalidState(f"{user.username} is disabled")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id,
        name=label,
        token_hash=token_hash(plain),
        created_at=now,
        expires_at=now + dt.timedelta(days=lifetime_days),
    )
    s.add(token)
    s.flush()
    audit.record(
        s,
        audit.ACTION_TOKEN_CREATE,
        user=actor if actor is not None else user,
        entity="token",
        entity_id=token.id,
        detail={"for": user.username, "name": label, "expires_at": token.expires_at.isoformat()},
        client=client,
    )
    return plain


def token_state(token: ApiToken, now: dt.datetime | None = None) -> str:
    """active, expired or revoked."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= (now or utcnow()) else "active"


def resolve_token(s: Session, token: str) -> tuple[ApiToken, User] | None:
    """The live token (not revoked, not expired) and its active owner, else None; records the
    token's use (at most once a minute)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = s.execute(
        select(ApiToken, User)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    if token_state(api_token, now) != "active" or not user.active:
        return None
    if api_token.last_used_at is None or now - api_token.last_used_at >= TOKEN_TOUCH_INTERVAL:
        api_token.last_used_at = now
        s.flush()
    return api_token, user


def user_for_token(s: Session, token: str) -> User | None:
    """The active owner of a live token, else None; records the token's use."""
    found = resolve_token(s, token)
    return found[1] if found else None


def list_tokens(s: Session, user: User | None = None) -> list[ApiToken]:
    """`user`'s tokens, or everyone's when None (each with its `user` loaded), oldest first."""
    stmt = select(ApiToken).join(User, ApiToken.user_id == User.id)
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    return list(s.scalars(stmt.order_by(ApiToken.id)))


def revoke_token(
    s: Session,
    user: User | None,
    token_id: int,
    *,
    actor: User | None = None,
    client: str | None = None,
) -> ApiToken:
    """Revoke token `token_id` of `user` (any user's when None: an administrator); NotFound if
    there is no such token. Revoking twice is a no-op (audited once)."""
    token = s.get(ApiToken, token_id)
    if token is None or (user is not None and token.user_id != user.id):
        owner = f"{user.username} has" if user is not None else "there is"
        raise NotFound(f"{owner} no token {token_id}")
    if token.revoked_at is not None:
        return token
    token.revoked_at = utcnow()
    s.flush()
    audit.record(
        s,
        audit.ACTION_TOKEN_REVOKE,
        user=actor if actor is not None else user,
        entity="token",
        entity_id=token.id,
        detail={"for": token.user.username, "name": token.name},
        client=client,
    )
    return token
