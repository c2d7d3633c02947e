"""Pages of the lab's daily work: worklist, patient timeline, worksheet, import, exam view,
sign-off, history and reports."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from venalab.criteria import CRITERIA
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.report.render import Audience
from venalab.report.render import Format as ReportFormat
from venalab.report.venous_map import render_venous_map
from venalab.store import exams, models, users
from venalab.web.deps import Db, ExamId, Principal, client_of, route_writes
from venalab.web.offload import run_sized
from venalab.web.rendering import PagePrincipal, check_form_csrf, page_permitted, render
from venalab.web.reports import render_exam_report, signoff_of
from venalab.web.trend import trend_svg

router = APIRouter(include_in_schema=False)
Signer = Annotated[Principal, Depends(page_permitted("sign"))]


@router.get("/", response_class=HTMLResponse)
def worklist(
    request: Request,
    s: Db,
    p: PagePrincipal,
    patient: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    rows = []
    for e in exams.list_exams(s, patient, limit=200):
        pat = s.get(models.Patient, e.patient_id)
        rows.append({"exam": e, "patient": pat})
    return render(
        request, "worklist.html", p, rows=rows, patient=patient, patients=exams.list_patients(s)
    )


@router.get("/patients/{local_id}", response_class=HTMLResponse)
def patient_page(request: Request, local_id: str, s: Db, p: PagePrincipal) -> HTMLResponse:
    patient = exams.get_patient(s, local_id)
    timeline = []
    for e in sorted(exams.list_exams(s, local_id, limit=500), key=lambda e: e.exam_date):
        v = exams.get_version(s, e.id)
        doc = parse_exam_obj(v.document)
        result = assess(doc)
        for side in ("left", "right"):
            leg = result.leg(side)
            if leg is None:
                continue
            timeline.append(
                {
                    "exam": e,
                    "side": side,
                    "date": e.exam_date,
                    "ceap": leg.ceap.basic,
                    "c": leg.ceap.c_basic,
                    "vcss": leg.vcss.total if leg.vcss else None,
                    "vcss_complete": leg.vcss.complete if leg.vcss else None,
                    "thrombosis": leg.thrombosis.classification,
                }
            )
    return render(
        request, "patient.html", p, patient=patient, timeline=timeline, chart=trend_svg(timeline)
    )


# ----------------------------------------------------------------------------- worksheet


@router.get("/worksheet", response_class=HTMLResponse)
def worksheet_new(
    request: Request, p: PagePrincipal, patient: Annotated[str | None, Query(max_length=64)] = None
) -> HTMLResponse:
    doc: dict[str, Any] = {
        "format": "venous-exam/1",
        "patient": {"id": patient or "", "sex": "unknown"},
        "exam": {"date": dt.date.today().isoformat()},
        "legs": {},
    }
    return render(
        request,
        "worksheet.html",
        p,
        exam=None,
        version=None,
        mode="create",
        document=json.dumps(doc),
        criteria=list(CRITERIA.values()),
    )


@router.get("/exams/{exam_id}/edit", response_class=HTMLResponse)
def worksheet_edit(request: Request, exam_id: ExamId, s: Db, p: PagePrincipal) -> HTMLResponse:
    e = exams.get_exam(s, exam_id)
    v = exams.get_version(s, exam_id)
    mode = "amend" if v.status == "signed" else "save"
    return render(
        request,
        "worksheet.html",
        p,
        exam=e,
        version=v,
        mode=mode,
        document=json.dumps(v.document),
        criteria=list(CRITERIA.values()),
    )


# ----------------------------------------------------------------------------- import

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, p: PagePrincipal) -> HTMLResponse:
    return render(request, "import.html", p, problems=[], error=None)


@router.post("/import", response_class=HTMLResponse)
@route_writes(False)
async def import_upload(
    request: Request,
    p: PagePrincipal,
    file: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """A DICOM SR or FHIR R4 Bundle becomes a worksheet to review; nothing is stored until the
    user saves it, and what could not be mapped is listed."""
    check_form_csrf(p, csrf_token)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return render(
            request,
            "import.html",
            p,
            status=413,
            problems=[],
            error="The file is larger than 20 MB.",
        )
    try:
        imported = await run_sized(len(data), _import_file, data, file.filename or "")
    except NotImportable:
        return render(
            request,
            "import.html",
            p,
            status=422,
            problems=[],
            error="The file is neither a DICOM file nor FHIR JSON.",
        )
    except InvalidInput as e:
        return render(
            request,
            "import.html",
            p,
            status=422,
            problems=e.as_dicts(),
            error=f"Nothing imported: invalid {e.what}.",
        )
    return render(
        request,
        "worksheet.html",
        p,
        exam=None,
        version=None,
        mode="create",
        document=imported.document,
        criteria=list(CRITERIA.values()),
        imported={
            "kind": imported.kind,
            "name": file.filename,
            "unmapped": imported.unmapped,
            "notes": imported.notes,
        },
    )


class NotImportable(ValueError):
    """Neither a DICOM file nor JSON."""


@dataclass(frozen=True)
class Imported:
    kind: str
    document: str  # the exam document's JSON
    unmapped: list[str]
    notes: list[str]


def _import_file(data: bytes, filename: str) -> Imported:
    # Runs in the CPU pool: DICOM and FHIR parsing are CPU-bound.
    from venalab.interop.fhir_import import import_bundle
    from venalab.interop.sr_import import import_sr_bytes

    if data[128:132] == b"DICM" or filename.lower().endswith(".dcm"):
        sr = import_sr_bytes(data, name=filename or "<upload>")
        unmapped = [f"{u.path}: {u.reason}" for u in sr.unmapped]
        return Imported("DICOM SR", sr.exam.to_json(), unmapped, list(sr.decisions))
    try:
        bundle = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise NotImportable(filename) from None
    fhir = import_bundle(bundle)
    unmapped = [f"{a}: {b}" for a, b in fhir.unmapped]
    return Imported("FHIR R4 Bundle", fhir.exam.to_json(), unmapped, list(fhir.notes))


# ----------------------------------------------------------------------------- exam view


@router.get("/exams/{exam_id}", response_class=HTMLResponse)
def exam_view(
    request: Request,
    exam_id: ExamId,
    s: Db,
    p: PagePrincipal,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> HTMLResponse:
    e = exams.get_exam(s, exam_id)
    v = exams.get_version(s, exam_id, version)
    doc: ExamDocument = parse_exam_obj(v.document)
    result = assess(doc)
    return render(
        request,
        "exam.html",
        p,
        exam=e,
        version=v,
        doc=doc,
        result=result,
        signoff=signoff_of(s, v),
        venous_map=render_venous_map(result),
        can_sign=users.can(p.user, "sign")
        and v.status != "signed"
        and v.version == e.current_version,
        is_current=v.version == e.current_version,
        usernames=_usernames(s),
    )


def _usernames(s: Db) -> dict[int, str]:
    return {u.id: u.username for u in users.list_users(s)}


@router.post("/exams/{exam_id}/sign", response_model=None)
def exam_sign(
    request: Request,
    exam_id: ExamId,
    s: Db,
    p: Signer,
    expected_version: Annotated[int, Form(ge=1)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_form_csrf(p, csrf_token)
    exams.sign(s, exam_id, p.user, expected_version)
    return RedirectResponse(f"/exams/{exam_id}", status_code=303)


@router.get("/exams/{exam_id}/history", response_class=HTMLResponse)
def exam_history(request: Request, exam_id: ExamId, s: Db, p: PagePrincipal) -> HTMLResponse:
    e = exams.get_exam(s, exam_id)
    versions = exams.list_versions(s, exam_id)
    diffs = {}
    for prev, cur in itertools.pairwise(versions):
        diffs[cur.version] = exams.diff_versions(prev.document, cur.document)
    return render(
        request, "history.html", p, exam=e, versions=versions, diffs=diffs, usernames=_usernames(s)
    )


@router.get("/exams/{exam_id}/report", response_model=None)
@route_writes(True)
async def exam_report(
    request: Request,
    exam_id: ExamId,
    s: Db,
    p: PagePrincipal,
    audience: str = "clinician",
    format: str = "html",
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    if audience not in ("clinician", "patient") or format not in ("html", "pdf"):
        return render(
            request,
            "message.html",
            p,
            status=422,
            message="audience must be clinician or patient; format html or pdf",
        )
    data, media = await render_exam_report(
        s,
        exam_id,
        version,
        cast(Audience, audience),
        cast(ReportFormat, format),
        p.user,
        client_of(request),
    )
    headers = {}
    if format == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="venalab-exam-{exam_id}.pdf"'
    return Response(data, media_type=media, headers=headers)
