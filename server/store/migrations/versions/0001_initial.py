"""Every table of the store as 0.1 made them with ``create_all``.

Revision ID: 0001
Revises:
Create Date: 2026-05-01

A snapshot, not the live models: later revisions change tables with ``op`` calls and this
file stays as it is. ``metadata`` is also used to complete a database made by the old
``create_all`` before it is stamped at this revision (``server.store.migrate``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _at(name: str, *, index: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, index=index)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


metadata = sa.MetaData()

sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    _at("created_at"),
    _at("updated_at"),
)
sa.Table(
    "turns",
    metadata,
    _id(),
    sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("speaker", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("spoken_text", sa.Text, nullable=True),
    sa.Column("decision", sa.String(16), nullable=True),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("citations", sa.JSON, nullable=False),
    _at("created_at", index=True),
    sa.UniqueConstraint("session_id", "seq"),
)
sa.Table(
    "audit",
    metadata,
    _id(),
    _at("at", index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True, index=True),
    sa.Column("detail", sa.JSON, nullable=False),
)
sa.Table(
    "tickets",
    metadata,
    _id(),
    sa.Column("session_id", sa.String(64), nullable=True, index=True),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    _at("created_at", index=True),
    sa.Column("data", sa.JSON, nullable=False),
)
sa.Table(
    "feedback",
    metadata,
    _id(),
    sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), nullable=False, index=True),
    sa.Column("rating", sa.String(8), nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    _at("at", index=True),
)
sa.Table(
    "staff_users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    _at("created_at"),
)
sa.Table(
    "kb_drafts",
    metadata,
    _id(),
    sa.Column("base_version", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("submitted_by", sa.String(64), nullable=True),
    sa.Column("reviewed_by", sa.String(64), nullable=True),
    sa.Column("published_version", sa.Integer, nullable=True),
    sa.Column("kb_json", sa.Text, nullable=False),
    _at("updated_at"),
)
sa.Table(
    "kb_golden",
    metadata,
    _id(),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("problem_id", sa.String(64), nullable=False),
    sa.Column("added_by", sa.String(64), nullable=False),
    _at("at"),
)


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
