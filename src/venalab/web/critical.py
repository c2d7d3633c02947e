"""Stored exams through the engine: the automatic prior exam, critical marks, sign-off gate.

Every page and API call that interprets a stored exam goes through `assess_stored` (a save
through `assess_for_write` and `mark_written`, the same assessment made before its write
transaction), so the exam view, the report, the sign-off check and the worklist flag agree:
the engine runs with the patient's previous exam (the latest one dated before this exam) as
its prior, which adds the serial comparison and the distal-DVT follow-up result (issue 18).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from venalab.engine import assess
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.report.view import Communication
from venalab.result import Result
from venalab.store import critical, exams, models
from venalab.web.schemas import username_of


def prior_document_of(
    s: Session, doc: ExamDocument, exam_id: int | None = None
) -> dict[str, Any] | None:
    """The stored document of the patient's previous exam: the current version of the latest
    one dated before this exam."""
    v = exams.previous_version(s, doc.patient.id, doc.exam.date, exclude_exam_id=exam_id)
    return v.document if v is not None else None


def prior_of(s: Session, doc: ExamDocument, exam_id: int | None = None) -> ExamDocument | None:
    """The patient's previous exam, parsed (see prior_document_of)."""
    prior = prior_document_of(s, doc, exam_id)
    return parse_exam_obj(prior) if prior is not None else None


def assess_stored(s: Session, doc: ExamDocument, exam_id: int | None = None) -> Result:
    return assess(doc, prior=prior_of(s, doc, exam_id))


def criteria_of(result: Result) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.criterion for c in result.critical))


def mark_current(s: Session, exam_id: int, doc: ExamDocument) -> Result:
    """Assess the just-written current version (`doc`, already parsed: no re-read) and keep
    the exam's worklist flag in step."""
    result = assess_stored(s, doc, exam_id)
    critical.mark(s, exam_id, criteria_of(result))
    return result


@dataclass(frozen=True, slots=True)
class Marks:
    """The critical criteria of a document about to be written, assessed with the prior exam
    that was current when it was read (`prior_id`: that version's row id, None: no prior)."""

    prior_id: int | None
    criteria: tuple[str, ...]


def read_prior(
    factory: sessionmaker[Session], doc: ExamDocument, exam_id: int | None
) -> tuple[int | None, dict[str, Any] | None]:
    """(row id, document) of the patient's previous exam (prior_document_of), read in a
    reader session of its own: outside any writer's transaction and SQLite's write lock."""
    with factory() as rs:
        v = exams.previous_version(rs, doc.patient.id, doc.exam.date, exclude_exam_id=exam_id)
        return (v.id, v.document) if v is not None else (None, None)


def criteria_with(doc: ExamDocument, prior: dict[str, Any] | None) -> tuple[str, ...]:
    """The critical criteria of `doc` assessed with the prior document, as assess_stored's
    result has them (criteria_of). Without a prior, the decisions tier takes the same
    critical decisions without rendering a result (about 5x less CPU; held equal by
    tests/test_decisions.py and tests/test_web_critical.py); with one, the full engine (the
    serial comparison decides in its renderer)."""
    if prior is None:
        decided = assess(doc, detail="decisions")
        return tuple(dict.fromkeys(c for leg in decided.legs.values() for c in leg.critical))
    return criteria_of(assess(doc, prior=parse_exam_obj(prior)))


def assess_for_write(
    factory: sessionmaker[Session], doc: ExamDocument, exam_id: int | None
) -> Marks:
    """A save's one assessment, before its write transaction (see mark_written)."""
    prior_id, prior = read_prior(factory, doc, exam_id)
    return Marks(prior_id, criteria_with(doc, prior))


def mark_written(s: Session, exam_id: int, doc: ExamDocument, marks: Marks) -> None:
    """Keep the worklist flag of the just-written current version `doc` in step with the
    engine, from the assessment made before the write (assess_for_write): the engine does
    not run inside the write transaction (on SQLite the write lock, on both databases the
    audit chain's head row), and a save assesses its document once.

    Inside the transaction one light read checks that the prior is still the one assessed
    with (its current version's row id; versions never change); when another save moved it
    meanwhile, the document is assessed again here, with the prior as it is now."""
    prior_id = exams.previous_version_id(s, doc.patient.id, doc.exam.date, exclude_exam_id=exam_id)
    criteria = marks.criteria
    if prior_id != marks.prior_id:
        criteria = criteria_of(assess_stored(s, doc, exam_id))
    critical.mark(s, exam_id, criteria)


def sign_checked(
    s: Session, exam_id: int, user: models.User, expected_version: int, client: str | None
) -> models.ExamVersion:
    """Sign through the critical-results gate (store.critical.sign) with the engine's marks."""
    v = exams.get_version(s, exam_id, expected_version)
    result = assess_stored(s, parse_exam_obj(v.document), exam_id)
    return critical.sign(s, exam_id, user, expected_version, criteria_of(result), client=client)


def communications_of(s: Session, exam_id: int, version: int) -> tuple[Communication, ...]:
    """The documented communications of a version, as the report shows them."""
    return tuple(
        Communication(
            recipient=c.recipient,
            method=c.method,
            communicated_at=c.communicated_at,
            read_back=c.read_back,
            documented_by=username_of(s, c.documented_by) or "?",
        )
        for c in critical.communications(s, exam_id, version)
    )
