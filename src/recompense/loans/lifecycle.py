"""The application lifecycle (Apache Fineract's states), one function per transition::

    draft ─submit→ submitted ─approve→ approved ─disburse→ active ─repay→ repaid
                     │   ↑                │                    └─write_off→ written_off
                     │   └─undo_approval──┘
                     ├─reject→ rejected
                     └─withdraw→ withdrawn

Each transition checks, in this order: the actor may see the application (else "not
found"), the actor's role may do this (else "forbidden"), the state allows it; then it
applies a conditional ``UPDATE … WHERE state = <expected>`` and appends an event (who,
when, why) in the same transaction. Maker-checker: the approver is never the submitter
nor the borrower's account manager; above the policy's four-eyes amount two distinct
committee members must approve. There is no bypass for any role.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select

from recompense import audit
from recompense.loans import fund, ledger
from recompense.loans.actors import ACCOUNT_MANAGER, COMMITTEE, ROLE_PHRASES, Actor
from recompense.loans.desk import (
    Desk,
    is_plain,
    record_event,
    unit,
    utcnow,
    visible_application,
)
from recompense.loans.errors import (
    FundExhausted,
    LoanError,
    LoanForbidden,
    TransitionError,
)
from recompense.loans.schedule import build_schedule
from recompense.loans.schema import (
    TIERS,
    loan_applications,
    loan_approvals,
    loan_borrowers,
    loan_schedule,
)
from recompense.money import format_usd


@dataclass(frozen=True, slots=True)
class Transition:
    roles: tuple[str, ...]
    sources: tuple[str, ...]
    target: str


TRANSITIONS = {
    "submit": Transition((ACCOUNT_MANAGER,), ("draft",), "submitted"),
    "approve": Transition((COMMITTEE,), ("submitted",), "approved"),
    "reject": Transition((COMMITTEE,), ("submitted",), "rejected"),
    "withdraw": Transition((ACCOUNT_MANAGER,), ("submitted",), "withdrawn"),
    "undo_approval": Transition((COMMITTEE,), ("approved",), "submitted"),
    "disburse": Transition((COMMITTEE,), ("approved",), "active"),
    "repay": Transition((ACCOUNT_MANAGER, COMMITTEE), ("active",), "active"),
    "write_off": Transition((COMMITTEE,), ("active",), "written_off"),
}


@dataclass(frozen=True, slots=True)
class NewApplication:
    borrower_id: int
    amount_cents: int
    term_days: int
    repayment: str
    financial_statements: str
    stated_losses: str
    notes: str = ""


def register_borrower(
    desk: Desk, actor: Actor, user_id: int, tier: str, account_manager_id: str
) -> None:
    """Record a user's tier and assigned account manager (the credit committee does this).

    Reassigning moves the borrower's applications with them: the new manager sees them,
    the old one no longer does.
    """
    if actor.role != COMMITTEE:
        raise LoanForbidden(f"{actor}: only the credit committee assigns account managers")
    if tier not in TIERS:
        raise LoanError(f"--tier {tier!r}: one of {', '.join(TIERS)}")
    if not 0 < len(account_manager_id) <= 64 or not is_plain(account_manager_id):
        raise LoanError(f"--manager {account_manager_id!r}: 1-64 printable characters")
    now = utcnow()
    with unit(desk, actor) as conn:
        values = {"tier": tier, "account_manager_id": account_manager_id}
        stamp = {"updated_at": now, "updated_by": str(actor)}
        changed = conn.execute(
            loan_borrowers.update()
            .where(loan_borrowers.c.user_id == user_id)
            .values(**values, **stamp)
        )
        if changed.rowcount == 0:
            conn.execute(loan_borrowers.insert().values(user_id=user_id, **values, **stamp))
        conn.execute(
            loan_applications.update()
            .where(loan_applications.c.borrower_id == user_id)
            .values(account_manager_id=account_manager_id)
        )
        audit.record(
            conn,
            actor=str(actor),
            action="loan.borrower",
            subject=f"user:{user_id}",
            details=values,
            at=now,
        )


def apply(desk: Desk, actor: Actor, new: NewApplication, now: datetime | None = None) -> str:
    """Create a draft for one of the actor's borrowers; returns the application id."""
    now = now or utcnow()
    if actor.role != ACCOUNT_MANAGER:
        raise LoanForbidden(
            f"{actor}: applications are created by the borrower's account manager",
            code="not_the_manager",
        )
    _check_terms(desk, new)
    app_id = str(uuid.uuid4())
    with unit(desk, actor) as conn:
        borrower = conn.execute(
            select(loan_borrowers).where(loan_borrowers.c.user_id == new.borrower_id)
        ).first()
        if borrower is None or borrower.account_manager_id != actor.id:
            raise LoanForbidden(
                f"{actor}: not the assigned account manager of user {new.borrower_id}",
                code="not_the_manager",
            )
        if borrower.tier not in desk.policy.borrowers.tiers:
            raise LoanError(
                f"user {new.borrower_id} is a {borrower.tier} user; only "
                f"{' and '.join(desk.policy.borrowers.tiers)} users can borrow from this fund",
                code="tier_cannot_borrow",
                user=new.borrower_id,
            )
        sealed = {
            f"{name}_enc": desk.seal("loan_applications", name, app_id, getattr(new, name))
            for name in ("financial_statements", "stated_losses", "notes")
        }
        conn.execute(
            loan_applications.insert().values(
                id=app_id,
                fund_id=desk.policy.fund_id,
                borrower_id=new.borrower_id,
                account_manager_id=actor.id,
                state="draft",
                amount_cents=new.amount_cents,
                term_days=new.term_days,
                repayment=new.repayment,
                apr=str(desk.policy.apr_for(new.term_days)),
                created_at=now,
                **sealed,
            )
        )
        row = visible_application(conn, actor, app_id)
        record_event(conn, desk, actor, row, "create", "draft", "application created", now)
    return app_id


def submit(desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime | None = None) -> str:
    now = now or utcnow()
    with unit(desk, actor) as conn:
        row = guard(conn, actor, app_id, "submit")
        move(conn, row, "submitted", submitted_at=now, submitted_by=actor.id)
        record_event(conn, desk, actor, row, "submit", "submitted", reason, now)
    return "submitted"


def approve(desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime | None = None) -> str:
    """One committee approval; the last one needed takes the fund lock and commits capacity.

    Returns the state afterwards: ``submitted`` while a second approval is outstanding.
    """
    now = now or utcnow()
    with unit(desk, actor) as conn:
        row = guard(conn, actor, app_id, "approve")
        if actor.id in (row.submitted_by, row.account_manager_id):
            raise LoanForbidden(
                f"{actor}: maker-checker — the submitter cannot approve {app_id}",
                code="submitter_cannot_decide",
            )
        votes = _vote(conn, row, actor, now)
        needed = 2 if row.amount_cents > desk.policy.four_eyes_above_cents else 1
        if votes < needed:
            record_event(conn, desk, actor, row, "approve", "submitted", reason, now)
            return "submitted"
        fund.lock_fund(conn, desk.policy, now)
        _check_capacity(conn, desk, row)
        _write_schedule(conn, desk, row, now.date())
        move(conn, row, "approved", decided_at=now)
        record_event(conn, desk, actor, row, "approve", "approved", reason, now)
    return "approved"


def reject(desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime | None = None) -> str:
    now = now or utcnow()
    with unit(desk, actor) as conn:
        row = guard(conn, actor, app_id, "reject")
        if actor.id in (row.submitted_by, row.account_manager_id):
            raise LoanForbidden(
                f"{actor}: maker-checker — the submitter cannot decide {app_id}",
                code="submitter_cannot_decide",
            )
        move(conn, row, "rejected", decided_at=now, closed_at=now)
        record_event(conn, desk, actor, row, "reject", "rejected", reason, now)
    return "rejected"


def withdraw(
    desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime | None = None
) -> str:
    now = now or utcnow()
    with unit(desk, actor) as conn:
        row = guard(conn, actor, app_id, "withdraw")
        move(conn, row, "withdrawn", closed_at=now)
        record_event(conn, desk, actor, row, "withdraw", "withdrawn", reason, now)
    return "withdrawn"


def undo_approval(
    desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime | None = None
) -> str:
    """Back to submitted before disbursement: releases the capacity, votes start over."""
    now = now or utcnow()
    with unit(desk, actor) as conn:
        row = guard(conn, actor, app_id, "undo_approval")
        conn.execute(delete(loan_schedule).where(loan_schedule.c.application_id == app_id))
        move(conn, row, "submitted", decided_at=None, approval_round=row.approval_round + 1)
        record_event(conn, desk, actor, row, "undo_approval", "submitted", reason, now)
    return "submitted"


def disburse(
    desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime | None = None
) -> str:
    """Pay out the principal (a journal entry); the schedule is dated from today."""
    now = now or utcnow()
    with unit(desk, actor) as conn:
        row = guard(conn, actor, app_id, "disburse")
        rows = _write_schedule(conn, desk, row, now.date())
        entry = ledger.post_disburse(conn, desk.policy, app_id, row.amount_cents, now)
        move(
            conn,
            row,
            "active",
            disbursed_on=now.date(),
            maturity_on=rows[-1].due_on,
            accrued_through=now.date(),
            principal_outstanding_cents=row.amount_cents,
        )
        record_event(
            conn, desk, actor, row, "disburse", "active", reason, now,
            amount_cents=row.amount_cents, entry_id=entry,
        )  # fmt: skip
    return "active"


def guard(conn: Connection, actor: Actor, app_id: str, action: str) -> Row[Any]:
    """Visible (else not found) → role allowed (else forbidden) → state allows (else 409)."""
    rule = TRANSITIONS[action]
    visible_application(conn, actor, app_id)
    if actor.role not in rule.roles:
        raise LoanForbidden(
            f"{actor}: {ROLE_PHRASES.get(actor.role, actor.role)} cannot "
            f"{action.replace('_', ' ')} loans",
            code="role_cannot",
            role=actor.role,
            action=action,
        )
    row = visible_application(conn, actor, app_id, lock=True)
    if row.state not in rule.sources:
        raise TransitionError(
            f"loan application {app_id} is {row.state}; {action.replace('_', ' ')} needs "
            f"{' or '.join(rule.sources)}",
            code="wrong_state",
            state=row.state,
            action=action,
            states=tuple(rule.sources),
        )
    return row


def move(conn: Connection, row: Row[Any], target: str, **values: Any) -> None:
    """The conditional update: only from the state (and approval round) the guard saw."""
    apps = loan_applications.c
    result = conn.execute(
        loan_applications.update()
        .where(
            apps.id == row.id,
            apps.state == row.state,
            apps.approval_round == row.approval_round,
        )
        .values(state=target, **values)
    )
    if result.rowcount != 1:
        raise TransitionError(
            f"loan application {row.id} changed meanwhile; try again", code="changed_meanwhile"
        )


def _vote(conn: Connection, row: Row[Any], actor: Actor, now: datetime) -> int:
    votes = loan_approvals.c
    this_round = (votes.application_id == row.id, votes.round == row.approval_round)
    already = conn.execute(select(votes.member_id).where(*this_round)).scalars().all()
    if actor.id in already:
        raise LoanForbidden(
            f"{actor}: already approved {row.id}; a second member must approve",
            code="already_approved",
        )
    conn.execute(
        loan_approvals.insert().values(
            application_id=row.id, round=row.approval_round, member_id=actor.id, at=now
        )
    )
    return int(conn.execute(select(func.count()).where(*this_round)).scalar_one())


def _check_capacity(conn: Connection, desk: Desk, row: Row[Any]) -> None:
    policy = desk.policy
    committed = fund.committed_cents(conn, policy.fund_id)
    if committed + row.amount_cents > policy.cap_cents:
        raise FundExhausted(
            f"approving {row.id} for {format_usd(row.amount_cents)} would commit "
            f"{format_usd(committed + row.amount_cents)}, above the fund's cap of "
            f"{format_usd(policy.cap_cents)} ({format_usd(policy.cap_cents - committed)} left)",
            code="fund_full",
            amount_cents=row.amount_cents,
            committed_cents=committed + row.amount_cents,
            cap_cents=policy.cap_cents,
            left_cents=policy.cap_cents - committed,
        )
    own = fund.committed_cents(conn, policy.fund_id, row.borrower_id)
    if own + row.amount_cents > policy.max_outstanding_cents:
        raise LoanError(
            f"approving {row.id} would give user {row.borrower_id} "
            f"{format_usd(own + row.amount_cents)} of loans, above the per-borrower limit of "
            f"{format_usd(policy.max_outstanding_cents)}",
            code="borrower_limit",
            user=row.borrower_id,
            total_cents=own + row.amount_cents,
            limit_cents=policy.max_outstanding_cents,
        )


def _write_schedule(conn: Connection, desk: Desk, row: Row[Any], start: date) -> list[Any]:
    rows = build_schedule(
        row.amount_cents,
        Decimal(row.apr),
        row.term_days,
        row.repayment,
        start,
        desk.policy.terms.period_days,
    )
    conn.execute(delete(loan_schedule).where(loan_schedule.c.application_id == row.id))
    conn.execute(
        loan_schedule.insert(),
        [
            {
                "application_id": row.id,
                "n": item.n,
                "due_on": item.due_on,
                "principal_cents": item.principal_cents,
                "interest_cents": item.interest_cents,
            }
            for item in rows
        ],
    )
    return list(rows)


def _check_terms(desk: Desk, new: NewApplication) -> None:
    policy, terms = desk.policy, desk.policy.terms
    if new.amount_cents < policy.min_amount_cents:
        raise LoanError(
            f"--amount {format_usd(new.amount_cents)}: below the minimum of "
            f"{format_usd(policy.min_amount_cents)}",
            code="amount_below_minimum",
            amount_cents=new.amount_cents,
            minimum_cents=policy.min_amount_cents,
        )
    if new.amount_cents > policy.max_outstanding_cents:
        raise LoanError(
            f"--amount {format_usd(new.amount_cents)}: above the per-borrower limit of "
            f"{format_usd(policy.max_outstanding_cents)}",
            code="amount_above_limit",
            amount_cents=new.amount_cents,
            limit_cents=policy.max_outstanding_cents,
        )
    if not terms.min_days <= new.term_days <= terms.max_days:
        raise LoanError(
            f"--term-days {new.term_days}: must be between {terms.min_days} and {terms.max_days}",
            code="term_range",
            days=new.term_days,
            min=terms.min_days,
            max=terms.max_days,
        )
    if new.repayment not in terms.repayment_types:
        raise LoanError(
            f"--repayment {new.repayment!r}: one of {', '.join(terms.repayment_types)}",
            code="repayment_type",
            repayments=tuple(terms.repayment_types),
        )
    if new.repayment == "instalments" and new.term_days % terms.period_days:
        raise LoanError(
            f"--term-days {new.term_days}: with instalments the term must be a multiple of "
            f"{terms.period_days} days",
            code="term_multiple",
            days=new.term_days,
            period=terms.period_days,
        )
