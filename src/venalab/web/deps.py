"""Request dependencies: one database transaction per request, the signed-in user, roles."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from venalab.store import models, users
from venalab.store.users import Permission
from venalab.web.errors import ApiError
from venalab.web.security import CSRF_HEADER, SESSION_COOKIE, Session, SessionSigner, csrf_ok
from venalab.web.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Ids are INTEGER columns (32-bit on PostgreSQL): a larger number cannot name a row, and passing
# it to the database driver fails (an overflow, i.e. a server error) instead of a 404.
MAX_DB_ID = 2**31 - 1
ExamId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="Exam id")]
VersionNo = Annotated[int, Path(ge=1, le=1_000_000, description="Version number (1 = first)")]


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[DbSession]
    signer: SessionSigner

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @property
    def cookie_secure(self) -> bool:
        return self.settings.secure_cookies


def state(request: Request) -> AppState:
    st: AppState = request.app.state.venalab
    return st


# At most this many requests hold a database session at once; the others wait here, without
# holding a thread. Why: a request keeps its session (a pooled connection and, on SQLite, the
# write lock once it has written) from authentication to commit, across several hops through
# the worker threads (dependencies, handler, commit). Unbounded, 50 concurrent requests filled
# all 40 worker threads with requests blocked on the connection pool or on SQLite's lock,
# while the requests holding them could not get a thread to finish: stalls of many seconds
# and "database is locked" server errors (benchmarks/bench_web_load.py). Below the pool size
# (5 + 10 overflow) and the thread count, every session holder can always proceed. SQLite
# has one writer at a time and waiting writers poll for its lock: fewer contenders there
# keep the longest waits short, at the same throughput.
DB_CONCURRENCY = {"sqlite": 4, "default": 10}
_Slots = dict[int, asyncio.Semaphore]  # by limit
_db_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = (
    weakref.WeakKeyDictionary()
)


async def db_slot(request: Request) -> AsyncIterator[None]:
    # Semaphores per event loop (the server has one; test clients may run several).
    sqlite = state(request).database_url.startswith("sqlite")
    limit = DB_CONCURRENCY["sqlite" if sqlite else "default"]
    per_loop = _db_slots.setdefault(asyncio.get_running_loop(), {})
    slots = per_loop.get(limit)
    if slots is None:
        slots = per_loop[limit] = asyncio.Semaphore(limit)
    async with slots:
        yield


def db(
    request: Request, _slot: Annotated[None, Depends(db_slot, scope="function")]
) -> Iterator[DbSession]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    Function scope (below): the commit runs before the response is sent. With FastAPI's
    default request scope it would run after, so a client could be told "saved" (or follow a
    redirect and read the old state) before the transaction commits, or even if it fails.
    """
    s = state(request).session_factory()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()


Db = Annotated[DbSession, Depends(db, scope="function")]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Principal:
    user: models.User
    session: Session | None  # None when authenticated by bearer token

    @property
    def via_token(self) -> bool:
        return self.session is None


def _principal(request: Request, s: DbSession) -> Principal | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        user = users.user_for_token(s, auth[7:].strip())
        if user is None:
            raise ApiError(
                401,
                "invalid or revoked bearer token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return Principal(user=user, session=None)
    session = state(request).signer.read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    user = s.get(models.User, session.user_id)
    if user is None or not user.active:
        return None
    return Principal(user=user, session=session)


def optional_principal(request: Request, s: Db) -> Principal | None:
    return _principal(request, s)


def api_principal(request: Request, s: Db) -> Principal:
    """Bearer token or session cookie; unsafe cookie requests must carry the CSRF token."""
    p = _principal(request, s)
    if p is None:
        raise ApiError(
            401,
            "authentication required (bearer token or signed-in session)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if (
        p.session is not None
        and request.method not in SAFE_METHODS
        and not csrf_ok(p.session, request.headers.get(CSRF_HEADER))
    ):
        raise ApiError(403, f"missing or wrong {CSRF_HEADER} header")
    if p.user.must_change_password and p.session is not None:
        raise ApiError(403, "change your one-time password first (/account/password)")
    return p


ApiPrincipal = Annotated[Principal, Depends(api_principal)]


def permitted(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency: the API principal if its role may do `permission` (store/users.PERMISSIONS),
    else 403 naming the roles that may."""

    def check(p: ApiPrincipal) -> Principal:
        users.require(p.user, permission)
        return p

    check.__name__ = f"permitted_{permission.replace('-', '_')}"
    return check
