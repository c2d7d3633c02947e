"""Pages: log in, log out, change one's password.

A login always starts a new server-side session with a new random id (no session fixation;
a session cookie the browser already had is ended). Logout ends the session on the server,
not only in the browser; a password change ends every session of the user and gives this
browser a fresh one.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from venalab.store import models, users
from venalab.store.errors import StoreError
from venalab.web.deps import Db, client_of, state
from venalab.web.rendering import PagePrincipal, check_form_csrf, render
from venalab.web.security import SESSION_COOKIE, safe_next

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "venalab_login_csrf"


def _set_session_cookie(request: Request, resp: Response, s: Db, user: models.User) -> None:
    """Start a session for `user` and hand its sealed id to the browser."""
    session_id, _row = users.start_session(s, user, client=client_of(request))
    resp.set_cookie(
        SESSION_COOKIE,
        state(request).signer.seal(session_id),
        httponly=True,
        samesite="lax",
        secure=state(request).cookie_secure(request),
        max_age=int(users.SESSION_LIFETIME.total_seconds()),
        path="/",
    )


def _login_form(
    request: Request, next_url: str, error: str | None, status: int = 200
) -> HTMLResponse:
    """The login form with a fresh login-CSRF token (cookie and hidden field)."""
    token = secrets.token_urlsafe(16)
    resp = render(
        request,
        "login.html",
        None,
        status=status,
        next=safe_next(next_url),
        error=error,
        login_csrf=token,
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        max_age=1800,
        secure=state(request).cookie_secure(request),
        path="/",
    )
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _login_form(request, next, None)


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    s: Db,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    login_csrf: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not secrets.compare_digest(cookie, login_csrf):
        return _login_form(request, next, "Your login form expired; try again.", status=403)
    client = client_of(request)
    outcome = users.login(s, username, password, client)
    if outcome.user is None:
        if outcome.throttled:
            return _login_form(
                request,
                next,
                "Too many failed attempts. Wait 15 minutes and try again.",
                status=429,
            )
        return _login_form(request, next, "Wrong username or password.", status=401)
    user = outcome.user
    # A session the browser brought along (someone else's, planted, or its own) ends here.
    old = state(request).signer.open(request.cookies.get(SESSION_COOKIE))
    found = users.find_session(s, old) if old else None
    if found is not None:
        users.end_session(s, found[0], found[1], client=client)
    target = "/account/password" if user.must_change_password else safe_next(next)
    resp = RedirectResponse(target, status_code=303)
    _set_session_cookie(request, resp, s, user)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(
    request: Request,
    s: Db,
    p: PagePrincipal,
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    check_form_csrf(p, csrf_token)
    if p.session is not None:
        row = s.get(models.UserSession, p.session.row_id)
        if row is not None:
            users.end_session(s, row, p.user, client=client_of(request))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=state(request).cookie_secure(request),
        httponly=True,
        samesite="lax",
    )
    return resp


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, p: PagePrincipal) -> HTMLResponse:
    return render(request, "password.html", p, error=None)


@router.post("/account/password", response_model=None)
def password_submit(
    request: Request,
    s: Db,
    p: PagePrincipal,
    current: Annotated[str, Form(max_length=1024)],
    new: Annotated[str, Form(max_length=1024)],
    repeat: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_form_csrf(p, csrf_token)
    error = None
    checked = users.confirm_password(s, p.user, current, client_of(request))
    if checked == "throttled":
        error = "Too many wrong passwords. Wait 15 minutes and try again."
    elif checked:
        error = "The current password is wrong."
    elif new != repeat:
        error = "The two new passwords differ."
    elif new == current:
        error = "Choose a password different from the current one."
    else:
        try:
            users.set_password(s, p.user, new, actor=p.user, client=client_of(request))
        except (ValueError, StoreError) as e:
            error = str(e)
    if error:
        status = 429 if checked == "throttled" else 422
        return render(request, "password.html", p, status=status, error=error)
    # Every session of the user ended with the change (a stolen cookie too); this browser
    # continues in a new one.
    resp = RedirectResponse("/", status_code=303)
    _set_session_cookie(request, resp, s, p.user)
    return resp
