"""Server-rendered pages: login, worklist, worksheet, exam view, history, patient timeline,
reports, and the admin pages (users, audit log)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from venalab.criteria import CRITERIA
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.report.render import Audience
from venalab.report.render import Format as ReportFormat
from venalab.report.venous_map import render_venous_map
from venalab.store import audit, exams, models, users
from venalab.store.errors import StoreError
from venalab.web.api import render_exam_report, signoff_of
from venalab.web.deps import Db, ExamId, Principal, client_of, optional_principal, state
from venalab.web.security import CSRF_FIELD, SESSION_COOKIE, csrf_ok
from venalab.web.trend import trend_svg

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(
    directory=str(__import__("pathlib").Path(__file__).parent / "templates")
)
LOGIN_CSRF_COOKIE = "venalab_login_csrf"


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageForbidden(Exception):
    pass


def page_principal(
    request: Request, p: Annotated[Principal | None, Depends(optional_principal)]
) -> Principal:
    if p is None:
        raise LoginRequired(str(request.url.path))
    if p.user.must_change_password and request.url.path != "/account/password":
        raise LoginRequired("/account/password")
    return p


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def _render(
    request: Request, name: str, p: Principal | None, status: int = 200, **ctx: Any
) -> HTMLResponse:
    base = {
        "user": p.user if p else None,
        "csrf": p.session.csrf if p and p.session else "",
        "csrf_field": CSRF_FIELD,
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def _check_form_csrf(p: Principal, token: str | None) -> None:
    if not csrf_ok(p.session, token):
        raise PageForbidden("The form expired or did not come from this site. Reload and retry.")


# ----------------------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(16)
    resp = _render(
        request,
        "login.html",
        None,
        next=next if next.startswith("/") else "/",
        error=error,
        login_csrf=token,
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        max_age=1800,
        secure=state(request).cookie_secure,
    )
    return resp


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    s: Db,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    login_csrf: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not secrets.compare_digest(cookie, login_csrf):
        return RedirectResponse(
            "/login?error=" + quote("Your login form expired; try again."), status_code=303
        )
    client = client_of(request)
    if users.is_throttled(s, username, client):
        users.authenticate(s, username, password, client)  # records the throttled attempt
        return _render(
            request,
            "login.html",
            None,
            status=429,
            next=next,
            login_csrf=login_csrf,
            error="Too many failed attempts. Wait 15 minutes and try again.",
        )
    user = users.authenticate(s, username, password, client)
    if user is None:
        return _render(
            request,
            "login.html",
            None,
            status=401,
            next=next,
            login_csrf=login_csrf,
            error="Wrong username or password.",
        )
    cookie_value, _session = state(request).signer.issue(user.id)
    target = (
        "/account/password"
        if user.must_change_password
        else (next if next.startswith("/") and not next.startswith("//") else "/")
    )
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        cookie_value,
        httponly=True,
        samesite="lax",
        secure=state(request).cookie_secure,
        max_age=state(request).signer.max_age_s,
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout(
    request: Request, p: PagePrincipal, csrf_token: Annotated[str, Form(max_length=64)] = ""
) -> RedirectResponse:
    _check_form_csrf(p, csrf_token)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, p: PagePrincipal, error: str | None = None) -> HTMLResponse:
    return _render(request, "password.html", p, error=error)


@router.post("/account/password", response_model=None)
def password_submit(
    request: Request,
    s: Db,
    p: PagePrincipal,
    current: Annotated[str, Form(max_length=256)],
    new: Annotated[str, Form(max_length=256)],
    repeat: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    _check_form_csrf(p, csrf_token)
    error = None
    if not users.check_password(p.user, current):
        error = "The current password is wrong."
    elif new != repeat:
        error = "The two new passwords differ."
    else:
        try:
            users.set_password(s, p.user, new, actor=p.user, client=client_of(request))
        except (ValueError, StoreError) as e:
            error = str(e)
    if error:
        return _render(request, "password.html", p, status=422, error=error)
    return RedirectResponse("/", status_code=303)


# ----------------------------------------------------------------------------- worklist


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
    return _render(
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
    return _render(
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
    return _render(
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
    return _render(
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
    return _render(request, "import.html", p, problems=[], error=None)


@router.post("/import", response_class=HTMLResponse)
async def import_upload(
    request: Request,
    p: PagePrincipal,
    file: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """A DICOM SR or FHIR R4 Bundle becomes a worksheet to review; nothing is stored until the
    user saves it, and what could not be mapped is listed."""
    from venalab.interop.fhir_import import import_bundle
    from venalab.interop.sr_import import import_sr_bytes

    _check_form_csrf(p, csrf_token)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return _render(
            request,
            "import.html",
            p,
            status=413,
            problems=[],
            error="The file is larger than 20 MB.",
        )
    notes: list[str] = []
    unmapped: list[tuple[str, str]]
    try:
        if data[128:132] == b"DICM" or (file.filename or "").lower().endswith(".dcm"):
            sr = import_sr_bytes(data, name=file.filename or "<upload>")
            doc, unmapped = sr.exam, [(u.path, u.reason) for u in sr.unmapped]
            notes = list(sr.decisions)
            kind = "DICOM SR"
        else:
            try:
                bundle = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError):
                return _render(
                    request,
                    "import.html",
                    p,
                    status=422,
                    problems=[],
                    error="The file is neither a DICOM file nor FHIR JSON.",
                )
            imported = import_bundle(bundle)
            doc, unmapped, notes = imported.exam, list(imported.unmapped), list(imported.notes)
            kind = "FHIR R4 Bundle"
    except InvalidInput as e:
        return _render(
            request,
            "import.html",
            p,
            status=422,
            problems=e.as_dicts(),
            error=f"Nothing imported: invalid {e.what}.",
        )
    return _render(
        request,
        "worksheet.html",
        p,
        exam=None,
        version=None,
        mode="create",
        document=doc.to_json(),
        criteria=list(CRITERIA.values()),
        imported={
            "kind": kind,
            "name": file.filename,
            "unmapped": [f"{a}: {b}" for a, b in unmapped],
            "notes": notes,
        },
    )


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
    versions = exams.list_versions(s, exam_id)
    doc: ExamDocument = parse_exam_obj(v.document)
    result = assess(doc)
    return _render(
        request,
        "exam.html",
        p,
        exam=e,
        version=v,
        doc=doc,
        result=result,
        signoff=signoff_of(s, v, versions),
        venous_map=render_venous_map(result),
        can_sign=p.user.role in ("physician", "admin")
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
    p: PagePrincipal,
    expected_version: Annotated[int, Form(ge=1)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    _check_form_csrf(p, csrf_token)
    exams.sign(s, exam_id, p.user, expected_version)
    return RedirectResponse(f"/exams/{exam_id}", status_code=303)


@router.get("/exams/{exam_id}/history", response_class=HTMLResponse)
def exam_history(request: Request, exam_id: ExamId, s: Db, p: PagePrincipal) -> HTMLResponse:
    e = exams.get_exam(s, exam_id)
    versions = exams.list_versions(s, exam_id)
    diffs = {}
    for prev, cur in itertools.pairwise(versions):
        diffs[cur.version] = exams.diff_versions(prev.document, cur.document)
    return _render(
        request, "history.html", p, exam=e, versions=versions, diffs=diffs, usernames=_usernames(s)
    )


@router.get("/exams/{exam_id}/report", response_model=None)
def exam_report(
    request: Request,
    exam_id: ExamId,
    s: Db,
    p: PagePrincipal,
    audience: str = "clinician",
    format: str = "html",
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    if audience not in ("clinician", "patient") or format not in ("html", "pdf"):
        return _render(
            request,
            "message.html",
            p,
            status=422,
            message="audience must be clinician or patient; format html or pdf",
        )
    data, media = render_exam_report(
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


# ----------------------------------------------------------------------------- admin


def _admin(p: Principal) -> None:
    if p.user.role != "admin":
        raise PageForbidden("Only administrators can open this page.")


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, s: Db, p: PagePrincipal) -> HTMLResponse:
    _admin(p)
    return _render(request, "users.html", p, users=users.list_users(s), created=None)


@router.post("/admin/users", response_class=HTMLResponse)
def admin_add_user(
    request: Request,
    s: Db,
    p: PagePrincipal,
    username: Annotated[str, Form(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
    role: Annotated[str, Form(pattern="^(sonographer|physician|admin)$")],
    display_name: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    _admin(p)
    _check_form_csrf(p, csrf_token)
    try:
        _user, password = users.create_user(
            s, username, role, display_name or None, actor=p.user, client=client_of(request)
        )
    except StoreError as e:
        return _render(
            request,
            "users.html",
            p,
            status=409,
            users=users.list_users(s),
            created=None,
            error=str(e),
        )
    return _render(
        request,
        "users.html",
        p,
        users=users.list_users(s),
        created={"username": username, "password": password},
    )


@router.post("/admin/users/{username}/disable", response_model=None)
def admin_disable(
    request: Request,
    username: str,
    s: Db,
    p: PagePrincipal,
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    _admin(p)
    _check_form_csrf(p, csrf_token)
    try:
        users.disable_user(s, username, actor=p.user, client=client_of(request))
    except StoreError as e:
        raise PageForbidden(str(e)) from None
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit(
    request: Request,
    s: Db,
    p: PagePrincipal,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[int | None, Query()] = None,
    since: Annotated[dt.date | None, Query()] = None,
    until: Annotated[dt.date | None, Query()] = None,
) -> HTMLResponse:
    _admin(p)
    entries = audit.query(
        s,
        username=username or None,
        action=action or None,
        entity_id=entity_id,
        since=dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC) if since else None,
        until=dt.datetime.combine(until, dt.time.max, tzinfo=dt.UTC) if until else None,
        limit=500,
    )
    return _render(
        request,
        "audit.html",
        p,
        entries=entries,
        filters={
            "username": username or "",
            "action": action or "",
            "entity_id": entity_id or "",
            "since": since or "",
            "until": until or "",
        },
    )
