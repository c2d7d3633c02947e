"""Reading JSON request bodies off the event loop (exam documents, save and amend bodies)."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from venalab.exam import ExamDocument, parse_exam_obj
from venalab.web.errors import ApiError
from venalab.web.offload import run_cpu

M = TypeVar("M", bound=BaseModel)


def parse_json(raw: bytes) -> Any:
    """The decoded body, or a 400 saying why it is not JSON (RFC 8259: no NaN, no Infinity)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, f"body is not valid JSON: {e}") from None


def parse_exam_body(raw: bytes) -> ExamDocument:
    """An exam document from a request body: 400 if not JSON, 422 listing every problem."""
    return parse_exam_obj(parse_json(raw))


def parse_model(raw: bytes, model: type[M]) -> M:
    """A request body model (e.g. SaveBody): 400 if not JSON, 422 in FastAPI's shape."""
    try:
        return model.model_validate(parse_json(raw))
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_url=False)) from None


async def json_body(request: Request) -> Any:
    """The parsed JSON body (parsed in the CPU pool), or a 400 saying why it is not JSON."""
    return await run_cpu(parse_json, await request.body())
