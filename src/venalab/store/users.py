"""Users, roles, passwords, login throttling and API tokens.

- Roles: sonographer (enters and edits drafts), physician (also signs and amends signed exams),
  admin (everything, plus user management and the audit log). `can(user, permission)` is the
  one place that says which role may do what.
- Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 low-memory profile) and rehashed
  at login when the parameters change. A password the store generates is a one-time password:
  the user must choose a new one (`must_change_password`) before doing anything else.
- Login throttling: 5 failures for one username, or from one client, within 15 minutes block
  further attempts for that username / client until the window has passed.
- API tokens are `vl_` + 43 random URL-safe characters (256 bits); only their SHA-256 is
  stored, so the plaintext is shown once, when created.

Usernames are case-insensitive: stored and looked up in lower case.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from typing import Final, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import venalab.store.audit as audit
from venalab.store.errors import Conflict, Forbidden, InvalidState, InvalidValue, NotFound
from venalab.store.models import ROLES, ApiToken, LoginFailure, Role, User, utcnow

PASSWORD_MIN_LENGTH: Final = 12
PASSWORD_MAX_LENGTH: Final = 1024  # bounds the hashing work an attacker can ask for
THROTTLE_MAX_FAILURES: Final = 5
THROTTLE_WINDOW: Final = dt.timedelta(minutes=15)
TOKEN_PREFIX: Final = "vl_"
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
        s.flush()
        audit.record(
            s,
            audit.ACTION_USER_DISABLE,
            user=actor,
            entity="user",
            entity_id=user.username,
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
    """Set a password the user chose (min. 12 characters); clears must_change_password."""
    user.password_hash = _hasher.hash(_check_password(new_password))
    user.must_change_password = False
    s.flush()
    audit.record(
        s,
        audit.ACTION_PASSWORD_SET,
        user=actor if actor is not None else user,
        entity="user",
        entity_id=user.username,
        client=client,
    )


def reset_password(
    s: Session, username: str, *, actor: User | None = None, client: str | None = None
) -> str:
    """Give the user a new one-time password (returned once); they must change it at login."""
    user = get_user(s, username)
    plain = generate_password()
    user.password_hash = _hasher.hash(plain)
    user.must_change_password = True
    s.flush()
    audit.record(
        s,
        audit.ACTION_PASSWORD_SET,
        user=actor,
        entity="user",
        entity_id=user.username,
        detail={"one_time_password": True},
        client=client,
    )
    return plain


# ---------------------------------------------------------------------------------------
# Login


def is_throttled(s: Session, username: str, client: str, now: dt.datetime | None = None) -> bool:
    """True when the username or the client has THROTTLE_MAX_FAILURES failures in the window."""
    since = (now or utcnow()) - THROTTLE_WINDOW
    name = normalize_username(username)
    recent = select(func.count()).select_from(LoginFailure).where(LoginFailure.at >= since)
    by_user = s.scalar(recent.where(LoginFailure.username == name[:64])) or 0
    if by_user >= THROTTLE_MAX_FAILURES:
        return True
    by_client = s.scalar(recent.where(LoginFailure.client == client[:200])) or 0
    return by_client >= THROTTLE_MAX_FAILURES


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password(user: User, password: str) -> bool:
    """Whether `password` is the user's (no audit, no throttling: e.g. to confirm the current
    password on a password-change form; use `authenticate` for logins)."""
    return len(password) <= PASSWORD_MAX_LENGTH and _verify(user.password_hash, password)


def authenticate(s: Session, username: str, password: str, client: str) -> User | None:
    """The active user with this username and password, else None (also when throttled).

    Every attempt is audited (login-success / login-failure with the reason); a failure also
    counts towards throttling. A user with `must_change_password` is returned: the caller
    must send them to the password change before anything else.
    """
    now = utcnow()
    name = normalize_username(username)[:64]
    if is_throttled(s, name, client, now):
        audit.record(
            s,
            audit.ACTION_LOGIN_FAILURE,
            user=None,
            username=name,
            entity="user",
            entity_id=name,
            detail={"reason": "throttled"},
            client=client,
        )
        return None
    user = s.scalar(select(User).where(User.username == name))
    too_long = len(password) > PASSWORD_MAX_LENGTH
    if user is None:
        _verify(_dummy_hash(), password[:PASSWORD_MAX_LENGTH])
        ok, reason = False, "unknown-user"
    elif too_long or not _verify(user.password_hash, password):
        ok, reason = False, "wrong-password"
    elif not user.active:
        ok, reason = False, "disabled"
    else:
        ok, reason = True, ""
    if not ok or user is None:
        s.add(LoginFailure(username=name, client=client[:200], at=now))
        # Failures older than the window only slow the throttle queries down.
        s.execute(delete(LoginFailure).where(LoginFailure.at < now - 4 * THROTTLE_WINDOW))
        audit.record(
            s,
            audit.ACTION_LOGIN_FAILURE,
            user=None,
            username=name,
            entity="user",
            entity_id=name,
            detail={"reason": reason},
            client=client,
        )
        return None
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
    return user


# ---------------------------------------------------------------------------------------
# API tokens


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    s: Session,
    user: User,
    name: str,
    *,
    actor: User | None = None,
    client: str | None = None,
) -> str:
    """A new bearer token for `user`; the plaintext is returned here only, never stored."""
    label = name.strip()
    if not label or len(label) > 100:
        raise InvalidValue("name", "give the token a name of 1 to 100 characters")
    if not user.active:
        raise InvalidState(f"{user.username} is disabled")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=label, token_hash=token_hash(plain), created_at=utcnow())
    s.add(token)
    s.flush()
    audit.record(
        s,
        audit.ACTION_TOKEN_CREATE,
        user=actor if actor is not None else user,
        entity="token",
        entity_id=token.id,
        detail={"for": user.username, "name": label},
        client=client,
    )
    return plain


def user_for_token(s: Session, token: str) -> User | None:
    """The active owner of a valid, non-revoked token, else None; records the token's use."""
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
    if api_token.revoked_at is not None or not user.active:
        return None
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at >= TOKEN_TOUCH_INTERVAL:
        api_token.last_used_at = now
        s.flush()
    return user


def list_tokens(s: Session, user: User) -> list[ApiToken]:
    return list(
        s.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    )


def revoke_token(
    s: Session,
    user: User,
    token_id: int,
    *,
    actor: User | None = None,
    client: str | None = None,
) -> None:
    """Revoke one of `user`'s tokens (NotFound if it is not theirs); revoking twice is a no-op."""
    token = s.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"{user.username} has no token {token_id}")
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    s.flush()
    audit.record(
        s,
        audit.ACTION_TOKEN_REVOKE,
        user=actor if actor is not None else user,
        entity="token",
        entity_id=token.id,
        detail={"for": user.username, "name": token.name},
        client=client,
    )
