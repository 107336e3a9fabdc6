"""The audit log becomes an append-only HMAC hash chain; operator turns name their operator.

Revision ID: 0003_audit_chain
Revises: 0002_staff_sessions
Create Date: 2026-12-08

Rows already in ``audit`` get their ``seq`` (in id order) and no hash: ``teller audit verify``
counts them as written before the chain. ``audit_chain`` holds the head (last seq, last hash).
Triggers refuse UPDATE and DELETE on ``audit`` (and TRUNCATE on PostgreSQL). A later SQLite
migration that copies ``audit`` (``batch_alter_table``) must create the triggers again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_audit_chain"
down_revision = "0002_staff_sessions"
branch_labels = None
depends_on = None

_MESSAGE = "the audit log is append-only"
_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION teller_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{_MESSAGE} (% refused)', TG_OP;
END $$
"""
_PG_TRIGGERS = (
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION teller_audit_append_only()",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION teller_audit_append_only()",
)
_SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER audit_no_{name} BEFORE {name.upper()} ON audit "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
    for name in ("update", "delete")
)


def _missing(table: str, columns: list[sa.Column[object]]) -> list[sa.Column[object]]:
    """The columns ``table`` lacks (a pre-migration database made by a newer ``create_all`` may
    have them already)."""
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
    return [c for c in columns if c.name not in present]


def upgrade() -> None:
    for column in _missing("turns", [sa.Column("operator", sa.String(64), nullable=True)]):
        op.add_column("turns", column)
    audit_columns: list[sa.Column[object]] = [
        sa.Column("seq", sa.Integer, nullable=True),
        sa.Column("target", sa.String(128), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False, server_default="ok"),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
    ]
    with op.batch_alter_table("audit") as batch:
        for column in _missing("audit", audit_columns):
            batch.add_column(column)
    op.execute("UPDATE audit SET seq = (SELECT COUNT(*) FROM audit AS earlier WHERE earlier.id <= audit.id)")
    with op.batch_alter_table("audit") as batch:
        batch.alter_column("seq", existing_type=sa.Integer, nullable=False)
        batch.create_unique_constraint("uq_audit_seq", ["seq"])
    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    legacy = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM audit"))
    op.bulk_insert(chain, [{"id": 1, "seq": int(legacy or 0), "last_hash": ""}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    elif op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_no_truncate ON audit")
        op.execute("DROP TRIGGER IF EXISTS audit_append_only ON audit")
        op.execute("DROP FUNCTION IF EXISTS teller_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    op.drop_table("audit_chain")
    with op.batch_alter_table("audit") as batch:
        batch.drop_constraint("uq_audit_seq", type_="unique")
        for column in ("hash", "prev_hash", "outcome", "target", "seq"):
            batch.drop_column(column)
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("operator")
