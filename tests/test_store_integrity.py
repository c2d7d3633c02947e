"""Tamper evidence and identifiers (security issue, items 6 and 7), on SQLite and PostgreSQL:
INSERT OR REPLACE, signed versions slipped in or changed, the audit hash chain under
concurrent writers, `venalab audit verify`, look-alike patient ids, owner-only files."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from helpers import exam_dict, make_exam
from pg_fixture import db_url, pg_server, pg_url  # noqa: F401
from venalab.cli import app
from venalab.errors import InvalidInput
from venalab.exam import parse_exam_obj
from venalab.store import (
    audit,
    create_exam,
    create_user,
    get_version,
    make_engine,
    session_factory,
    sign,
    transaction,
    upgrade,
)
from venalab.store.db import alembic_config
from venalab.store.errors import Conflict, InvalidValue
from venalab.store.integrity import Tampered, verify

runner = CliRunner()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:  # noqa: F811
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def _seed(engine: Engine) -> int:
    with transaction(session_factory(engine)) as s:
        user, _ = create_user(s, "doc", "physician", password="correct horse battery")
        version = create_exam(s, make_exam(), user)
        sign(s, version.exam_id, user, 1)
        return version.exam_id


def _is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _lift_guards(engine: Engine, table: str) -> None:
    """What someone with full access to the database file or server can do."""
    with engine.begin() as conn:
        if _is_sqlite(engine):
            names = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"),
                {"t": table},
            ).scalars()
            for name in list(names):
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def _verify(engine: Engine) -> list[str]:
    with session_factory(engine)() as s:
        return [str(b) for b in verify(s).breaks]


# ---------------------------------------------------------------------------------------
# INSERT OR REPLACE and signed versions


REPLACE_AUDIT = (
    "INSERT OR REPLACE INTO audit_log (id, at, action, chain_seq, prev_hash, entry_hash) "
    "SELECT id, at, 'forged', chain_seq, prev_hash, entry_hash FROM audit_log WHERE id = 1"
)
REPLACE_VERSION = (
    "INSERT OR REPLACE INTO exam_versions (id, exam_id, version, document, doc_hash, status, "
    "created_by, created_at, signed_by, signed_at) SELECT id, exam_id, version, '{}', doc_hash, "
    "status, created_by, created_at, signed_by, signed_at FROM exam_versions WHERE version = 1"
)
REPLACE_AS_DRAFT = REPLACE_VERSION.replace(
    "doc_hash, status, created_by, created_at, signed_by, signed_at FROM",
    "doc_hash, 'draft', created_by, created_at, NULL, NULL FROM",
)


REFUSED = r"append-only|never replaced|stored as drafts"


@pytest.mark.parametrize("statement", [REPLACE_AUDIT, REPLACE_VERSION, REPLACE_AS_DRAFT])
def test_sqlite_insert_or_replace_is_refused(statement: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    eng = make_engine(url)
    upgrade(eng)
    _seed(eng)
    with (
        pytest.raises(DBAPIError, match=REFUSED),
        eng.begin() as conn,
    ):
        conn.execute(text(statement))
    # Also from a plain sqlite3 connection, without the application's pragmas.
    raw = sqlite3.connect(tmp_path / "v.db")
    with pytest.raises(sqlite3.IntegrityError, match=REFUSED):
        raw.execute(statement)
    raw.close()
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM exam_versions")).scalar() == 1
        assert "forged" not in conn.execute(text("SELECT action FROM audit_log")).scalars().all()
    assert _verify(eng) == []
    eng.dispose()


def test_versions_are_inserted_as_drafts_only(engine: Engine) -> None:
    exam_id = _seed(engine)
    with pytest.raises(DBAPIError, match="stored as drafts"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO exam_versions (exam_id, version, document, doc_hash, status, "
                "created_by, created_at, signed_by, signed_at) SELECT exam_id, 2, document, "
                "doc_hash, 'signed', created_by, created_at, signed_by, signed_at "
                "FROM exam_versions WHERE exam_id = :e"
            ),
            {"e": exam_id},
        )


def test_a_changed_signed_document_is_never_served(engine: Engine, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from venalab.store import users
    from venalab.web.app import create_app

    exam_id = _seed(engine)
    _lift_guards(engine, "exam_versions")
    with engine.begin() as conn:
        row = conn.execute(text("SELECT document FROM exam_versions")).scalar_one()
        doc = json.loads(row) if isinstance(row, str) else row
        doc["exam"]["indication"] = "tampered"
        conn.execute(text("UPDATE exam_versions SET document = :d"), {"d": json.dumps(doc)})
    with session_factory(engine)() as s, pytest.raises(Tampered, match="signed hash"):
        get_version(s, exam_id)
    app = create_app(str(engine.url.render_as_string(hide_password=False)), var_dir=tmp_path)
    with transaction(session_factory(engine)) as s:
        token = users.create_token(s, users.get_user(s, "doc"), "t")
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    for path in (f"/api/exams/{exam_id}", f"/api/exams/{exam_id}/report?format=html"):
        r = client.get(path)
        assert r.status_code == 409 and "tampered" not in r.text, path
        assert r.json()["error"]["code"] == "integrity-error"
    app.state.venalab.engine.dispose()
    assert any("does not match its signed hash" in b for b in _verify(engine))


# ---------------------------------------------------------------------------------------
# The audit chain


def test_chain_verifies_and_names_the_first_broken_row(engine: Engine) -> None:
    _seed(engine)
    with transaction(session_factory(engine)) as s:
        for i in range(4):
            audit.record(s, "view-report", user=None, username=f"u{i}", entity="exam", entity_id=1)
    assert _verify(engine) == []
    _lift_guards(engine, "audit_log")
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET username = 'mallory' WHERE chain_seq = 5"))
    [brk] = _verify(engine)
    assert "(seq 5)" in brk and "does not match its hash" in brk


@pytest.mark.parametrize(
    ("seq", "expected"),
    [(3, "(seq 4): expected sequence number 3"), (7, "audit_chain_head: names entry 7")],
)
def test_deleted_entries_break_the_chain(engine: Engine, seq: int, expected: str) -> None:
    _seed(engine)
    with transaction(session_factory(engine)) as s:
        for _ in range(4):
            audit.record(s, "view-report", user=None, username="x")
    _lift_guards(engine, "audit_log")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE chain_seq = :s"), {"s": seq})
    assert any(expected in b for b in _verify(engine)), _verify(engine)


def test_chain_stays_linear_under_concurrent_writers(engine: Engine) -> None:
    factory = session_factory(engine)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with transaction(factory) as s:
                    audit.record(s, "view-report", user=None, username=f"w{n}", entity_id=i)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        seqs = conn.execute(text("SELECT chain_seq FROM audit_log ORDER BY chain_seq")).scalars()
        assert list(seqs) == list(range(1, 91))
    assert _verify(engine) == []


def test_control_characters_are_escaped_in_the_audit(engine: Engine) -> None:
    with transaction(session_factory(engine)) as s:
        audit.record(
            s, "login-failure", user=None, username="a\x00b" + "x" * 100, detail={"k\x01": "v\x00"}
        )
    with session_factory(engine)() as s:
        [entry] = audit.query(s)
        assert entry.username is not None and entry.username.startswith("a\\u0000b")
        assert len(entry.username) == 64 and entry.detail == {"k\\u0001": "v\\u0000"}
    assert _verify(engine) == []


def test_existing_audit_rows_are_chained_by_the_migration(db_url: str) -> None:  # noqa: F811
    from alembic import command

    eng = make_engine(db_url)
    try:
        upgrade(eng, "0001")
        with eng.begin() as conn:
            for i in range(3):
                conn.execute(
                    text(
                        "INSERT INTO audit_log (at, action, username, detail) "
                        "VALUES (:at, 'old', :u, :d)"
                    ),
                    {"at": f"2025-01-0{i + 1} 10:00:00.12345{i}", "u": f"u{i}", "d": '{"n": 1}'},
                )
        upgrade(eng)
        _seed(eng)
        assert _verify(eng) == []
        with eng.connect() as conn:
            assert conn.execute(text("SELECT max(chain_seq) FROM audit_log")).scalar() == 6
        with eng.begin() as conn:  # and back down to 0001 cleanly
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
    finally:
        eng.dispose()


def test_audit_verify_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    eng = make_engine(url)
    upgrade(eng)
    _seed(eng)
    res = runner.invoke(app, ["audit", "verify"])
    assert res.exit_code == 0, res.output
    assert "OK" in res.stdout and "3 entries" in res.stdout
    head = res.stdout.split("head: ")[1].split()[0]
    res = runner.invoke(app, ["audit", "verify", "--anchor", head, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["ok"] is True
    _lift_guards(eng, "audit_log")
    with eng.begin() as conn:
        conn.execute(text("UPDATE audit_log SET detail = NULL WHERE chain_seq = 2"))
    res = runner.invoke(app, ["audit", "verify"])
    assert res.exit_code == 1
    assert "BROKEN audit_log id 2 (seq 2)" in res.stderr
    assert runner.invoke(app, ["audit", "verify", "--anchor", "x"]).exit_code == 2
    eng.dispose()


# ---------------------------------------------------------------------------------------
# Patient identifiers


def _doc(patient_id: str) -> dict[str, object]:
    return exam_dict(patient={"id": patient_id, "sex": "female", "age_years": 50})


@pytest.mark.parametrize(
    ("patient_id", "message"),
    [
        ("MRN\x00001", "control character (U+0000"),
        ("MRN\u200b001", "invisible formatting character (zero-width or bidirectional) (U+200B"),
        ("MRN\u202e100", "U+202E"),
        ("MRN\u00a0001", "whitespace other than a plain space"),
        (" MRN-001", "starts or ends with a space"),
        ("MRN  001", "two spaces"),
        ("MRN\u2028001", "line separator"),
    ],
)
def test_identifiers_refuse_invisible_and_control_characters(patient_id: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_exam_obj(_doc(patient_id))
    [problem] = err.value.problems
    assert problem.path == "patient.id" and message in problem.message


def test_identifiers_are_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Zoë-7")
    assert nfd != "Zoë-7"
    assert parse_exam_obj(_doc(nfd)).patient.id == "Zoë-7"


@pytest.mark.parametrize(
    "lookalike",
    ["mrn-001", "MRN\u2010001", "ＭＲＮ-001", "Mrn-001", "MRN\u2212001"],
)
def test_lookalike_ids_name_the_existing_patient(engine: Engine, lookalike: str) -> None:
    factory = session_factory(engine)
    with transaction(factory) as s:
        user, _ = create_user(s, "sono", "sonographer", password="correct horse battery")
        create_exam(s, parse_exam_obj(_doc("MRN-001")), user)
        create_exam(s, parse_exam_obj(_doc("MRN-001")), user)  # the same id: same patient
    with transaction(factory) as s, pytest.raises(InvalidValue) as err:
        create_exam(s, parse_exam_obj(_doc(lookalike)), user)
    assert err.value.field == "patient.id" and "'MRN-001'" in err.value.message
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM patients")).scalar() == 1


def test_concurrent_lookalikes_make_one_patient(engine: Engine) -> None:
    factory = session_factory(engine)
    with transaction(factory) as s:
        create_user(s, "sono", "sonographer", password="correct horse battery")
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def create(pid: str) -> None:
        barrier.wait()
        try:
            with transaction(factory) as s:
                from venalab.store import get_user

                create_exam(s, parse_exam_obj(_doc(pid)), get_user(s, "sono"))
            outcomes.append("created")
        except (Conflict, InvalidValue):
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(p,)) for p in ("ab-1", "AB-1", "Ab-1", "aB-1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM patients")).scalar() == 1
    assert sorted(outcomes) == ["created", "refused", "refused", "refused"]


def test_nul_in_a_patient_id_is_a_422_not_a_server_error(engine: Engine, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from venalab.store import users
    from venalab.web.app import create_app

    with transaction(session_factory(engine)) as s:
        user, _ = create_user(s, "sono", "sonographer", password="correct horse battery")
        token = users.create_token(s, user, "t")
    app = create_app(engine.url.render_as_string(hide_password=False), var_dir=tmp_path)
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    r = client.post("/api/exams", json=_doc("a\x00b"))
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["path"] == "patient.id"
    r = client.post("/api/exams", json=_doc("a\u200bb"))
    assert r.status_code == 422 and "U+200B" in r.text
    assert client.get("/api/exams?patient=a%00b").status_code == 422
    assert client.get("/patients/a%00b").status_code == 400
    app.state.venalab.engine.dispose()


# ---------------------------------------------------------------------------------------
# Owner-only files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_exports_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a typical umask: files would be world-readable
    try:
        eng = make_engine(f"sqlite:///{tmp_path / 'var' / 'v.db'}")
        upgrade(eng)
        _seed(eng)
        for name in ("v.db", "v.db-wal", "v.db-shm"):
            assert _mode(tmp_path / "var" / name) == 0o600, name
        assert _mode(tmp_path / "var") == 0o700
        eng.dispose()
        exam = tmp_path / "exam.json"
        exam.write_text(json.dumps(_doc("P-1")))
        outputs = {
            "result.json": ["assess", str(exam), "-o"],
            "summary.txt": ["assess", str(exam), "--format", "text", "-o"],
            "report.html": ["report", str(exam), "-o"],
            "bundle.json": ["export", "fhir", str(exam), "-o"],
            "report.dcm": ["export", "sr", str(exam), "-o"],
        }
        for name, args in outputs.items():
            res = runner.invoke(app, [*args, str(tmp_path / name)])
            assert res.exit_code == 0, res.output
            assert _mode(tmp_path / name) == 0o600, name
        back = runner.invoke(
            app, ["import", "fhir", str(tmp_path / "bundle.json"), "-o", str(tmp_path / "b.json")]
        )
        assert back.exit_code == 0 and _mode(tmp_path / "b.json") == 0o600
        old_db = tmp_path / "old.db"
        old_db.touch(mode=0o644)
        make_engine(f"sqlite:///{old_db}").dispose()
        assert _mode(old_db) == 0o600  # an existing database is narrowed too
    finally:
        os.umask(old)


def test_a_save_to_a_lookalike_id_writes_nothing(engine: Engine) -> None:
    factory = session_factory(engine)
    with transaction(factory) as s:
        user, _ = create_user(s, "sono", "sonographer", password="correct horse battery")
        create_exam(s, parse_exam_obj(_doc("MRN-001")), user)
        exam_id = create_exam(s, parse_exam_obj(_doc("OTHER-1")), user).exam_id
    from venalab.store import get_exam, save_draft

    with factory() as s:
        with pytest.raises(InvalidValue, match="'MRN-001'"):
            save_draft(s, exam_id, parse_exam_obj(_doc("mrn-001")), user, 1)
        s.commit()  # the session is still usable and holds nothing half-written
        assert get_exam(s, exam_id).current_version == 1


def test_received_dicom_header_values_lose_control_characters(engine: Engine) -> None:
    from venalab.store.interop import receive_sr

    with transaction(session_factory(engine)) as s:
        item = receive_sr(
            s,
            b"DICM",
            calling_ae="SCAN\x00",
            sop_instance_uid="1.2.3\x00",
            patient_local_id="P\x00-1",
            accession="A\x01C",
            study_date=None,
        )
        assert (item.patient_local_id, item.accession, item.calling_ae) == ("P-1", "AC", "SCAN")
    assert _verify(engine) == []
