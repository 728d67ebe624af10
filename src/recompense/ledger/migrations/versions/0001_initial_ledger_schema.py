"""initial ledger schema: programmes, accounts, the append-only journal, vouchers, outbox

The journal guards (triggers) make the database enforce what the code already checks:
postings are inserted before their entry (the foreign key is deferred to commit), the
entry row is accepted only if its postings balance per currency and number at least two,
a closed entry takes no more postings, and nothing in the journal is ever updated or
deleted. SQLite uses row triggers; PostgreSQL uses statement triggers with transition
tables, so bulk inserts (COPY) are checked once per statement.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:32:52.172551
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("reverses_id", sa.String(length=36), nullable=True),
        sa.Column("memo", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('fund', 'issue', 'redeem', 'expire', 'revoke', 'reversal')",
            name="ck_journal_entries_kind",
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["journal_entries.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_table(
        "ledger_accounts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('external', 'fund', 'liability', 'wallet')", name="ck_ledger_accounts_kind"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("voucher_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('email', 'push')", name="ck_notifications_channel"),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name="ck_notifications_status"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("voucher_id", "channel", name="uq_notifications_voucher_channel"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "programs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("run_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("run_path", sa.Text(), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_within_hours", sa.Integer(), nullable=False),
        sa.Column("complete_within_hours", sa.Integer(), nullable=False),
        sa.Column("voucher_validity_days", sa.Integer(), nullable=False),
        sa.Column("vouchers_total", sa.BigInteger(), nullable=False),
        sa.Column("amount_total_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "postings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("voucher_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint("amount_cents <> 0", name="ck_postings_nonzero"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], initially="DEFERRED", deferrable=True
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index("ix_postings_account", ["account_id"], unique=False)
        batch_op.create_index("ix_postings_entry", ["entry_id"], unique=False)
        batch_op.create_index("ix_postings_voucher", ["voucher_id"], unique=False)

    op.create_table(
        "vouchers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issue_entry_id", sa.String(length=36), nullable=False),
        sa.Column("close_entry_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint(
            "(status = 'issued') = (closed_at IS NULL AND close_entry_id IS NULL)",
            name="ck_vouchers_closed",
        ),
        sa.CheckConstraint(
            "status IN ('issued', 'redeemed', 'expired', 'revoked')", name="ck_vouchers_status"
        ),
        sa.CheckConstraint("amount_cents > 0", name="ck_vouchers_positive"),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("program_id", "user_id", name="uq_vouchers_program_user"),
    )
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vouchers_status_expiry", ["program_id", "status", "expires_at"], unique=False
        )
        batch_op.create_index("ix_vouchers_user", ["user_id"], unique=False)

    _create_journal_guards()


def downgrade() -> None:
    _drop_journal_guards()
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_index("ix_vouchers_user")
        batch_op.drop_index("ix_vouchers_status_expiry")

    op.drop_table("vouchers")
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index("ix_postings_voucher")
        batch_op.drop_index("ix_postings_entry")
        batch_op.drop_index("ix_postings_account")

    op.drop_table("postings")
    op.drop_table("programs")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_due")

    op.drop_table("notifications")
    op.drop_table("ledger_accounts")
    op.drop_table("journal_entries")


SQLITE_GUARDS = [
    """CREATE TRIGGER postings_entry_open BEFORE INSERT ON postings
    WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id)
    BEGIN SELECT RAISE(ABORT, 'journal entry is closed: postings must precede their entry'); END""",
    """CREATE TRIGGER journal_entries_balanced BEFORE INSERT ON journal_entries
    WHEN (SELECT COUNT(*) FROM postings WHERE entry_id = NEW.id) < 2
      OR EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.id
                 GROUP BY currency HAVING SUM(amount_cents) <> 0)
    BEGIN
      SELECT RAISE(ABORT, 'unbalanced journal entry: postings must sum to zero per currency');
    END""",
    *(
        f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only: {table} cannot be {done}'); END"""
        for table in ("journal_entries", "postings")
        for verb, done in (("UPDATE", "updated"), ("DELETE", "deleted"))
    ),
]

POSTGRES_GUARDS = [
    """CREATE FUNCTION recompense_postings_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM new_rows n JOIN journal_entries e ON e.id = n.entry_id) THEN
        RAISE EXCEPTION 'journal entry is closed: postings must precede their entry';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER postings_entry_open AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION recompense_postings_entry_open()""",
    """CREATE FUNCTION recompense_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM new_rows n LEFT JOIN postings p ON p.entry_id = n.id
                 GROUP BY n.id HAVING COUNT(p.id) < 2)
         OR EXISTS (SELECT 1 FROM new_rows n JOIN postings p ON p.entry_id = n.id
                    GROUP BY n.id, p.currency HAVING SUM(p.amount_cents) <> 0) THEN
        RAISE EXCEPTION 'unbalanced journal entry: postings must sum to zero per currency';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION recompense_entries_balanced()""",
    """CREATE FUNCTION recompense_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the journal is append-only: % cannot be changed (%)', TG_TABLE_NAME, TG_OP;
    END $$""",
    *(
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION recompense_append_only()"""
        for table in ("journal_entries", "postings")
    ),
]


def _create_journal_guards() -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": SQLITE_GUARDS, "postgresql": POSTGRES_GUARDS}.get(dialect)
    if statements is None:
        raise RuntimeError(f"no journal guards for database {dialect!r}")
    for statement in statements:
        op.execute(statement)


def _drop_journal_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("journal_entries", "postings"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP TRIGGER IF EXISTS journal_entries_balanced ON journal_entries")
        op.execute("DROP TRIGGER IF EXISTS postings_entry_open ON postings")
        for name in ("append_only", "entries_balanced", "postings_entry_open"):
            op.execute(f"DROP FUNCTION IF EXISTS recompense_{name}()")
