"""Worksheet drafts: what a user typed into a worksheet and has not saved yet (issue 16).

The worksheet keeps its state here every few seconds of typing, so a closed tab, a crashed
browser or a lost network connection loses nothing; reopening the page offers the draft back.
A draft belongs to one user and one page key:

    exam-<id>       editing or amending a stored exam
    incoming-<id>   a received structured report under review
    order-<id>      a scheduled order opened in the worksheet
    new-<random>    a new exam (or an imported file): one per browser tab

A draft's document is the worksheet as typed, not a validated exam (it may hold a partial
date or a row without a vein); it is a JSON object within the request limits. Only its owner
can read, list or delete it. Audited: a draft's creation, restore and discard (not each
autosave, which would drown the log); saving the exam is audited as usual and deletes it.
Drafts not changed for `retention_days` are purged when their owner next writes one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import venalab.store.audit as audit
from venalab.store.errors import InvalidState, InvalidValue, NotFound
from venalab.store.models import User, WorksheetDraft, utcnow
from venalab.text_rules import strip_controls

KEY_PATTERN: Final = r"^(exam|incoming|order)-[1-9][0-9]{0,17}$|^new-[A-Za-z0-9-]{8,64}$"
_KEY = re.compile(KEY_PATTERN)
#: Drafts one user may hold at once; beyond, they are asked to discard some (never silently).
MAX_DRAFTS_PER_USER: Final = 50
DEFAULT_RETENTION_DAYS: Final = 30


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidValue(
            "key", "a draft key is exam-<id>, incoming-<id>, order-<id> or new-<8-64 letters>"
        )
    return key


def _one(s: Session, user: User, key: str) -> WorksheetDraft | None:
    return s.scalars(
        select(WorksheetDraft).where(WorksheetDraft.user_id == user.id, WorksheetDraft.key == key)
    ).one_or_none()


def put_draft(
    s: Session,
    user: User,
    key: str,
    document: dict[str, Any],
    *,
    title: str,
    page: str,
    base_version: int | None = None,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    client: str | None = None,
) -> WorksheetDraft:
    """Create or replace the user's draft under `key`."""
    check_key(key)
    if not isinstance(document, dict):
        raise InvalidValue("document", "a draft is a JSON object (the worksheet's document)")
    title = strip_controls(title)[:200]
    page = strip_controls(page)[:200] if page.startswith("/") else "/worksheet"
    now = utcnow()
    s.execute(
        delete(WorksheetDraft).where(
            WorksheetDraft.user_id == user.id,
            WorksheetDraft.updated_at < now - dt.timedelta(days=retention_days),
        )
    )
    draft = _one(s, user, key)
    if draft is None:
        count = s.scalar(
            select(func.count())
            .select_from(WorksheetDraft)
            .where(WorksheetDraft.user_id == user.id)
        )
        if (count or 0) >= MAX_DRAFTS_PER_USER:
            raise InvalidState(
                f"{MAX_DRAFTS_PER_USER} unsaved worksheets are kept for you already: save or "
                "discard some (New exam lists them)"
            )
        draft = WorksheetDraft(
            user_id=user.id,
            key=key,
            title=title,
            page=page,
            document=document,
            base_version=base_version,
            created_at=now,
            updated_at=now,
        )
        try:
            with s.begin_nested():
                s.add(draft)
        except IntegrityError:  # the same key created at the same moment (two requests)
            existing = _one(s, user, key)
            if existing is None:
                raise
            draft = existing
        else:
            audit.record(
                s,
                audit.ACTION_DRAFT_CREATE,
                user=user,
                entity="draft",
                entity_id=key,
                detail={"title": title},
                client=client,
            )
            return draft
    draft.title, draft.page, draft.document = title, page, document
    draft.base_version, draft.updated_at = base_version, now
    s.flush()
    return draft


def get_draft(s: Session, user: User, key: str) -> WorksheetDraft:
    draft = _one(s, user, check_key(key))
    if draft is None:
        raise NotFound(f"no draft {key!r} of yours")
    return draft


def restore_draft(s: Session, user: User, key: str, client: str | None = None) -> WorksheetDraft:
    """The draft, for putting back into the worksheet (audited)."""
    draft = get_draft(s, user, key)
    audit.record(
        s, audit.ACTION_DRAFT_RESTORE, user=user, entity="draft", entity_id=key, client=client
    )
    return draft


def list_drafts(
    s: Session, user: User, *, kind: str | None = None, key: str | None = None, limit: int = 20
) -> list[WorksheetDraft]:
    """The user's drafts, newest first: all, those of one kind ("new", "exam"...), or one key."""
    q = select(WorksheetDraft).where(WorksheetDraft.user_id == user.id)
    if key is not None:
        q = q.where(WorksheetDraft.key == check_key(key))
    if kind is not None:
        q = q.where(WorksheetDraft.key.startswith(f"{kind}-", autoescape=True))
    return list(s.scalars(q.order_by(WorksheetDraft.updated_at.desc()).limit(limit)))


def delete_draft(
    s: Session, user: User, key: str, *, discard: bool = False, client: str | None = None
) -> bool:
    """Remove the user's draft (True if there was one). `discard`: the user threw it away
    (audited); otherwise it was saved as an exam or typed back to the stored state."""
    draft = _one(s, user, check_key(key))
    if draft is None:
        return False
    s.delete(draft)
    if discard:
        audit.record(
            s,
            audit.ACTION_DRAFT_DISCARD,
            user=user,
            entity="draft",
            entity_id=key,
            detail={"title": draft.title},
            client=client,
        )
    s.flush()
    return True
