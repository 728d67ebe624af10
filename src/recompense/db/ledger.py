"""The ledger's tables (SQLAlchemy Core). Alembic migrations create them; this is the map.

Money is ``BIGINT`` cents of the programme currency, never floats. The journal is
append-only: ``journal_entries`` and ``postings`` reject UPDATE and DELETE in the
database; corrections are reversal entries. An entry balances (its postings sum to zero
per currency, and it has at least two) — checked in code by
:mod:`recompense.ledger.journal` and again by the database, which only accepts postings
*before* their entry row and checks the sum when the entry row arrives (foreign key
deferred to commit; triggers in the migration).

Vouchers are the subsidiary ledger of the voucher liability: an ``issue`` entry posts one
liability line per batch, and the vouchers naming it (``issue_entry_id``) must sum to it
— the database checks this when the entry row arrives, refuses vouchers for a closed
entry, and refuses changes to a voucher's amount or identity and voucher deletes
(migration ``0004``).

Vouchers and notifications are state machines (``status`` with a CHECK constraint),
changed only by conditional updates (``... WHERE status = 'issued'``). A notification's
id is derived from its voucher and channel; the voucher's own uniqueness keeps one per
channel (the outbox rows are only written in the transaction that creates the voucher).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from recompense.db.base import BIG_ID, TS, metadata, one_of

VOUCHER_STATES = ("issued", "redeemed", "expired", "revoked")
NOTIFICATION_STATES = ("pending", "sending", "sent", "failed")
ENTRY_KINDS = (
    "fund",
    "issue",
    "redeem",
    "expire",
    "revoke",
    "reversal",
    # The loan fund's entries (migration 0003).
    "loan-disburse",
    "loan-accrue",
    "loan-fee",
    "loan-repay",
    "loan-write-off",
)
ACCOUNT_KINDS = ("external", "fund", "liability", "wallet", "receivable", "income")
CHANNELS = ("email", "push")


programs = Table(
    "programs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("currency", String(10), nullable=False),
    Column("run_fingerprint", String(64), nullable=False),
    Column("run_path", Text, nullable=False),
    Column("announced_at", TS, nullable=False),
    Column("start_within_hours", Integer, nullable=False),
    Column("complete_within_hours", Integer, nullable=False),
    Column("voucher_validity_days", Integer, nullable=False),
    Column("vouchers_total", BigInteger, nullable=False),
    Column("amount_total_cents", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("started_at", TS),
    Column("completed_at", TS),
    # An amendment run (migration 0008): its base programme, its place in the chain and
    # the fingerprint of the run it amends; NULL for a base programme.
    Column("base_program_id", String(64)),
    Column("amendment_seq", Integer),
    Column("previous_fingerprint", String(64)),
    Index("uq_programs_amendment", "base_program_id", "amendment_seq", unique=True),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column("code", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("currency", String(10), nullable=False),
    Column("program_id", String(64)),
    Column("user_id", BigInteger),
    Column("created_at", TS, nullable=False),
    CheckConstraint(one_of("kind", ACCOUNT_KINDS), name="ck_ledger_accounts_kind"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("program_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("reverses_id", String(36), ForeignKey("journal_entries.id")),
    Column("memo", Text, nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    CheckConstraint(one_of("kind", ENTRY_KINDS), name="ck_journal_entries_kind"),
)

postings = Table(
    "postings",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column(
        "entry_id",
        String(36),
        ForeignKey("journal_entries.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("currency", String(10), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("voucher_id", String(36)),
    CheckConstraint("amount_cents <> 0", name="ck_postings_nonzero"),
    Index("ix_postings_entry", "entry_id"),
    Index("ix_postings_account", "account_id"),
    Index("ix_postings_voucher", "voucher_id"),
)

vouchers = Table(
    "vouchers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("issued_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("closed_at", TS),
    Column("issue_entry_id", String(36), nullable=False),
    Column("close_entry_id", String(36)),
    UniqueConstraint("program_id", "user_id", name="uq_vouchers_program_user"),
    CheckConstraint("amount_cents > 0", name="ck_vouchers_positive"),
    CheckConstraint(one_of("status", VOUCHER_STATES), name="ck_vouchers_status"),
    CheckConstraint(
        "(status = 'issued') = (closed_at IS NULL AND close_entry_id IS NULL)",
        name="ck_vouchers_closed",
    ),
    Index("ix_vouchers_user", "user_id"),
    Index("ix_vouchers_status_expiry", "program_id", "status", "expires_at"),
    Index("ix_vouchers_issue_entry", "issue_entry_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(36), primary_key=True),  # the idempotency key, stable across retries
    Column("program_id", String(64), nullable=False),
    Column("voucher_id", String(36)),  # NULL: about a case, not a voucher (migration 0008)
    Column("user_id", BigInteger, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("recipient", Text),  # email address; NULL for push (the gateway knows the user)
    Column("locale", String(20), nullable=False),
    Column("payload", Text, nullable=False),  # JSON: amount, currency, expiry, redeem URL
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", TS, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", TS),
    Column("last_error", Text),
    Column("sent_at", TS),
    Column("created_at", TS, nullable=False),
    CheckConstraint(one_of("status", NOTIFICATION_STATES), name="ck_notifications_status"),
    CheckConstraint(one_of("channel", CHANNELS), name="ck_notifications_channel"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
    Index("ix_notifications_user", "user_id"),
)

# The audit trail (migration 0005): one append-only, hash-chained event per operations
# action; :mod:`recompense.audit` writes and verifies it.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # 1, 2, … no gaps
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False),  # "ops:alice", "cli:root@host"
    Column("action", String(60), nullable=False),  # "run.approve", "voucher.revoke", …
    Column("subject", String(200), nullable=False),  # "run:<fingerprint>", "user:42", …
    Column("details", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_audit_events_subject", "subject"),
    Index("ix_audit_events_action_at", "action", "at"),
)

# Sign-off of runs (migration 0006): two officers approve a run's fingerprint before
# ``distribute`` touches it; :mod:`recompense.distribution.approvals` reads and writes it.
# Append-only (triggers refuse UPDATE and DELETE).
run_approvals = Table(
    "run_approvals",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column("program_id", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the run's manifest.json
    Column("approver", String(200), nullable=False),  # "ops:alice"
    Column("approved_at", TS, nullable=False),
    Column("run_path", Text, nullable=False),  # the folder it was approved from
    UniqueConstraint("fingerprint", "approver", name="uq_run_approvals_approver"),
    Index("ix_run_approvals_program", "program_id", "approved_at"),
)
