"""Report identity (issue 17): a user's credentials ("MD, RPVI") printed after the display
name as the signer, and the signer's name frozen on the version at signing (a later change
of name or credentials does not rewrite a signed report).

Revision ID: 0007_report_identity
Revises: 0006_worksheet_drafts
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_report_identity"
down_revision: str | None = "0006_worksheet_drafts"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # plain ADD COLUMNs (nullable): no table rebuild of rows other tables refer to
    op.add_column("users", sa.Column("credentials", sa.String(100), nullable=True))
    op.add_column("exam_versions", sa.Column("signer_name", sa.String(310), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMNs: a batch rebuild would drop the append-only triggers of the table
    op.drop_column("exam_versions", "signer_name")
    op.drop_column("users", "credentials")
