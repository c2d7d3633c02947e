"""API schemas (request and response bodies) and the ORM-to-schema mappers."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from venalab.exam import ExamDocument
from venalab.store import exams, models

EXAM_SCHEMA_REF = {"$ref": "#/components/schemas/ExamDocument"}
RESULT_SCHEMA_REF = {"$ref": "#/components/schemas/Result"}


class ErrorProblem(BaseModel):
    path: str
    message: str


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str
    problems: list[ErrorProblem]


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {
        "description": d,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for s, d in (
        (401, "Not authenticated"),
        (403, "Not allowed"),
        (404, "Not found"),
        (409, "Conflict"),
        (422, "Invalid input"),
    )
}


class CriteriaOut(BaseModel):
    id: str
    version: str
    title: str
    default: bool
    sources: list[str]


class MeOut(BaseModel):
    username: str
    display_name: str | None
    role: str


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    exam_id: int
    version: int
    status: Literal["draft", "signed"]
    doc_hash: str
    reason: str | None
    created_by: str
    created_at: dt.datetime
    signed_by: str | None
    signed_at: dt.datetime | None


class ExamOut(BaseModel):
    exam_id: int
    patient_id: str
    exam_date: dt.date
    status: Literal["draft", "signed"]
    current_version: int
    amended: bool
    updated_at: dt.datetime
    critical: bool = Field(
        default=False, description="The current version has a critical result (issue 18)."
    )


class ExamDetail(ExamOut):
    version: VersionOut
    document: dict[str, Any]


class SaveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any] = Field(description="An exam document (venous-exam/1)")
    expected_version: int = Field(ge=1, le=1_000_000)


class AmendBody(SaveBody):
    reason: str = Field(min_length=3, max_length=2000)


class SignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected_version: int = Field(ge=1, le=1_000_000)


class CommunicationBody(BaseModel):
    """The documented communication of a version's critical results."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=1_000_000, description="The exam version whose results.")
    recipient: str = Field(min_length=1, max_length=200, description="Who was told.")
    method: str = Field(min_length=1, max_length=32, description="How (telephone, ...).")
    communicated_at: dt.datetime = Field(description="When, with its time zone.")
    read_back: bool = Field(description="The recipient read the result back.")
    note: str | None = Field(default=None, max_length=2000)


class CommunicationOut(BaseModel):
    id: int
    exam_id: int
    version: int
    criteria: list[str]
    recipient: str
    method: str
    communicated_at: dt.datetime
    read_back: bool
    note: str | None
    documented_by: str | None
    documented_at: dt.datetime


def communication_out(s: Session, c: models.CriticalCommunication) -> CommunicationOut:
    return CommunicationOut(
        id=c.id,
        exam_id=c.exam_id,
        version=c.version,
        criteria=[x for x in c.criteria.split(",") if x],
        recipient=c.recipient,
        method=c.method,
        communicated_at=c.communicated_at,
        read_back=c.read_back,
        note=c.note,
        documented_by=username_of(s, c.documented_by),
        documented_at=c.documented_at,
    )


class ChangeOut(BaseModel):
    path: str
    kind: str
    before: Any = None
    after: Any = None


def username_of(s: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = s.get(models.User, user_id)  # the identity map first: often no query
    return user.username if user else None


def version_out(s: Session, v: models.ExamVersion) -> VersionOut:
    return VersionOut(
        exam_id=v.exam_id,
        version=v.version,
        status=v.status,
        doc_hash=v.doc_hash,
        reason=v.reason,
        created_by=username_of(s, v.created_by) or "?",
        created_at=v.created_at,
        signed_by=username_of(s, v.signed_by),
        signed_at=v.signed_at,
    )


def _exam_out(e: models.Exam, patient_local_id: str | None, amended: bool) -> ExamOut:
    return ExamOut(
        exam_id=e.id,
        patient_id=patient_local_id or "?",
        exam_date=e.exam_date,
        status=e.status,
        current_version=e.current_version,
        amended=amended,
        updated_at=e.updated_at,
        critical=e.critical,
    )


def exam_out(s: Session, e: models.Exam) -> ExamOut:
    return _exam_out(e, e.patient.local_id, exams.is_amended(s, e.id))


def exams_out(s: Session, found: list[models.Exam]) -> list[ExamOut]:
    """`exam_out` of many exams in two queries (patients, amended ones), not two per exam."""
    local_ids = exams.patient_local_ids(s, {e.patient_id for e in found})
    amended = exams.amended_exams(s, [e.id for e in found])
    return [_exam_out(e, local_ids.get(e.patient_id), e.id in amended) for e in found]


def version_detail(s: Session, v: models.ExamVersion) -> ExamDetail:
    """The exam (current state) with version `v` and its document."""
    e = v.exam  # loaded with the version by the store
    return ExamDetail(**exam_out(s, e).model_dump(), version=version_out(s, v), document=v.document)


def created(detail: ExamDetail) -> Response:
    """201 with `detail`, serialised once (pydantic's serialiser), not validated again as
    FastAPI does with a returned model (the route's response_model documents it)."""
    return Response(detail.model_dump_json(), status_code=201, media_type="application/json")


def exam_detail(s: Session, exam_id: int, version: int | None = None) -> ExamDetail:
    return version_detail(s, exams.get_version(s, exam_id, version))


def openapi_components() -> dict[str, Any]:
    """Schemas the API references by name: the exam and result documents, the error shape and
    the bodies the handlers read themselves (SaveBody, AmendBody, DraftBody: parsed off the event
    loop, so
    FastAPI does not see them).

    Generated together so that same-named models of the two documents (e.g. `Legs`) get
    distinct component names.
    """
    from pydantic.json_schema import models_json_schema

    from venalab.result import Result

    keys, top = models_json_schema(
        [
            (ExamDocument, "validation"),
            (Result, "serialization"),
            (ErrorBody, "validation"),
            (SaveBody, "validation"),
            (AmendBody, "validation"),
            (DraftBody, "validation"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    comps: dict[str, Any] = dict(top.get("$defs", {}))
    for (model, _mode), ref in keys.items():
        name = ref["$ref"].rsplit("/", 1)[-1]
        if model.__name__ != name:
            comps[model.__name__] = {"$ref": ref["$ref"]}
    return comps


# --- worksheet drafts and the live interpretation (issue 16) ---------------------------


class DraftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any] = Field(
        description="The worksheet as typed (not necessarily a valid exam document)"
    )
    title: str = Field(default="", max_length=200, description="How the draft is listed")
    page: str = Field(default="/worksheet", max_length=200, description="Page to reopen it on")
    base_version: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Stored version the edit started from"
    )


class DraftOut(BaseModel):
    key: str
    title: str
    page: str
    base_version: int | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, d: models.WorksheetDraft) -> DraftOut:
        return cls(
            key=d.key,
            title=d.title,
            page=d.page,
            base_version=d.base_version,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


class DraftDetail(DraftOut):
    document: dict[str, Any]


class DraftDeleted(BaseModel):
    deleted: bool


class LiveAssessment(BaseModel):
    """The worksheet's live answer (web/worksheet_live.py)."""

    problems: list[ErrorProblem]
    assumed: list[str] = Field(description="Fields given a stand-in (no verdict depends on them)")
    left_out: list[str] = Field(description="Invalid values left out of the interpretation")
    rows: dict[str, list[int]] = Field(
        description="Per leg: which sent segments the result's segments are, in order"
    )
    result: dict[str, Any] | None = Field(description="The result document, or null")
    map: str = Field(description="The venous map (SVG) of the result")
