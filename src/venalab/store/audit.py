"""The audit log: who did what, when, to which record and version (with the document hash).

Append-only by construction: this module can only add and read entries, and the database
refuses UPDATE and DELETE on the table (triggers installed by migration 0001; migration
0003_integrity also refuses an INSERT that would replace a row, SQLite's INSERT OR REPLACE).
Entries are written in the caller's transaction, so an action and its audit line commit or
vanish together.

Tamper-evident: entry n carries `prev_hash` (the hash of entry n-1) and `entry_hash`, the
SHA-256 of its canonical content including `prev_hash` (`entry_digest`). Changing, deleting
or inserting a row breaks the chain at that row; `venalab audit verify` (store/integrity.py)
finds it. Writers first take the chain head (`audit_chain_head`, one row) with an UPDATE,
which serialises them on both databases until their transaction ends.

Text is stored as given except that control characters (NUL breaks PostgreSQL) are written
as `\\uXXXX` escapes and over-long names are cut to their column's size, so recording what a
hostile client sent can never fail the action it belongs to.

Actions recorded by the store itself are the ACTION_* constants; the web layer adds its own
(e.g. "view-report") through `record`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any, Final

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from venalab.store.errors import InvalidValue, StoreError
from venalab.store.models import AuditChainHead, AuditEntry, User, canonical_json, utcnow

ACTION_EXAM_CREATE: Final = "exam-create"
ACTION_EXAM_SAVE: Final = "exam-save"
ACTION_EXAM_AMEND: Final = "exam-amend"
ACTION_EXAM_SIGN: Final = "exam-sign"
ACTION_VIEW_REPORT: Final = "view-report"
ACTION_LOGIN_SUCCESS: Final = "login-success"
ACTION_LOGIN_FAILURE: Final = "login-failure"
ACTION_USER_CREATE: Final = "user-create"
ACTION_USER_DISABLE: Final = "user-disable"
ACTION_USER_IDENTITY: Final = "user-identity"
ACTION_PASSWORD_SET: Final = "password-set"
ACTION_TOKEN_CREATE: Final = "token-create"
ACTION_TOKEN_REVOKE: Final = "token-revoke"
ACTION_DRAFT_CREATE: Final = "draft-create"
ACTION_DRAFT_RESTORE: Final = "draft-restore"
ACTION_DRAFT_DISCARD: Final = "draft-discard"
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
    ACTION_USER_IDENTITY,
    ACTION_PASSWORD_SET,
    ACTION_TOKEN_CREATE,
    ACTION_TOKEN_REVOKE,
    ACTION_DRAFT_CREATE,
    ACTION_DRAFT_RESTORE,
    ACTION_DRAFT_DISCARD,
    ACTION_CRITICAL_COMMUNICATION,
)

_MAX_CLIENT = 200
_MAX_NAME = 64
#: The hash before the first entry.
GENESIS: Final = "0" * 64
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def entry_digest(
    *,
    seq: int,
    prev_hash: str,
    at: dt.datetime,
    username: str | None,
    action: str,
    entity: str | None,
    entity_id: str | None,
    version: int | None,
    doc_hash: str | None,
    detail: Any,
    client: str | None,
) -> str:
    """SHA-256 (hex) of an entry's canonical content (chain format 1). `at` is hashed as
    aware UTC with microseconds, the precision both databases keep."""
    content = {
        "chain": 1,
        "seq": seq,
        "prev": prev_hash,
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "username": username,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "version": version,
        "doc_hash": doc_hash,
        "detail": detail,
        "client": client,
    }
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def digest_of(entry: AuditEntry) -> str:
    """The hash an entry's stored content gives (equals `entry.entry_hash` unless changed)."""
    return entry_digest(
        seq=entry.chain_seq,
        prev_hash=entry.prev_hash,
        at=entry.at,
        username=entry.username,
        action=entry.action,
        entity=entry.entity,
        entity_id=entry.entity_id,
        version=entry.version,
        doc_hash=entry.doc_hash,
        detail=entry.detail,
        client=entry.client,
    )


def _escaped(text: str, limit: int | None = None) -> str:
    clean = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return clean[:limit] if limit is not None else clean


def _clean(value: Any) -> Any:
    """JSON `value` with control characters in its strings (and keys) escaped."""
    if isinstance(value, str):
        return _escaped(value)
    if isinstance(value, dict):
        return {_escaped(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


_INSERTED: Final = tuple(c for c in AuditEntry.__table__.columns if c.key != "id")
_INSERT_ENTRY: Final = insert(AuditEntry).returning(AuditEntry.id)
_SET_HEAD: Final = (
    update(AuditChainHead)
    .where(AuditChainHead.id == 1)
    .values(last_hash=bindparam("last_hash"))
    .execution_options(synchronize_session=False)
)
_CLAIM_HEAD: Final = (
    update(AuditChainHead)
    .where(AuditChainHead.id == 1)
    .values(seq=AuditChainHead.seq + 1)
    .returning(AuditChainHead.seq, AuditChainHead.last_hash)
    .execution_options(synchronize_session=False)
)


def _claim_head(s: Session) -> tuple[int, str]:
    """Advance the chain head by one and return (this entry's seq, previous hash). The
    UPDATE comes first: it takes the head's row lock (PostgreSQL) or the write lock (SQLite)
    before the previous hash is read, so no other writer can slip in between."""
    row = s.execute(_CLAIM_HEAD).one_or_none()
    if row is None:
        raise StoreError("the audit chain head is missing; run `venalab audit verify`")
    return int(row[0]), str(row[1])


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
    name = username if username is not None else (user.username if user else None)
    seq, prev_hash = _claim_head(s)
    entry = AuditEntry(
        at=utcnow(),
        username=None if name is None else _escaped(name, _MAX_NAME),
        action=_escaped(action),
        entity=None if entity is None else _escaped(entity, 32),
        entity_id=None if entity_id is None else _escaped(str(entity_id), 64),
        version=version,
        doc_hash=doc_hash,
        detail=None if detail is None else _clean(detail),
        client=_escaped(client, _MAX_CLIENT) if client else None,
        chain_seq=seq,
        prev_hash=prev_hash,
    )
    entry.entry_hash = digest_of(entry)
    # A plain INSERT, not the session's unit of work: nothing else of the transaction waits
    # on this row, and the flush machinery cost more than the statement (issue 14).
    columns = {c.key: getattr(entry, c.key) for c in _INSERTED}
    entry.id = s.execute(_INSERT_ENTRY, columns).scalar_one()
    s.execute(_SET_HEAD, {"last_hash": entry.entry_hash})
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
