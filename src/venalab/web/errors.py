"""One JSON error shape for the whole API.

{"error": {"status": 422, "code": "invalid-input", "message": "...",
           "problems": [{"path": "legs.left.segments[0].reflux_ms", "message": "..."}]}}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from venalab.bounded import TooLarge
from venalab.errors import InvalidInput, format_path
from venalab.store.errors import Conflict, Forbidden, InvalidState, InvalidValue, NotFound
from venalab.store.integrity import Tampered

CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media",
    422: "invalid-input",
    429: "too-many-requests",
    500: "server-error",
}


def error_body(
    status: int, message: str, problems: list[dict[str, str]] | None = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "status": status,
            "code": code or CODES.get(status, "error"),
            "message": message,
            "problems": problems or [],
        }
    }


def error_response(
    status: int,
    message: str,
    problems: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, problems), status_code=status, headers=headers)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        problems: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.problems, self.headers = status, message, problems, headers


HtmlRenderer = Callable[[Request, int, str, list[dict[str, str]]], Response]
JSON_PREFIXES = ("/api", "/cds-services")


def install(app: FastAPI, html: HtmlRenderer) -> None:
    """Register handlers mapping domain and framework errors to one shape: the JSON error body
    under /api and /cds-services, an HTML message page (`html`) everywhere else."""

    def respond(
        request: Request,
        status: int,
        message: str,
        problems: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> Response:
        if request.url.path.startswith(JSON_PREFIXES):
            return JSONResponse(
                error_body(status, message, problems, code), status_code=status, headers=headers
            )
        page = html(request, status, message, problems or [])
        if headers:
            page.headers.update(headers)
        return page

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        return respond(request, exc.status, exc.message, exc.problems, exc.headers)

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput) -> Response:
        status = 413 if isinstance(exc, TooLarge) else 422
        return respond(request, status, f"invalid {exc.what}", exc.as_dicts())

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"path": format_path([p for p in e["loc"] if p != "body"]), "message": str(e["msg"])}
            for e in exc.errors()
        ]
        return respond(request, 422, "invalid request", problems)

    @app.exception_handler(InvalidValue)
    async def _value(request: Request, exc: InvalidValue) -> Response:
        return respond(request, 422, exc.message, [{"path": exc.field, "message": exc.message}])

    @app.exception_handler(NotFound)
    async def _nf(request: Request, exc: NotFound) -> Response:
        return respond(request, 404, str(exc) or "not found")

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> Response:
        return respond(request, 409, str(exc) or "conflict: the exam changed since you loaded it")

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return respond(request, 403, str(exc) or "your role does not allow this")

    @app.exception_handler(InvalidState)
    async def _state(request: Request, exc: InvalidState) -> Response:
        return respond(request, 409, str(exc), code="invalid-state")

    @app.exception_handler(Tampered)
    async def _tampered(request: Request, exc: Tampered) -> Response:
        return respond(request, 409, str(exc), code="integrity-error")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return respond(
            request,
            exc.status_code,
            str(exc.detail),
            getattr(exc, "problems", None),  # json_body.RejectedBody carries them
            headers=getattr(exc, "headers", None),
        )
