"""Stored exams: versions, sign-off, amendments, conflicts and their audit, on both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helpers import exam_dict, leg, make_exam
from pg_fixture import db_url, pg_server, pg_url  # noqa: F401
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.store import (
    AuditEntry,
    Conflict,
    ExamVersion,
    Forbidden,
    InvalidState,
    NotFound,
    User,
    amend,
    audit,
    create_exam,
    create_user,
    current_versions,
    disable_user,
    document_hash,
    get_exam,
    get_patient,
    get_version,
    list_exams,
    list_patients,
    list_versions,
    make_engine,
    save_draft,
    session_factory,
    sign,
    transaction,
    upgrade,
    version_document,
)
from venalab.store import users as users_module

PASSWORD = "correct horse battery"


@dataclass
class Db:
    engine: Engine
    factory: sessionmaker[Session]

    def session(self) -> Session:
        return self.factory()


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Still Argon2id, with cheap parameters: password hashing is not what these tests test.
    monkeypatch.setattr(users_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def db(db_url: str) -> Iterator[Db]:  # noqa: F811
    engine = make_engine(db_url)
    upgrade(engine)
    yield Db(engine, session_factory(engine))
    engine.dispose()


@pytest.fixture
def staff(db: Db) -> dict[str, int]:
    with transaction(db.factory) as s:
        ids = {}
        for name, role in (("sono", "sonographer"), ("doc", "physician"), ("root", "admin")):
            user, _ = create_user(s, name, role, password=PASSWORD)
            ids[name] = user.id
        return ids


def _user(s: Session, ids: dict[str, int], name: str) -> User:
    user = s.get(User, ids[name])
    assert user is not None
    return user


def _doc(reflux_ms: float = 800, patient: str = "P-1", date: str = "2025-01-15") -> ExamDocument:
    return make_exam(
        left=leg({"vein": "GSVa", "site": "proximal", "reflux_ms": reflux_ms}, signs=["varicose"]),
        patient={"id": patient, "sex": "female", "age_years": 60},
        exam={"date": date, "purpose": "insufficiency"},
    )


def _new_exam(db: Db, staff: dict[str, int], doc: ExamDocument | None = None) -> int:
    with transaction(db.factory) as s:
        return create_exam(s, doc or _doc(), _user(s, staff, "sono")).exam_id


def test_create_exam_stores_version_1_draft_with_patient_and_audit(
    db: Db, staff: dict[str, int]
) -> None:
    doc = _doc()
    with transaction(db.factory) as s:
        v1 = create_exam(s, doc, _user(s, staff, "sono"), client="10.0.0.1")
    with db.session() as s:
        exam = get_exam(s, v1.exam_id)
        assert (exam.status, exam.current_version, exam.exam_date.isoformat()) == (
            "draft",
            1,
            "2025-01-15",
        )
        v = get_version(s, exam.id)
        assert (v.version, v.status, v.reason, v.created_by) == (1, "draft", None, staff["sono"])
        # Stored as the canonical JSON object; the hash is recomputable from what was read back.
        assert version_document(v) == doc
        assert v.doc_hash == document_hash(v.document)
        assert v.created_at.tzinfo is not None
        patient = get_patient(s, "P-1")
        assert (patient.sex, patient.age_years, patient.birth_date) == ("female", 60, None)
        assert exam.patient.local_id == "P-1"
        [entry] = audit.query(s, action="exam-create")
        assert (entry.username, entry.entity, entry.entity_id, entry.version, entry.doc_hash) == (
            "sono",
            "exam",
            str(exam.id),
            1,
            v.doc_hash,
        )
        assert entry.client == "10.0.0.1"


def test_lifecycle_save_sign_amend_never_overwrites(db: Db, staff: dict[str, int]) -> None:
    exam_id = _new_exam(db, staff)
    with transaction(db.factory) as s:
        v2 = save_draft(s, exam_id, _doc(900), _user(s, staff, "sono"), expected_version=1)
        assert (v2.version, v2.status) == (2, "draft")
    with transaction(db.factory) as s:
        signed = sign(s, exam_id, _user(s, staff, "doc"), expected_version=2)
        assert (signed.version, signed.status, signed.signed_by) == (2, "signed", staff["doc"])
        assert signed.signed_at is not None
        assert get_exam(s, exam_id).status == "signed"
    with transaction(db.factory) as s:
        v3 = amend(s, exam_id, _doc(1200), _user(s, staff, "doc"), "  wrong segment  ", 2)
        assert (v3.version, v3.status, v3.reason) == (3, "draft", "wrong segment")
    with transaction(db.factory) as s:
        sign(s, exam_id, _user(s, staff, "root"), expected_version=3)
    with db.session() as s:
        versions = list_versions(s, exam_id)
        assert [(v.version, v.status) for v in versions] == [
            (1, "draft"),
            (2, "signed"),
            (3, "signed"),
        ]
        reflux = [v.document["legs"]["left"]["segments"][0]["reflux_ms"] for v in versions]
        assert reflux == [800, 900, 1200]
        assert len({v.doc_hash for v in versions}) == 3
        assert all(v.doc_hash == document_hash(v.document) for v in versions)
        exam = get_exam(s, exam_id)
        assert (exam.status, exam.current_version) == ("signed", 3)
        actions = [(e.action, e.version) for e in reversed(audit.query(s, entity_id=exam_id))]
        assert actions == [
            ("exam-create", 1),
            ("exam-save", 2),
            ("exam-sign", 2),
            ("exam-amend", 3),
            ("exam-sign", 3),
        ]
        amend_entry = audit.query(s, action="exam-amend")[0]
        assert amend_entry.detail == {
            "previous_version": 2,
            "previous_hash": versions[1].doc_hash,
            "reason": "wrong segment",
        }


def test_save_with_stale_version_is_a_conflict_and_writes_nothing(
    db: Db, staff: dict[str, int]
) -> None:
    exam_id = _new_exam(db, staff)
    with transaction(db.factory) as s:
        save_draft(s, exam_id, _doc(900), _user(s, staff, "sono"), 1)
    with pytest.raises(Conflict) as caught, transaction(db.factory) as s:
        save_draft(s, exam_id, _doc(1000), _user(s, staff, "doc"), 1)
    assert caught.value.current_version == 2
    assert "version 2, not 1" in str(caught.value)
    with pytest.raises(Conflict), transaction(db.factory) as s:
        sign(s, exam_id, _user(s, staff, "doc"), 1)
    with db.session() as s:
        assert [v.version for v in list_versions(s, exam_id)] == [1, 2]
        assert get_exam(s, exam_id).status == "draft"


def test_saving_a_signed_exam_is_refused_amend_needs_signed_and_reason(
    db: Db, staff: dict[str, int]
) -> None:
    exam_id = _new_exam(db, staff)
    with transaction(db.factory) as s:
        doc = _user(s, staff, "doc")
        with pytest.raises(InvalidState, match="only signed exams are amended"):
            amend(s, exam_id, _doc(), doc, "reason", 1)
        sign(s, exam_id, doc, 1)
        with pytest.raises(InvalidState, match="signed exams are amended, with a reason"):
            save_draft(s, exam_id, _doc(), doc, 1)
        with pytest.raises(InvalidState, match="already signed"):
            sign(s, exam_id, doc, 1)
        for blank in ("", "   \n"):
            with pytest.raises(InvalidState, match="needs a reason"):
                amend(s, exam_id, _doc(), doc, blank, 1)
    with db.session() as s:
        assert [(v.version, v.status) for v in list_versions(s, exam_id)] == [(1, "signed")]


def test_roles(db: Db, staff: dict[str, int]) -> None:
    exam_id = _new_exam(db, staff)
    with transaction(db.factory) as s:
        sono = _user(s, staff, "sono")
        with pytest.raises(Forbidden, match="sign"):
            sign(s, exam_id, sono, 1)
        save_draft(s, exam_id, _doc(850), sono, 1)  # sonographers edit drafts
        sign(s, exam_id, _user(s, staff, "doc"), 2)
        with pytest.raises(Forbidden, match="amend"):
            amend(s, exam_id, _doc(), sono, "reason", 2)
        disable_user(s, "doc")
        with pytest.raises(Forbidden, match="active"):
            create_exam(s, _doc(), _user(s, staff, "doc"))
    with db.session() as s:
        assert get_exam(s, exam_id).current_version == 2


def test_audit_entry_and_change_share_one_transaction(db: Db, staff: dict[str, int]) -> None:
    exam_id = _new_exam(db, staff)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction(db.factory) as s:
        save_draft(s, exam_id, _doc(900), _user(s, staff, "sono"), 1)
        raise Abort
    with db.session() as s:
        assert get_exam(s, exam_id).current_version == 1
        assert audit.query(s, action="exam-save") == []


def test_not_found(db: Db, staff: dict[str, int]) -> None:
    exam_id = _new_exam(db, staff)
    with db.session() as s:
        with pytest.raises(NotFound):
            get_exam(s, 9999)
        with pytest.raises(NotFound):
            get_version(s, exam_id, 2)
        with pytest.raises(NotFound):
            list_versions(s, 9999)
        with pytest.raises(NotFound):
            get_patient(s, "nobody")
        with pytest.raises(NotFound):
            save_draft(s, 9999, _doc(), _user(s, staff, "sono"), 1)


def test_patients_listing_and_timeline(db: Db, staff: dict[str, int]) -> None:
    first = _new_exam(db, staff, _doc(500, "P-1", "2024-03-01"))
    second = _new_exam(db, staff, _doc(700, "P-1", "2025-03-01"))
    other = _new_exam(db, staff, _doc(700, "Q-9", "2025-01-01"))
    with transaction(db.factory) as s:
        save_draft(s, first, _doc(550, "P-1", "2024-03-01"), _user(s, staff, "sono"), 1)
    with db.session() as s:
        assert [p.local_id for p in list_patients(s)] == ["P-1", "Q-9"]
        assert [p.local_id for p in list_patients(s, search="q-")] == ["Q-9"]
        assert [p.local_id for p in list_patients(s, search="%")] == []
        assert [e.id for e in list_exams(s)] == [second, other, first]
        assert [e.id for e in list_exams(s, "P-1")] == [second, first]
        assert [e.id for e in list_exams(s, "P-1", limit=1, offset=1)] == [first]
        assert list_exams(s, "nobody") == []
        assert [e.id for e in list_exams(s, status="draft")] == [second, other, first]
        timeline = current_versions(s, "P-1")
        assert [(v.exam_id, v.version) for v in timeline] == [(first, 2), (second, 1)]
        assert [e.id for e in get_patient(s, "P-1").exams] == [first, second]


def test_patient_demographics_follow_the_latest_exam(db: Db, staff: dict[str, int]) -> None:
    def doc(date: str, age: int) -> ExamDocument:
        d = exam_dict(exam={"date": date}, patient={"id": "P-7", "sex": "male", "age_years": age})
        return parse_exam_obj(d)

    _new_exam(db, staff, doc("2025-01-01", 70))
    _new_exam(db, staff, doc("2023-01-01", 68))  # an older exam entered later
    with db.session() as s:
        assert get_patient(s, "P-7").age_years == 70


def test_changing_the_patient_id_relinks_the_exam_and_is_audited(
    db: Db, staff: dict[str, int]
) -> None:
    exam_id = _new_exam(db, staff, _doc(patient="P-1"))
    with transaction(db.factory) as s:
        save_draft(s, exam_id, _doc(patient="P-2"), _user(s, staff, "sono"), 1)
    with db.session() as s:
        assert get_exam(s, exam_id).patient.local_id == "P-2"
        assert [e.id for e in list_exams(s, "P-1")] == []
        detail = audit.query(s, action="exam-save")[0].detail
        assert detail is not None
        assert detail["patient_changed"] == {"from": "P-1", "to": "P-2"}


# ---------------------------------------------------------------------------------------
# Concurrency: two real sessions in two threads, both based on the same version.


def _race(db: Db, staff: dict[str, int], jobs: list[Any], gate_sql: str) -> list[object]:
    """Run each job(session) in its own thread and transaction. Every thread blocks just
    before executing `gate_sql` until all threads are there, so they really interleave."""
    barrier = threading.Barrier(len(jobs), timeout=20)
    local = threading.local()

    @event.listens_for(db.engine, "before_cursor_execute")
    def gate(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if getattr(local, "armed", False) and statement.lstrip().upper().startswith(gate_sql):
            local.armed = False
            barrier.wait()

    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        local.armed = True
        try:
            with transaction(db.factory) as s:
                results[i] = jobs[i](s)
        except Exception as err:
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    event.remove(db.engine, "before_cursor_execute", gate)
    return results


def test_concurrent_saves_one_wins_the_other_gets_conflict(db: Db, staff: dict[str, int]) -> None:
    exam_id = _new_exam(db, staff)

    def saver(name: str, reflux: float) -> Any:
        def job(s: Session) -> object:
            user = _user(s, staff, name)
            try:
                return save_draft(s, exam_id, _doc(reflux), user, 1)
            except Conflict as conflict:
                # The loser's session is still usable: what else it did stays committable.
                audit.record(s, "exam-conflict", user=user, entity="exam", entity_id=exam_id)
                return conflict

        return job

    results = _race(
        db,
        staff,
        [saver("sono", 1111), saver("doc", 2222)],
        gate_sql="UPDATE EXAMS ",  # both passed the version check and are about to write
    )
    winners = [r for r in results if isinstance(r, ExamVersion)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert (len(winners), len(losers)) == (1, 1), results
    assert losers[0].current_version == 2
    with db.session() as s:
        versions = list_versions(s, exam_id)
        assert [v.version for v in versions] == [1, 2]
        kept = versions[1].document["legs"]["left"]["segments"][0]["reflux_ms"]
        assert kept == winners[0].document["legs"]["left"]["segments"][0]["reflux_ms"]
        assert get_exam(s, exam_id).current_version == 2
        assert len(audit.query(s, action="exam-save")) == 1
        assert len(audit.query(s, action="exam-conflict")) == 1
    # The loser reloads and saves on top: nothing is lost.
    with transaction(db.factory) as s:
        save_draft(s, exam_id, _doc(3333), _user(s, staff, "doc"), 2)
    with db.session() as s:
        assert [v.version for v in list_versions(s, exam_id)] == [1, 2, 3]


def test_unique_version_constraint_backs_the_check(db: Db, staff: dict[str, int]) -> None:
    # A version 2 stored behind the exam row's back (current_version still 1): the save's
    # compare-and-set passes, the INSERT hits UNIQUE(exam_id, version) -> Conflict, and the
    # rollback undoes the claim, so the exam row is unchanged.
    exam_id = _new_exam(db, staff)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO exam_versions (exam_id, version, document, doc_hash, status, "
                "created_by, created_at) SELECT exam_id, 2, document, doc_hash, status, "
                "created_by, created_at FROM exam_versions WHERE exam_id = :e"
            ),
            {"e": exam_id},
        )
    with pytest.raises(Conflict, match="exists already") as caught, transaction(db.factory) as s:
        save_draft(s, exam_id, _doc(4444), _user(s, staff, "sono"), 1)
    assert isinstance(caught.value.__cause__, IntegrityError)
    with db.session() as s:
        assert get_exam(s, exam_id).current_version == 1
        assert audit.query(s, action="exam-save") == []
        assert (
            get_version(s, exam_id, 2).document["legs"]["left"]["segments"][0]["reflux_ms"] == 800
        )


def test_concurrent_sign_and_save(db: Db, staff: dict[str, int]) -> None:
    exam_id = _new_exam(db, staff)
    results = _race(
        db,
        staff,
        [
            lambda s: sign(s, exam_id, _user(s, staff, "doc"), 1),
            lambda s: save_draft(s, exam_id, _doc(1234), _user(s, staff, "sono"), 1),
        ],
        gate_sql="UPDATE EXAMS ",
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], Conflict | InvalidState), results
    with db.session() as s:
        exam = get_exam(s, exam_id)
        versions = list_versions(s, exam_id)
        if isinstance(results[0], ExamVersion):  # the sign won: version 1 signed, no v2
            assert (exam.status, [v.version for v in versions]) == ("signed", [1])
        else:  # the save won: v2 draft, v1 still a draft
            assert (exam.status, [(v.version, v.status) for v in versions]) == (
                "draft",
                [(1, "draft"), (2, "draft")],
            )


def test_concurrent_signs_one_signs(db: Db, staff: dict[str, int]) -> None:
    exam_id = _new_exam(db, staff)
    results = _race(
        db,
        staff,
        [
            lambda s: sign(s, exam_id, _user(s, staff, "doc"), 1),
            lambda s: sign(s, exam_id, _user(s, staff, "root"), 1),
        ],
        gate_sql="UPDATE EXAMS ",
    )
    assert sorted(type(r).__name__ for r in results) == ["ExamVersion", "InvalidState"], results
    with db.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "exam-sign")
            )
            == 1
        )
        assert get_version(s, exam_id, 1).status == "signed"
