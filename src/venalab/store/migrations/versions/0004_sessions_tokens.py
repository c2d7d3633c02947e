"""Server-side sessions and expiring API tokens.

- `user_sessions`: one row per signed-in browser session (SHA-256 of the cookie's random id,
  CSRF token, expiry, end). Logout, a password change and disabling the user end sessions
  here, so a copied cookie stops working at once.
- `api_tokens.expires_at` (NOT NULL): tokens that exist when this migration runs get 90 days
  from now, so an upgrade does not cut running integrations off.

Revision ID: 0004_sessions_tokens
Revises: 0003_integrity
Create Date: 2025-07-01
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0004_sessions_tokens"
down_revision: str | None = "0003_integrity"
branch_labels: str | None = None
depends_on: str | None = None

EXISTING_TOKEN_LIFETIME = dt.timedelta(days=90)


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_sessions_user_id_users"),
        sa.UniqueConstraint("id_hash", name="uq_user_sessions_id_hash"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_index("ix_user_sessions_expires_at", "user_sessions", ["expires_at"])

    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    expires = dt.datetime.now(dt.UTC) + EXISTING_TOKEN_LIFETIME
    if op.get_context().dialect.name == "sqlite":
        expires = expires.replace(tzinfo=None)  # SQLite stores naive UTC (models.UTCDateTime)
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(tokens.update().values(expires_at=expires))
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    op.drop_index("ix_user_sessions_expires_at", table_name="user_sessions")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
