"""Admin pages: user accounts, API tokens and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from venalab.store import audit, users
from venalab.store.errors import StoreError
from venalab.web.deps import MAX_DB_ID, Db, Principal, client_of, state
from venalab.web.rendering import PageForbidden, check_form_csrf, page_permitted, render

router = APIRouter(include_in_schema=False)
UserManager = Annotated[Principal, Depends(page_permitted("manage-users"))]
AuditReader = Annotated[Principal, Depends(page_permitted("read-audit"))]


def _users_error(
    request: Request, s: Db, p: Principal, status: int, error: StoreError
) -> HTMLResponse:
    """The users page again, with the store's message (nothing was changed)."""
    return render(
        request,
        "users.html",
        p,
        status=status,
        users=users.list_users(s),
        created=None,
        error=str(error),
    )


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
    credentials: Annotated[str, Form(max_length=users.CREDENTIALS_MAX)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    check_form_csrf(p, csrf_token)
    try:
        _user, password = users.create_user(
            s,
            username,
            role,
            display_name or None,
            credentials=credentials or None,
            actor=p.user,
            client=client_of(request),
        )
    except StoreError as e:
        return _users_error(request, s, p, 409, e)
    return render(
        request,
        "users.html",
        p,
        users=users.list_users(s),
        created={"username": username, "password": password},
    )


@router.post("/admin/users/{username}/identity", response_model=None)
def admin_user_identity(
    request: Request,
    username: str,
    s: Db,
    p: UserManager,
    display_name: Annotated[str, Form(max_length=200)] = "",
    credentials: Annotated[str, Form(max_length=users.CREDENTIALS_MAX)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Display name and credentials, printed as the signer ("Jane Doe, MD, RPVI") on the
    reports this user signs from now on."""
    check_form_csrf(p, csrf_token)
    try:
        users.set_identity(
            s, username, display_name, credentials, actor=p.user, client=client_of(request)
        )
    except StoreError as e:
        return _users_error(request, s, p, 422, e)
    return RedirectResponse("/admin/users", status_code=303)


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
    state(request).token_cache.invalidate_after_commit(s)  # their tokens stop at once
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/tokens", response_class=HTMLResponse)
def admin_tokens(request: Request, s: Db, p: UserManager) -> HTMLResponse:
    rows = [
        {"token": t, "state": users.token_state(t), "owner": t.user.username}
        for t in users.list_tokens(s)
    ]
    return render(request, "tokens.html", p, rows=rows)


@router.post("/admin/tokens/{token_id}/revoke", response_model=None)
def admin_revoke_token(
    request: Request,
    token_id: Annotated[int, Path(ge=1, le=MAX_DB_ID)],
    s: Db,
    p: UserManager,
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_form_csrf(p, csrf_token)
    users.revoke_token(s, None, token_id, actor=p.user, client=client_of(request))
    state(request).token_cache.invalidate_after_commit(s)
    return RedirectResponse("/admin/tokens", status_code=303)


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
