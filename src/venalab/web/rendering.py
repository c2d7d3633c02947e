"""What every server-rendered page shares: templates, the signed-in user, CSRF, permissions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from venalab.rules.comparison import course_text
from venalab.store import users
from venalab.store.users import Permission
from venalab.web.deps import Principal, optional_principal
from venalab.web.security import CSRF_FIELD, csrf_ok

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["course_text"] = course_text  # serial comparison wording (exam page)


def _path_segment(value: object) -> str:
    """One URL path segment: every reserved character escaped (`/`, `?`, `#` included)."""
    return quote(str(value), safe="")


def _http_url(value: object) -> str:
    """A link target that can only be an http(s) URL (never javascript: or data:)."""
    text = str(value or "")
    return text if urlsplit(text).scheme.lower() in ("http", "https") else "#"


templates.env.filters["segment"] = _path_segment
templates.env.filters["http_url"] = _http_url


class LoginRequired(Exception):
    """Raised by a page that needs a signed-in user; answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageForbidden(Exception):
    """Raised by a page the user may not open or a form that failed its CSRF check (403)."""


def page_principal(
    request: Request, p: Annotated[Principal | None, Depends(optional_principal)]
) -> Principal:
    if p is None:
        query = request.url.query
        raise LoginRequired(request.url.path + (f"?{query}" if query else ""))
    if p.user.must_change_password and request.url.path != "/account/password":
        raise LoginRequired("/account/password")
    return p


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def page_permitted(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency: the signed-in user if their role may do `permission`, else a 403 page."""

    def check(p: PagePrincipal) -> Principal:
        if not users.can(p.user, permission):
            allowed = " or ".join(sorted(users.PERMISSIONS[permission]))
            raise PageForbidden(f"This page needs the role {allowed}.")
        return p

    check.__name__ = f"page_permitted_{permission.replace('-', '_')}"
    return check


def render(
    request: Request, name: str, p: Principal | None, status: int = 200, **ctx: Any
) -> HTMLResponse:
    base = {
        "user": p.user if p else None,
        "csrf": p.session.csrf if p and p.session else "",
        "csrf_field": CSRF_FIELD,
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def check_form_csrf(p: Principal, token: str | None) -> None:
    if not csrf_ok(p.session, token):
        raise PageForbidden("The form expired or did not come from this site. Reload and retry.")
