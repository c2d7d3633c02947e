"""API: stored exams (list, create, read, versions, save, amend, sign, diff, report).

Authentication: `Authorization: Bearer <token>` (per-user tokens from `venalab user token`)
or the browser session plus the `X-CSRF-Token` header for unsafe methods. Errors: one shape
(web/errors.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from venalab.exam import ExamDocument, parse_exam_obj
from venalab.store import critical, exams
from venalab.store.models import User
from venalab.web.critical import (
    Marks,
    assess_for_write,
    assess_stored,
    criteria_of,
    criteria_with,
    mark_written,
    read_prior,
    sign_checked,
)
from venalab.web.deps import (
    ApiPrincipal,
    Db,
    ExamId,
    Principal,
    VersionNo,
    client_of,
    permitted,
    route_writes,
    state,
    write_unit,
)
from venalab.web.json_body import BoundedJsonRoute, parse_exam_body, parse_model
from venalab.web.offload import HEAVY_BYTES, run_cpu, run_heavy
from venalab.web.reports import render_exam_report
from venalab.web.schemas import (
    ERROR_RESPONSES,
    EXAM_SCHEMA_REF,
    AmendBody,
    ChangeOut,
    CommunicationBody,
    CommunicationOut,
    ExamDetail,
    ExamOut,
    SaveBody,
    SignBody,
    VersionOut,
    communication_out,
    created,
    exam_detail,
    exams_out,
    version_detail,
    version_out,
)
from venalab.web.security import report_csp

router = APIRouter(prefix="/api", tags=["exams"], route_class=BoundedJsonRoute)
B = TypeVar("B", bound=SaveBody)
Editor = Annotated[Principal, Depends(permitted("edit"))]
Amender = Annotated[Principal, Depends(permitted("amend"))]
Signer = Annotated[Principal, Depends(permitted("sign"))]


@router.get("/exams", response_model=list[ExamOut], responses=ERROR_RESPONSES)
def api_list_exams(
    s: Db,
    principal: ApiPrincipal,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ExamOut]:
    return exams_out(s, exams.list_exams(s, patient, limit=limit, offset=offset))


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
async def api_create_exam(request: Request, s: Db, principal: Editor) -> Response:
    """Store a new exam (version 1, draft)."""
    _, doc, marks = await _prepared(request, None, None)
    return created(await write_unit(s, _create, s, doc, principal.user, marks))


def _create(s: DbSession, doc: ExamDocument, user: User, marks: Marks) -> ExamDetail:
    v = exams.create_exam(s, doc, user)
    s.flush()
    mark_written(s, v.exam_id, doc, marks)  # the worklist's critical flag follows the engine
    return version_detail(s, v)


@router.get("/exams/{exam_id}", response_model=ExamDetail, responses=ERROR_RESPONSES)
def api_get_exam(exam_id: ExamId, s: Db, principal: ApiPrincipal) -> ExamDetail:
    return exam_detail(s, exam_id)


@router.get("/exams/{exam_id}/versions", response_model=list[VersionOut], responses=ERROR_RESPONSES)
def api_versions(exam_id: ExamId, s: Db, principal: ApiPrincipal) -> list[VersionOut]:
    exams.get_exam(s, exam_id)
    return [version_out(s, v) for v in exams.list_versions(s, exam_id)]


@router.get(
    "/exams/{exam_id}/versions/{version}", response_model=ExamDetail, responses=ERROR_RESPONSES
)
def api_version(exam_id: ExamId, version: VersionNo, s: Db, principal: ApiPrincipal) -> ExamDetail:
    return exam_detail(s, exam_id, version)


def _body_of(model: type[BaseModel]) -> dict[str, Any]:
    # The body is read and parsed in the CPU pool (not by FastAPI on the event loop), so the
    # OpenAPI document names its model here.
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _parse_with_document(raw: bytes, model: type[B] | None) -> tuple[B | None, ExamDocument]:
    """(body, its document); no model: the body is the document (a new exam)."""
    if model is None:
        return None, parse_exam_body(raw)
    body = parse_model(raw, model)
    return body, parse_exam_obj(body.document)


def _parse_and_assess(
    raw: bytes, model: type[B] | None, factory: sessionmaker[DbSession], exam_id: int | None
) -> tuple[B | None, ExamDocument, Marks]:
    body, doc = _parse_with_document(raw, model)
    return body, doc, assess_for_write(factory, doc, exam_id)


async def _prepared(
    request: Request, model: type[B] | None, exam_id: int | None
) -> tuple[B | None, ExamDocument, Marks]:
    """The body read and parsed, its document assessed with the patient's prior exam: all
    before the write transaction (web/critical.mark_written), one worker-thread hop for a
    usual document; a large one is parsed and assessed in a worker process."""
    raw = await request.body()
    factory = state(request).session_factory
    if len(raw) <= HEAVY_BYTES:
        return await run_cpu(_parse_and_assess, raw, model, factory, exam_id)
    body, doc = await run_heavy(_parse_with_document, raw, model)
    prior_id, prior = await run_cpu(read_prior, factory, doc, exam_id)
    return body, doc, Marks(prior_id, await run_heavy(criteria_with, doc, prior))


@router.post(
    "/exams/{exam_id}/versions",
    status_code=201,
    response_model=ExamDetail,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_of(SaveBody),
)
async def api_save(exam_id: ExamId, request: Request, s: Db, principal: Editor) -> Response:
    """Save a new draft version; 409 when `expected_version` is not the current one."""
    body, doc, marks = await _prepared(request, SaveBody, exam_id)
    assert body is not None
    return created(
        await write_unit(s, _save, s, exam_id, doc, principal.user, body.expected_version, marks)
    )


def _save(
    s: DbSession, exam_id: int, doc: ExamDocument, user: User, expected: int, marks: Marks
) -> ExamDetail:
    v = exams.save_draft(s, exam_id, doc, user, expected)
    s.flush()
    mark_written(s, exam_id, doc, marks)
    return version_detail(s, v)


@router.post(
    "/exams/{exam_id}/amend",
    status_code=201,
    response_model=ExamDetail,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_of(AmendBody),
)
async def api_amend(exam_id: ExamId, request: Request, s: Db, principal: Amender) -> Response:
    """Amend a signed exam (physicians, admins): a new draft version with a reason; the signed
    version is kept."""
    body, doc, marks = await _prepared(request, AmendBody, exam_id)
    assert body is not None
    return created(
        await write_unit(
            s, _amend, s, exam_id, doc, principal.user, body.reason, body.expected_version, marks
        )
    )


def _amend(
    s: DbSession,
    exam_id: int,
    doc: ExamDocument,
    user: User,
    reason: str,
    expected: int,
    marks: Marks,
) -> ExamDetail:
    v = exams.amend(s, exam_id, doc, user, reason, expected)
    s.flush()
    mark_written(s, exam_id, doc, marks)
    return version_detail(s, v)


@router.post("/exams/{exam_id}/sign", response_model=ExamDetail, responses=ERROR_RESPONSES)
def api_sign(
    exam_id: ExamId, body: SignBody, request: Request, s: Db, principal: Signer
) -> ExamDetail:
    """Sign the current version (physicians and admins). A version with critical results is
    signed only after their communication is documented (POST .../communications): 409
    otherwise."""
    return version_detail(
        s, sign_checked(s, exam_id, principal.user, body.expected_version, client_of(request))
    )


@router.get(
    "/exams/{exam_id}/communications",
    response_model=list[CommunicationOut],
    responses=ERROR_RESPONSES,
)
def api_communications(exam_id: ExamId, s: Db, principal: ApiPrincipal) -> list[CommunicationOut]:
    """The documented communications of the exam's critical results, oldest first."""
    exams.get_exam(s, exam_id)
    return [communication_out(s, c) for c in critical.communications(s, exam_id)]


@router.post(
    "/exams/{exam_id}/communications",
    status_code=201,
    response_model=CommunicationOut,
    responses=ERROR_RESPONSES,
)
def api_communicate(
    exam_id: ExamId, body: CommunicationBody, request: Request, s: Db, principal: Editor
) -> CommunicationOut:
    """Document the communication of a version's critical results (to whom, how, when,
    read-back); audited. 409 when the version has no critical result."""
    v = exams.get_version(s, exam_id, body.version)
    result = assess_stored(s, parse_exam_obj(v.document), exam_id)
    row = critical.record_communication(
        s,
        exam_id,
        body.version,
        principal.user,
        criteria=criteria_of(result),
        recipient=body.recipient,
        method=body.method,
        communicated_at=body.communicated_at,
        read_back=body.read_back,
        note=body.note,
        client=client_of(request),
    )
    s.flush()
    return communication_out(s, row)


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


@router.get(
    "/exams/{exam_id}/report",
    responses={200: {"content": {"application/pdf": {}, "text/html": {}}}, **ERROR_RESPONSES},
)
@route_writes(True)
async def api_report(
    exam_id: ExamId,
    request: Request,
    s: Db,
    principal: ApiPrincipal,
    audience: Literal["clinician", "patient"] = "clinician",
    format: Literal["html", "pdf"] = "pdf",
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    """The clinician report or patient letter of a stored exam (recorded in the audit log)."""
    data, media = await render_exam_report(
        s,
        exam_id,
        version,
        audience,
        format,
        principal.user,
        client_of(request),
        lab=state(request).lab,
    )
    csp = {"Content-Security-Policy": report_csp(data)} if format == "html" else None
    return Response(data, media_type=media, headers=csp)
