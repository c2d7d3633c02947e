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
from starlette.concurrency import run_in_threadpool

from venalab.bounded import NotJson, decode_json
from venalab.conclusion import is_stale, with_conclusion
from venalab.criteria import CRITERIA
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import CONCLUSION_MAX_CHARS, ExamDocument, Side, parse_exam_obj, parse_exam_text
from venalab.impression import proposal_text
from venalab.interop.sr_import import PlainGsvPolicy
from venalab.limits import LIMITS, describe_bytes
from venalab.report.render import Audience
from venalab.report.render import Format as ReportFormat
from venalab.report.venous_map import render_venous_map
from venalab.rules.comparison import LegComparison, course_text
from venalab.rules.critical import CRITICAL
from venalab.store import critical, exams, models, users
from venalab.store.errors import InvalidValue
from venalab.store.integrity import check_signed
from venalab.web.critical import assess_stored, criteria_of, mark_current, sign_checked
from venalab.web.deps import Db, ExamId, Principal, client_of, route_writes, state
from venalab.web.offload import run_sized
from venalab.web.rendering import PagePrincipal, check_form_csrf, page_permitted, render
from venalab.web.reports import render_exam_report, signoff_of
from venalab.web.security import report_csp
from venalab.web.trend import trend_svg
from venalab.web.worksheet_form import worksheet_form

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
    for e in exams.list_exams(s, patient, limit=200, critical_first=True):
        pat = s.get(models.Patient, e.patient_id)
        rows.append({"exam": e, "patient": pat})
    from venalab.store.interop import list_incoming, list_orders

    orders = [o for o in list_orders(s, "scheduled") if patient in (None, o.patient_local_id)]
    return render(
        request,
        "worklist.html",
        p,
        rows=rows,
        patient=patient,
        patients=exams.list_patients(s),
        orders=orders,
        incoming=len(list_incoming(s, "pending")),
    )


@router.get("/patients/{local_id:path}", response_class=HTMLResponse)
def patient_page(request: Request, local_id: str, s: Db, p: PagePrincipal) -> HTMLResponse:
    patient = exams.get_patient(s, local_id)
    timeline = []
    seen: list[ExamDocument] = []
    for e in sorted(exams.list_exams(s, local_id, limit=500), key=lambda e: (e.exam_date, e.id)):
        v = exams.get_version(s, e.id)
        doc = parse_exam_obj(v.document)
        # each exam against the latest one before its date (the prior the exam view uses)
        prior = next((d for d in reversed(seen) if d.exam.date < doc.exam.date), None)
        result = assess(doc, prior=prior)
        seen.append(doc)
        for side in ("left", "right"):
            leg = result.leg(side)
            if leg is None:
                continue
            compared = result.comparison.leg(side) if result.comparison else None
            timeline.append(
                {
                    "exam": e,
                    "side": side,
                    "date": e.exam_date,
                    "ceap": leg.ceap.basic if leg.ceap else "not assessed",
                    "c": leg.ceap.c_basic if leg.ceap else None,
                    "vcss": leg.vcss.total if leg.vcss else None,
                    "vcss_upper": leg.vcss.upper_bound if leg.vcss else None,
                    "vcss_complete": leg.vcss.complete if leg.vcss else None,
                    "thrombosis": leg.thrombosis.classification,
                    "since": _since(compared) if compared else "",
                    "critical": any(c.leg == side for c in result.critical),
                }
            )
    return render(
        request, "patient.html", p, patient=patient, timeline=timeline, chart=trend_svg(timeline)
    )


def _since(lc: LegComparison) -> str:
    """One line of what changed in a leg since the previous exam (timeline column)."""
    parts = [course_text(lc.course)] if lc.course != "none" else []
    parts += [c.text for c in lc.changes if c.changed and c.kind != "thrombus"]
    return "; ".join(parts) or "no change"


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
        document=doc,
        criteria=list(CRITERIA.values()),
        form=worksheet_form(),
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
        document=v.document,
        criteria=list(CRITERIA.values()),
        form=worksheet_form(),
        draft_key=f"exam-{exam_id}",
    )


# ----------------------------------------------------------------------------- import

MAX_UPLOAD_BYTES = LIMITS.upload_bytes
_UPLOAD = "uploaded file"


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, p: PagePrincipal) -> HTMLResponse:
    return render(request, "import.html", p, problems=[], error=None)


@router.post("/import", response_class=HTMLResponse)
@route_writes(False)
async def import_upload(
    request: Request,
    s: Db,
    p: PagePrincipal,
    file: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
    side: Annotated[str, Form(pattern="^(|left|right)$")] = "",
    plain_gsv: Annotated[str, Form(pattern="^(by-site|thigh|calf|skip)$")] = "by-site",
) -> HTMLResponse:
    """A DICOM SR, a FHIR R4 Bundle or a venalab exam (JSON/YAML) becomes a worksheet to
    review; nothing is stored until the user saves it, and what could not be mapped is
    listed. An SR uses the lab's local-code map (Admin > SR codes) and the leg and plain-GSV
    policy chosen on the page; a field the file lacks is asked for in the worksheet."""
    from venalab.store.interop import local_code_map
    from venalab.web.routes.incoming import review_worksheet

    check_form_csrf(p, csrf_token)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return render(
            request,
            "import.html",
            p,
            status=413,
            problems=[],
            error=f"The file is larger than {describe_bytes(MAX_UPLOAD_BYTES)} (input limit).",
        )
    name = file.filename or "<upload>"
    code_map = await run_in_threadpool(local_code_map, s)
    try:
        # parsing a file is CPU work: off the event loop (a worker process when large)
        found = await run_sized(len(data), _import_file, data, name, code_map, side, plain_gsv)
    except NotImportable:
        return render(
            request,
            "import.html",
            p,
            status=422,
            problems=[],
            error="The file is neither a DICOM file, a FHIR R4 Bundle (JSON) nor "
            "a venalab exam (JSON or YAML).",
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
    return review_worksheet(
        request,
        p,
        json.loads(found.document),
        kind=found.kind,
        name=name,
        unmapped=found.unmapped,
        notes=found.notes,
        missing=found.missing,
    )


class NotImportable(ValueError):
    """Neither a DICOM file, a FHIR Bundle nor a venalab exam."""


@dataclass(frozen=True)
class Imported:
    kind: str
    document: str  # the exam document's JSON
    unmapped: list[str]
    notes: list[str]
    missing: list[dict[str, str]]


def _import_file(
    data: bytes, name: str, code_map: dict[str, object], side: str, plain_gsv: str
) -> Imported:
    """An uploaded file as a worksheet document (runs in the CPU pool)."""
    from venalab.interop.fhir_import import import_bundle
    from venalab.interop.sr_import import import_sr_bytes

    if data[128:132] == b"DICM" or name.lower().endswith(".dcm"):
        sr = import_sr_bytes(
            data,
            code_map,
            side=cast(Side, side) if side else None,
            plain_gsv=cast(PlainGsvPolicy, plain_gsv),
            name=name,
        )
        return Imported(
            "DICOM SR",
            json.dumps(sr.document),
            [f"{u.path}: {u.reason}" for u in sr.unmapped],
            list(sr.decisions),
            [{"path": m.path, "message": m.message} for m in sr.missing],
        )
    exam_doc = _venalab_exam(data, name)
    if exam_doc is not None:
        return Imported("venalab exam", exam_doc.to_json(), [], [], [])
    try:
        bundle = decode_json(data, _UPLOAD, size_limit=MAX_UPLOAD_BYTES)
    except NotJson:
        raise NotImportable(name) from None
    fhir = import_bundle(bundle)
    unmapped = [f"{a}: {b}" for a, b in fhir.unmapped]
    return Imported("FHIR R4 Bundle", fhir.exam.to_json(), unmapped, list(fhir.notes), [])


def _venalab_exam(data: bytes, name: str) -> ExamDocument | None:
    """venalab's own exam document (JSON with its format tag, or YAML), else None.

    An exam document that fails validation raises InvalidInput (its problems are shown)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:  # within the input limits: deep or huge JSON is refused with its path
            obj = decode_json(text, _UPLOAD, size_limit=MAX_UPLOAD_BYTES)
        except NotJson:
            return None
        if not isinstance(obj, dict) or obj.get("format") != "venous-exam/1":
            return None
        return parse_exam_obj(obj)
    if name.lower().endswith((".yaml", ".yml")) or stripped.startswith(("format:", "---")):
        return parse_exam_text(text, name=name)
    return None


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
    result = assess_stored(s, doc, exam_id)
    told = critical.communications(s, exam_id, v.version)
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
        communications=told,
        communicated=any(c.read_back for c in told),
        can_document=users.can(p.user, "edit") and v.status != "signed",
        methods=CRITICAL.communication.methods,
        now=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M"),
        proposal=proposal_text(result),
        conclusion_stale=is_stale(doc, result),
        can_conclude=users.can(p.user, "sign") and v.version == e.current_version,
    )


@router.post("/exams/{exam_id}/communications", response_model=None)
def exam_communicate(
    request: Request,
    exam_id: ExamId,
    s: Db,
    p: PagePrincipal,
    version: Annotated[int, Form(ge=1, le=1_000_000)],
    recipient: Annotated[str, Form(max_length=200)],
    method: Annotated[str, Form(max_length=32)],
    communicated_at: Annotated[str, Form(max_length=40)],
    read_back: Annotated[bool, Form()] = False,
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The communication form of the exam page: documents who was told, how, when and the
    read-back of a version's critical results (needed before sign-off); audited."""
    check_form_csrf(p, csrf_token)
    v = exams.get_version(s, exam_id, version)
    result = assess_stored(s, parse_exam_obj(v.document), exam_id)
    try:
        when = dt.datetime.fromisoformat(communicated_at)
    except ValueError:
        raise InvalidValue(
            "communicated_at", "use the date and time, e.g. 2025-03-10T09:30"
        ) from None
    if when.tzinfo is None:  # the form's datetime-local field is entered in UTC (labelled so)
        when = when.replace(tzinfo=dt.UTC)
    critical.record_communication(
        s,
        exam_id,
        version,
        p.user,
        criteria=criteria_of(result),
        recipient=recipient,
        method=method,
        communicated_at=when,
        read_back=read_back,
        note=note or None,
        client=client_of(request),
    )
    return RedirectResponse(f"/exams/{exam_id}", status_code=303)


def _usernames(s: Db) -> dict[int, str]:
    return {u.id: u.username for u in users.list_users(s)}


@router.post("/exams/{exam_id}/conclusion", response_model=None)
def exam_conclusion(
    request: Request,
    exam_id: ExamId,
    s: Db,
    p: Signer,
    expected_version: Annotated[int, Form(ge=1, le=1_000_000)],
    text: Annotated[str, Form(max_length=CONCLUSION_MAX_CHARS)] = "",
    comment: Annotated[str, Form(max_length=CONCLUSION_MAX_CHARS)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The physician's conclusion (physicians, admins): saved as a new draft version of the
    document, or, on a signed exam, as an amendment with its reason; signing then signs it.
    An empty text goes back to the engine's proposal."""
    check_form_csrf(p, csrf_token)
    e = exams.get_exam(s, exam_id)
    v = exams.get_version(s, exam_id, expected_version)
    doc = parse_exam_obj(v.document)
    updated = with_conclusion(doc, assess_stored(s, doc, exam_id), text, comment)
    if updated == doc:
        return RedirectResponse(f"/exams/{exam_id}", status_code=303)
    if e.status == "signed":
        exams.amend(
            s, exam_id, updated, p.user, reason, expected_version, client=client_of(request)
        )
    else:
        exams.save_draft(s, exam_id, updated, p.user, expected_version, client=client_of(request))
    s.flush()
    mark_current(s, exam_id, updated)
    return RedirectResponse(f"/exams/{exam_id}", status_code=303)


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
    sign_checked(s, exam_id, p.user, expected_version, client_of(request))
    return RedirectResponse(f"/exams/{exam_id}", status_code=303)


@router.get("/exams/{exam_id}/history", response_class=HTMLResponse)
def exam_history(request: Request, exam_id: ExamId, s: Db, p: PagePrincipal) -> HTMLResponse:
    e = exams.get_exam(s, exam_id)
    versions = [check_signed(v) for v in exams.list_versions(s, exam_id)]
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
        lab=state(request).lab,
    )
    headers = {}
    if format == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="venalab-exam-{exam_id}.pdf"'
    else:
        headers["Content-Security-Policy"] = report_csp(data)
    return Response(data, media_type=media, headers=headers)
