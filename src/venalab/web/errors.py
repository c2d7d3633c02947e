"""One JSON error shape for the whole API.

{"error": {"status": 422, "code": "invalid-input", "message": "...",
           "problems": [{"path": "legs.left.segments[0].reflux_ms", "message": "..."}]}}
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from venalab.errors import InvalidInput, format_path
from venalab.store.errors import Conflict, Forbidden, InvalidState, InvalidValue, NotFound

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


def install(app: FastAPI) -> None:
    """Register handlers mapping domain and framework errors to the one shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.problems, exc.headers)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return error_response(422, f"invalid {exc.what}", exc.as_dicts())

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"path": format_path([p for p in e["loc"] if p != "body"]), "message": str(e["msg"])}
            for e in exc.errors()
        ]
        return error_response(422, "invalid request", problems)

    @app.exception_handler(InvalidValue)
    async def _value(_: Request, exc: InvalidValue) -> JSONResponse:
        return error_response(422, exc.message, [{"path": exc.field, "message": exc.message}])

    @app.exception_handler(NotFound)
    async def _nf(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, str(exc) or "not found")

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, str(exc) or "conflict: the exam changed since you loaded it")

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, str(exc) or "your role does not allow this")

    @app.exception_handler(InvalidState)
    async def _state(_: Request, exc: InvalidState) -> JSONResponse:
        return JSONResponse(error_body(409, str(exc), code="invalid-state"), status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(
            exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)
        )
