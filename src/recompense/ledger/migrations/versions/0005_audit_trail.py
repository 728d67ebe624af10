"""the audit trail: append-only, hash-chained operations events

One row per operations action (runs, approvals, distributions, staff redemptions,
expiries, revocations, case and loan decisions, reads of personal data). ``seq`` counts
1, 2, … without gaps; each row's ``hash`` is SHA-256 over the previous row's hash and
this row's canonical contents (:mod:`recompense.audit`), so editing, inserting or
deleting a row in the middle breaks the chain for ``recompense audit verify``. The
database refuses UPDATE, DELETE and TRUNCATE on the table (triggers, as for the
journal); the chain catches what someone with the power to drop a trigger does anyway,
and an exported head hash catches a truncated tail.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MESSAGE = "the audit trail is append-only: audit_events cannot be {done}"
SQLITE_GUARDS = [
    f"""CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events
    BEGIN SELECT RAISE(ABORT, '{MESSAGE.format(done=done)}'); END"""
    for verb, done in (("UPDATE", "updated"), ("DELETE", "deleted"))
]
POSTGRES_GUARDS = [
    """CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION recompense_append_only()"""
]


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index("ix_audit_events_subject", "audit_events", ["subject"])
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])
    dialect = op.get_bind().dialect.name
    guards = {"sqlite": SQLITE_GUARDS, "postgresql": POSTGRES_GUARDS}.get(dialect)
    if guards is None:
        raise RuntimeError(f"no audit guards for database {dialect!r}")
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}")
    op.drop_index("ix_audit_events_action_at", table_name="audit_events")
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    op.drop_table("audit_events")
