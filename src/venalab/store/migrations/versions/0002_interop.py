"""Interoperability (issue 20): incoming SRs, HL7 orders, ORU results, the local SR code map.

Revision ID: 0002_interop
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_interop"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "local_sr_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("meaning", sa.String(200), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_local_sr_codes"),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name="fk_local_sr_codes_updated_by_users"
        ),
        sa.UniqueConstraint("scheme", "code", name="uq_local_sr_codes_scheme_code"),
    )
    op.create_table(
        "scheduled_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("accession", sa.String(64), nullable=False),
        sa.Column("placer_order", sa.String(64), nullable=True),
        sa.Column("patient_local_id", sa.String(64), nullable=False),
        sa.Column("patient_name", sa.String(200), nullable=True),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("indication", sa.Text(), nullable=True),
        sa.Column("referring_physician", sa.String(200), nullable=True),
        sa.Column("procedure", sa.String(200), nullable=True),
        sa.Column("scheduled_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(64), nullable=True),
        _ts("received_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduled_orders"),
        sa.ForeignKeyConstraint(
            ["exam_id"], ["exams.id"], name="fk_scheduled_orders_exam_id_exams"
        ),
        sa.UniqueConstraint("accession", name="uq_scheduled_orders_accession"),
        sa.CheckConstraint(
            "status IN ('scheduled', 'in-progress', 'completed', 'cancelled')",
            name="ck_scheduled_orders_status",
        ),
    )
    op.create_index(
        "ix_scheduled_orders_patient_local_id", "scheduled_orders", ["patient_local_id"]
    )
    op.create_table(
        "incoming_srs",
        sa.Column("id", sa.Integer(), nullable=False),
        _ts("received_at"),
        sa.Column("calling_ae", sa.String(16), nullable=False),
        sa.Column("sop_instance_uid", sa.String(64), nullable=False),
        sa.Column("patient_local_id", sa.String(64), nullable=True),
        sa.Column("accession", sa.String(64), nullable=True),
        sa.Column("study_date", sa.Date(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("exam_id", sa.Integer(), nullable=True),
        sa.Column("done_by", sa.Integer(), nullable=True),
        _ts("done_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_incoming_srs"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["scheduled_orders.id"], name="fk_incoming_srs_order_id_scheduled_orders"
        ),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"], name="fk_incoming_srs_exam_id_exams"),
        sa.ForeignKeyConstraint(["done_by"], ["users.id"], name="fk_incoming_srs_done_by_users"),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'dismissed')", name="ck_incoming_srs_status"
        ),
    )
    op.create_index("ix_incoming_srs_received_at", "incoming_srs", ["received_at"])
    op.create_index("ix_incoming_srs_sop_instance_uid", "incoming_srs", ["sop_instance_uid"])
    op.create_index("ix_incoming_srs_patient_local_id", "incoming_srs", ["patient_local_id"])
    op.create_table(
        "result_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("control_id", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_result_messages"),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"], name="fk_result_messages_exam_id_exams"),
        sa.UniqueConstraint("exam_id", "version", name="uq_result_messages_exam_id_version"),
        sa.UniqueConstraint("control_id", name="uq_result_messages_control_id"),
    )


def downgrade() -> None:
    for table in ("result_messages", "incoming_srs", "scheduled_orders", "local_sr_codes"):
        op.drop_table(table)
