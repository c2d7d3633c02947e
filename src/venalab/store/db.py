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
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from venalab.private_files import ensure_private_file, private_dir

DEFAULT_SQLITE_PATH: Final = "var/venalab.db"
MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS: Final = 5000


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
    # the busy timeout makes a second writer wait for the first instead of failing at once.
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


def make_engine(url: str | None = None) -> Engine:
    """An engine for `url` (default `database_url()`), configured for this application."""
    sa_url = make_url(normalize_url(url) if url else database_url())
    if sa_url.get_backend_name() == "sqlite":
        path = sa_url.database
        if path and path != ":memory:" and not path.startswith("file:"):
            private_dir(Path(path).parent)
            # Patient data: owner only. SQLite gives -wal and -shm the database file's mode.
            ensure_private_file(Path(path))
        engine = create_engine(sa_url)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return create_engine(sa_url, pool_pre_ping=True)


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
        with engine.begin() as connection:
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


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects stay readable after the request's commit (templates).
    return sessionmaker(bind=engine, expire_on_commit=False)


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
