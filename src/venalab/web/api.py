"""REST API (JSON, OpenAPI at /openapi.json). Errors: see web/errors.py.

Authentication: `Authorization: Bearer <token>` (per-user tokens from `venalab user token`)
or the browser session plus the `X-CSRF-Token` header for unsafe methods.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from venalab.criteria import CRITERIA, get_criteria
from venalab.engine import assess
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.report.render import Audience, render_report
from venalab.report.render import Format as ReportFormat
from venalab.report.view import SignOff
from venalab.result import EngineOptions
from venalab.store import audit, exams, models
from venalab.web.deps import ApiPrincipal, Db, ExamId, VersionNo, client_of, require_role
from venalab.web.errors import ApiError, error_body

router = APIRouter(prefix="/api", tags=["api"])

EXAM_SCHEMA_REF = {"$ref": "#/components/schemas/ExamDocument"}
RESULT_SCHEMA_REF = {"$ref": "#/components/schemas/Result"}
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


class ChangeOut(BaseModel):
    path: str
    kind: str
    before: Any = None
    after: Any = None


def _username(s: Db, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = s.get(models.User, user_id)
    return user.username if user else None


def version_out(s: Db, v: models.ExamVersion) -> VersionOut:
    return VersionOut(
        exam_id=v.exam_id,
        version=v.version,
        status=v.status,
        doc_hash=v.doc_hash,
        reason=v.reason,
        created_by=_username(s, v.created_by) or "?",
        created_at=v.created_at,
        signed_by=_username(s, v.signed_by),
        signed_at=v.signed_at,
    )


def exam_out(s: Db, e: models.Exam) -> ExamOut:
    patient = s.get(models.Patient, e.patient_id)
    amended = any(v.reason for v in exams.list_versions(s, e.id))
    return ExamOut(
        exam_id=e.id,
        patient_id=patient.local_id if patient else "?",
        exam_date=e.exam_date,
        status=e.status,
        current_version=e.current_version,
        amended=amended,
        updated_at=e.updated_at,
    )


def _parse(document: Any) -> ExamDocument:
    return parse_exam_obj(document)


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, f"body is not valid JSON: {e}") from None


@router.post(
    "/assess",
    summary="Interpret an exam document (stateless)",
    response_model=None,
    responses={
        200: {
            "description": "The result document",
            "content": {"application/json": {"schema": RESULT_SCHEMA_REF}},
        },
        **ERROR_RESPONSES,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EXAM_SCHEMA_REF}},
        }
    },
)
async def api_assess(
    request: Request,
    principal: ApiPrincipal,
    criteria: Annotated[str | None, Query(description=f"One of {', '.join(CRITERIA)}")] = None,
) -> Response:
    """Exam document in, result document out. Nothing is stored."""
    cs = get_criteria(criteria)
    exam = _parse(await _json_body(request))
    result = assess(exam, cs, EngineOptions(criteria=cs.id))
    return Response(result.to_json(), media_type="application/json")


@router.get("/criteria", summary="The reflux criteria sets")
def api_criteria(principal: ApiPrincipal) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "version": c.version,
            "title": c.title,
            "default": c.default,
            "sources": list(c.sources),
        }
        for c in CRITERIA.values()
    ]


@router.get("/me", summary="The authenticated user")
def api_me(principal: ApiPrincipal) -> dict[str, Any]:
    u = principal.user
    return {"username": u.username, "display_name": u.display_name, "role": u.role}


@router.get("/exams", response_model=list[ExamOut], responses=ERROR_RESPONSES)
def api_list_exams(
    s: Db,
    principal: ApiPrincipal,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ExamOut]:
    return [exam_out(s, e) for e in exams.list_exams(s, patient, limit=limit, offset=offset)]


@router.post(
    "/exams",
    status_code=201,
    response_model=ExamDetail,
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EXAM_SCHEMA_REF}},
        }
    },
)
async def api_create_exam(request: Request, s: Db, principal: ApiPrincipal) -> ExamDetail:
    """Store a new exam (version 1, draft)."""
    require_role(principal, "sonographer", "physician", "admin")
    doc = _parse(await _json_body(request))
    v = exams.create_exam(s, doc, principal.user)
    s.flush()
    return _detail(s, v.exam_id)


def _detail(s: Db, exam_id: int, version: int | None = None) -> ExamDetail:
    e = exams.get_exam(s, exam_id)
    v = exams.get_version(s, exam_id, version)
    base = exam_out(s, e)
    return ExamDetail(**base.model_dump(), version=version_out(s, v), document=v.document)


@router.get("/exams/{exam_id}", response_model=ExamDetail, responses=ERROR_RESPONSES)
def api_get_exam(exam_id: ExamId, s: Db, principal: ApiPrincipal) -> ExamDetail:
    return _detail(s, exam_id)


@router.get("/exams/{exam_id}/versions", response_model=list[VersionOut], responses=ERROR_RESPONSES)
def api_versions(exam_id: ExamId, s: Db, principal: ApiPrincipal) -> list[VersionOut]:
    exams.get_exam(s, exam_id)
    return [version_out(s, v) for v in exams.list_versions(s, exam_id)]


@router.get(
    "/exams/{exam_id}/versions/{version}", response_model=ExamDetail, responses=ERROR_RESPONSES
)
def api_version(exam_id: ExamId, version: VersionNo, s: Db, principal: ApiPrincipal) -> ExamDetail:
    return _detail(s, exam_id, version)


@router.post(
    "/exams/{exam_id}/versions",
    status_code=201,
    response_model=ExamDetail,
    responses=ERROR_RESPONSES,
)
def api_save(exam_id: ExamId, body: SaveBody, s: Db, principal: ApiPrincipal) -> ExamDetail:
    """Save a new draft version; 409 when `expected_version` is not the current one."""
    require_role(principal, "sonographer", "physician", "admin")
    doc = _parse(body.document)
    v = exams.save_draft(s, exam_id, doc, principal.user, body.expected_version)
    s.flush()
    return _detail(s, exam_id, v.version)


@router.post(
    "/exams/{exam_id}/amend", status_code=201, response_model=ExamDetail, responses=ERROR_RESPONSES
)
def api_amend(exam_id: ExamId, body: AmendBody, s: Db, principal: ApiPrincipal) -> ExamDetail:
    """Amend a signed exam (physicians, admins): a new draft version with a reason; the signed
    version is kept."""
    require_role(principal, "physician", "admin")
    doc = _parse(body.document)
    v = exams.amend(s, exam_id, doc, principal.user, body.reason, body.expected_version)
    s.flush()
    return _detail(s, exam_id, v.version)


@router.post("/exams/{exam_id}/sign", response_model=ExamDetail, responses=ERROR_RESPONSES)
def api_sign(exam_id: ExamId, body: SignBody, s: Db, principal: ApiPrincipal) -> ExamDetail:
    """Sign the current version (physicians and admins)."""
    require_role(principal, "physician", "admin")
    v = exams.sign(s, exam_id, principal.user, body.expected_version)
    s.flush()
    return _detail(s, exam_id, v.version)


@router.get("/exams/{exam_id}/diff", response_model=list[ChangeOut], responses=ERROR_RESPONSES)
def api_diff(
    exam_id: ExamId,
    s: Db,
    principal: ApiPrincipal,
    from_version: Annotated[int, Query(alias="from", ge=1, le=1_000_000)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=1_000_000)],
) -> list[ChangeOut]:
    a = exams.get_version(s, exam_id, from_version)
    b = exams.get_version(s, exam_id, to_version)
    return [
        ChangeOut(path=c.path, kind=c.kind, before=c.before, after=c.after)
        for c in exams.diff_versions(a.document, b.document)
    ]


def signoff_of(s: Db, v: models.ExamVersion, versions: list[models.ExamVersion]) -> SignOff:
    amended = any(x.reason for x in versions if x.version <= v.version)
    status: Literal["draft", "signed", "amended"] = (
        "draft" if v.status != "signed" else ("amended" if amended else "signed")
    )
    return SignOff(
        status=status,
        signer=_username(s, v.signed_by),
        signed_at=v.signed_at,
        version=v.version,
        amendment_reason=v.reason,
    )


def render_exam_report(
    s: Db,
    exam_id: int,
    version: int | None,
    audience: Audience,
    fmt: ReportFormat,
    principal_user: models.User,
    client: str,
) -> tuple[bytes, str]:
    v = exams.get_version(s, exam_id, version)
    doc = parse_exam_obj(v.document)
    data = render_report(
        doc,
        assess(doc),
        audience,
        fmt,
        signoff=signoff_of(s, v, exams.list_versions(s, exam_id)),
    )
    audit.record(
        s,
        "view-report",
        user=principal_user,
        entity="exam",
        entity_id=exam_id,
        version=v.version,
        doc_hash=v.doc_hash,
        detail={"audience": audience, "format": fmt},
        client=client,
    )
    return data, ("application/pdf" if fmt == "pdf" else "text/html; charset=utf-8")


@router.get(
    "/exams/{exam_id}/report",
    responses={200: {"content": {"application/pdf": {}, "text/html": {}}}, **ERROR_RESPONSES},
)
def api_report(
    exam_id: ExamId,
    request: Request,
    s: Db,
    principal: ApiPrincipal,
    audience: Literal["clinician", "patient"] = "clinician",
    format: Literal["html", "pdf"] = "pdf",
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    """The clinician report or patient letter of a stored exam (recorded in the audit log)."""
    data, media = render_exam_report(
        s, exam_id, version, audience, format, principal.user, client_of(request)
    )
    return Response(data, media_type=media)


def openapi_components() -> dict[str, Any]:
    """Schemas referenced above: the exam and result documents and the error shape.

    Generated together so that same-named models of the two documents (e.g. `Legs`) get
    distinct component names.
    """
    from pydantic.json_schema import models_json_schema

    from venalab.result import Result

    keys, top = models_json_schema(
        [(ExamDocument, "validation"), (Result, "serialization"), (ErrorBody, "validation")],
        ref_template="#/components/schemas/{model}",
    )
    comps: dict[str, Any] = dict(top.get("$defs", {}))
    for (model, _mode), ref in keys.items():
        name = ref["$ref"].rsplit("/", 1)[-1]
        if model.__name__ != name:
            comps[model.__name__] = {"$ref": ref["$ref"]}
    return comps


def example_error() -> dict[str, Any]:
    return error_body(
        422,
        "invalid exam document",
        [{"path": "legs.left.segments[0].reflux_ms", "message": "Input should be a valid number"}],
    )
