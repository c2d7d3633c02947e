"""Request dependencies: one database transaction per request, the signed-in user, roles."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
from fastapi import Depends, Path, Request
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import SessionTransaction, sessionmaker
from starlette.concurrency import run_in_threadpool

from venalab.report.lab import LabInfo
from venalab.store import models, users
from venalab.store.users import Permission
from venalab.web.errors import ApiError
from venalab.web.proxies import TrustedProxies
from venalab.web.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    SessionSigner,
    WebSession,
    csrf_ok,
)
from venalab.web.settings import Settings
from venalab.web.token_cache import TokenCache

P = ParamSpec("P")
R = TypeVar("R")
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
    proxies: TrustedProxies
    token_cache: TokenCache
    writer_factory: sessionmaker[DbSession] | None = None  # default: session_factory
    lab: LabInfo = field(default_factory=LabInfo)  # report letterhead (VENALAB_LAB_FILE)

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    def cookie_secure(self, request: Request) -> bool:
        """Cookies carry `Secure` when configured so, or when this request came over TLS."""
        return self.settings.secure_cookies or self.proxies.is_tls(request)

    @property
    def sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


def state(request: Request) -> AppState:
    st: AppState = request.app.state.venalab
    return st


_WRITES = "__venalab_writes__"


def route_writes(writes: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a route whose method misleads: `route_writes(False)` for an unsafe method that
    stores nothing (POST /api/assess: a reader session, no writer slot), `route_writes(True)`
    for a GET that writes (a report view records an audit entry)."""

    def mark(endpoint: Callable[P, R]) -> Callable[P, R]:
        setattr(endpoint, _WRITES, writes)
        return endpoint

    return mark


def is_writer(request: Request) -> bool:
    """Whether the request's session is a writer: unsafe methods, unless `route_writes`."""
    marked = getattr(request.scope.get("endpoint"), _WRITES, None)
    return request.method not in SAFE_METHODS if marked is None else bool(marked)


# How many requests of each kind hold a database session at once (per worker process); the
# others wait here without holding a thread. Why: a request keeps its session from
# authentication to commit, across hops through the worker threads (dependencies, handler,
# commit). A writer on SQLite waits in a worker thread for the write lock (SqliteWriteLock),
# on PostgreSQL for row locks; if every worker thread waited so, the holder could not get a
# thread to commit: stalls and "database is locked" (measured before issue 14: 5-10 s freezes
# and a third of concurrent creates failing). Below the thread count (40) and the connection
# pool (10 + 10 overflow), every session holder can always proceed.
READER_SLOTS = 16
WRITER_SLOTS = {"sqlite": 8, "default": 10}
_Slots = dict[str, asyncio.Semaphore]
_slots_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = (
    weakref.WeakKeyDictionary()
)


def _slots(kind: str, size: int) -> asyncio.Semaphore:
    # Semaphores per event loop (the server has one; test clients may run several).
    per_loop = _slots_by_loop.setdefault(asyncio.get_running_loop(), {})
    slots = per_loop.get(kind)
    if slots is None:
        slots = per_loop[kind] = asyncio.Semaphore(size)
    return slots


def _end(s: DbSession, commit: bool) -> None:
    try:
        if commit:
            s.commit()
        else:
            s.rollback()
    finally:
        s.close()


_CONNECTED = "venalab_connected"


@event.listens_for(DbSession, "after_begin")
def _connected(session: DbSession, _transaction: object, _connection: object) -> None:
    # A transaction began on a database connection (not merely in the session's bookkeeping:
    # merging a cached token's user begins a session transaction that never reaches the
    # database, and has nothing to commit).
    session.info[_CONNECTED] = True


@event.listens_for(DbSession, "after_transaction_end")
def _ended(session: DbSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost one: its connections went back
        session.info.pop(_CONNECTED, None)


def _touched(s: DbSession) -> bool:
    """Whether ending the session has database work to do (a thread hop): a connection was
    used, or objects wait to be flushed."""
    return bool(s.info.get(_CONNECTED)) or bool(s.new or s.dirty or s.deleted)


async def db(request: Request) -> AsyncIterator[DbSession]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    The session is opened lazily (no connection until its first statement): a request that
    never touches the database (an assessment by a cached token) costs nothing here and no
    thread hop. Writers (`is_writer`) get writer sessions (on SQLite: BEGIN IMMEDIATE, one at a
    time, queued); readers never wait for them.

    Function scope (below): the commit runs before the response is sent. With FastAPI's
    default request scope it would run after, so a client could be told "saved" (or follow a
    redirect and read the old state) before the transaction commits, or even if it fails.
    """
    st = state(request)
    writer = is_writer(request)
    if writer:
        slots = _slots("writer", WRITER_SLOTS["sqlite" if st.sqlite else "default"])
    else:
        slots = _slots("reader", READER_SLOTS)
    async with slots:
        factory = (st.writer_factory or st.session_factory) if writer else st.session_factory
        s = factory()
        try:
            yield s
        except BaseException:
            if _touched(s):
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(_end, s, False)
            else:
                s.close()
            raise
        if _touched(s):
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_end, s, True)
        else:
            s.close()


async def write_unit(s: DbSession, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` (store calls on the request session `s`) and the commit, in one
    worker thread: a writer's transaction, and on SQLite the write lock, last one thread hop.
    Do the CPU work (parsing) before, with `run_cpu`."""

    def unit() -> R:
        result = fn(*args, **kwargs)
        s.commit()
        return result

    return await run_in_threadpool(unit)


def end_read(s: DbSession) -> None:
    """End the transaction of authentication, in its thread hop: a writer's (and on SQLite
    the write lock) does not last through the handler's CPU work (parsing a document), and a
    request that needs the database for nothing else (an assessment) has nothing left to
    commit, so no further hop. A handler's own statements begin a new transaction."""
    if s.in_transaction():
        s.commit()


Db = Annotated[DbSession, Depends(db, scope="function")]


def client_of(request: Request) -> str:
    """The client's address: the socket peer, or what a trusted proxy says (web/proxies.py)."""
    return state(request).proxies.client(request)


@dataclass(frozen=True)
class Principal:
    user: models.User
    session: WebSession | None  # None when authenticated by bearer token

    @property
    def via_token(self) -> bool:
        return self.session is None


def _token_user(request: Request, s: DbSession, token: str) -> models.User:
    """The owner of a live bearer token, through the worker's short-lived cache."""
    cache = state(request).token_cache
    key = users.token_hash(token)
    hit = cache.get(s, key)
    if hit is not None:
        return hit[1]
    found = users.resolve_token(s, token)
    if found is None:
        raise ApiError(
            401,
            "invalid, expired or revoked bearer token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    api_token, user = found
    cache.put(key, api_token.id, api_token.expires_at, user)
    return user


def _principal(request: Request, s: DbSession) -> Principal | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return Principal(user=_token_user(request, s, auth[7:].strip()), session=None)
    session_id = state(request).signer.open(request.cookies.get(SESSION_COOKIE))
    found = users.find_session(s, session_id) if session_id else None
    if found is None:
        return None
    row, user = found
    return Principal(user=user, session=WebSession(row_id=row.id, csrf=row.csrf))


def optional_principal(request: Request, s: Db) -> Principal | None:
    p = _principal(request, s)
    end_read(s)
    return p


def _cached_principal(request: Request, s: DbSession) -> Principal | None:
    """The principal of a bearer token the worker's cache holds: no database, no I/O but one
    `stat` (TokenCache), so it runs on the event loop; None: look it up (`_principal`)."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() != "bearer ":
        return None
    hit = state(request).token_cache.get(s, users.token_hash(auth[7:].strip()))
    return None if hit is None else Principal(user=hit[1], session=None)


def _looked_up(request: Request, s: DbSession) -> Principal | None:
    p = _principal(request, s)
    end_read(s)
    return p


async def api_principal(request: Request, s: Db) -> Principal:
    """Bearer token or session cookie; unsafe cookie requests must carry the CSRF token.

    Async: a cached token (most API calls) costs no thread hop; a lookup (token not cached,
    session cookie) runs in a worker thread."""
    p = _cached_principal(request, s)
    if p is None:
        p = await run_in_threadpool(_looked_up, request, s)
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


def permitted(permission: Permission) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency: the API principal if its role may do `permission` (store/users.PERMISSIONS),
    else 403 naming the roles that may."""

    async def check(p: ApiPrincipal) -> Principal:  # async: no thread hop for a role check
        users.require(p.user, permission)
        return p

    check.__name__ = f"permitted_{permission.replace('-', '_')}"
    return check
