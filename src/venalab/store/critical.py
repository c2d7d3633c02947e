"""Critical results in the store (issue 18): the worklist flag, the documented communications,
and the sign-off gate.

The store does not judge what is critical: the web layer runs the engine and passes the
criteria of `Result.critical` in. What the store guarantees:
- `mark` keeps `exams.critical` in step with the current version, so critical drafts head
  the worklist (`exams.list_exams(critical_first=True)`);
- `record_communication` appends who was told, how, when, and whether they read the result
  back (the table refuses UPDATE and DELETE), with its audit line;
- `sign` signs a version with critical results only after a communication of that version
  with the read-back confirmed; the sign audit line names the criteria and communications.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import venalab.store.audit as audit
from venalab.store.errors import InvalidState, InvalidValue
from venalab.store.exams import get_exam, get_version
from venalab.store.exams import sign as sign_version
from venalab.store.models import CriticalCommunication, Exam, ExamVersion, User, utcnow
from venalab.store.users import require

RECIPIENT_MAX: Final = 200
METHOD_MAX: Final = 32
NOTE_MAX: Final = 2000
# A communication time more than this far in the future is a typing error, not a clock skew.
FUTURE_SLACK: Final = dt.timedelta(minutes=5)


def mark(s: Session, exam_id: int, criteria: Sequence[str]) -> None:
    """Record whether the exam's current version has critical results (worklist order)."""
    flag = bool(criteria)
    exam = get_exam(s, exam_id)
    if exam.critical != flag:
        s.execute(
            update(Exam)
            .where(Exam.id == exam_id)
            .values(critical=flag)
            .execution_options(synchronize_session=False)
        )
        set_committed_value(exam, "critical", flag)  # what was written: no re-read


def communications(
    s: Session, exam_id: int, version: int | None = None
) -> list[CriticalCommunication]:
    """The documented communications of an exam (of one version when given), oldest first."""
    stmt = select(CriticalCommunication).where(CriticalCommunication.exam_id == exam_id)
    if version is not None:
        stmt = stmt.where(CriticalCommunication.version == version)
    return list(s.scalars(stmt.order_by(CriticalCommunication.id)))


def _text(field: str, value: str, limit: int, *, required: bool = True) -> str:
    cleaned = " ".join(value.split())
    if required and not cleaned:
        raise InvalidValue(field, "required: say who, or how")
    if len(cleaned) > limit:
        raise InvalidValue(field, f"use at most {limit} characters")
    if any(ord(ch) < 32 for ch in value if ch not in "\t\n\r"):
        raise InvalidValue(field, "control characters are not allowed")
    return cleaned


def record_communication(
    s: Session,
    exam_id: int,
    version: int,
    user: User,
    *,
    criteria: Sequence[str],
    recipient: str,
    method: str,
    communicated_at: dt.datetime,
    read_back: bool,
    note: str | None = None,
    client: str | None = None,
) -> CriticalCommunication:
    """Append the communication of version `version`'s critical results (audited)."""
    require(user, "edit")
    v: ExamVersion = get_version(s, exam_id, version)
    if not criteria:
        raise InvalidState(f"exam {exam_id} version {version} has no critical result to report")
    if communicated_at.tzinfo is None:
        raise InvalidValue("communicated_at", "give a time with its time zone (UTC)")
    try:
        when = communicated_at.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise InvalidValue("communicated_at", "is not a usable date and time") from None
    if when > utcnow() + FUTURE_SLACK:
        raise InvalidValue("communicated_at", "is in the future")
    exam_date = get_exam(s, exam_id).exam_date
    if when.date() < exam_date - dt.timedelta(days=1):
        raise InvalidValue("communicated_at", f"is before the exam date {exam_date.isoformat()}")
    row = CriticalCommunication(
        exam_id=exam_id,
        version=version,
        criteria=",".join(criteria)[:200],
        recipient=_text("recipient", recipient, RECIPIENT_MAX),
        method=_text("method", method, METHOD_MAX),
        communicated_at=when,
        read_back=read_back,
        note=(_text("note", note, NOTE_MAX, required=False) or None) if note else None,
        documented_by=user.id,
        documented_at=utcnow(),
    )
    s.add(row)
    s.flush()
    audit.record(
        s,
        audit.ACTION_CRITICAL_COMMUNICATION,
        user=user,
        entity="exam",
        entity_id=exam_id,
        version=version,
        doc_hash=v.doc_hash,
        detail={
            "communication": row.id,
            "criteria": list(criteria),
            "recipient": row.recipient,
            "method": row.method,
            "communicated_at": when.isoformat(),
            "read_back": read_back,
        },
        client=client,
    )
    return row


def sign(
    s: Session,
    exam_id: int,
    user: User,
    expected_version: int,
    criteria: Sequence[str],
    *,
    client: str | None = None,
) -> ExamVersion:
    """Sign a version; with critical results only after their communication was documented
    with the read-back confirmed (the audit line of the signature lists both)."""
    detail: dict[str, object] | None = None
    if criteria:
        told = [c for c in communications(s, exam_id, expected_version) if c.read_back]
        if not told:
            raise InvalidState(
                f"exam {exam_id} version {expected_version} has critical results "
                f"({', '.join(criteria)}): document their communication (to whom, how, when, "
                "read-back confirmed) before signing"
            )
        detail = {"critical": list(criteria), "communications": [c.id for c in told]}
    return sign_version(s, exam_id, user, expected_version, client=client, detail=detail)
