"""The fund: its cap, the lock approvals take, and the dashboard figures.

``committed = approved-not-disbursed + outstanding principal`` never exceeds the cap. An
approval reads ``committed`` and changes it in one transaction while holding the fund's
lock — ``SELECT … FOR UPDATE`` of the fund row on PostgreSQL (READ COMMITTED: the sum
read after the lock is granted sees every approval committed before), ``BEGIN
IMMEDIATE`` on SQLite (one writer at a time) — so concurrent approvals queue and none
can overshoot. Everything else only lowers ``committed`` (repayment, undo, write-off)
and needs no lock. Repaid and written-off principal leave ``committed``: capacity returns.

The fund's money is in the ledger: ``treasury → program:FUND:fund`` once for the cap
(see :mod:`.ledger`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from recompense.loans import ledger
from recompense.loans.errors import LoanPolicyError
from recompense.loans.policy import LoanPolicy
from recompense.loans.schema import loan_applications, loan_funds

apps = loan_applications.c


def lock_fund(conn: Connection, policy: LoanPolicy, now: datetime) -> None:
    """Create the fund on first use (and post its money), then hold its lock until commit."""
    ensure_fund(conn, policy, now)
    query = select(loan_funds.c.cap_cents).where(loan_funds.c.id == policy.fund_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    conn.execute(query).scalar_one()


def ensure_fund(conn: Connection, policy: LoanPolicy, now: datetime) -> None:
    found = conn.execute(
        select(loan_funds.c.cap_cents).where(loan_funds.c.id == policy.fund_id)
    ).scalar_one_or_none()
    if found is not None:
        if int(found) != policy.cap_cents:
            raise LoanPolicyError(
                f"fund {policy.fund_id}: the policy's cap_usd is {policy.cap_cents / 100:,.2f} "
                f"but the fund was created with {int(found) / 100:,.2f}; caps do not change"
            )
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = {
        "id": policy.fund_id,
        "currency": policy.fund.currency,
        "cap_cents": policy.cap_cents,
        "created_at": now,
    }
    statement = insert(loan_funds).values(**values).on_conflict_do_nothing()
    created = conn.execute(statement.returning(loan_funds.c.id)).first()
    if created is not None:  # this transaction created the fund: post its money once
        ledger.post_fund(conn, policy, now)


def committed_cents(conn: Connection, fund_id: str, borrower_id: int | None = None) -> int:
    """Approved-not-disbursed amounts plus outstanding principal (of one borrower, if given)."""
    amount = case(
        (apps.state == "approved", apps.amount_cents),
        (apps.state == "active", apps.principal_outstanding_cents),
        else_=0,
    )
    query = select(func.coalesce(func.sum(amount), 0)).where(
        apps.fund_id == fund_id, apps.state.in_(("approved", "active"))
    )
    if borrower_id is not None:
        query = query.where(apps.borrower_id == borrower_id)
    return int(conn.execute(query).scalar_one())


@dataclass(frozen=True, slots=True)
class Dashboard:
    fund_id: str
    currency: str
    cap_cents: int
    committed_cents: int
    available_cents: int
    approved_not_disbursed_cents: int
    disbursed_cents: int
    outstanding_cents: int
    interest_accrued_cents: int
    interest_paid_cents: int
    fees_charged_cents: int
    fees_paid_cents: int
    repaid_cents: int
    written_off_cents: int
    by_state: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def dashboard(conn: Connection, policy: LoanPolicy) -> Dashboard:
    """The fund's figures from the loan rows the caller may see (committee/auditors: all)."""

    def total(column: Any, *states: str) -> Any:
        condition = apps.state.in_(states) if states else apps.disbursed_on.is_not(None)
        return func.coalesce(func.sum(case((condition, column), else_=0)), 0)

    row = conn.execute(
        select(
            total(apps.amount_cents, "approved"),
            total(apps.amount_cents),
            total(apps.principal_outstanding_cents, "active"),
            func.coalesce(func.sum(apps.interest_accrued_cents), 0),
            func.coalesce(func.sum(apps.interest_paid_cents), 0),
            func.coalesce(func.sum(apps.fees_charged_cents), 0),
            func.coalesce(func.sum(apps.fees_paid_cents), 0),
            func.coalesce(func.sum(apps.principal_repaid_cents), 0),
            func.coalesce(func.sum(apps.written_off_cents), 0),
        ).where(apps.fund_id == policy.fund_id)
    ).one()
    (
        approved,
        disbursed,
        outstanding,
        interest_accrued,
        interest_paid,
        fees_charged,
        fees_paid,
        repaid,
        written_off,
    ) = (int(value) for value in row)
    by_state = {
        str(state): int(n)
        for state, n in conn.execute(
            select(apps.state, func.count())
            .where(apps.fund_id == policy.fund_id)
            .group_by(apps.state)
        )
    }
    return Dashboard(
        fund_id=policy.fund_id,
        currency=policy.fund.currency,
        cap_cents=policy.cap_cents,
        committed_cents=approved + outstanding,
        available_cents=policy.cap_cents - approved - outstanding,
        approved_not_disbursed_cents=approved,
        disbursed_cents=disbursed,
        outstanding_cents=outstanding,
        interest_accrued_cents=interest_accrued,
        interest_paid_cents=interest_paid,
        fees_charged_cents=fees_charged,
        fees_paid_cents=fees_paid,
        repaid_cents=repaid,
        written_off_cents=written_off,
        by_state=by_state,
    )
