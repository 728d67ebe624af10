"""The loan fund's tables (SQLAlchemy Core); migration 0003 creates them.

An application is a state machine (``state`` with a CHECK constraint) changed only by
conditional updates (``UPDATE … WHERE state = 'submitted'``), each recorded in the
append-only ``loan_events`` (who, when, why). Money is integer cents; the exact running
interest (a ``Decimal`` with sub-cent digits) is kept as text in ``interest_exact`` so
daily accrual never drifts; the booked cents are ``interest_accrued_cents``.

Sensitive fields are ``*_enc`` columns holding AES-GCM ciphertexts (see
:mod:`recompense.loans.crypto`). ``loan_access_log`` records every read of an application
and is append-only.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from recompense.db.base import BIG_ID, TS, metadata, one_of

State = Literal[
    "draft", "submitted", "approved", "rejected", "withdrawn", "active", "repaid", "written_off"
]
STATES: tuple[State, ...] = (
    "draft",
    "submitted",
    "approved",
    "rejected",
    "withdrawn",
    "active",
    "repaid",
    "written_off",
)
TIERS = ("vip", "institutional", "regular")
REPAYMENT_TYPES = ("bullet", "instalments")


loan_funds = Table(
    "loan_funds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("currency", String(10), nullable=False),
    Column("cap_cents", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False),
    CheckConstraint("cap_cents > 0", name="ck_loan_funds_cap"),
)

loan_borrowers = Table(
    "loan_borrowers",
    metadata,
    # A user's id from the exchange, never numbered here (create_all would make it a
    # BIGSERIAL on PostgreSQL; migration 0003 makes it a plain BIGINT).
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tier", String(20), nullable=False),
    Column("account_manager_id", String(64), nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("updated_by", String(100), nullable=False),
    CheckConstraint(one_of("tier", TIERS), name="ck_loan_borrowers_tier"),
)

loan_applications = Table(
    "loan_applications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("fund_id", String(64), nullable=False),
    Column("borrower_id", BigInteger, nullable=False),
    Column("account_manager_id", String(64), nullable=False),
    Column("state", String(20), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("term_days", Integer, nullable=False),
    Column("repayment", String(20), nullable=False),
    Column("apr", String(12), nullable=False),
    Column("approval_round", Integer, nullable=False, server_default="0"),
    Column("created_at", TS, nullable=False),
    Column("submitted_at", TS),
    Column("submitted_by", String(100)),
    Column("decided_at", TS),
    Column("disbursed_on", Date),
    Column("maturity_on", Date),
    Column("accrued_through", Date),
    Column("closed_at", TS),
    Column("principal_outstanding_cents", BigInteger, nullable=False, server_default="0"),
    Column("principal_repaid_cents", BigInteger, nullable=False, server_default="0"),
    Column("interest_exact", Text, nullable=False, server_default="0"),
    Column("interest_accrued_cents", BigInteger, nullable=False, server_default="0"),
    Column("interest_paid_cents", BigInteger, nullable=False, server_default="0"),
    Column("fees_charged_cents", BigInteger, nullable=False, server_default="0"),
    Column("fees_paid_cents", BigInteger, nullable=False, server_default="0"),
    Column("written_off_cents", BigInteger, nullable=False, server_default="0"),
    Column("financial_statements_enc", Text, nullable=False),
    Column("stated_losses_enc", Text, nullable=False),
    Column("notes_enc", Text, nullable=False),
    CheckConstraint(one_of("state", STATES), name="ck_loan_applications_state"),
    CheckConstraint(one_of("repayment", REPAYMENT_TYPES), name="ck_loan_applications_repayment"),
    CheckConstraint("amount_cents > 0", name="ck_loan_applications_amount"),
    CheckConstraint(
        "principal_outstanding_cents >= 0 AND principal_outstanding_cents <= amount_cents",
        name="ck_loan_applications_outstanding",
    ),
    CheckConstraint(
        "interest_paid_cents <= interest_accrued_cents AND fees_paid_cents <= fees_charged_cents",
        name="ck_loan_applications_paid",
    ),
    Index("ix_loan_applications_state", "fund_id", "state"),
    Index("ix_loan_applications_borrower", "borrower_id"),
    Index("ix_loan_applications_manager", "account_manager_id"),
)

loan_approvals = Table(
    "loan_approvals",
    metadata,
    Column("application_id", String(36), nullable=False),
    Column("round", Integer, nullable=False),
    Column("member_id", String(100), nullable=False),
    Column("at", TS, nullable=False),
    PrimaryKeyConstraint("application_id", "round", "member_id"),
)

loan_schedule = Table(
    "loan_schedule",
    metadata,
    Column("application_id", String(36), nullable=False),
    Column("n", Integer, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("principal_cents", BigInteger, nullable=False),
    Column("interest_cents", BigInteger, nullable=False),
    PrimaryKeyConstraint("application_id", "n"),
)

loan_events = Table(
    "loan_events",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column("application_id", String(36), nullable=False),
    Column("action", String(30), nullable=False),
    Column("from_state", String(20)),
    Column("to_state", String(20), nullable=False),
    Column("actor_role", String(30), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("at", TS, nullable=False),
    Column("amount_cents", BigInteger),
    Column("entry_id", String(36)),
    Column("reason_enc", Text, nullable=False),
    Index("ix_loan_events_application", "application_id"),
)

loan_access_log = Table(
    "loan_access_log",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column("at", TS, nullable=False),
    Column("actor_role", String(30), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("application_id", String(36), nullable=False),
    Column("action", String(30), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_loan_access_log_application", "application_id"),
    # Writers may not read the log back (RLS: auditors only), so no INSERT … RETURNING.
    implicit_returning=False,
)
