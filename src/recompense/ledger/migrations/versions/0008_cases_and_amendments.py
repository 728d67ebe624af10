"""cases and amendments: users' appeals and claims, their decisions, and amendment runs

Cases (:mod:`recompense.cases.schema`): ``cases`` (a state machine), ``case_events``
(append-only: who, when, what, the encrypted why), ``case_evidence`` (encrypted files),
``case_decisions`` (accepted corrections and claims, each applied by exactly one
amendment) and ``case_approvals`` (append-only: the officers who signed a decision).

Amendments (:mod:`recompense.distribution.amendments`): an amendment run is distributed
as its own programme row naming its base programme, its place in the chain and the run
it amends (``base_program_id``, ``amendment_seq``, ``previous_fingerprint``); ``UNIQUE
(base_program_id, amendment_seq)`` keeps the chain a line. Notifications about a case
carry no voucher: ``notifications.voucher_id`` becomes nullable.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APPEND_ONLY = ("case_events", "case_approvals")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _sqlite_guards(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows cannot be {done}'); END"""
        for verb, done in (("UPDATE", "updated"), ("DELETE", "deleted"))
    ]


def _postgres_guards(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION recompense_append_only()"""
    ]


def upgrade() -> None:
    _programs_chain()
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("voucher_id", existing_type=sa.String(length=36), nullable=True)
    _cases()
    _decisions()
    dialect = op.get_bind().dialect.name
    guards = {"sqlite": _sqlite_guards, "postgresql": _postgres_guards}.get(dialect)
    if guards is None:
        raise RuntimeError(f"no append-only guards for database {dialect!r}")
    for table in APPEND_ONLY:
        for statement in guards(table):
            op.execute(statement)


def _programs_chain() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.add_column(sa.Column("base_program_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("amendment_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("previous_fingerprint", sa.String(length=64), nullable=True))
    op.create_index(
        "uq_programs_amendment", "programs", ["base_program_id", "amendment_seq"], unique=True
    )


def _cases() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("summary_enc", sa.Text(), nullable=False),
        sa.Column("stated_cents", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", TS, nullable=True),
        sa.Column("locale", sa.String(length=35), server_default="en", nullable=False),
        sa.Column("email_enc", sa.Text(), nullable=True),
        sa.Column("assigned_to", sa.String(length=200), nullable=True),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'info_requested', 'proposed', 'accepted', 'rejected', 'withdrawn')",
            name="ck_cases_state",
        ),
        sa.CheckConstraint(
            "category IN ('appeal_eligibility', 'appeal_loss', 'appeal_net_assets', "
            "'claim_transfer', 'claim_earn')",
            name="ck_cases_category",
        ),
        sa.CheckConstraint("stated_cents IS NULL OR stated_cents >= 0", name="ck_cases_stated"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_cases_user", "cases", ["user_id"])
    op.create_index("ix_cases_queue", "cases", ["state", "due_at"])
    op.create_table(
        "case_events",
        sa.Column("id", BIG_ID, sa.Identity(always=False), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("state_after", sa.String(length=20), nullable=False),
        sa.Column("visible_to_user", sa.Boolean(), nullable=False),
        sa.Column("text_enc", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id", "id"])
    op.create_table(
        "case_evidence",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_enc", sa.Text(), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_evidence_case", "case_evidence", ["case_id"])


def _decisions() -> None:
    op.create_table(
        "case_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("loss_cents", sa.BigInteger(), nullable=True),
        sa.Column("net_assets_cents", sa.BigInteger(), nullable=True),
        sa.Column("incident_loss_cents", sa.BigInteger(), nullable=True),
        sa.Column("not_compensated", sa.Boolean(), nullable=True),
        sa.Column("claim_cents", sa.BigInteger(), nullable=True),
        sa.Column("round", sa.Integer(), server_default="0", nullable=False),
        sa.Column("proposed_by", sa.String(length=200), nullable=False),
        sa.Column("proposed_at", TS, nullable=False),
        sa.Column("accepted_at", TS, nullable=True),
        sa.Column("withdrawn_at", TS, nullable=True),
        sa.Column("applied_in", sa.String(length=64), nullable=True),
        sa.Column("applied_at", TS, nullable=True),
        sa.CheckConstraint("kind IN ('correction', 'claim')", name="ck_case_decisions_kind"),
        sa.CheckConstraint(
            "(kind = 'claim') = (claim_cents IS NOT NULL AND claim_cents > 0)",
            name="ck_case_decisions_claim",
        ),
        sa.CheckConstraint("loss_cents IS NULL OR loss_cents >= 0", name="ck_case_decisions_loss"),
        sa.CheckConstraint(
            "incident_loss_cents IS NULL OR incident_loss_cents >= 0",
            name="ck_case_decisions_incident",
        ),
        sa.CheckConstraint(
            "applied_in IS NULL OR accepted_at IS NOT NULL", name="ck_case_decisions_applied"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "round", name="uq_case_decisions_round"),
    )
    op.create_index("ix_case_decisions_pending", "case_decisions", ["program_id", "applied_in"])
    op.create_table(
        "case_approvals",
        sa.Column("id", BIG_ID, sa.Identity(always=False), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("officer", sa.String(length=200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["case_decisions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("decision_id", "officer", name="uq_case_approvals_officer"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    else:
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    op.drop_table("case_approvals")
    op.drop_index("ix_case_decisions_pending", table_name="case_decisions")
    op.drop_table("case_decisions")
    op.drop_index("ix_case_evidence_case", table_name="case_evidence")
    op.drop_table("case_evidence")
    op.drop_index("ix_case_events_case", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_cases_queue", table_name="cases")
    op.drop_index("ix_cases_user", table_name="cases")
    op.drop_table("cases")
    # Case notices have no voucher: they go with the cases.
    op.execute("DELETE FROM notifications WHERE voucher_id IS NULL")
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("voucher_id", existing_type=sa.String(length=36), nullable=False)
    op.drop_index("uq_programs_amendment", table_name="programs")
    columns = ("previous_fingerprint", "amendment_seq", "base_program_id")
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35+): a batch "recreate" would drop and rebuild ``programs``,
        # which the vouchers' foreign key refuses while any voucher exists.
        for column in columns:
            op.execute(f"ALTER TABLE programs DROP COLUMN {column}")
    else:
        with op.batch_alter_table("programs") as batch:
            for column in columns:
                batch.drop_column(column)
