"""Server-side staff sessions, and a TOTP second factor on staff users.

Revision ID: 0002_staff_sessions
Revises: 0001
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_staff_sessions"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
    )
    op.create_index("ix_staff_sessions_user_name", "staff_sessions", ["user_name"])
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("staff_users")}
    for column in (
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("totp_last_step", sa.Integer, nullable=True),
    ):
        if column.name not in present:  # a pre-migration database made by a newer create_all has it
            op.add_column("staff_users", column)


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
    op.drop_index("ix_staff_sessions_user_name", table_name="staff_sessions")
    op.drop_table("staff_sessions")
