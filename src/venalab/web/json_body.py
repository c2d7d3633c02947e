"""JSON request bodies, decoded within the input limits (venalab.limits).

`parse_exam_body` and `parse_model` decode a raw body (exam documents; save and amend bodies)
where the caller runs them: in the CPU pool (web/offload.py), never on the event loop.
`BoundedJsonRoute` makes FastAPI's own body parsing (small pydantic body models such as
SignBody) use the same bounded decoder. Deep nesting, huge integers, NUL characters and
oversized bodies are answered 422 (with the JSON path) or 413, never 500 or a bare 400.
Syntax errors stay 400.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from venalab.bounded import NotJson, TooLarge, decode_json
from venalab.errors import InvalidInput
from venalab.exam import EXAM_FORMAT, ExamDocument, parse_exam_json, parse_exam_obj

M = TypeVar("M", bound=BaseModel)

WHAT = "request body"


class RejectedBody(StarletteHTTPException):
    """A body refused by the decoder. An HTTPException, because FastAPI turns any other
    exception raised while it parses a body into a generic 400; web/errors.py answers it in
    the one error shape, with `problems`."""

    def __init__(self, status: int, message: str, problems: list[dict[str, str]]) -> None:
        super().__init__(status_code=status, detail=message)
        self.problems = problems

    def __reduce__(self) -> tuple[type[RejectedBody], tuple[int, str, list[dict[str, str]]]]:
        # raised in a worker process, answered in the server: keep every field
        return (RejectedBody, (self.status_code, self.detail, self.problems))


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


def parse_exam_body(raw: bytes) -> ExamDocument:
    """An exam document from a request body: 400 not JSON, 413 too large, 422 listing every
    problem (limits or the document's own)."""
    obj = decode_body(raw)
    if isinstance(obj, dict) and obj.get("format") in (None, EXAM_FORMAT):
        # within the limits (decoded): validated from the body itself, not encoded again
        return parse_exam_json(raw)
    return parse_exam_obj(obj)


def parse_model(raw: bytes, model: type[M]) -> M:
    """A request body model (e.g. SaveBody) from a raw body; 422 in FastAPI's shape."""
    try:
        return model.model_validate(decode_body(raw))
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_url=False)) from None


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
