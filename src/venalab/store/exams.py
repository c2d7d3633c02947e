"""Stored exams: every save is a new version, signing is final, amendments carry a reason.

    create_exam -> v1 draft
    save_draft  -> v(n+1) draft            only while the exam is a draft
    sign        -> v(n) becomes signed      physician or admin; the version is then frozen
    amend       -> v(n+1) draft + reason    physician or admin, only on a signed exam

Nothing is overwritten: a version's document and hash never change (database triggers refuse
it), and an exam's versions are never deleted. Each mutating call records its audit entry in
the caller's transaction.

Optimistic concurrency: every mutating call takes `expected_version`, the version the caller
based its change on. If another writer moved the exam on in between, the call raises Conflict
and writes nothing. The database makes the check race-free: the first write of each call is a
compare-and-set UPDATE of the exam row (`WHERE current_version = expected AND status = ...`),
which serialises writers of one exam (row lock on PostgreSQL, write lock on SQLite); the
UNIQUE(exam_id, version) constraint backs it, its violation also becoming Conflict. Errors
found before writing (all the usual ones) leave the session as it was, usable; the rare ones
raised after a write (IntegrityError backstops) roll the session back first, so no half of a
failed call can ever be committed.

Documents are stored as the JSON object of `ExamDocument.to_json()`; `doc_hash` is the SHA-256
of its canonical text (`models.canonical_json`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any, Final, Literal, NoReturn, cast

from sqlalchemy import CursorResult, Select, Update, and_, bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

import venalab.store.audit as audit
from venalab.evidence import Frozen
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.store.errors import Conflict, InvalidState, InvalidValue, NotFound, StoreError
from venalab.store.integrity import check_signed
from venalab.store.models import (
    Exam,
    ExamStatus,
    ExamVersion,
    Patient,
    User,
    document_hash,
    utcnow,
)
from venalab.store.users import require, signature_name
from venalab.text_rules import match_key, multi_line

REASON_MAX_LENGTH: Final = 2000
# An amendment is a version with a reason (amend() refuses empty ones).
_AMENDMENT: Final = ExamVersion.reason.is_not(None) & (ExamVersion.reason != "")


def _document(doc: ExamDocument) -> tuple[dict[str, Any], str]:
    obj: dict[str, Any] = json.loads(doc.to_json())
    return obj, document_hash(obj)


def version_document(version: ExamVersion) -> ExamDocument:
    """The stored document of a version, validated back into an ExamDocument."""
    return parse_exam_obj(version.document)


# ---------------------------------------------------------------------------------------
# Patients


def _lookalike_error(existing: Patient, local_id: str) -> InvalidValue:
    return InvalidValue(
        "patient.id",
        f"{local_id!r} looks like the existing patient {existing.local_id!r} (the ids differ "
        "only in letter case, Unicode form, dashes or spacing); use the existing id, or an id "
        "that is clearly different",
    )


def _existing_patient(s: Session, local_id: str) -> Patient | None:
    """The patient with this id, or None for a new one; InvalidValue (before anything is
    written) when the id only looks like an existing one. One read: match_key is unique and
    the same for an id and its look-alikes (text_rules.match_key)."""
    other = s.scalar(select(Patient).where(Patient.match_key == match_key(local_id)))
    if other is not None and other.local_id != local_id:
        raise _lookalike_error(other, local_id)
    return other


def _patient_for(s: Session, doc: ExamDocument) -> Patient:
    """The document's patient, created on first sight (look-alike ids refused)."""
    local_id = doc.patient.id
    patient = _existing_patient(s, local_id)
    if patient is not None:
        return patient
    key = match_key(local_id)
    patient = Patient(
        local_id=local_id,
        match_key=key,
        sex=doc.patient.sex,
        birth_date=doc.patient.birth_date,
        age_years=doc.patient.age_years,
        created_at=utcnow(),
    )
    try:
        # A savepoint: if another transaction created the patient meanwhile (PostgreSQL;
        # SQLite writers run one at a time), only this insert is undone and theirs is used.
        with s.begin_nested():
            s.add(patient)
    except IntegrityError as err:
        # another transaction created this id, or a look-alike of it, at the same moment
        existing = _existing_patient(s, local_id)
        if existing is not None:
            return existing
        raise Conflict(f"patient {local_id!r} was created at the same time; try again") from err
    return patient


def _sync_patient(s: Session, patient: Patient, doc: ExamDocument) -> None:
    # The patient row mirrors the demographics of the patient's most recent exam.
    p = doc.patient
    if (patient.sex, patient.birth_date, patient.age_years) == (p.sex, p.birth_date, p.age_years):
        return  # nothing would change: no query
    latest = s.scalar(select(func.max(Exam.exam_date)).where(Exam.patient_id == patient.id))
    if latest is not None and doc.exam.date < latest:
        return
    if patient.sex != doc.patient.sex:
        patient.sex = doc.patient.sex
    if patient.birth_date != doc.patient.birth_date:
        patient.birth_date = doc.patient.birth_date
    if patient.age_years != doc.patient.age_years:
        patient.age_years = doc.patient.age_years


def get_patient(s: Session, local_id: str) -> Patient:
    patient = s.scalar(select(Patient).where(Patient.local_id == local_id))
    if patient is None:
        raise NotFound(f"no patient {local_id!r}")
    return patient


def list_patients(s: Session, search: str | None = None) -> list[Patient]:
    """Patients by local id; `search` keeps those whose local id contains it (any case)."""
    stmt = select(Patient).order_by(Patient.local_id)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Patient.local_id.ilike(f"%{escaped}%", escape="\\"))
    return list(s.scalars(stmt))


# ---------------------------------------------------------------------------------------
# Reading


def get_exam(s: Session, exam_id: int) -> Exam:
    exam = s.get(Exam, exam_id)
    if exam is None:
        raise NotFound(f"no exam {exam_id}")
    return exam


def get_version(s: Session, exam_id: int, version: int | None = None) -> ExamVersion:
    """One version of an exam (None: the current one), with its exam and patient: one query."""
    stmt = (
        select(ExamVersion)
        .join(Exam, ExamVersion.exam_id == Exam.id)
        .options(contains_eager(ExamVersion.exam).joinedload(Exam.patient))
        .where(
            ExamVersion.exam_id == exam_id,
            ExamVersion.version == (Exam.current_version if version is None else version),
        )
    )
    found = s.scalar(stmt)
    if found is None:
        get_exam(s, exam_id)  # NotFound naming the exam, if that is what is missing
        raise NotFound(f"exam {exam_id} has no version {version}")
    return check_signed(found)  # never serve a changed document under its signature


def list_versions(s: Session, exam_id: int) -> list[ExamVersion]:
    get_exam(s, exam_id)
    stmt = select(ExamVersion).where(ExamVersion.exam_id == exam_id).order_by(ExamVersion.version)
    return list(s.scalars(stmt))


_KNOWN_AMENDED: Final = "venalab_amended"


def _know_amended(s: Session, exam_id: int, amended: bool) -> None:
    # What this transaction has just written or read under the exam's row claim (_claim):
    # no other writer can add a version before it ends, so is_amended needs no query.
    s.info.setdefault(_KNOWN_AMENDED, {})[exam_id] = amended


def is_amended(s: Session, exam_id: int, up_to: int | None = None) -> bool:
    """Whether any version of the exam (up to version `up_to`) carries an amendment reason:
    one EXISTS query, no version loaded (none after this session wrote a version of it)."""
    if up_to is None:
        known: bool | None = s.info.get(_KNOWN_AMENDED, {}).get(exam_id)
        if known is not None:
            return known
    stmt = select(ExamVersion.id).where(ExamVersion.exam_id == exam_id, _AMENDMENT)
    if up_to is not None:
        stmt = stmt.where(ExamVersion.version <= up_to)
    return bool(s.scalar(select(stmt.exists())))


def amended_exams(s: Session, exam_ids: list[int]) -> set[int]:
    """The ids among `exam_ids` of exams with an amendment (one query)."""
    if not exam_ids:
        return set()
    stmt = (
        select(ExamVersion.exam_id).where(ExamVersion.exam_id.in_(exam_ids), _AMENDMENT).distinct()
    )
    return set(s.scalars(stmt))


def patient_local_ids(s: Session, patient_ids: set[int]) -> dict[int, str]:
    """Local id of each patient row id (one query)."""
    if not patient_ids:
        return {}
    rows = s.execute(select(Patient.id, Patient.local_id).where(Patient.id.in_(patient_ids)))
    return {pid: local for pid, local in rows}


def list_exams(
    s: Session,
    patient_local_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    *,
    status: ExamStatus | None = None,
    critical_first: bool = False,
) -> list[Exam]:
    """Exams newest first (exam date, then id); optionally one patient's, or one status.
    `critical_first`: drafts with a critical result (store.critical.mark) come first."""
    stmt = select(Exam)
    if patient_local_id is not None:
        stmt = stmt.join(Patient, Exam.patient_id == Patient.id).where(
            Patient.local_id == patient_local_id
        )
    if status is not None:
        stmt = stmt.where(Exam.status == status)
    if critical_first:
        pending = case((and_(Exam.critical, Exam.status == "draft"), 0), else_=1)
        stmt = stmt.order_by(pending)
    stmt = stmt.order_by(Exam.exam_date.desc(), Exam.id.desc())
    return list(s.scalars(stmt.limit(max(0, limit)).offset(max(0, offset))))


def _previous(what: Any) -> Select[Any]:
    # Built once (bind parameters): building a statement with joins costs more CPU than the
    # database takes to run it (issue 14).
    return (
        select(what)
        .join(
            Exam, (ExamVersion.exam_id == Exam.id) & (ExamVersion.version == Exam.current_version)
        )
        .join(Patient, Exam.patient_id == Patient.id)
        .where(
            Patient.local_id == bindparam("patient"),
            Exam.exam_date < bindparam("before"),
            Exam.id != bindparam("exclude"),
        )
        .order_by(Exam.exam_date.desc(), Exam.id.desc())
        .limit(1)
    )


_PREVIOUS_VERSION: Final = _previous(ExamVersion)
_PREVIOUS_VERSION_ID: Final = _previous(ExamVersion.id)


def _previous_params(
    patient_local_id: str, before: dt.date, exclude_exam_id: int | None
) -> dict[str, Any]:
    # ids start at 1: excluding 0 excludes nothing
    return {"patient": patient_local_id, "before": before, "exclude": exclude_exam_id or 0}


def previous_version(
    s: Session, patient_local_id: str, before: dt.date, exclude_exam_id: int | None = None
) -> ExamVersion | None:
    """The current version of the patient's latest exam dated before `before` (the prior
    exam a serial comparison reads), None when there is none."""
    params = _previous_params(patient_local_id, before, exclude_exam_id)
    found: ExamVersion | None = s.scalar(_PREVIOUS_VERSION, params)
    return found


def previous_version_id(
    s: Session, patient_local_id: str, before: dt.date, exclude_exam_id: int | None = None
) -> int | None:
    """The row id of `previous_version` (its document not read)."""
    params = _previous_params(patient_local_id, before, exclude_exam_id)
    found: int | None = s.scalar(_PREVIOUS_VERSION_ID, params)
    return found


def current_versions(s: Session, patient_local_id: str) -> list[ExamVersion]:
    """The current version of each of a patient's exams, oldest exam first (for timelines)."""
    patient = get_patient(s, patient_local_id)
    stmt = (
        select(ExamVersion)
        .join(
            Exam, (ExamVersion.exam_id == Exam.id) & (ExamVersion.version == Exam.current_version)
        )
        .where(Exam.patient_id == patient.id)
        .order_by(Exam.exam_date, Exam.id)
    )
    return [check_signed(v) for v in s.scalars(stmt)]


# ---------------------------------------------------------------------------------------
# Writing


def create_exam(
    s: Session, doc: ExamDocument, user: User, *, client: str | None = None
) -> ExamVersion:
    """A new exam for the document's patient (created on first sight): version 1, draft."""
    require(user, "edit")
    obj, digest = _document(doc)
    patient = _patient_for(s, doc)
    _sync_patient(s, patient, doc)
    now = utcnow()
    exam = Exam(
        patient_id=patient.id,
        exam_date=doc.exam.date,
        status="draft",
        current_version=1,
        created_by=user.id,
        created_at=now,
        updated_at=now,
    )
    s.add(exam)
    s.flush()
    version = ExamVersion(
        exam_id=exam.id,
        version=1,
        document=obj,
        doc_hash=digest,
        status="draft",
        reason=None,
        created_by=user.id,
        created_at=now,
    )
    s.add(version)
    s.flush()
    # The returned version holds its exam and patient: the response needs them, and the
    # session keeps only weak references (they would be queried again).
    set_committed_value(exam, "patient", patient)
    set_committed_value(version, "exam", exam)
    _know_amended(s, exam.id, False)
    audit.record(
        s,
        audit.ACTION_EXAM_CREATE,
        user=user,
        entity="exam",
        entity_id=exam.id,
        version=1,
        doc_hash=digest,
        detail={"patient": patient.local_id, "exam_date": doc.exam.date.isoformat()},
        client=client,
    )
    return version


_AMENDED_EXAM: Final = (
    select(ExamVersion.id)
    .where(ExamVersion.exam_id == Exam.id, _AMENDMENT)
    .exists()
    .correlate(Exam)
    .label("amended")
)
_EXAM_FOR_WRITE: Final = (
    select(Exam, ExamVersion.doc_hash, _AMENDED_EXAM)
    .outerjoin(
        ExamVersion,
        (ExamVersion.exam_id == Exam.id) & (ExamVersion.version == Exam.current_version),
    )
    .options(joinedload(Exam.patient))
    .where(Exam.id == bindparam("exam_id"))
)


def _exam_for_write(s: Session, exam_id: int) -> tuple[Exam, str | None, bool]:
    """The exam with its patient (a new version compares and syncs the patient), the hash
    of its current version (the audit entry's `previous_hash`) and whether it was amended
    (the response says so): one query."""
    row = s.execute(_EXAM_FOR_WRITE, {"exam_id": exam_id}).first()
    if row is None:
        raise NotFound(f"no exam {exam_id}")
    return row[0], row[1], bool(row[2])


def _stale(exam: Exam, expected_version: int) -> Conflict:
    return Conflict(
        f"exam {exam.id} is at version {exam.current_version}, not {expected_version}: "
        "someone saved it meanwhile; reload it and apply your changes again",
        current_version=exam.current_version,
    )


def _check_expected(exam: Exam, expected_version: int) -> None:
    if exam.current_version != expected_version:
        raise _stale(exam, expected_version)


def _explain_lost_race(
    s: Session, exam: Exam, expected_version: int, wanted: ExamStatus
) -> NoReturn:
    """The compare-and-set matched nothing (this call has written nothing yet): another
    writer got there first. Raise the error the exam's committed state explains."""
    s.refresh(exam)
    _check_expected(exam, expected_version)
    if exam.status != wanted:
        raise InvalidState(f"exam {exam.id} version {expected_version} is {exam.status} now")
    raise _stale(exam, expected_version)


@functools.cache
def _claim_statement(names: tuple[str, ...]) -> Update:
    # One statement per set of columns, built once (bind parameters): see _previous.
    return (
        update(Exam)
        .where(
            Exam.id == bindparam("exam_id"),
            Exam.current_version == bindparam("expected"),
            Exam.status == bindparam("wanted"),
        )
        .values({name: bindparam(f"set_{name}") for name in names})
        .execution_options(synchronize_session=False)
    )


def _claim(
    s: Session, exam: Exam, expected_version: int, wanted: ExamStatus, **values: Any
) -> None:
    """Compare-and-set on the exam row, the first write of every mutation: it takes the row
    lock (PostgreSQL) or the write lock (SQLite), so of two writers based on the same version
    the second waits here, then matches nothing and gets Conflict without having written."""
    params = {"exam_id": exam.id, "expected": expected_version, "wanted": wanted}
    params.update({f"set_{name}": value for name, value in values.items()})
    result = cast(CursorResult[Any], s.execute(_claim_statement(tuple(sorted(values))), params))
    if result.rowcount != 1:
        _explain_lost_race(s, exam, expected_version, wanted)
    for name, value in values.items():
        set_committed_value(exam, name, value)


def _new_version(
    s: Session,
    exam: Exam,
    doc: ExamDocument,
    user: User,
    expected_version: int,
    *,
    from_status: ExamStatus,
    reason: str | None,
    action: str,
    client: str | None,
    current_hash: str | None,
    amended: bool,
) -> ExamVersion:
    exam_id = exam.id
    obj, digest = _document(doc)
    if exam.patient.local_id != doc.patient.id:
        _existing_patient(s, doc.patient.id)  # a look-alike id is refused before any write
    if from_status == "signed":
        # an amendment: the signed version must still match its hash (check_signed)
        previous_hash = get_version(s, exam_id, expected_version).doc_hash
    else:
        # a draft's hash is all the audit needs, read with the exam (expected_version is
        # its current version, checked): not its document
        if current_hash is None:
            raise NotFound(f"exam {exam_id} has no version {expected_version}")
        previous_hash = current_hash
    now = utcnow()
    number = expected_version + 1
    _claim(
        s,
        exam,
        expected_version,
        from_status,
        current_version=number,
        status="draft",
        exam_date=doc.exam.date,
        updated_at=now,
    )
    version = ExamVersion(
        exam_id=exam_id,
        version=number,
        document=obj,
        doc_hash=digest,
        status="draft",
        reason=reason,
        created_by=user.id,
        created_at=now,
    )
    s.add(version)
    # UNIQUE(exam_id, version) backs the compare-and-set: should anything have stored this
    # version number without moving the exam row, the insert fails and nothing is kept.
    try:
        s.flush()
    except IntegrityError as err:
        s.rollback()  # undoes the claim above; a failed flush leaves nothing else to do
        raise Conflict(
            f"exam {exam_id} version {number} exists already; reload it and apply your "
            "changes again"
        ) from err

    detail: dict[str, Any] = {"previous_version": expected_version, "previous_hash": previous_hash}
    if reason is not None:
        detail["reason"] = reason
    old_patient = exam.patient  # loaded with the exam (_exam_for_write)
    if old_patient.local_id != doc.patient.id:
        patient = _patient_for(s, doc)
        detail["patient_changed"] = {"from": old_patient.local_id, "to": patient.local_id}
        exam.patient_id = patient.id
        s.flush()
        set_committed_value(exam, "patient", patient)
    else:
        patient = old_patient
    set_committed_value(version, "exam", exam)
    _know_amended(s, exam_id, amended)
    _sync_patient(s, patient, doc)
    audit.record(
        s,
        action,
        user=user,
        entity="exam",
        entity_id=exam.id,
        version=number,
        doc_hash=digest,
        detail=detail,
        client=client,
    )
    return version


def save_draft(
    s: Session,
    exam_id: int,
    doc: ExamDocument,
    user: User,
    expected_version: int,
    *,
    client: str | None = None,
) -> ExamVersion:
    """Save `doc` as version expected_version + 1 of a draft exam (never overwrites)."""
    require(user, "edit")
    exam, current_hash, amended = _exam_for_write(s, exam_id)
    _check_expected(exam, expected_version)
    if exam.status == "signed":
        raise InvalidState("signed exams are amended, with a reason")
    return _new_version(
        s,
        exam,
        doc,
        user,
        expected_version,
        from_status="draft",
        reason=None,
        action=audit.ACTION_EXAM_SAVE,
        client=client,
        current_hash=current_hash,
        amended=amended,
    )


def amend(
    s: Session,
    exam_id: int,
    doc: ExamDocument,
    user: User,
    reason: str,
    expected_version: int,
    *,
    client: str | None = None,
) -> ExamVersion:
    """Amend a signed exam: a new draft version carrying the reason; the exam is a draft again
    (to be signed anew) and the signed version stays as it was."""
    require(user, "amend")
    exam, current_hash, _ = _exam_for_write(s, exam_id)
    _check_expected(exam, expected_version)
    if exam.status != "signed":
        raise InvalidState("only signed exams are amended; save the draft instead")
    why = reason.strip()
    if not why:
        raise InvalidState("an amendment needs a reason")
    if len(why) > REASON_MAX_LENGTH:
        raise InvalidValue("reason", f"use at most {REASON_MAX_LENGTH} characters")
    try:
        multi_line(why)
    except ValueError as err:
        raise InvalidValue("reason", str(err)) from None
    return _new_version(
        s,
        exam,
        doc,
        user,
        expected_version,
        from_status="signed",
        reason=why,
        action=audit.ACTION_EXAM_AMEND,
        client=client,
        current_hash=current_hash,
        amended=True,
    )


def sign(
    s: Session,
    exam_id: int,
    user: User,
    expected_version: int,
    *,
    client: str | None = None,
    detail: dict[str, Any] | None = None,
) -> ExamVersion:
    """Sign the current version (physician or admin). A signed version never changes again.

    Callers with an engine result sign through `store.critical.sign`, which refuses a version
    with critical results until their communication is documented."""
    require(user, "sign")
    exam = get_exam(s, exam_id)
    _check_expected(exam, expected_version)
    if exam.status == "signed":
        raise InvalidState(f"exam {exam_id} version {expected_version} is already signed")
    version = get_version(s, exam_id, expected_version)
    now = utcnow()
    _claim(s, exam, expected_version, "draft", status="signed", updated_at=now)
    marked = cast(
        CursorResult[Any],
        s.execute(
            update(ExamVersion)
            .where(ExamVersion.id == version.id, ExamVersion.status == "draft")
            .values(
                status="signed", signed_by=user.id, signed_at=now, signer_name=signature_name(user)
            )
            .execution_options(synchronize_session=False)
        ),
    )
    if marked.rowcount != 1:  # the exam said draft but its current version is not
        s.rollback()
        raise StoreError(f"exam {exam_id} version {expected_version} is inconsistent")
    set_committed_value(version, "status", "signed")
    set_committed_value(version, "signed_by", user.id)
    set_committed_value(version, "signed_at", now)
    set_committed_value(version, "signer_name", signature_name(user))
    audit.record(
        s,
        audit.ACTION_EXAM_SIGN,
        user=user,
        entity="exam",
        entity_id=exam.id,
        version=expected_version,
        doc_hash=version.doc_hash,
        detail=detail,
        client=client,
    )
    return version


# ---------------------------------------------------------------------------------------
# Differences between versions

ChangeKind = Literal["added", "removed", "changed"]


class Change(Frozen):
    """One difference between two documents at a JSON path such as
    `legs.left.segments[2].reflux_ms`. Paths of added and changed values index the newer
    document, paths of removed values the older one."""

    path: str
    before: Any = None
    after: Any = None
    kind: ChangeKind


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_scalar(a: object, b: object) -> bool:
    if _is_number(a) and _is_number(b):
        return a == b  # 6 and 6.0 are the same measurement
    return type(a) is type(b) and a == b


def _segment_keys(items: list[Any]) -> list[tuple[Any, ...]] | None:
    # Measurement rows are matched by what they measure (vein, site, position, label), so
    # inserting a row in the grid shows as one added row, not as every later row changed.
    if not all(isinstance(item, dict) and "vein" in item for item in items):
        return None
    keys = [
        tuple(
            json.dumps(item.get(k), sort_keys=True)
            for k in ("vein", "site", "position_cm", "label")
        )
        for item in items
    ]
    return keys if len(set(keys)) == len(keys) else None


def _scalar_set(items: list[Any]) -> list[str] | None:
    # Lists of distinct scalars (clinical signs, provocation manoeuvres) are sets: their
    # order carries no meaning.
    if any(isinstance(item, dict | list) for item in items):
        return None
    keys = [json.dumps(item) for item in items]
    return keys if len(set(keys)) == len(keys) else None


def _diff_list(a: list[Any], b: list[Any], path: str, out: list[Change]) -> None:
    keys_a, keys_b = _segment_keys(a), _segment_keys(b)
    if keys_a is None or keys_b is None:
        set_a, set_b = _scalar_set(a), _scalar_set(b)
        if set_a is not None and set_b is not None:
            keys_a, keys_b = [(k,) for k in set_a], [(k,) for k in set_b]
    if keys_a is not None and keys_b is not None:
        where_a = {key: i for i, key in enumerate(keys_a)}
        in_b = set(keys_b)
        for j, key in enumerate(keys_b):
            if key in where_a:
                _diff(a[where_a[key]], b[j], f"{path}[{j}]", out)
            else:
                out.append(Change(path=f"{path}[{j}]", after=b[j], kind="added"))
        for i, key in enumerate(keys_a):
            if key not in in_b:
                out.append(Change(path=f"{path}[{i}]", before=a[i], kind="removed"))
        return
    for i in range(max(len(a), len(b))):
        if i >= len(a):
            out.append(Change(path=f"{path}[{i}]", after=b[i], kind="added"))
        elif i >= len(b):
            out.append(Change(path=f"{path}[{i}]", before=a[i], kind="removed"))
        else:
            _diff(a[i], b[i], f"{path}[{i}]", out)


def _diff(a: Any, b: Any, path: str, out: list[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a:
                out.append(Change(path=sub, after=b[key], kind="added"))
            elif key not in b:
                out.append(Change(path=sub, before=a[key], kind="removed"))
            else:
                _diff(a[key], b[key], sub, out)
    elif isinstance(a, list) and isinstance(b, list):
        _diff_list(a, b, path, out)
    elif isinstance(a, dict | list) or isinstance(b, dict | list) or not _same_scalar(a, b):
        # (a container on one side only is a change of type)
        out.append(Change(path=path, before=a, after=b, kind="changed"))


def diff_versions(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """What changed from document `a` (older) to `b` (newer), in a deterministic order:
    object keys sorted, list items in the newer document's order, then removed items.

    Measurement rows (objects with a `vein`) are matched by vein, site, position and label
    when those identify them, lists of distinct scalars are compared as sets; other lists are
    compared item by item. A pure function of the two JSON objects.
    """
    out: list[Change] = []
    _diff(a, b, "", out)
    return out
