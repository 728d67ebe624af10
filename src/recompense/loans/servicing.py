"""Servicing active loans: daily interest accrual, late fees, repayments, write-off.

Interest accrues every day on the outstanding principal (Actual/365 Fixed; see
:mod:`.schedule` for the rounding rule) and is booked by :func:`accrue` — run it daily;
it catches up any days it missed and is idempotent per loan and date. An instalment
still unpaid ``grace_days`` after its due date is charged the policy's late fee once.

A repayment first accrues interest through its value date, then pays fees → interest →
principal. Paying more principal than scheduled shortens the loan (the instalments stay
the same; the last ones fall away); paying everything closes it (``repaid``) — early
repayment costs only the interest accrued to that day. Each repayment carries the
payment's reference, its idempotency key: recording the same payment twice changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, select

from recompense.ledger.journal import entry_exists
from recompense.loans import ledger
from recompense.loans.actors import Actor
from recompense.loans.desk import (
    Desk,
    check_text,
    record_event,
    unit,
    utcnow,
    visible_application,
)
from recompense.loans.errors import LoanError, LoanForbidden
from recompense.loans.lifecycle import guard, move
from recompense.loans.schedule import Instalment, allocate, lateness
from recompense.loans.schedule import accrue as accrue_interest
from recompense.loans.schema import loan_applications, loan_schedule
from recompense.money import format_usd

apps = loan_applications.c


@dataclass(frozen=True, slots=True)
class AccrualRun:
    through: date
    loans: int
    interest_cents: int
    fees_cents: int


@dataclass(frozen=True, slots=True)
class Repayment:
    application_id: str
    state: str
    fees_cents: int
    interest_cents: int
    principal_cents: int
    duplicate: bool = False


def accrue(desk: Desk, actor: Actor, through: date, now: datetime | None = None) -> AccrualRun:
    """Book interest (and late fees) on every active loan up to and including ``through``."""
    now = now or utcnow()
    if actor.role != "credit_committee":
        raise LoanForbidden(f"{actor}: interest accrual is run by the credit committee")
    if through > now.date():
        raise LoanError(f"--through {through}: cannot accrue into the future (today {now.date()})")
    with unit(desk, actor) as conn:
        ids = (
            conn.execute(
                select(apps.id)
                .where(apps.fund_id == desk.policy.fund_id, apps.state == "active")
                .order_by(apps.id)
            )
            .scalars()
            .all()
        )
    interest = fees = 0
    for app_id in ids:  # one transaction per loan: a long run never holds everything
        with unit(desk, actor) as conn:
            row = visible_application(conn, actor, app_id, lock=True)
            if row.state != "active":
                continue
            got_interest, got_fees = _accrue_loan(conn, desk, row, through, now)
            interest, fees = interest + got_interest, fees + got_fees
    return AccrualRun(through, len(ids), interest, fees)


def repay(
    desk: Desk,
    actor: Actor,
    app_id: str,
    amount_cents: int,
    reference: str,
    on: date | None = None,
    now: datetime | None = None,
) -> Repayment:
    """Record a payment received on ``on`` (default today) under the payment ``reference``."""
    now = now or utcnow()
    on = on or now.date()
    if amount_cents <= 0:
        raise LoanError(
            f"--amount {format_usd(amount_cents)}: a repayment must be positive",
            code="repayment_not_positive",
            amount_cents=amount_cents,
        )
    if not reference.strip() or len(reference) > 150:
        raise LoanError(
            f"--reference {reference!r}: the payment's reference, 1 to 150 characters, is "
            f"required (it prevents recording a payment twice)",
            code="reference_required",
        )
    check_text("--reference", reference)
    key = f"loan:{app_id}:repay:{reference}"
    with unit(desk, actor) as conn:
        row = guard(conn, actor, app_id, "repay")
        if entry_exists(conn, key):
            return Repayment(app_id, row.state, 0, 0, 0, duplicate=True)
        _check_value_date(row, on, now)
        _accrue_loan(conn, desk, row, on, now)
        row = visible_application(conn, actor, app_id, lock=True)
        split = allocate(amount_cents, *_owed(row)[:2])
        owed = sum(_owed(row))
        if amount_cents > owed:
            raise LoanError(
                f"--amount {format_usd(amount_cents)}: more than the {format_usd(owed)} owed on "
                f"{app_id} as of {on} (fees, interest and principal)",
                code="repayment_too_much",
                amount_cents=amount_cents,
                owed_cents=owed,
                on=on,
            )
        entry = ledger.post_repay(conn, desk.policy, app_id, split, key, now)
        state = _apply_payment(conn, row, split, now)
        reason = f"payment {reference} on {on}"
        record_event(
            conn, desk, actor, row, "repay", state, reason, now,
            amount_cents=amount_cents, entry_id=entry,
        )  # fmt: skip
    return Repayment(app_id, state, *split)


def write_off(
    desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime | None = None
) -> int:
    """Write off everything still owed (accrued to today); returns the cents written off."""
    now = now or utcnow()
    with unit(desk, actor) as conn:
        row = guard(conn, actor, app_id, "write_off")
        _accrue_loan(conn, desk, row, max(now.date(), row.accrued_through), now)
        row = visible_application(conn, actor, app_id, lock=True)
        fees, interest, principal = _owed(row)
        total = fees + interest + principal
        entry = ledger.post_write_off(conn, desk.policy, app_id, (fees, interest, principal), now)
        move(
            conn,
            row,
            "written_off",
            principal_outstanding_cents=0,
            written_off_cents=total,
            closed_at=now,
        )
        record_event(
            conn, desk, actor, row, "write_off", "written_off", reason, now,
            amount_cents=total, entry_id=entry,
        )  # fmt: skip
    return total


def schedule_of(conn: Connection, app_id: str) -> tuple[Instalment, ...]:
    rows = conn.execute(
        select(loan_schedule).where(loan_schedule.c.application_id == app_id).order_by("n")
    )
    return tuple(Instalment(r.n, r.due_on, r.principal_cents, r.interest_cents) for r in rows)


def _owed(row: Row[Any]) -> tuple[int, int, int]:
    """(fees, interest, principal) still owed, as booked."""
    return (
        row.fees_charged_cents - row.fees_paid_cents,
        row.interest_accrued_cents - row.interest_paid_cents,
        row.principal_outstanding_cents,
    )


def _accrue_loan(
    conn: Connection, desk: Desk, row: Row[Any], through: date, now: datetime
) -> tuple[int, int]:
    """Interest from ``accrued_through`` to ``through``, then late fees; conditional update."""
    days = (through - row.accrued_through).days
    interest = fee_total = 0
    values: dict[str, Any] = {}
    if days > 0:
        step = accrue_interest(
            Decimal(row.interest_exact),
            row.interest_accrued_cents,
            row.principal_outstanding_cents,
            Decimal(row.apr),
            days,
        )
        if step.delta_cents:
            key = f"loan:{row.id}:accrue:{through.isoformat()}"
            ledger.post_charge(conn, desk.policy, row.id, "interest", step.delta_cents, key, now)
        interest = step.delta_cents
        values = {
            "interest_exact": str(step.exact),
            "interest_accrued_cents": step.booked_cents,
            "accrued_through": through,
        }
    fee_total = _late_fees(conn, desk, row, through, now)
    if values or fee_total:
        values["fees_charged_cents"] = row.fees_charged_cents + fee_total
        result = conn.execute(
            loan_applications.update()
            .where(apps.id == row.id, apps.accrued_through == row.accrued_through)
            .values(**values)
        )
        if result.rowcount != 1:
            raise LoanError(f"loan {row.id} was accrued concurrently; run again")
    return interest, fee_total


def _late_fees(conn: Connection, desk: Desk, row: Row[Any], through: date, now: datetime) -> int:
    fee = desk.policy.late_fee_cents
    if fee <= 0:
        return 0
    cutoff = through - timedelta(days=desk.policy.servicing.grace_days)
    late = lateness(schedule_of(conn, row.id), row.principal_repaid_cents, cutoff)
    charged = 0
    for n in late.overdue_instalments:
        key = f"loan:{row.id}:late-fee:{n}"
        if not entry_exists(conn, key):
            ledger.post_charge(conn, desk.policy, row.id, "fees", fee, key, now)
            charged += fee
    return charged


def _apply_payment(
    conn: Connection, row: Row[Any], split: tuple[int, int, int], now: datetime
) -> str:
    fees, interest, principal = split
    outstanding = row.principal_outstanding_cents - principal
    state = "repaid" if outstanding == 0 else "active"
    move(
        conn,
        row,
        state,
        principal_outstanding_cents=outstanding,
        principal_repaid_cents=row.principal_repaid_cents + principal,
        interest_paid_cents=row.interest_paid_cents + interest,
        fees_paid_cents=row.fees_paid_cents + fees,
        closed_at=now if state == "repaid" else None,
    )
    return state


def _check_value_date(row: Row[Any], on: date, now: datetime) -> None:
    if on > now.date():
        raise LoanError(f"--on {on}: a payment cannot be dated in the future (today {now.date()})")
    if on < row.accrued_through:
        raise LoanError(
            f"--on {on}: loan {row.id} has interest booked through {row.accrued_through}; "
            f"record payments in date order"
        )
