"""Admin pages: user accounts and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from venalab.store import audit, users
from venalab.store.errors import StoreError
from venalab.web.deps import Db, Principal, client_of
from venalab.web.rendering import PageForbidden, check_form_csrf, page_permitted, render

router = APIRouter(include_in_schema=False)
UserManager = Annotated[Principal, Depends(page_permitted("manage-users"))]
AuditReader = Annotated[Principal, Depends(page_permitted("read-audit"))]


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, s: Db, p: UserManager) -> HTMLResponse:
    return render(request, "users.html", p, users=users.list_users(s), created=None)


@router.post("/admin/users", response_class=HTMLResponse)
def admin_add_user(
    request: Request,
    s: Db,
    p: UserManager,
    username: Annotated[str, Form(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
    role: Annotated[str, Form(pattern="^(sonographer|physician|admin)$")],
    display_name: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    check_form_csrf(p, csrf_token)
    try:
        _user, password = users.create_user(
            s, username, role, display_name or None, actor=p.user, client=client_of(request)
        )
    except StoreError as e:
        return render(
            request,
            "users.html",
            p,
            status=409,
            users=users.list_users(s),
            created=None,
            error=str(e),
        )
    return render(
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
    p: UserManager,
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_form_csrf(p, csrf_token)
    try:
        users.disable_user(s, username, actor=p.user, client=client_of(request))
    except StoreError as e:
        raise PageForbidden(str(e)) from None
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit(
    request: Request,
    s: Db,
    p: AuditReader,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[int | None, Query()] = None,
    since: Annotated[dt.date | None, Query()] = None,
    until: Annotated[dt.date | None, Query()] = None,
) -> HTMLResponse:
    entries = audit.query(
        s,
        username=username or None,
        action=action or None,
        entity_id=entity_id,
        since=dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC) if since else None,
        until=dt.datetime.combine(until, dt.time.max, tzinfo=dt.UTC) if until else None,
        limit=500,
    )
    return render(
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
