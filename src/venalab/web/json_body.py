"""JSON request bodies, decoded within the input limits (venalab.limits).

`json_body(request)` reads the body of an endpoint that takes the raw request (exam
documents); `BoundedJsonRoute` makes FastAPI's own body parsing (pydantic body models such
as SaveBody) use the same bounded decoder: deep nesting, huge integers, NUL characters and
oversized bodies are answered 422 (with the JSON path) or 413, never 500 or a bare 400.
Syntax errors stay 400.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from venalab.bounded import NotJson, TooLarge, decode_json
from venalab.errors import InvalidInput

WHAT = "request body"


class RejectedBody(StarletteHTTPException):
    """A body refused by the decoder. An HTTPException, because FastAPI turns any other
    exception raised while it parses a body into a generic 400; web/errors.py answers it in
    the one error shape, with `problems`."""

    def __init__(self, status: int, message: str, problems: list[dict[str, str]]) -> None:
        super().__init__(status_code=status, detail=message)
        self.problems = problems


def decode_body(body: bytes) -> Any:
    try:
        return decode_json(body, WHAT, name="the request body")
    except TooLarge as e:
        raise RejectedBody(413, e.problems[0].message, e.as_dicts()) from None
    except NotJson as e:
        detail = e.problems[0].message.removeprefix("not JSON: ")
        raise RejectedBody(400, f"body is not valid JSON: {detail}", []) from None
    except InvalidInput as e:
        raise RejectedBody(422, f"invalid {WHAT}", e.as_dicts()) from None


class BoundedJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_body(await self.body())
        return self._json


class BoundedJsonRoute(APIRoute):
    """Route class of the API routers: requests decode JSON with `decode_body`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(BoundedJsonRequest(request.scope, request.receive))

        return bounded


async def json_body(request: Request) -> Any:
    """The parsed JSON body within the limits (400 not JSON, 413 too large, 422 limits)."""
    if isinstance(request, BoundedJsonRequest):
        return await request.json()
    return decode_body(await request.body())
