"""The audit log: who did what, when, to which record and version (with the document hash).

Append-only by construction: this module can only add and read entries, and the database
refuses UPDATE and DELETE on the table (triggers installed by migration 0001). Entries are
written in the caller's transaction, so an action and its audit line commit or vanish together.

Actions recorded by the store itself are the ACTION_* constants; the web layer adds its own
(e.g. "view-report") through `record`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from venalab.store.errors import InvalidValue
from venalab.store.models import AuditEntry, User, utcnow

ACTION_EXAM_CREATE: Final = "exam-create"
ACTION_EXAM_SAVE: Final = "exam-save"
ACTION_EXAM_AMEND: Final = "exam-amend"
ACTION_EXAM_SIGN: Final = "exam-sign"
ACTION_VIEW_REPORT: Final = "view-report"
ACTION_LOGIN_SUCCESS: Final = "login-success"
ACTION_LOGIN_FAILURE: Final = "login-failure"
ACTION_USER_CREATE: Final = "user-create"
ACTION_USER_DISABLE: Final = "user-disable"
ACTION_PASSWORD_SET: Final = "password-set"
ACTION_TOKEN_CREATE: Final = "token-create"
ACTION_TOKEN_REVOKE: Final = "token-revoke"
ACTION_CRITICAL_COMMUNICATION: Final = "critical-communication"

#: Every action the store and the web layer are known to record (for filter drop-downs).
ACTIONS: Final[tuple[str, ...]] = (
    ACTION_EXAM_CREATE,
    ACTION_EXAM_SAVE,
    ACTION_EXAM_AMEND,
    ACTION_EXAM_SIGN,
    ACTION_VIEW_REPORT,
    ACTION_LOGIN_SUCCESS,
    ACTION_LOGIN_FAILURE,
    ACTION_USER_CREATE,
    ACTION_USER_DISABLE,
    ACTION_PASSWORD_SET,
    ACTION_TOKEN_CREATE,
    ACTION_TOKEN_REVOKE,
    ACTION_CRITICAL_COMMUNICATION,
)

_MAX_CLIENT = 200


def record(
    s: Session,
    action: str,
    *,
    user: User | None,
    entity: str | None = None,
    entity_id: str | int | None = None,
    version: int | None = None,
    doc_hash: str | None = None,
    detail: dict[str, Any] | None = None,
    client: str | None = None,
    username: str | None = None,
) -> AuditEntry:
    """Append one entry. `username` overrides `user` (e.g. the name typed at a failed login)."""
    if not action or len(action) > 64:
        raise InvalidValue("action", "give an action name of 1 to 64 characters")
    entry = AuditEntry(
        at=utcnow(),
        username=username if username is not None else (user.username if user else None),
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        version=version,
        doc_hash=doc_hash,
        detail=detail,
        client=client[:_MAX_CLIENT] if client else None,
    )
    s.add(entry)
    s.flush()
    return entry


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # A naive bound from a form field is read as UTC, the time zone entries are stored in.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


def query(
    s: Session,
    *,
    username: str | None = None,
    action: str | None = None,
    entity_id: str | int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 200,
    offset: int = 0,
    entity: str | None = None,
) -> list[AuditEntry]:
    """Entries newest first; filters combine with AND; `since` inclusive, `until` exclusive."""
    stmt = select(AuditEntry)
    since, until = _aware(since), _aware(until)
    if username is not None:
        stmt = stmt.where(AuditEntry.username == username)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if entity is not None:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == str(entity_id))
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    stmt = stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    stmt = stmt.limit(max(0, min(limit, 10_000))).offset(max(0, offset))
    return list(s.scalars(stmt))
