"""Pages of the interoperability flow: the Incoming list (SRs sent by the scanners), the
scheduled orders (HL7 v2), opening either in the worksheet, and the lab's SR code map.

Nothing here stores an exam: the worksheet saves through the API as usual, then calls the
link endpoint below, which marks the incoming report done (or the order in progress) with
the exam it became, audited.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from venalab.criteria import CRITERIA
from venalab.errors import InvalidInput
from venalab.interop.sr_codes import TARGET_HELP
from venalab.store import interop
from venalab.store.errors import StoreError
from venalab.web.deps import MAX_DB_ID, Db, Principal, client_of, permitted
from venalab.web.rendering import PagePrincipal, check_form_csrf, page_permitted, render

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(page_permitted("manage-users"))]
Editor = Annotated[Principal, Depends(permitted("edit"))]
ItemId = Annotated[int, PathParam(ge=1, le=MAX_DB_ID)]


def script_json(obj: object) -> str:
    """JSON safe inside the worksheet's <script type="application/json"> element: <, > and &
    are written as \\u escapes, so text from a file or an order cannot close the element."""
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def review_worksheet(
    request: Request,
    p: Principal,
    document: object,
    *,
    kind: str,
    name: str,
    unmapped: list[str] | None = None,
    notes: list[str] | None = None,
    missing: list[dict[str, str]] | None = None,
    link_url: str = "",
) -> HTMLResponse:
    """A new worksheet prefilled from a file, a received report or an order, for review:
    nothing is stored until the user saves (then `link_url` is told the new exam's id)."""
    return render(
        request,
        "worksheet.html",
        p,
        exam=None,
        version=None,
        mode="create",
        document=script_json(document),
        criteria=list(CRITERIA.values()),
        link_url=link_url,
        imported={
            "kind": kind,
            "name": name,
            "unmapped": unmapped or [],
            "notes": notes or [],
            "missing": missing or [],
        },
    )


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    exam_id: int = Field(ge=1, le=MAX_DB_ID)


# ----------------------------------------------------------------------------- incoming


@router.get("/incoming", response_class=HTMLResponse)
def incoming_list(request: Request, s: Db, p: PagePrincipal) -> HTMLResponse:
    items = interop.list_incoming(s, "pending")
    recent = [i for i in interop.list_incoming(s, None, limit=50) if i.status != "pending"]
    orders = {o.id: o for o in interop.list_orders(s, None, limit=1000)}
    return render(request, "incoming.html", p, items=items, recent=recent[:20], orders=orders)


def _worksheet_from_sr(
    request: Request, s: Db, p: Principal, item_id: int, side: str, plain_gsv: str
) -> HTMLResponse:
    from venalab.interop.sr_import import import_sr_bytes

    item = interop.get_incoming(s, item_id)
    order = interop.get_order(s, item.order_id) if item.order_id else None
    given: dict[str, Any] = {}
    if order is not None:
        given = {"id": order.patient_local_id, "birth_date": order.birth_date}
        if order.scheduled_date is not None:
            given["date"] = order.scheduled_date.isoformat()
    try:
        sr = import_sr_bytes(
            item.data,
            interop.local_code_map(s),
            side=side or None,  # type: ignore[arg-type]
            plain_gsv=plain_gsv,  # type: ignore[arg-type]
            name=f"incoming #{item.id}",
            patient={
                k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in given.items()
            },
        )
    except InvalidInput as e:
        return render(
            request,
            "incoming_item.html",
            p,
            status=422,
            item=item,
            order=order,
            problems=e.as_dicts(),
        )
    document = dict(sr.document)
    if order is not None and order.indication and "indication" not in document.get("exam", {}):
        document["exam"] = {**document.get("exam", {}), "indication": order.indication[:2000]}
    status = "" if item.status == "pending" else f" (already {item.status})"
    return review_worksheet(
        request,
        p,
        document,
        kind="DICOM SR received from",
        name=f"{item.calling_ae} #{item.id}{status}"
        + (f", order {order.accession}" if order else ""),
        unmapped=[f"{u.path}: {u.reason}" for u in sr.unmapped],
        notes=list(sr.decisions),
        missing=[{"path": m.path, "message": m.message} for m in sr.missing],
        link_url=f"/incoming/{item.id}/done" if item.status == "pending" else "",
    )


@router.get("/incoming/{item_id}", response_class=HTMLResponse)
def incoming_open(
    request: Request,
    item_id: ItemId,
    s: Db,
    p: PagePrincipal,
    side: str = "",
    plain_gsv: str = "by-site",
) -> HTMLResponse:
    if side not in ("", "left", "right") or plain_gsv not in ("by-site", "thigh", "calf", "skip"):
        return render(
            request,
            "message.html",
            p,
            status=422,
            message="side: left or right; plain_gsv: by-site, thigh, calf or skip",
        )
    return _worksheet_from_sr(request, s, p, item_id, side, plain_gsv)


@router.post("/incoming/{item_id}/done")
def incoming_done(
    request: Request, item_id: ItemId, body: LinkBody, s: Db, p: Editor
) -> dict[str, object]:
    """Called by the worksheet after it saved the exam made from this report."""
    item = interop.incoming_done(s, item_id, body.exam_id, p.user, client=client_of(request))
    return {"id": item.id, "status": item.status, "exam_id": item.exam_id}


@router.post("/incoming/{item_id}/dismiss", response_model=None)
def incoming_dismiss(
    request: Request,
    item_id: ItemId,
    s: Db,
    p: PagePrincipal,
    reason: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_form_csrf(p, csrf_token)
    try:
        interop.dismiss_incoming(s, item_id, p.user, reason, client=client_of(request))
    except StoreError as e:
        return render(request, "message.html", p, status=422, message=str(e))
    return RedirectResponse("/incoming", status_code=303)


# ----------------------------------------------------------------------------- orders


@router.get("/orders/{order_id}/worksheet", response_class=HTMLResponse)
def order_worksheet(request: Request, order_id: ItemId, s: Db, p: PagePrincipal) -> HTMLResponse:
    order = interop.get_order(s, order_id)
    return review_worksheet(
        request,
        p,
        interop.order_prefill(order),
        kind="order",
        name=f"{order.accession} ({order.procedure or 'venous duplex'}), referred by "
        f"{order.referring_physician or 'unknown'}",
        link_url=f"/orders/{order.id}/link" if order.exam_id is None else "",
    )


@router.post("/orders/{order_id}/link")
def order_link(
    request: Request, order_id: ItemId, body: LinkBody, s: Db, p: Editor
) -> dict[str, object]:
    order = interop.link_order(s, order_id, body.exam_id, p.user, client=client_of(request))
    return {"id": order.id, "status": order.status, "exam_id": order.exam_id}


# ----------------------------------------------------------------------------- SR code map


@router.get("/admin/sr-codes", response_class=HTMLResponse)
def sr_codes_page(request: Request, s: Db, p: Admin) -> HTMLResponse:
    return render(
        request,
        "sr_codes.html",
        p,
        codes=interop.list_local_codes(s),
        target_help=TARGET_HELP,
        error=None,
    )


@router.post("/admin/sr-codes", response_class=HTMLResponse, response_model=None)
def sr_codes_set(
    request: Request,
    s: Db,
    p: Admin,
    scheme: Annotated[str, Form(min_length=1, max_length=16)],
    code: Annotated[str, Form(min_length=1, max_length=64)],
    target: Annotated[str, Form(min_length=1, max_length=100)],
    meaning: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_form_csrf(p, csrf_token)
    try:
        interop.set_local_code(
            s, scheme, code, target, meaning.strip() or None, p.user, client=client_of(request)
        )
    except StoreError as e:
        return render(
            request,
            "sr_codes.html",
            p,
            status=422,
            codes=interop.list_local_codes(s),
            target_help=TARGET_HELP,
            error=str(e),
            form={"scheme": scheme, "code": code, "target": target, "meaning": meaning},
        )
    return RedirectResponse("/admin/sr-codes", status_code=303)


@router.post("/admin/sr-codes/{row_id}/delete", response_model=None)
def sr_codes_delete(
    request: Request,
    row_id: ItemId,
    s: Db,
    p: Admin,
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_form_csrf(p, csrf_token)
    interop.delete_local_code(s, row_id, p.user, client=client_of(request))
    return RedirectResponse("/admin/sr-codes", status_code=303)
