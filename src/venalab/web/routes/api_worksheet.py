"""API of the worksheet page: its live interpretation and its server-side drafts (issue 16).

- `POST /api/worksheet/assess`: an exam document that may be incomplete in, the problems and
  the interpretation of its valid part out (web/worksheet_live.py). Nothing is stored.
- `/api/drafts`: the user's unsaved worksheets (store/drafts.py), per page key.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from sqlalchemy.orm import Session as DbSession

from venalab.criteria import CRITERIA, CriteriaSet, get_criteria
from venalab.store import drafts
from venalab.store.models import User
from venalab.web.deps import (
    ApiPrincipal,
    Db,
    Principal,
    client_of,
    permitted,
    route_writes,
    state,
    write_unit,
)
from venalab.web.json_body import BoundedJsonRoute, decode_body, parse_model
from venalab.web.offload import run_sized
from venalab.web.schemas import (
    ERROR_RESPONSES,
    EXAM_SCHEMA_REF,
    DraftBody,
    DraftDeleted,
    DraftDetail,
    DraftOut,
    LiveAssessment,
)
from venalab.web.worksheet_live import live_assessment

router = APIRouter(prefix="/api", tags=["worksheet"], route_class=BoundedJsonRoute)
Editor = Annotated[Principal, Depends(permitted("edit"))]
DraftKey = Annotated[
    str,
    PathParam(
        pattern=drafts.KEY_PATTERN,
        max_length=80,
        description="exam-<id>, incoming-<id>, order-<id> or new-<8-64 letters, digits, dashes>",
    ),
]


@router.post(
    "/worksheet/assess",
    summary="Live interpretation of a worksheet that may be incomplete",
    response_model=LiveAssessment,
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EXAM_SCHEMA_REF}},
        }
    },
)
@route_writes(False)
async def api_worksheet_assess(
    request: Request,
    principal: ApiPrincipal,
    criteria: Annotated[str | None, Query(description=f"One of {', '.join(CRITERIA)}")] = None,
) -> Response:
    """The document's problems (as /api/assess would list them) and the interpretation of
    its valid part: a row with a problem is left out, a missing patient id, age or exam date
    is given a stand-in (listed in `assumed`; no verdict depends on them). Nothing is stored."""
    cs = get_criteria(criteria)
    raw = await request.body()
    return Response(await run_sized(len(raw), _live, raw, cs), media_type="application/json")


def _live(raw: bytes, cs: CriteriaSet) -> str:
    return json.dumps(live_assessment(decode_body(raw), cs))


@router.get("/drafts", response_model=list[DraftOut], responses=ERROR_RESPONSES)
def api_drafts(
    s: Db,
    principal: ApiPrincipal,
    kind: Annotated[str | None, Query(pattern="^(new|exam|incoming|order)$")] = None,
    key: Annotated[str | None, Query(pattern=drafts.KEY_PATTERN, max_length=80)] = None,
) -> list[DraftOut]:
    """Your unsaved worksheets, newest first (all, of one kind, or the one under `key`)."""
    return [DraftOut.of(d) for d in drafts.list_drafts(s, principal.user, kind=kind, key=key)]


@router.get("/drafts/{key}", response_model=DraftDetail, responses=ERROR_RESPONSES)
@route_writes(True)
def api_draft(
    key: DraftKey,
    request: Request,
    s: Db,
    principal: ApiPrincipal,
    restore: bool = False,
) -> DraftDetail:
    """One of your drafts with its document; `restore=true` when it is put back into a
    worksheet (recorded in the audit log)."""
    if restore:
        d = drafts.restore_draft(s, principal.user, key, client=client_of(request))
    else:
        d = drafts.get_draft(s, principal.user, key)
    return DraftDetail(**DraftOut.of(d).model_dump(), document=d.document)


@router.put(
    "/drafts/{key}",
    response_model=DraftOut,
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DraftBody"}}},
        }
    },
)
async def api_put_draft(key: DraftKey, request: Request, s: Db, principal: Editor) -> DraftOut:
    """Keep the worksheet's unsaved state (created or replaced)."""
    raw = await request.body()
    body = await run_sized(len(raw), parse_model, raw, DraftBody)
    days = state(request).settings.draft_retention_days
    return await write_unit(s, _put, s, principal.user, key, body, days, client_of(request))


def _put(s: DbSession, user: User, key: str, body: DraftBody, days: int, client: str) -> DraftOut:
    d = drafts.put_draft(
        s,
        user,
        key,
        body.document,
        title=body.title,
        page=body.page,
        base_version=body.base_version,
        retention_days=days,
        client=client,
    )
    return DraftOut.of(d)


@router.delete("/drafts/{key}", response_model=DraftDeleted, responses=ERROR_RESPONSES)
def api_delete_draft(
    key: DraftKey, request: Request, s: Db, principal: Editor, discard: bool = False
) -> DraftDeleted:
    """Remove a draft: after saving (`discard=false`) or thrown away (`discard=true`, audited)."""
    gone = drafts.delete_draft(s, principal.user, key, discard=discard, client=client_of(request))
    return DraftDeleted(deleted=gone)
