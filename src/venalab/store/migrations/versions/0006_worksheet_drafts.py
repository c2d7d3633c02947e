"""Worksheet drafts: the unsaved state of a worksheet, per user and page (issue 16).

Revision ID: 0006_worksheet_drafts
Revises: 0005_critical_results
Create Date: 2025-07-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_worksheet_drafts"
down_revision: str | None = "0005_critical_results"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "worksheet_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("page", sa.String(200), nullable=False),
        sa.Column("document", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_worksheet_drafts"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_worksheet_drafts_user_id_users"
        ),
        sa.UniqueConstraint("user_id", "key", name="uq_worksheet_drafts_user_id_key"),
    )
    op.create_index("ix_worksheet_drafts_user_id", "worksheet_drafts", ["user_id"])
    op.create_index("ix_worksheet_drafts_updated_at", "worksheet_drafts", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_worksheet_drafts_updated_at", table_name="worksheet_drafts")
    op.drop_index("ix_worksheet_drafts_user_id", table_name="worksheet_drafts")
    op.drop_table("worksheet_drafts")
