"""ORM models of the stored state: users, tokens, patients, exams with versions, audit log.

The schema itself is created by the hand-written Alembic migrations in `migrations/versions/`
(never by `metadata.create_all`); a test compares these models with the migrated schema on
SQLite and PostgreSQL so the two cannot drift.

Times are timezone-aware UTC on the Python side on both databases (`UTCDateTime`). Exam
documents are stored as the canonical JSON object of `ExamDocument.to_json()` (JSONB on
PostgreSQL) together with the SHA-256 of its canonical text (`canonical_json`), so a version's
hash can be recomputed from its stored document at any time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Final, Literal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

Role = Literal["sonographer", "physician", "admin"]
ROLES: Final[tuple[Role, ...]] = ("sonographer", "physician", "admin")
ExamStatus = Literal["draft", "signed"]
EXAM_STATUSES: Final[tuple[ExamStatus, ...]] = ("draft", "signed")

# Deterministic constraint names on both databases, so migrations can refer to them.
NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def utcfromtimestamp(seconds: float) -> dt.datetime:
    """Aware UTC datetime of epoch seconds, clamped to the years a database stores."""
    return dt.datetime.fromtimestamp(min(max(seconds, 0.0), 253_402_300_799.0), dt.UTC)


def canonical_json(obj: Any) -> str:
    """The one text form a document is hashed in: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def document_hash(obj: Any) -> str:
    """SHA-256 (hex) of `canonical_json(obj)`."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out. SQLite has no time zones: it stores naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: use an aware UTC datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# JSONB on PostgreSQL: comparable (the immutability trigger compares documents) and indexable.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy's own hook)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('sonographer', 'physician', 'admin')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # printed after the name as the signer: "Jane Doe, MD, RPVI" (migration 0006)
    credentials: Mapped[str | None] = mapped_column(String(100), default=None)
    role: Mapped[Role] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", order_by="ApiToken.id", viewonly=True
    )

    def __repr__(self) -> str:
        return f"User({self.username!r}, role={self.role!r}, active={self.active})"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(back_populates="tokens")


class UserSession(Base):
    """A signed-in browser session (migration 0004). The cookie carries a random id; only its
    SHA-256 is stored, so a copy of the database cannot be used to take over a session.
    Logging out, changing the password and disabling the account set `ended_at`."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    client: Mapped[str | None] = mapped_column(String(200), default=None)


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (CheckConstraint("sex IN ('male', 'female', 'other', 'unknown')", name="sex"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_id: Mapped[str] = mapped_column(String(64), unique=True)
    # What look-alike ids share (text_rules.match_key): unique, so a second patient whose id
    # only differs in case, Unicode form or spacing cannot be created, even concurrently.
    match_key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    sex: Mapped[str] = mapped_column(String(16), default="unknown")
    birth_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    age_years: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    exams: Mapped[list[Exam]] = relationship(
        back_populates="patient", order_by="[Exam.exam_date, Exam.id]", viewonly=True
    )


class Exam(Base):
    __tablename__ = "exams"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'signed')", name="status"),
        CheckConstraint("current_version >= 1", name="current_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    exam_date: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[ExamStatus] = mapped_column(String(16), default="draft")
    current_version: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The current version has a critical result (set by the web layer from the engine's
    # marks when a version is saved; migration 0004): such drafts head the worklist.
    critical: Mapped[bool] = mapped_column(default=False)

    patient: Mapped[Patient] = relationship(back_populates="exams")
    creator: Mapped[User] = relationship(foreign_keys=[created_by])
    versions: Mapped[list[ExamVersion]] = relationship(
        back_populates="exam", order_by="ExamVersion.version", viewonly=True
    )


class ExamVersion(Base):
    __tablename__ = "exam_versions"
    __table_args__ = (
        UniqueConstraint("exam_id", "version"),
        CheckConstraint("status IN ('draft', 'signed')", name="status"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id"))
    version: Mapped[int] = mapped_column()
    document: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    doc_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[ExamStatus] = mapped_column(String(16), default="draft")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    signed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # the signer as printed ("Jane Doe, MD, RPVI"), frozen at signing (migration 0006)
    signer_name: Mapped[str | None] = mapped_column(String(310), default=None)

    exam: Mapped[Exam] = relationship(back_populates="versions")
    author: Mapped[User] = relationship(foreign_keys=[created_by])
    signer: Mapped[User | None] = relationship(foreign_keys=[signed_by])


class AuditEntry(Base):
    """One line of the append-only audit log (database triggers refuse UPDATE and DELETE,
    and on SQLite an INSERT that would replace a row). Tamper-evident: each entry carries the
    hash of the one before it (`prev_hash`) and its own (`entry_hash`, store/audit.py), in
    the order of `chain_seq`; `venalab audit verify` checks the chain."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column()
    doc_hash: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    client: Mapped[str | None] = mapped_column(String(200))
    chain_seq: Mapped[int] = mapped_column(Integer, unique=True, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The one row (id 1) naming the newest audit entry: its sequence number and hash.
    Writers update it first, which serialises them (row lock on PostgreSQL, the write lock
    on SQLite), so concurrent writers extend one chain instead of forking it."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class CdsTokenUse(Base):
    """CDS Hooks client tokens seen, until they expire: a `jti` is accepted once, whichever
    worker process or host receives it (web/cds.py)."""

    __tablename__ = "cds_token_uses"

    iss: Mapped[str] = mapped_column(String(255), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class LoginFailure(Base):
    """Login attempts of the last minutes, for throttling (the audit is in audit_log).

    A row is written, in its own committed transaction, before a password is checked (a
    reserved attempt); it stays as the record of a failure, and a success deletes the
    username's rows (store/users.py, `login`)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class WorksheetDraft(Base):
    """A worksheet's unsaved state, kept server-side while it is typed (issue 16, migration
    0005): one per user and page key (`exam-<id>`, `incoming-<id>`, `order-<id>`, `new-<random>`),
    so a closed tab or a crashed browser loses nothing. The document is the worksheet as
    typed, not necessarily a valid exam document (store/drafts.py); only its owner reads it.
    Deleted when the exam is saved or the draft discarded; expired ones are purged."""

    __tablename__ = "worksheet_drafts"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    page: Mapped[str] = mapped_column(String(200))
    document: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    base_version: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


# --- interoperability (issue 20): received SRs, HL7 orders, ORU results, local SR codes ----

IncomingStatus = Literal["pending", "done", "dismissed"]
OrderStatus = Literal["scheduled", "in-progress", "completed", "cancelled"]


class LocalSrCode(Base):
    """One entry of the lab's local SR code map (an admin edits it in the web app)."""

    __tablename__ = "local_sr_codes"
    __table_args__ = (UniqueConstraint("scheme", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(100))
    meaning: Mapped[str | None] = mapped_column(String(200), default=None)
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScheduledOrder(Base):
    """An order received over HL7 v2 (ORM^O01 / OMG^O19): a scheduled exam in the worklist."""

    __tablename__ = "scheduled_orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'in-progress', 'completed', 'cancelled')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    accession: Mapped[str] = mapped_column(String(64), unique=True)
    placer_order: Mapped[str | None] = mapped_column(String(64), default=None)
    patient_local_id: Mapped[str] = mapped_column(String(64), index=True)
    patient_name: Mapped[str | None] = mapped_column(String(200), default=None)
    sex: Mapped[str] = mapped_column(String(16), default="unknown")
    birth_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    indication: Mapped[str | None] = mapped_column(Text, default=None)
    referring_physician: Mapped[str | None] = mapped_column(String(200), default=None)
    procedure: Mapped[str | None] = mapped_column(String(200), default=None)
    scheduled_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    exam_id: Mapped[int | None] = mapped_column(ForeignKey("exams.id"), default=None)
    message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IncomingSr(Base):
    """A structured report received from a scanner (DICOM C-STORE), waiting for review.

    Nothing becomes an exam until a user opens it in the worksheet and saves; then the item
    is marked done with the exam it became."""

    __tablename__ = "incoming_srs"
    __table_args__ = (CheckConstraint("status IN ('pending', 'done', 'dismissed')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    calling_ae: Mapped[str] = mapped_column(String(16))
    sop_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    patient_local_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    accession: Mapped[str | None] = mapped_column(String(64), default=None)
    study_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("scheduled_orders.id"), default=None)
    exam_id: Mapped[int | None] = mapped_column(ForeignKey("exams.id"), default=None)
    done_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    done_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ResultMessage(Base):
    """An ORU^R01 result for one signed exam version: written to the outbox folder, then
    sent over MLLP when a results host is configured (retried until it is acknowledged)."""

    __tablename__ = "result_messages"
    __table_args__ = (UniqueConstraint("exam_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id"))
    version: Mapped[int] = mapped_column()
    control_id: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


# --- critical results (issue 18) ----------------------------------------------------------


class CriticalCommunication(Base):
    """A documented communication of an exam version's critical results: to whom, how, when,
    whether the recipient read the result back. Append-only (database triggers refuse UPDATE
    and DELETE, migration 0004); a critical exam version is signed only after one with the
    read-back confirmed."""

    __tablename__ = "critical_communications"
    __table_args__ = (Index(None, "exam_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id"))
    version: Mapped[int] = mapped_column()
    criteria: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(32))
    communicated_at: Mapped[dt.datetime] = mapped_column()
    read_back: Mapped[bool] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text, default=None)
    documented_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    documented_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
