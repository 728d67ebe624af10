"""The cases' tables (SQLAlchemy Core), on the one ``MetaData``; migration 0008.

A **case** is a user's appeal against the published result or a claim for a verified
loss of another kind. It is a state machine (``state`` with a CHECK constraint) changed
only by conditional updates (``UPDATE … WHERE state = … AND version = …``), each step an
append-only ``case_events`` row (who, when, what, and — encrypted — why)::

    open ─request_info→ info_requested ─respond→ open
      ├─propose (accept with a decision)→ proposed ─approve (2nd officer)→ accepted
      │                                     └─return→ open
      ├─accept (at or below the four-eyes amount)→ accepted
      ├─reject (reason code)→ rejected
      └─withdraw (the user)→ withdrawn

An **accepted decision** (``case_decisions``) is what the amendment run reads: a corrected
input for the user (loss, net assets, incident loss, "was not compensated") or a claim
amount, in integer cents. ``applied_in`` is set — once — by the transaction that
registers the amendment run that pays it (:func:`recompense.cases.decisions.mark_applied`),
so every accepted decision is paid by exactly one amendment.

Free text (the user's description, internal notes, messages) and evidence files are
AES-GCM ciphertexts (``*_enc``; :mod:`recompense.loans.crypto`), bound to their table,
column and row. ``case_events`` and ``case_approvals`` are append-only (triggers).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
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

CaseState = Literal["open", "info_requested", "proposed", "accepted", "rejected", "withdrawn"]
CASE_STATES: tuple[CaseState, ...] = (
    "open",
    "info_requested",
    "proposed",
    "accepted",
    "rejected",
    "withdrawn",
)
OPEN_STATES: tuple[CaseState, ...] = ("open", "info_requested", "proposed")
# What the user says is wrong (appeals) or what they lost otherwise (claims).
CATEGORIES = (
    "appeal_eligibility",  # "I should be eligible"
    "appeal_loss",  # "my loss is wrong"
    "appeal_net_assets",  # "my net assets are wrong"
    "claim_transfer",  # a delayed internal transfer stopped a margin top-up
    "claim_earn",  # a delayed Earn redemption stopped a margin top-up
)
APPEALS = CATEGORIES[:3]
CLAIMS = CATEGORIES[3:]
DECISION_KINDS = ("correction", "claim")


cases = Table(
    "cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("program_id", String(64), nullable=False),  # the base programme
    Column("user_id", BigInteger, nullable=False),
    Column("category", String(30), nullable=False),
    Column("state", String(20), nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),  # conditional updates
    Column("summary_enc", Text, nullable=False),  # the user's words, encrypted
    Column("stated_cents", BigInteger),  # the loss / net assets / claim the user states
    Column("occurred_at", TS),  # claims: when the transfer or redemption was delayed
    Column("locale", String(35), nullable=False, server_default="en"),
    Column("email_enc", Text),  # where to e-mail the user about the case, encrypted
    Column("assigned_to", String(200)),  # "ops:alice"
    Column("reason_code", String(40)),  # a rejection's reason, explained to the user
    Column("opened_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("due_at", TS, nullable=False),  # the decision clock's target
    Column("decided_at", TS),
    CheckConstraint(one_of("state", CASE_STATES), name="ck_cases_state"),
    CheckConstraint(one_of("category", CATEGORIES), name="ck_cases_category"),
    CheckConstraint("stated_cents IS NULL OR stated_cents >= 0", name="ck_cases_stated"),
    Index("ix_cases_user", "user_id"),
    Index("ix_cases_queue", "state", "due_at"),
)

case_events = Table(
    "case_events",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False),  # "user:42", "ops:alice"
    Column("action", String(30), nullable=False),  # open, note, assign, propose, …
    Column("state_after", String(20), nullable=False),
    Column("visible_to_user", Boolean, nullable=False),  # internal notes are not
    Column("text_enc", Text),  # the note, message or reason, encrypted
    Index("ix_case_events_case", "case_id", "id"),
)

case_evidence = Table(
    "case_evidence",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("user_id", BigInteger, nullable=False),  # the owner: only they (and staff) read it
    Column("filename", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),  # of the plaintext
    Column("content_enc", Text, nullable=False),  # the file, encrypted
    Column("uploaded_at", TS, nullable=False),
    Column("uploaded_by", String(200), nullable=False),
    Index("ix_case_evidence_case", "case_id"),
)

case_decisions = Table(
    "case_decisions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("program_id", String(64), nullable=False),  # the base programme
    Column("user_id", BigInteger, nullable=False),
    Column("kind", String(12), nullable=False),  # correction | claim
    # A correction: the corrected inputs (NULL: unchanged).
    Column("loss_cents", BigInteger),
    Column("net_assets_cents", BigInteger),
    Column("incident_loss_cents", BigInteger),
    Column("not_compensated", Boolean),  # True: the "already compensated" flag was wrong
    # A claim: the verified amount, paid from the amendment reserve.
    Column("claim_cents", BigInteger),
    Column("round", Integer, nullable=False, server_default="0"),
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_at", TS, nullable=False),
    Column("accepted_at", TS),  # NULL while a second officer's approval is outstanding
    Column("withdrawn_at", TS),  # the proposal was returned (a new round may follow)
    Column("applied_in", String(64)),  # the amendment's ledger programme id, set once
    Column("applied_at", TS),
    CheckConstraint(one_of("kind", DECISION_KINDS), name="ck_case_decisions_kind"),
    CheckConstraint(
        "(kind = 'claim') = (claim_cents IS NOT NULL AND claim_cents > 0)",
        name="ck_case_decisions_claim",
    ),
    CheckConstraint("loss_cents IS NULL OR loss_cents >= 0", name="ck_case_decisions_loss"),
    CheckConstraint(
        "incident_loss_cents IS NULL OR incident_loss_cents >= 0",
        name="ck_case_decisions_incident",
    ),
    CheckConstraint(
        "applied_in IS NULL OR accepted_at IS NOT NULL", name="ck_case_decisions_applied"
    ),
    UniqueConstraint("case_id", "round", name="uq_case_decisions_round"),
    Index("ix_case_decisions_pending", "program_id", "applied_in"),
)

case_approvals = Table(
    "case_approvals",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column("decision_id", String(36), ForeignKey("case_decisions.id"), nullable=False),
    Column("officer", String(200), nullable=False),
    Column("at", TS, nullable=False),
    UniqueConstraint("decision_id", "officer", name="uq_case_approvals_officer"),
)
