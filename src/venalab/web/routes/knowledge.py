"""Knowledge pages: the cited Q&A (/ask) and the review workflow of entries (/knowledge).

Answers come from `venalab.knowledge.ask` (retrieval over reviewed entries, measurement
questions routed to the engine); the workflow from `venalab.knowledge.workflow.EntryStore`.
Unreviewed entries are answered with a banner and their status, unless the lab's policy
(VENALAB_PATIENT_REVIEW_POLICY=approved-only) shows patients approved entries only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from venalab.knowledge import ask
from venalab.knowledge.entries import ENTRIES_DIR, load_knowledge_base
from venalab.knowledge.model import ReviewAction
from venalab.knowledge.workflow import EntryStore, WorkflowError, allowed_actions
from venalab.store import audit
from venalab.web.deps import Db, client_of, state
from venalab.web.rendering import PageForbidden, PagePrincipal, check_form_csrf, render

router = APIRouter(include_in_schema=False)
REVIEWER_ROLES = ("physician", "admin")


def knowledge_dir(request: Request) -> Path:
    """The configured entries folder (VENALAB_KNOWLEDGE_DIR), else the entries shipped."""
    return state(request).settings.knowledge_dir or ENTRIES_DIR


@router.get("/ask", response_class=HTMLResponse)
def ask_page(
    request: Request,
    p: PagePrincipal,
    q: Annotated[str, Query(max_length=500)] = "",
    audience: Annotated[Literal["clinician", "patient"], Query()] = "clinician",
) -> HTMLResponse:
    kb = load_knowledge_base(knowledge_dir(request))
    policy = state(request).settings.patient_review_policy
    answer = ask(q, audience, kb=kb, policy=policy) if q.strip() else None
    return render(request, "ask.html", p, q=q, audience=audience, answer=answer)


@router.get("/knowledge", response_class=HTMLResponse)
def knowledge_list(request: Request, p: PagePrincipal) -> HTMLResponse:
    store = EntryStore(knowledge_dir(request))
    entries = sorted(
        (store.read(path.stem) for path in knowledge_dir(request).glob("*.md")),
        key=lambda e: (e.meta.topic, e.meta.audience),
    )
    rows = [{"entry": e, "actions": allowed_actions(e.status)} for e in entries]
    return render(request, "knowledge.html", p, rows=rows, can_review=p.user.role in REVIEWER_ROLES)


@router.post("/knowledge/{entry_id}/{action}", response_model=None)
def knowledge_action(
    request: Request,
    entry_id: str,
    action: str,
    s: Db,
    p: PagePrincipal,
    comment: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_form_csrf(p, csrf_token)
    if action not in ("submit", "start-review", "approve", "send-back", "revise"):
        raise PageForbidden(f"unknown review action {action!r}")
    if action in ("start-review", "approve", "send-back") and p.user.role not in REVIEWER_ROLES:
        raise PageForbidden("Only physicians and administrators review knowledge entries.")
    try:
        entry = EntryStore(knowledge_dir(request)).apply(
            entry_id,
            cast(ReviewAction, action),
            by=p.user.display_name or p.user.username,
            comment=comment or None,
        )
    except (WorkflowError, KeyError) as e:
        raise PageForbidden(str(e)) from None
    audit.record(
        s,
        f"knowledge-{action}",
        user=p.user,
        entity="knowledge",
        entity_id=None,
        detail={"entry": entry_id, "status": entry.status, "comment": comment or None},
        client=client_of(request),
    )
    return RedirectResponse("/knowledge", status_code=303)
