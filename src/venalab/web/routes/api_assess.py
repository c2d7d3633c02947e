"""API: stateless assessment, the criteria sets, the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from venalab.criteria import CRITERIA, get_criteria
from venalab.engine import assess
from venalab.exam import parse_exam_obj
from venalab.result import EngineOptions
from venalab.web.deps import ApiPrincipal
from venalab.web.json_body import BoundedJsonRoute, json_body
from venalab.web.schemas import (
    ERROR_RESPONSES,
    EXAM_SCHEMA_REF,
    RESULT_SCHEMA_REF,
    CriteriaOut,
    MeOut,
)

router = APIRouter(prefix="/api", tags=["assess"], route_class=BoundedJsonRoute)


@router.post(
    "/assess",
    summary="Interpret an exam document (stateless)",
    response_model=None,
    responses={
        200: {
            "description": "The result document",
            "content": {"application/json": {"schema": RESULT_SCHEMA_REF}},
        },
        **ERROR_RESPONSES,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EXAM_SCHEMA_REF}},
        }
    },
)
async def api_assess(
    request: Request,
    principal: ApiPrincipal,
    criteria: Annotated[str | None, Query(description=f"One of {', '.join(CRITERIA)}")] = None,
) -> Response:
    """Exam document in, result document out. Nothing is stored."""
    cs = get_criteria(criteria)
    exam = parse_exam_obj(await json_body(request))
    result = assess(exam, cs, EngineOptions(criteria=cs.id))
    return Response(result.to_json(), media_type="application/json")


@router.get("/criteria", summary="The reflux criteria sets", response_model=list[CriteriaOut])
def api_criteria(principal: ApiPrincipal) -> list[CriteriaOut]:
    return [
        CriteriaOut(
            id=c.id, version=c.version, title=c.title, default=c.default, sources=list(c.sources)
        )
        for c in CRITERIA.values()
    ]


@router.get("/me", summary="The authenticated user", response_model=MeOut)
def api_me(principal: ApiPrincipal) -> MeOut:
    u = principal.user
    return MeOut(username=u.username, display_name=u.display_name, role=u.role)
