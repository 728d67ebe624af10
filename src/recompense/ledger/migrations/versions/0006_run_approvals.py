"""run approvals: two officers sign a run's fingerprint before its money moves

One row per approval of a run: the programme, the run's fingerprint (the SHA-256 of its
``manifest.json``, which holds the SHA-256 of every artifact), who approved it, when, and
the folder it was approved from (to show it to the next approver and to diff a later run
against it). ``UNIQUE (fingerprint, approver)``: one officer approves a run once.
``distribute`` refuses a run whose current fingerprint lacks approvals from two different
officers (:mod:`recompense.distribution.approvals`); a changed folder has a new
fingerprint and so no approvals. Approvals are append-only (triggers, as for the journal
and the audit trail): an approval is withdrawn by not distributing, never by editing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MESSAGE = "approvals are append-only: run_approvals cannot be {done}"
SQLITE_GUARDS = [
    f"""CREATE TRIGGER run_approvals_no_{verb.lower()} BEFORE {verb} ON run_approvals
    BEGIN SELECT RAISE(ABORT, '{MESSAGE.format(done=done)}'); END"""
    for verb, done in (("UPDATE", "updated"), ("DELETE", "deleted"))
]
POSTGRES_GUARDS = [
    """CREATE TRIGGER run_approvals_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON run_approvals
    FOR EACH STATEMENT EXECUTE FUNCTION recompense_append_only()"""
]


def upgrade() -> None:
    op.create_table(
        "run_approvals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_path", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint", "approver", name="uq_run_approvals_approver"),
    )
    op.create_index("ix_run_approvals_program", "run_approvals", ["program_id", "approved_at"])
    dialect = op.get_bind().dialect.name
    guards = {"sqlite": SQLITE_GUARDS, "postgresql": POSTGRES_GUARDS}.get(dialect)
    if guards is None:
        raise RuntimeError(f"no approval guards for database {dialect!r}")
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS run_approvals_append_only ON run_approvals")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS run_approvals_no_{verb}")
    op.drop_index("ix_run_approvals_program", table_name="run_approvals")
    op.drop_table("run_approvals")
