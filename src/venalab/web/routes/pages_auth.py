"""Pages: log in, log out, change one's password."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from venalab.store import users
from venalab.store.errors import StoreError
from venalab.web.deps import Db, client_of, state
from venalab.web.rendering import PagePrincipal, check_form_csrf, render
from venalab.web.security import SESSION_COOKIE

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "venalab_login_csrf"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(16)
    resp = render(
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
        return render(
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
        return render(
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
    check_form_csrf(p, csrf_token)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, p: PagePrincipal, error: str | None = None) -> HTMLResponse:
    return render(request, "password.html", p, error=error)


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
    check_form_csrf(p, csrf_token)
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
        return render(request, "password.html", p, status=422, error=error)
    return RedirectResponse("/", status_code=303)
