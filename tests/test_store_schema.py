"""Schema, migrations, engine settings and the database guards, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError

from helpers import make_exam
from pg_fixture import db_url, pg_server, pg_url  # noqa: F401
from venalab.store import (
    DEFAULT_SQLITE_PATH,
    ApiToken,
    Base,
    audit,
    create_exam,
    create_user,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    session_factory,
    sign,
    transaction,
    upgrade,
)
from venalab.store.db import SQLITE_BUSY_TIMEOUT_MS, alembic_config, normalize_url

TABLES = {
    "users",
    "api_tokens",
    "patients",
    "exams",
    "exam_versions",
    "audit_log",
    "login_failures",
    "local_sr_codes",
    "scheduled_orders",
    "incoming_srs",
    "result_messages",
    "user_sessions",
    "critical_communications",
}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:  # noqa: F811
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def _seed(engine: Engine) -> int:
    """One user, one signed exam, its audit lines; returns the exam id."""
    with transaction(session_factory(engine)) as s:
        user, _ = create_user(s, "doc", "physician", password="correct horse battery")
        version = create_exam(s, make_exam(), user)
        sign(s, version.exam_id, user, 1)
        return version.exam_id


def test_upgrade_creates_the_schema_at_head(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert current_revision(engine) == head_revision() is not None
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_models_match_the_migrated_schema(engine: Engine) -> None:
    # The migration is written by hand; this keeps it and the ORM models in step.
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent_and_downgrade_removes_everything(db_url: str) -> None:  # noqa: F811
    eng = make_engine(db_url)
    try:
        upgrade(eng)
        upgrade(db_url)  # a URL works too; already at head: nothing to do
        assert current_revision(eng) == head_revision()
        with eng.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert not TABLES & set(inspect(eng).get_table_names())
        upgrade(eng)
        assert set(inspect(eng).get_table_names()) >= TABLES
        _seed(eng)
    finally:
        eng.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'edited'",
        "UPDATE audit_log SET detail = NULL WHERE action = 'exam-sign'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'exam-create'",
    ],
)
def test_audit_log_refuses_update_and_delete(engine: Engine, statement: str) -> None:
    _seed(engine)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*), min(action) FROM audit_log")).one()
    assert before[0] == 3
    with pytest.raises(DBAPIError, match="audit log is append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), min(action) FROM audit_log")).one() == before


def test_audit_log_and_versions_refuse_truncate_on_postgresql(pg_url: str) -> None:  # noqa: F811
    # (SQLite has no TRUNCATE; its DELETE is refused above.)
    eng = make_engine(pg_url)
    try:
        upgrade(eng)
        _seed(eng)
        for table, message in (("audit_log", "append-only"), ("exam_versions", "never deleted")):
            with pytest.raises(DBAPIError, match=message), eng.begin() as conn:
                conn.execute(text(f"TRUNCATE {table} CASCADE"))
    finally:
        eng.dispose()


def test_audit_log_still_accepts_inserts(engine: Engine) -> None:
    with transaction(session_factory(engine)) as s:
        audit.record(s, "view-report", user=None, username="someone", entity="exam", entity_id=1)
    with transaction(session_factory(engine)) as s:
        [entry] = audit.query(s)
        assert (entry.action, entry.username, entry.entity_id) == ("view-report", "someone", "1")


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE exam_versions SET doc_hash = 'x'", "cannot change|immutable"),
        ("UPDATE exam_versions SET status = 'draft'", "signed exam version cannot change"),
        ("DELETE FROM exam_versions", "never deleted"),
    ],
)
def test_signed_versions_cannot_be_changed_or_deleted(
    engine: Engine, statement: str, message: str
) -> None:
    _seed(engine)
    with pytest.raises(DBAPIError, match=message), engine.begin() as conn:
        conn.execute(text(statement))


def test_draft_version_content_is_immutable_too(engine: Engine) -> None:
    with transaction(session_factory(engine)) as s:
        user, _ = create_user(s, "sono", "sonographer", password="correct horse battery")
        create_exam(s, make_exam(), user)
    for statement in (
        "UPDATE exam_versions SET document = '{}'",
        "UPDATE exam_versions SET reason = 'sneaky'",
        "UPDATE exam_versions SET version = 7",
    ):
        with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
            conn.execute(text(statement))


def test_sqlite_connections_get_foreign_keys_wal_and_busy_timeout(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'sub' / 'dir' / 'v.db'}")
    try:
        with eng.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert (tmp_path / "sub" / "dir" / "v.db").exists()
    finally:
        eng.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
                "VALUES (999, 'x', 'h', CURRENT_TIMESTAMP)"
            )
        )


def test_postgresql_engine_pings_its_pool(pg_url: str) -> None:  # noqa: F811
    eng = make_engine(pg_url)
    try:
        assert eng.pool._pre_ping
        assert eng.dialect.driver == "psycopg"
    finally:
        eng.dispose()


def test_database_url_defaults_to_sqlite_under_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert DEFAULT_SQLITE_PATH == "var/venalab.db"
    assert database_url() == "sqlite:///var/venalab.db"
    assert (tmp_path / "var").is_dir()
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5/db")
    assert database_url() == "postgresql+psycopg://u@h:5/db"


def test_normalize_url() -> None:
    assert normalize_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalize_url("postgresql+psycopg://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_tokens_existing_before_0004_get_an_expiry(db_url: str) -> None:  # noqa: F811
    """Migration 0004 adds the required token expiry: tokens that exist get 90 days from the
    upgrade, so running integrations keep working until then."""
    eng = make_engine(db_url)
    try:
        upgrade(eng, "0003_integrity")
        with eng.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (username, display_name, role, password_hash, active, "
                    "must_change_password, created_at) "
                    "VALUES ('bot', 'bot', 'sonographer', 'x', true, false, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
                    "SELECT id, 'old', 'h', CURRENT_TIMESTAMP FROM users"
                )
            )
        upgrade(eng)
        with transaction(session_factory(eng)) as s:
            [token] = s.scalars(select(ApiToken)).all()
            left = token.expires_at - dt.datetime.now(dt.UTC)
            assert dt.timedelta(days=89) < left <= dt.timedelta(days=90)
    finally:
        eng.dispose()
