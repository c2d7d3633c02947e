"""Stored interoperability state: the lab's local SR code map, HL7 orders (scheduled exams),
structured reports received from scanners (the Incoming list) and outgoing ORU results.

Like the rest of the store: functions take a Session and never commit; every change a user
or a peer system makes is audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

import venalab.store.audit as audit
from venalab.store.errors import InvalidState, InvalidValue, NotFound
from venalab.store.models import (
    Exam,
    ExamVersion,
    IncomingSr,
    LocalSrCode,
    ResultMessage,
    ScheduledOrder,
    User,
    utcnow,
)
from venalab.store.users import require
from venalab.text_rules import strip_controls

ACTION_LOCAL_CODE_SET: Final = "local-code-set"
ACTION_LOCAL_CODE_DELETE: Final = "local-code-delete"
ACTION_ORDER_RECEIVE: Final = "order-receive"
ACTION_ORDER_LINK: Final = "order-link"
ACTION_INCOMING_RECEIVE: Final = "incoming-receive"
ACTION_INCOMING_DONE: Final = "incoming-done"
ACTION_INCOMING_DISMISS: Final = "incoming-dismiss"
ACTION_RESULT_QUEUED: Final = "result-queued"
ACTION_RESULT_SENT: Final = "result-sent"


# ---------------------------------------------------------------------------------------
# Local SR code map


def list_local_codes(s: Session) -> list[LocalSrCode]:
    return list(s.scalars(select(LocalSrCode).order_by(LocalSrCode.scheme, LocalSrCode.code)))


def local_code_map(s: Session) -> dict[str, object]:
    """The stored map in the importer's shape `{"SCHEME:CODE": {"target", "meaning"}}`."""
    out: dict[str, object] = {}
    for row in list_local_codes(s):
        entry: dict[str, str] = {"target": row.target}
        if row.meaning:
            entry["meaning"] = row.meaning
        out[f"{row.scheme}:{row.code}"] = entry
    return out


def set_local_code(
    s: Session,
    scheme: str,
    code: str,
    target: str,
    meaning: str | None,
    user: User,
    *,
    client: str | None = None,
) -> LocalSrCode:
    """Add or change one entry (admin). The target is validated as the importer reads it."""
    from venalab.errors import InvalidInput
    from venalab.interop.sr_codes import parse_local_codes

    require(user, "manage-users")
    scheme, code, target = scheme.strip(), code.strip(), target.strip()
    if not scheme or len(scheme) > 16 or not code or len(code) > 64:
        raise InvalidValue("code", "give a coding scheme (1-16 characters) and a code (1-64)")
    if meaning is not None and len(meaning) > 200:
        raise InvalidValue("meaning", "use at most 200 characters")
    try:
        parse_local_codes({f"{scheme}:{code}": target}, "the form")
    except InvalidInput as err:
        raise InvalidValue("target", err.problems[0].message) from None
    row = s.scalar(
        select(LocalSrCode).where(LocalSrCode.scheme == scheme, LocalSrCode.code == code)
    )
    before = None if row is None else {"target": row.target, "meaning": row.meaning}
    if row is None:
        row = LocalSrCode(scheme=scheme, code=code, target=target, updated_by=user.id)
        s.add(row)
    row.target, row.meaning = target, (meaning or None)
    row.updated_by, row.updated_at = user.id, utcnow()
    s.flush()
    audit.record(
        s,
        ACTION_LOCAL_CODE_SET,
        user=user,
        entity="local-sr-code",
        entity_id=f"{scheme}:{code}"[:64],
        detail={"before": before, "after": {"target": target, "meaning": meaning or None}},
        client=client,
    )
    return row


def delete_local_code(s: Session, row_id: int, user: User, *, client: str | None = None) -> None:
    require(user, "manage-users")
    row = s.get(LocalSrCode, row_id)
    if row is None:
        raise NotFound(f"no local code {row_id}")
    audit.record(
        s,
        ACTION_LOCAL_CODE_DELETE,
        user=user,
        entity="local-sr-code",
        entity_id=f"{row.scheme}:{row.code}"[:64],
        detail={"before": {"target": row.target, "meaning": row.meaning}},
        client=client,
    )
    s.delete(row)
    s.flush()


# ---------------------------------------------------------------------------------------
# Orders (scheduled exams)


@dataclass(frozen=True)
class OrderIn:
    """What an order message says (hl7 module), already checked and bounded."""

    accession: str
    patient_local_id: str
    placer_order: str | None = None
    patient_name: str | None = None
    sex: str = "unknown"
    birth_date: dt.date | None = None
    indication: str | None = None
    referring_physician: str | None = None
    procedure: str | None = None
    scheduled_date: dt.date | None = None
    cancel: bool = False


def receive_order(s: Session, order: OrderIn, *, source: str, message_id: str) -> ScheduledOrder:
    """Create or update the scheduled exam of an order (keyed by accession number).

    A new order for an accession already linked to an exam changes only what the exam does
    not yet hold (the order row); a cancellation of an order in progress is refused."""
    row = s.scalar(select(ScheduledOrder).where(ScheduledOrder.accession == order.accession))
    created = row is None
    if row is None:
        row = ScheduledOrder(accession=order.accession, patient_local_id=order.patient_local_id)
        s.add(row)
    elif order.cancel and row.status in ("in-progress", "completed"):
        raise InvalidState(f"order {order.accession} is {row.status}: it cannot be cancelled")
    for name in (
        "placer_order",
        "patient_local_id",
        "patient_name",
        "sex",
        "birth_date",
        "indication",
        "referring_physician",
        "procedure",
        "scheduled_date",
    ):
        value = getattr(order, name)
        if value is not None:
            setattr(row, name, value)
    if order.cancel:
        row.status = "cancelled"
    elif created or row.status == "cancelled":
        row.status = "scheduled"
    row.message_id = message_id[:64]
    row.updated_at = utcnow()
    s.flush()
    audit.record(
        s,
        ACTION_ORDER_RECEIVE,
        user=None,
        username=source[:64],
        entity="order",
        entity_id=row.id,
        detail={
            "accession": row.accession,
            "patient": row.patient_local_id,
            "status": row.status,
            "message": message_id[:64],
        },
    )
    return row


def list_orders(
    s: Session, status: str | None = "scheduled", limit: int = 200
) -> list[ScheduledOrder]:
    stmt = select(ScheduledOrder)
    if status is not None:
        stmt = stmt.where(ScheduledOrder.status == status)
    stmt = stmt.order_by(ScheduledOrder.scheduled_date, ScheduledOrder.id)
    return list(s.scalars(stmt.limit(limit)))


def get_order(s: Session, order_id: int) -> ScheduledOrder:
    row = s.get(ScheduledOrder, order_id)
    if row is None:
        raise NotFound(f"no order {order_id}")
    return row


def order_for_exam(s: Session, exam_id: int) -> ScheduledOrder | None:
    return s.scalar(select(ScheduledOrder).where(ScheduledOrder.exam_id == exam_id))


def link_order(
    s: Session, order_id: int, exam_id: int, user: User, *, client: str | None = None
) -> ScheduledOrder:
    """The exam saved from an order's worksheet: the order is in progress with that exam."""
    require(user, "edit")
    row = get_order(s, order_id)
    exam = s.get(Exam, exam_id)
    if exam is None:
        raise NotFound(f"no exam {exam_id}")
    if row.exam_id not in (None, exam_id):
        raise InvalidState(f"order {row.accession} belongs to exam {row.exam_id} already")
    if row.status == "cancelled":
        raise InvalidState(f"order {row.accession} was cancelled")
    row.exam_id, row.status, row.updated_at = exam_id, "in-progress", utcnow()
    s.flush()
    audit.record(
        s,
        ACTION_ORDER_LINK,
        user=user,
        entity="order",
        entity_id=row.id,
        detail={"accession": row.accession, "exam": exam_id},
        client=client,
    )
    return row


def order_prefill(order: ScheduledOrder, today: dt.date | None = None) -> dict[str, Any]:
    """A worksheet document started from an order."""
    patient: dict[str, Any] = {"id": order.patient_local_id, "sex": order.sex or "unknown"}
    if order.birth_date is not None:
        patient["birth_date"] = order.birth_date.isoformat()
    exam: dict[str, Any] = {"date": (order.scheduled_date or today or dt.date.today()).isoformat()}
    if order.indication:
        exam["indication"] = order.indication[:2000]
    return {"format": "venous-exam/1", "patient": patient, "exam": exam, "legs": {}}


# ---------------------------------------------------------------------------------------
# Incoming structured reports


def receive_sr(
    s: Session,
    data: bytes,
    *,
    calling_ae: str,
    sop_instance_uid: str,
    patient_local_id: str | None,
    accession: str | None,
    study_date: dt.date | None,
) -> IncomingSr:
    """Store a received SR as pending (no exam is made), matched to an order if possible:
    by accession number, else the patient's one scheduled order."""
    # Header values are copied as metadata: control characters (NUL breaks PostgreSQL) go.
    patient_local_id = strip_controls(patient_local_id or "")[:64] or None
    accession = strip_controls(accession or "")[:64] or None
    calling_ae, sop_instance_uid = strip_controls(calling_ae), strip_controls(sop_instance_uid)
    order = None
    if accession:
        order = s.scalar(select(ScheduledOrder).where(ScheduledOrder.accession == accession))
    if order is None and patient_local_id:
        candidates = list(
            s.scalars(
                select(ScheduledOrder).where(
                    ScheduledOrder.patient_local_id == patient_local_id,
                    ScheduledOrder.status == "scheduled",
                )
            )
        )
        if len(candidates) == 1:
            order = candidates[0]
    item = IncomingSr(
        received_at=utcnow(),
        calling_ae=calling_ae[:16],
        sop_instance_uid=sop_instance_uid[:64],
        patient_local_id=(patient_local_id or None) and patient_local_id[:64],
        accession=(accession or None) and accession[:64],
        study_date=study_date,
        data=data,
        status="pending",
        order_id=order.id if order else None,
    )
    s.add(item)
    s.flush()
    audit.record(
        s,
        ACTION_INCOMING_RECEIVE,
        user=None,
        username=f"dicom:{calling_ae}"[:64],
        entity="incoming",
        entity_id=item.id,
        detail={
            "sop_instance_uid": item.sop_instance_uid,
            "patient": item.patient_local_id,
            "order": order.accession if order else None,
            "bytes": len(data),
        },
    )
    return item


def list_incoming(s: Session, status: str | None = "pending", limit: int = 200) -> list[IncomingSr]:
    stmt = select(IncomingSr)
    if status is not None:
        stmt = stmt.where(IncomingSr.status == status)
    return list(s.scalars(stmt.order_by(IncomingSr.received_at.desc()).limit(limit)))


def get_incoming(s: Session, item_id: int) -> IncomingSr:
    item = s.get(IncomingSr, item_id)
    if item is None:
        raise NotFound(f"no incoming report {item_id}")
    return item


def _pending_incoming(s: Session, item_id: int) -> IncomingSr:
    item = get_incoming(s, item_id)
    if item.status != "pending":
        raise InvalidState(f"incoming report {item_id} is {item.status} already")
    return item


def incoming_done(
    s: Session, item_id: int, exam_id: int, user: User, *, client: str | None = None
) -> IncomingSr:
    """The user saved the report as exam `exam_id`: the item is done (and its order linked)."""
    require(user, "edit")
    item = _pending_incoming(s, item_id)
    if s.get(Exam, exam_id) is None:
        raise NotFound(f"no exam {exam_id}")
    item.status, item.exam_id, item.done_by, item.done_at = "done", exam_id, user.id, utcnow()
    s.flush()
    audit.record(
        s,
        ACTION_INCOMING_DONE,
        user=user,
        entity="incoming",
        entity_id=item.id,
        detail={"exam": exam_id},
        client=client,
    )
    if item.order_id is not None:
        order = get_order(s, item.order_id)
        if order.exam_id in (None, exam_id) and order.status != "cancelled":
            link_order(s, order.id, exam_id, user, client=client)
    return item


def dismiss_incoming(
    s: Session, item_id: int, user: User, reason: str, *, client: str | None = None
) -> IncomingSr:
    require(user, "edit")
    item = _pending_incoming(s, item_id)
    why = reason.strip()[:500]
    if not why:
        raise InvalidValue("reason", "say why the report is dismissed")
    item.status, item.done_by, item.done_at = "dismissed", user.id, utcnow()
    s.flush()
    audit.record(
        s,
        ACTION_INCOMING_DISMISS,
        user=user,
        entity="incoming",
        entity_id=item.id,
        detail={"reason": why},
        client=client,
    )
    return item


# ---------------------------------------------------------------------------------------
# Outgoing results (ORU^R01)


def signed_without_result(s: Session, limit: int = 20) -> list[ExamVersion]:
    """Signed versions no ORU has been queued for yet, oldest first."""
    sent = select(ResultMessage.id).where(
        ResultMessage.exam_id == ExamVersion.exam_id, ResultMessage.version == ExamVersion.version
    )
    stmt = (
        select(ExamVersion)
        .where(ExamVersion.status == "signed", ~sent.exists())
        .order_by(ExamVersion.signed_at, ExamVersion.id)
        .limit(limit)
    )
    return list(s.scalars(stmt))


def queue_result(
    s: Session, exam_id: int, version: int, control_id: str, file_name: str
) -> ResultMessage:
    row = ResultMessage(
        exam_id=exam_id,
        version=version,
        control_id=control_id,
        file_name=file_name,
        created_at=utcnow(),
        attempts=0,
    )
    s.add(row)
    s.flush()
    audit.record(
        s,
        ACTION_RESULT_QUEUED,
        user=None,
        username="hl7",
        entity="exam",
        entity_id=exam_id,
        version=version,
        detail={"control_id": control_id, "file": file_name},
    )
    return row


def unsent_results(s: Session, limit: int = 50) -> list[ResultMessage]:
    stmt = select(ResultMessage).where(ResultMessage.sent_at.is_(None)).order_by(ResultMessage.id)
    return list(s.scalars(stmt.limit(limit)))


def result_attempt(
    s: Session, row_id: int, *, ok: bool, error: str | None = None, peer: str = ""
) -> None:
    row = s.get(ResultMessage, row_id)
    if row is None:
        raise NotFound(f"no result message {row_id}")
    row.attempts += 1
    if ok:
        row.sent_at, row.last_error = utcnow(), None
        audit.record(
            s,
            ACTION_RESULT_SENT,
            user=None,
            username="hl7",
            entity="exam",
            entity_id=row.exam_id,
            version=row.version,
            detail={"control_id": row.control_id, "to": peer[:200]},
        )
    else:
        row.last_error = (error or "unknown error")[:2000]
    s.flush()


def incoming_summary(item: IncomingSr) -> Mapping[str, Any]:
    """What the Incoming list shows of an item."""
    return {
        "id": item.id,
        "received_at": item.received_at,
        "calling_ae": item.calling_ae,
        "patient": item.patient_local_id,
        "accession": item.accession,
        "study_date": item.study_date,
        "order_id": item.order_id,
        "status": item.status,
        "bytes": len(item.data),
    }
