"""loan fund: applications, approvals, schedule, events, access log; journal kinds; RLS

Adds the tables of :mod:`recompense.loans.schema` and widens two CHECK constraints of the
ledger so loans can post journal entries (kinds ``loan-disburse``, ``loan-accrue``,
``loan-fee``, ``loan-repay``, ``loan-write-off``) to ``receivable`` and ``income``
accounts. On SQLite the CHECK text is rewritten in the schema table (SQLite documents
this for relaxing constraints; rebuilding ``journal_entries`` would have to drop its
guards and break the postings' deferred foreign key) — the new constraint is a superset
of the old one, so every stored row still satisfies it.

``loan_events`` and ``loan_access_log`` are append-only (triggers, as for the journal);
the one exception is rewriting an event's encrypted reason under a new key (rotation).
On PostgreSQL the loan tables get row-level security: a row is visible only when the
transaction's ``recompense.actor_role``/``recompense.actor_id`` settings (set by the
library at the start of every unit of work) name a credit-committee member, an auditor,
or the borrower's account manager. Policies bind roles that do not own the tables; the
application connects as such a role (``recompense loans grant-app-role``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_ENTRY_KINDS = "kind IN ('fund', 'issue', 'redeem', 'expire', 'revoke', 'reversal')"
NEW_ENTRY_KINDS = (
    "kind IN ('fund', 'issue', 'redeem', 'expire', 'revoke', 'reversal', "
    "'loan-disburse', 'loan-accrue', 'loan-fee', 'loan-repay', 'loan-write-off')"
)
OLD_ACCOUNT_KINDS = "kind IN ('external', 'fund', 'liability', 'wallet')"
NEW_ACCOUNT_KINDS = "kind IN ('external', 'fund', 'liability', 'wallet', 'receivable', 'income')"
TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("loan_events", "loan_access_log")


def upgrade() -> None:
    _create_tables()
    _widen_checks(
        (OLD_ENTRY_KINDS, NEW_ENTRY_KINDS, "journal_entries", "ck_journal_entries_kind"),
        (OLD_ACCOUNT_KINDS, NEW_ACCOUNT_KINDS, "ledger_accounts", "ck_ledger_accounts_kind"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_APPEND_ONLY + POSTGRES_RLS:
            op.execute(statement)
    else:
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    """Drops the loan tables; fails if loan entries are in the journal (it is append-only)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS recompense_loans_append_only() CASCADE")
        op.execute("DROP FUNCTION IF EXISTS recompense_loans_visible(text) CASCADE")
        op.execute("DROP FUNCTION IF EXISTS recompense_loans_writable(text) CASCADE")
    _widen_checks(
        (NEW_ENTRY_KINDS, OLD_ENTRY_KINDS, "journal_entries", "ck_journal_entries_kind"),
        (NEW_ACCOUNT_KINDS, OLD_ACCOUNT_KINDS, "ledger_accounts", "ck_ledger_accounts_kind"),
    )
    for table in (
        "loan_access_log",
        "loan_events",
        "loan_schedule",
        "loan_approvals",
        "loan_applications",
        "loan_borrowers",
        "loan_funds",
    ):
        op.drop_table(table)


def _create_tables() -> None:
    op.create_table(
        "loan_funds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("currency", sa.String(10), nullable=False),
        sa.Column("cap_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("cap_cents > 0", name="ck_loan_funds_cap"),
    )
    op.create_table(
        "loan_borrowers",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("account_manager_id", sa.String(64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.CheckConstraint(
            "tier IN ('vip', 'institutional', 'regular')", name="ck_loan_borrowers_tier"
        ),
    )
    _create_applications()
    op.create_table(
        "loan_approvals",
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("application_id", "round", "member_id"),
    )
    op.create_table(
        "loan_schedule",
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("principal_cents", sa.BigInteger(), nullable=False),
        sa.Column("interest_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("application_id", "n"),
    )
    op.create_table(
        "loan_events",
        sa.Column("id", BIG_ID, sa.Identity(always=False), primary_key=True),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("from_state", sa.String(20)),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("actor_role", sa.String(30), nullable=False),
        sa.Column("actor_id", sa.String(100), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("amount_cents", sa.BigInteger()),
        sa.Column("entry_id", sa.String(36)),
        sa.Column("reason_enc", sa.Text(), nullable=False),
    )
    op.create_index("ix_loan_events_application", "loan_events", ["application_id"])
    op.create_table(
        "loan_access_log",
        sa.Column("id", BIG_ID, sa.Identity(always=False), primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor_role", sa.String(30), nullable=False),
        sa.Column("actor_id", sa.String(100), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_loan_access_log_application", "loan_access_log", ["application_id"])


def _create_applications() -> None:
    money = [
        "principal_outstanding_cents",
        "principal_repaid_cents",
        "interest_accrued_cents",
        "interest_paid_cents",
        "fees_charged_cents",
        "fees_paid_cents",
        "written_off_cents",
    ]
    op.create_table(
        "loan_applications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("fund_id", sa.String(64), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("account_manager_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("term_days", sa.Integer(), nullable=False),
        sa.Column("repayment", sa.String(20), nullable=False),
        sa.Column("apr", sa.String(12), nullable=False),
        sa.Column("approval_round", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("submitted_at", TS),
        sa.Column("submitted_by", sa.String(100)),
        sa.Column("decided_at", TS),
        sa.Column("disbursed_on", sa.Date()),
        sa.Column("maturity_on", sa.Date()),
        sa.Column("accrued_through", sa.Date()),
        sa.Column("closed_at", TS),
        *(sa.Column(name, sa.BigInteger(), server_default="0", nullable=False) for name in money),
        sa.Column("interest_exact", sa.Text(), server_default="0", nullable=False),
        sa.Column("financial_statements_enc", sa.Text(), nullable=False),
        sa.Column("stated_losses_enc", sa.Text(), nullable=False),
        sa.Column("notes_enc", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('draft', 'submitted', 'approved', 'rejected', 'withdrawn', 'active', "
            "'repaid', 'written_off')",
            name="ck_loan_applications_state",
        ),
        sa.CheckConstraint(
            "repayment IN ('bullet', 'instalments')", name="ck_loan_applications_repayment"
        ),
        sa.CheckConstraint("amount_cents > 0", name="ck_loan_applications_amount"),
        sa.CheckConstraint(
            "principal_outstanding_cents >= 0 AND principal_outstanding_cents <= amount_cents",
            name="ck_loan_applications_outstanding",
        ),
        sa.CheckConstraint(
            "interest_paid_cents <= interest_accrued_cents "
            "AND fees_paid_cents <= fees_charged_cents",
            name="ck_loan_applications_paid",
        ),
    )
    op.create_index("ix_loan_applications_state", "loan_applications", ["fund_id", "state"])
    op.create_index("ix_loan_applications_borrower", "loan_applications", ["borrower_id"])
    op.create_index("ix_loan_applications_manager", "loan_applications", ["account_manager_id"])


def _widen_checks(*changes: tuple[str, str, str, str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for _, new, table, name in changes:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({new})")
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    for old, new, table, _ in changes:
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).scalar_one()
        if old not in sql:
            raise RuntimeError(f"{table}: expected the CHECK {old!r} in its schema")
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql.replace(old, new), table),
        )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


# loan_events may only have its encrypted reason rewritten (key rotation); nothing else.
EVENT_COLUMNS = (
    "id, application_id, action, from_state, to_state, actor_role, actor_id, at, "
    "amount_cents, entry_id"
)
SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER loan_access_log_no_update BEFORE UPDATE ON loan_access_log
    BEGIN SELECT RAISE(ABORT, 'loan_access_log is append-only: rows cannot be updated'); END""",
    f"""CREATE TRIGGER loan_events_no_update BEFORE UPDATE OF {EVENT_COLUMNS} ON loan_events
    BEGIN SELECT RAISE(ABORT, 'loan_events is append-only: rows cannot be updated'); END""",
    *(
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows cannot be deleted'); END"""
        for table in APPEND_ONLY
    ),
]

POSTGRES_APPEND_ONLY = [
    """CREATE FUNCTION recompense_loans_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: rows cannot be changed (%)', TG_TABLE_NAME, TG_OP;
    END $$""",
    """CREATE TRIGGER loan_access_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON loan_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION recompense_loans_append_only()""",
    f"""CREATE TRIGGER loan_events_append_only
    BEFORE UPDATE OF {EVENT_COLUMNS} OR DELETE OR TRUNCATE ON loan_events
    FOR EACH STATEMENT EXECUTE FUNCTION recompense_loans_append_only()""",
]

_ROLE = "current_setting('recompense.actor_role', true)"
_ID = "current_setting('recompense.actor_id', true)"
_VISIBLE_APP = "EXISTS (SELECT 1 FROM loan_applications a WHERE a.id = application_id)"
_WRITER = f"{_ROLE} IN ('account_manager', 'credit_committee')"

POSTGRES_RLS = [
    f"""CREATE FUNCTION recompense_loans_visible(manager text) RETURNS boolean
    LANGUAGE sql STABLE AS $$
      SELECT COALESCE({_ROLE} IN ('credit_committee', 'auditor')
             OR ({_ROLE} = 'account_manager' AND manager = {_ID}), false)
    $$""",
    f"""CREATE FUNCTION recompense_loans_writable(manager text) RETURNS boolean
    LANGUAGE sql STABLE AS $$
      SELECT COALESCE({_ROLE} = 'credit_committee'
             OR ({_ROLE} = 'account_manager' AND manager = {_ID}), false)
    $$""",
    *(
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"
        for table in (
            "loan_applications",
            "loan_approvals",
            "loan_schedule",
            "loan_events",
            "loan_access_log",
        )
    ),
    """CREATE POLICY loan_applications_read ON loan_applications FOR SELECT
    USING (recompense_loans_visible(account_manager_id))""",
    f"""CREATE POLICY loan_applications_create ON loan_applications FOR INSERT
    WITH CHECK ({_ROLE} = 'account_manager' AND account_manager_id = {_ID})""",
    """CREATE POLICY loan_applications_change ON loan_applications FOR UPDATE
    USING (recompense_loans_writable(account_manager_id))
    WITH CHECK (recompense_loans_writable(account_manager_id))""",
    *(
        f"CREATE POLICY {table}_read ON {table} FOR SELECT USING ({_VISIBLE_APP})"
        for table in ("loan_approvals", "loan_schedule", "loan_events")
    ),
    *(
        f"""CREATE POLICY {table}_write ON {table} FOR INSERT
        WITH CHECK ({_WRITER} AND {_VISIBLE_APP})"""
        for table in ("loan_approvals", "loan_schedule", "loan_events")
    ),
    f"""CREATE POLICY loan_schedule_replace ON loan_schedule FOR DELETE
    USING ({_WRITER} AND {_VISIBLE_APP})""",
    f"""CREATE POLICY loan_events_rekey ON loan_events FOR UPDATE
    USING ({_WRITER} AND {_VISIBLE_APP}) WITH CHECK ({_WRITER} AND {_VISIBLE_APP})""",
    f"""CREATE POLICY loan_access_log_write ON loan_access_log FOR INSERT
    WITH CHECK (actor_role = {_ROLE} AND actor_id = {_ID})""",
    f"""CREATE POLICY loan_access_log_review ON loan_access_log FOR SELECT
    USING ({_ROLE} = 'auditor')""",
]
