"""Request limits checked before any route runs (ASGI middleware).

- Size: a body larger than `LIMITS.body_bytes` (uploads on UPLOAD_PATHS: `upload_bytes`) is
  answered 413 without being read further, whether it declares its length or is chunked.
- Characters: control characters other than tab, line feed and carriage return in the URL
  path (400), a query parameter (422) or a URL-encoded form field (422) are refused. A NUL
  character in particular never reaches the database (PostgreSQL refuses it in text: a server
  error) and no other control character reaches a stored field, a log line or a page.

Answers use the application's one error shape: JSON under /api and /cds-services, the HTML
message page elsewhere. JSON bodies are bounded where they are decoded (web/json_body.py,
web/cds.py) with the path of what broke a limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venalab.limits import LIMITS, describe_bytes
from venalab.web.errors import JSON_PREFIXES, error_body

HtmlRenderer = Callable[[Request, int, str, list[dict[str, str]]], Response]
#: Pages that take file uploads (DICOM SR, FHIR Bundle): the upload limit plus room for
#: the multipart envelope and the form's other fields.
UPLOAD_PATHS: Final = frozenset({"/import"})
_UPLOAD_OVERHEAD = 64 * 1024
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # tab, LF, CR pass
_PATH_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def body_limit(path: str) -> int:
    return LIMITS.upload_bytes + _UPLOAD_OVERHEAD if path in UPLOAD_PATHS else LIMITS.body_bytes


def _bad_char(text: str, pattern: re.Pattern[str] = _CONTROL) -> str | None:
    m = pattern.search(text)
    return None if m is None else f"U+{ord(m.group()):04X}"


class InputGuard:
    """Refuse oversized bodies and control characters in URLs and form fields."""

    def __init__(self, app: ASGIApp, html: HtmlRenderer) -> None:
        self.app = app
        self.html = html

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        bad = _bad_char(path, _PATH_CONTROL)
        if bad is not None:
            await self._refuse(scope, receive, send, 400, f"the address contains {bad}", [])
            return
        query = scope.get("query_string", b"").decode("latin-1")
        problems = _fields_problems(query, "query.") if query else []
        if problems:
            await self._refuse(scope, receive, send, 422, "invalid query parameter", problems)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = body_limit(path)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").strip()
        if declared and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type == b"application/x-www-form-urlencoded":
            problems = _fields_problems(body.decode("utf-8", "replace"), "")
            if problems:
                await self._refuse(scope, receive, send, 422, "invalid form field", problems)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        message = f"the request body is larger than {describe_bytes(limit)} (input limit)"
        await self._refuse(scope, receive, send, 413, message, [], close=True)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        message: str,
        problems: list[dict[str, str]],
        *,
        close: bool = False,
    ) -> None:
        request = Request(scope, receive)
        response: Response
        if scope["path"].startswith(JSON_PREFIXES):
            response = JSONResponse(error_body(status, message, problems), status_code=status)
        else:
            response = self.html(request, status, message, problems)
        if close:  # the rest of an oversized body is not read: end the connection
            response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _fields_problems(text: str, prefix: str) -> list[dict[str, str]]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=LIMITS.items)
    except ValueError:
        return [{"path": prefix.rstrip("."), "message": f"more than {LIMITS.items:,} fields"}]
    problems = []
    for name, value in pairs:
        bad = _bad_char(name) or _bad_char(value)
        if bad is not None:
            problems.append(
                {
                    "path": f"{prefix}{_CONTROL.sub('?', name)[:64]}",
                    "message": f"contains a control character ({bad}); only text, tabs and "
                    "line breaks are accepted",
                }
            )
    return problems


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
