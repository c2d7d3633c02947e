"""API: stored exams (list, create, read, versions, save, amend, sign, diff, report).

Authentication: `Authorization: Bearer <token>` (per-user tokens from `venalab user token`)
or the browser session plus the `X-CSRF-Token` header for unsafe methods. Errors: one shape
(web/errors.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from venalab.exam import parse_exam_obj
from venalab.store import critical, exams
from venalab.web.critical import assess_stored, criteria_of, mark_current, sign_checked
from venalab.web.deps import ApiPrincipal, Db, ExamId, Principal, VersionNo, client_of, permitted
from venalab.web.json_body import BoundedJsonRoute, json_body
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
    exam_detail,
    exam_out,
    version_out,
)

router = APIRouter(prefix="/api", tags=["exams"], route_class=BoundedJsonRoute)
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
async def api_create_exam(request: Request, s: Db, principal: Editor) -> ExamDetail:
    """Store a new exam (version 1, draft)."""
    doc = parse_exam_obj(await json_body(request))
    v = exams.create_exam(s, doc, principal.user)
    s.flush()
    mark_current(s, v.exam_id)
    return exam_detail(s, v.exam_id)


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


@router.post(
    "/exams/{exam_id}/versions",
    status_code=201,
    response_model=ExamDetail,
    responses=ERROR_RESPONSES,
)
def api_save(exam_id: ExamId, body: SaveBody, s: Db, principal: Editor) -> ExamDetail:
    """Save a new draft version; 409 when `expected_version` is not the current one."""
    doc = parse_exam_obj(body.document)
    v = exams.save_draft(s, exam_id, doc, principal.user, body.expected_version)
    s.flush()
    mark_current(s, exam_id)
    return exam_detail(s, exam_id, v.version)


@router.post(
    "/exams/{exam_id}/amend", status_code=201, response_model=ExamDetail, responses=ERROR_RESPONSES
)
def api_amend(exam_id: ExamId, body: AmendBody, s: Db, principal: Amender) -> ExamDetail:
    """Amend a signed exam (physicians, admins): a new draft version with a reason; the signed
    version is kept."""
    doc = parse_exam_obj(body.document)
    v = exams.amend(s, exam_id, doc, principal.user, body.reason, body.expected_version)
    s.flush()
    mark_current(s, exam_id)
    return exam_detail(s, exam_id, v.version)


@router.post("/exams/{exam_id}/sign", response_model=ExamDetail, responses=ERROR_RESPONSES)
def api_sign(
    exam_id: ExamId, body: SignBody, request: Request, s: Db, principal: Signer
) -> ExamDetail:
    """Sign the current version (physicians and admins). A version with critical results is
    signed only after their communication is documented (POST .../communications): 409
    otherwise."""
    v = sign_checked(s, exam_id, principal.user, body.expected_version, client_of(request))
    s.flush()
    return exam_detail(s, exam_id, v.version)


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
