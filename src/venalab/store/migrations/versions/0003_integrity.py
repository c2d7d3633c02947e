"""Integrity: tamper-evident audit chain, no silent replacement of history, look-alike
patient ids, CDS Hooks token replay cache (security issue, items 4, 6 and 7).

- audit_log gets `chain_seq`, `prev_hash`, `entry_hash` (store/audit.py); existing rows are
  chained in id order here. `audit_chain_head` (one row) names the newest entry; writers
  update it first, which serialises them.
- SQLite's INSERT OR REPLACE deletes the row it replaces without firing DELETE triggers
  (unless recursive_triggers is on, which store/db.py now sets on every connection): BEFORE
  INSERT triggers refuse an insert whose key exists in audit_log or exam_versions.
- Versions are inserted as drafts only (signing is an UPDATE the guards of 0001 watch), so
  a "signed" version cannot be slipped in with an INSERT on either database.
- patients.match_key (text_rules.match_key), unique: look-alike ids cannot make a second
  patient. Look-alikes stored before this migration keep distinct keys (their id is mixed in).
- cds_token_uses: CDS client token ids (`jti`) seen, shared by every worker (web/cds.py).

Revision ID: 0003_integrity
Revises: 0002_interop
Create Date: 2026-12-03
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

from venalab.store.audit import GENESIS, entry_digest
from venalab.store.models import JsonDoc, UTCDateTime
from venalab.text_rules import match_key

revision = "0003_integrity"
down_revision: str | None = "0002_interop"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    _patients_match_key()
    _audit_chain(sqlite)
    op.create_table(
        "cds_token_uses",
        sa.Column("iss", sa.String(255), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti", name="pk_cds_token_uses"),
    )
    op.create_index("ix_cds_token_uses_expires_at", "cds_token_uses", ["expires_at"])
    if sqlite:
        _sqlite_guards()
    else:
        _postgresql_guards()


def _patients_match_key() -> None:
    op.add_column(
        "patients", sa.Column("match_key", sa.String(64), nullable=False, server_default="")
    )
    conn = op.get_bind()
    seen: set[str] = set()
    for pid, local_id in conn.execute(sa.text("SELECT id, local_id FROM patients ORDER BY id")):
        key = match_key(local_id)
        if key in seen:  # a look-alike stored before the rule: kept, with its own key
            key = hashlib.sha256(f"{key}#{pid}".encode()).hexdigest()
        seen.add(key)
        conn.execute(
            sa.text("UPDATE patients SET match_key = :key WHERE id = :id"), {"key": key, "id": pid}
        )
    op.create_index("ix_patients_match_key", "patients", ["match_key"], unique=True)


_AUDIT = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("username", sa.String()),
    sa.column("action", sa.String()),
    sa.column("entity", sa.String()),
    sa.column("entity_id", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("doc_hash", sa.String()),
    sa.column("detail", JsonDoc),
    sa.column("client", sa.String()),
    sa.column("chain_seq", sa.Integer()),
    sa.column("prev_hash", sa.String()),
    sa.column("entry_hash", sa.String()),
)


def _audit_chain(sqlite: bool) -> None:
    op.add_column(
        "audit_log", sa.Column("chain_seq", sa.Integer(), nullable=False, server_default="0")
    )
    for name in ("prev_hash", "entry_hash"):
        op.add_column(
            "audit_log", sa.Column(name, sa.String(64), nullable=False, server_default="")
        )
    # The entries written so far are chained in id order; the append-only guard of 0001 is
    # lifted for this one update.
    if sqlite:
        op.execute("DROP TRIGGER audit_log_no_update")
    else:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    conn = op.get_bind()
    seq, prev = 0, GENESIS
    rows: list[Any] = list(conn.execute(sa.select(_AUDIT).order_by(_AUDIT.c.id)))
    for row in rows:
        seq += 1
        digest = entry_digest(
            seq=seq,
            prev_hash=prev,
            at=row.at,
            username=row.username,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            version=row.version,
            doc_hash=row.doc_hash,
            detail=row.detail,
            client=row.client,
        )
        conn.execute(
            sa.update(_AUDIT)
            .where(_AUDIT.c.id == row.id)
            .values(chain_seq=seq, prev_hash=prev, entry_hash=digest)
        )
        prev = digest
    if sqlite:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
        )
    else:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        for name in ("chain_seq", "prev_hash", "entry_hash"):
            op.alter_column("audit_log", name, server_default=None)
    op.create_index("ix_audit_log_chain_seq", "audit_log", ["chain_seq"], unique=True)
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    conn.execute(
        sa.text("INSERT INTO audit_chain_head (id, seq, last_hash) VALUES (1, :seq, :hash)"),
        {"seq": seq, "hash": prev},
    )


_SQLITE_TRIGGERS = {
    # INSERT OR REPLACE would delete the row it replaces without a DELETE trigger firing.
    "audit_log_no_replace": "BEFORE INSERT ON audit_log WHEN EXISTS (SELECT 1 FROM audit_log "
    "WHERE id = NEW.id OR chain_seq = NEW.chain_seq) "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "exam_versions_no_replace": "BEFORE INSERT ON exam_versions WHEN EXISTS (SELECT 1 FROM "
    "exam_versions WHERE id = NEW.id OR (exam_id = NEW.exam_id AND version = NEW.version)) "
    "BEGIN SELECT RAISE(ABORT, 'exam versions are never replaced'); END",
    "exam_versions_insert_draft": "BEFORE INSERT ON exam_versions WHEN NEW.status <> 'draft' "
    "OR NEW.signed_by IS NOT NULL OR NEW.signed_at IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'exam versions are stored as drafts and signed afterwards'); END",
    "audit_chain_head_no_insert": "BEFORE INSERT ON audit_chain_head "
    "WHEN EXISTS (SELECT 1 FROM audit_chain_head) "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain has one head'); END",
    "audit_chain_head_no_delete": "BEFORE DELETE ON audit_chain_head "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain has one head'); END",
    "audit_chain_head_forward": "BEFORE UPDATE ON audit_chain_head "
    "WHEN NEW.id <> OLD.id OR NEW.seq < OLD.seq "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain only grows'); END",
}


def _sqlite_guards() -> None:
    for name, body in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def _postgresql_guards() -> None:
    # (PostgreSQL has no INSERT OR REPLACE; INSERT ... ON CONFLICT DO UPDATE fires the
    # UPDATE guards of 0001.)
    op.execute(
        """
        CREATE FUNCTION venalab_exam_version_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.status <> 'draft' OR NEW.signed_by IS NOT NULL OR NEW.signed_at IS NOT NULL THEN
                RAISE EXCEPTION 'exam versions are stored as drafts and signed afterwards';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER exam_versions_insert_draft BEFORE INSERT ON exam_versions "
        "FOR EACH ROW EXECUTE FUNCTION venalab_exam_version_insert_guard()"
    )
    op.execute(
        """
        CREATE FUNCTION venalab_audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq >= OLD.seq THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'INSERT' AND NOT EXISTS (SELECT 1 FROM audit_chain_head) THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'the audit chain has one head, and it only grows';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_chain_head_guard BEFORE INSERT OR UPDATE OR DELETE "
        "ON audit_chain_head FOR EACH ROW EXECUTE FUNCTION venalab_audit_head_guard()"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head "
        "FOR EACH STATEMENT EXECUTE FUNCTION venalab_audit_head_guard()"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    else:
        op.execute("DROP TRIGGER audit_chain_head_no_truncate ON audit_chain_head")
        op.execute("DROP TRIGGER audit_chain_head_guard ON audit_chain_head")
        op.execute("DROP TRIGGER exam_versions_insert_draft ON exam_versions")
        op.execute("DROP FUNCTION venalab_audit_head_guard()")
        op.execute("DROP FUNCTION venalab_exam_version_insert_guard()")
    op.drop_index("ix_cds_token_uses_expires_at", table_name="cds_token_uses")
    op.drop_table("cds_token_uses")
    op.drop_table("audit_chain_head")
    op.drop_index("ix_audit_log_chain_seq", table_name="audit_log")
    for name in ("entry_hash", "prev_hash", "chain_seq"):
        op.drop_column("audit_log", name)
    op.drop_index("ix_patients_match_key", table_name="patients")
    op.drop_column("patients", "match_key")
