"""Engines, sessions, transactions and schema migrations.

SQLite by default, at `var/venalab.db` relative to the current directory; PostgreSQL (or
another SQLite file) when the environment variable DATABASE_URL holds a SQLAlchemy URL, e.g.
`postgresql+psycopg://venalab@127.0.0.1:5432/venalab` (plain `postgresql://` and `postgres://`
are read as psycopg 3).

The schema is created and changed only by the Alembic migrations shipped inside this package
(`venalab/store/migrations/`); `upgrade()` runs them to head without an alembic.ini. A new
migration is a hand-written file `migrations/versions/NNNN_what.py` whose `down_revision` is the
previous head; `tests/test_store_schema.py` checks that the models and the migrated schema agree
on both databases.

Store functions never commit: one request is one transaction, opened with `transaction()`.

Writers: a unit of work that writes uses a writer session (`session_factory(engine,
write=True)`). On SQLite its transactions begin IMMEDIATE and queue on `SqliteWriteLock`, one
writer at a time across threads and processes; readers never wait (WAL). Keep writer
transactions short: do CPU work (parsing, the engine, rendering) before the first statement or
after the commit. On PostgreSQL readers and writers are the same sessions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from venalab.private_files import ensure_private_file, private_dir

DEFAULT_SQLITE_PATH: Final = "var/venalab.db"
MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
# Writers of this process queue on SqliteWriteLock; the busy timeout only covers a writer
# that does not take that lock (another program on the same file).
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
WRITE_OPTION: Final = "venalab_write"
SqliteSync = Literal["full", "normal"]
SQLITE_SYNC_LEVELS: Final[dict[str, str]] = {"full": "FULL", "normal": "NORMAL"}

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: other processes wait in the busy handler
    fcntl = None  # type: ignore[assignment]


def normalize_url(url: str) -> str:
    """Read `postgres://` and `postgresql://` (no driver) as psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url() -> str:
    """DATABASE_URL from the environment, else SQLite at DEFAULT_SQLITE_PATH (var/ is created)."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return normalize_url(url)
    private_dir(Path(DEFAULT_SQLITE_PATH).parent)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run while one writer writes;
    # the busy timeout makes a writer that does not queue on SqliteWriteLock (a reader
    # session's occasional write, another program) wait for the lock instead of failing.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # INSERT OR REPLACE deletes the row it replaces; with recursive triggers on, that
        # delete fires the DELETE guards of the audit log and of exam versions (migrations
        # 0001 and 0003_integrity, which also refuse such inserts outright).
        cursor.execute("PRAGMA recursive_triggers=ON")
    finally:
        cursor.close()


class SqliteWriteLock:
    """One writer at a time, queued: a thread lock (this process) and an flock on
    `<database>.lock` (other processes: server workers, the CLI).

    SQLite lets one connection write at a time. Without a queue, writers of a deferred
    transaction that had read first fail at once with "database is locked" (a snapshot
    that can no longer be upgraded), and writers waiting in SQLite's busy handler poll with
    sleeps of up to 100 ms. Here a writer waits for the lock before its BEGIN IMMEDIATE, and
    is woken as soon as the previous writer commits.
    """

    def __init__(self, database: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = f"{database}.lock" if database else None
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._path is None or fcntl is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # not inherited across fork
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        self._thread_lock.acquire()
        try:
            fd = self._file()
            if fd is not None and fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        try:
            fd = self._fd if self._pid == os.getpid() else None
            if fd is not None and fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


_LOCK_HELD: Final = "venalab_write_lock"


def _install_sqlite_transactions(engine: Engine, lock: SqliteWriteLock) -> None:
    """Writers (connections of `writer(engine)`): BEGIN IMMEDIATE under `lock`, released once
    the transaction has ended. Readers: the driver's own mode, which begins a transaction at
    the first INSERT/UPDATE/DELETE only (each read sees the latest commit), so that a
    reader's rare write (a token's last-use stamp) takes the write lock directly instead of
    failing to upgrade a read snapshot that another writer has made stale."""

    def begin(conn: Connection) -> None:
        dbapi = conn.connection.dbapi_connection
        if not conn.get_execution_options().get(WRITE_OPTION):
            if dbapi is not None:
                dbapi.isolation_level = ""  # the driver's BEGIN (deferred) before DML
            return
        if dbapi is not None:
            dbapi.isolation_level = None  # no BEGIN of the driver's: ours, below
        lock.acquire()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            lock.release()
            raise
        conn.info[_LOCK_HELD] = True

    def end(conn: Connection, how: str) -> None:
        # The events fire before the driver's commit/rollback: do it here, then let go of
        # the lock; SQLAlchemy's own call that follows finds no transaction (a no-op).
        if not conn.info.pop(_LOCK_HELD, False):
            return
        try:
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None:
                dbapi.commit() if how == "commit" else dbapi.rollback()
        finally:
            lock.release()

    def checkin(dbapi_connection: Any, record: Any) -> None:
        # Backstop: a connection returned to the pool still holding the lock.
        if record.info.pop(_LOCK_HELD, False):
            try:
                dbapi_connection.rollback()
            finally:
                lock.release()

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", lambda conn: end(conn, "commit"))
    event.listen(engine, "rollback", lambda conn: end(conn, "rollback"))
    event.listen(engine, "checkin", checkin)


def make_engine(url: str | None = None, *, sqlite_synchronous: SqliteSync = "full") -> Engine:
    """An engine for `url` (default `database_url()`), configured for this application.

    `sqlite_synchronous`: SQLite's `synchronous` in WAL mode. "full" (the default): a commit
    is on disk (fsync) before it returns, so nothing acknowledged is lost even on power loss.
    "normal": no fsync per commit (the WAL is synced at checkpoints); commits survive a crash
    of the program but the last ones may be lost if the machine loses power; a commit costs
    about 0.2 ms instead of 4 ms on the disk measured (README, Performance)."""
    sa_url = make_url(normalize_url(url) if url else database_url())
    if sa_url.get_backend_name() == "sqlite":
        path = sa_url.database
        on_disk = bool(path) and path != ":memory:" and not str(path).startswith("file:")
        if on_disk:
            private_dir(Path(str(path)).parent)
            # Patient data: owner only. SQLite gives -wal and -shm the database file's mode.
            ensure_private_file(Path(str(path)))
        engine = create_engine(sa_url)
        event.listen(engine, "connect", _sqlite_on_connect)
        pragma = f"PRAGMA synchronous={SQLITE_SYNC_LEVELS[sqlite_synchronous]}"
        event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute(pragma))
        _install_sqlite_transactions(
            engine, SqliteWriteLock(str(Path(str(path)).resolve()) if on_disk else None)
        )
        return engine
    return create_engine(sa_url, pool_pre_ping=True)


def writer(engine: Engine) -> Engine:
    """The engine for transactions that write: on SQLite they begin IMMEDIATE, one at a time
    (`SqliteWriteLock`), so concurrent writers queue instead of failing; on PostgreSQL it is
    the engine itself (row locks serialise writers of one row)."""
    return engine.execution_options(**{WRITE_OPTION: True})


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations shipped in this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Run the migrations up to `revision` (default: the newest) in one connection."""
    own = isinstance(engine_or_url, str)
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with writer(engine).begin() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        if own:
            engine.dispose()


def head_revision() -> str | None:
    """The newest migration id shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration id the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; `write=True`: their transactions are writer transactions
    (`writer()`): use it for units of work that write, reads-only sessions need not."""
    # expire_on_commit=False: objects stay readable after the request's commit (templates).
    return sessionmaker(bind=writer(engine) if write else engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
