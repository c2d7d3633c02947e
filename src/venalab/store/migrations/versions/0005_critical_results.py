"""Critical results (issue 18): exams.critical for the worklist, and the append-only record
of each communication of a critical result (to whom, how, when, read-back).

Revision ID: 0005_critical_results
Revises: 0004_sessions_tokens
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_critical_results"
down_revision: str | None = "0004_sessions_tokens"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # (a plain ADD COLUMN: a batch rebuild of `exams` would fail on the rows that refer to it)
    op.add_column(
        "exams", sa.Column("critical", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "critical_communications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("criteria", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("communicated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_back", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("documented_by", sa.Integer(), nullable=False),
        sa.Column("documented_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_critical_communications"),
        sa.ForeignKeyConstraint(
            ["exam_id"], ["exams.id"], name="fk_critical_communications_exam_id_exams"
        ),
        sa.ForeignKeyConstraint(
            ["documented_by"], ["users.id"], name="fk_critical_communications_documented_by_users"
        ),
    )
    op.create_index(
        "ix_critical_communications_exam_id_version",
        "critical_communications",
        ["exam_id", "version"],
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION venalab_communications_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'critical-result communications are append-only';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER critical_communications_append_only BEFORE UPDATE OR DELETE ON "
            "critical_communications FOR EACH ROW "
            "EXECUTE FUNCTION venalab_communications_append_only()"
        )
        op.execute(
            "CREATE TRIGGER critical_communications_no_truncate BEFORE TRUNCATE ON "
            "critical_communications FOR EACH STATEMENT "
            "EXECUTE FUNCTION venalab_communications_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER critical_communications_no_{event.lower()} BEFORE {event} ON "
                "critical_communications BEGIN SELECT RAISE(ABORT, "
                "'critical-result communications are append-only'); END"
            )
        # INSERT OR REPLACE would delete the row it replaces without a DELETE trigger (0003).
        op.execute(
            "CREATE TRIGGER critical_communications_no_replace BEFORE INSERT ON "
            "critical_communications WHEN EXISTS (SELECT 1 FROM critical_communications "
            "WHERE id = NEW.id) BEGIN SELECT RAISE(ABORT, "
            "'critical-result communications are append-only'); END"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER critical_communications_no_truncate ON critical_communications")
        op.execute("DROP TRIGGER critical_communications_append_only ON critical_communications")
        op.execute("DROP FUNCTION venalab_communications_append_only()")
    else:
        for event in ("update", "delete", "replace"):
            op.execute(f"DROP TRIGGER critical_communications_no_{event}")
    op.drop_table("critical_communications")
    op.drop_column("exams", "critical")
