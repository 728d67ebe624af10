"""Servicing: disbursement and repayments as journal entries, accrual, late fees, write-off."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from loan_support import AM1, AUDITOR, CC1, CC2, T0, new_application
from sqlalchemy import func, select

from recompense.ledger.db import connect
from recompense.ledger.journal import balances
from recompense.ledger.schema import journal_entries, postings
from recompense.loans import accrue, approve, disburse, fund_figures, repay, show, write_off
from recompense.loans.errors import LoanError, LoanForbidden
from recompense.loans.schedule import build_schedule

PAID_OUT = T0 + timedelta(hours=3)
DAY0 = PAID_OUT.date()


def _active(desk, amount_cents=50_000_000, term_days=360, repayment="instalments") -> str:
    app = new_application(desk, amount_cents=amount_cents, term_days=term_days, repayment=repayment)
    approve(desk, CC1, app, "ok", now=T0 + timedelta(hours=1))
    if amount_cents > desk.policy.four_eyes_above_cents:
        approve(desk, CC2, app, "ok", now=T0 + timedelta(hours=2))
    disburse(desk, CC1, app, "paid out", now=PAID_OUT)
    return app


def _at(days: int):
    return PAID_OUT + timedelta(days=days)


def _loan(desk, app, days=0):
    return show(desk, AUDITOR, app, "servicing test", now=_at(days))


def _books(ledger_url: str) -> dict[str, int]:
    with connect(ledger_url).connect() as conn:
        return {code: total for code, (_, total) in balances(conn).items()}


def test_disbursement_is_a_balanced_journal_entry_and_dates_the_schedule(desk, ledger_url):
    app = _active(desk)
    loan = _loan(desk, app)
    cap = desk.policy.cap_cents
    books = _books(ledger_url)
    assert books["program:loans-2025-10:fund"] == cap - 50_000_000
    assert books["external:treasury:USD"] == -cap
    assert books[f"loan:{app}:principal"] == 50_000_000
    expected = build_schedule(50_000_000, Decimal("0.0200"), 360, "instalments", DAY0, 30)
    assert [
        (r["n"], r["due_on"], r["principal_cents"], r["interest_cents"]) for r in loan["schedule"]
    ] == [(r.n, r.due_on, r.principal_cents, r.interest_cents) for r in expected]
    assert loan["maturity_on"] == DAY0 + timedelta(days=360)
    with connect(ledger_url).connect() as conn:
        kinds = dict(
            conn.execute(
                select(journal_entries.c.kind, func.count()).group_by(journal_entries.c.kind)
            ).all()
        )
    assert kinds == {"fund": 1, "loan-disburse": 1}


def test_daily_accrual_books_the_schedules_interest_and_pays_on_time(desk, ledger_url):
    app = _active(desk)
    first = _loan(desk, app)["schedule"][0]
    for day in range(1, 31):  # the daily job, one day at a time
        accrue(desk, CC1, DAY0 + timedelta(days=day), now=_at(day))
    accrue(desk, CC1, DAY0 + timedelta(days=30), now=_at(30))  # a re-run books nothing more
    loan = _loan(desk, app, 30)
    assert loan["interest_accrued_cents"] == first["interest_cents"]
    assert _books(ledger_url)[f"loan:{app}:interest"] == first["interest_cents"]
    instalment = first["principal_cents"] + first["interest_cents"]
    paid = repay(desk, AM1, app, instalment, "inst-1", now=_at(30))
    assert (paid.fees_cents, paid.interest_cents, paid.principal_cents) == (
        0,
        first["interest_cents"],
        first["principal_cents"],
    )
    loan = _loan(desk, app, 31)
    assert loan["late"]["late"] is False
    assert loan["principal_outstanding_cents"] == 50_000_000 - first["principal_cents"]


def test_accrual_is_actual_365_on_the_outstanding_balance(desk):
    app = _active(desk, amount_cents=12_345_678_9, term_days=720, repayment="bullet")
    accrue(desk, CC1, DAY0 + timedelta(days=45), now=_at(45))
    expected = Fraction(123_456_789) * Fraction("0.0250") * 45 / 365
    assert _loan(desk, app, 45)["interest_accrued_cents"] == int(expected + Fraction(1, 2))


def test_late_instalment_is_charged_one_fee_after_the_grace_days(desk, ledger_url):
    app = _active(desk)
    due = _loan(desk, app)["schedule"][0]["due_on"]
    grace = desk.policy.servicing.grace_days
    accrue(desk, CC1, due + timedelta(days=grace), now=_at(40))
    assert _loan(desk, app, 40)["fees_charged_cents"] == 0  # within the grace days
    late_day = (due - DAY0).days + grace + 1
    run = accrue(desk, CC1, due + timedelta(days=grace + 1), now=_at(late_day))
    accrue(desk, CC1, due + timedelta(days=grace + 2), now=_at(late_day + 1))
    loan = _loan(desk, app, late_day + 1)
    assert run.fees_cents == loan["fees_charged_cents"] == desk.policy.late_fee_cents == 10_000
    assert loan["late"]["late"]
    assert tuple(loan["late"]["overdue_instalments"]) == (1,)
    assert loan["late"]["days_late"] == late_day + 1 - (due - DAY0).days
    paid = repay(desk, AM1, app, 20_000, "partial", now=_at(late_day + 1))
    interest_owed = loan["interest_accrued_cents"]
    assert (paid.fees_cents, paid.interest_cents, paid.principal_cents) == (10_000, 10_000, 0)
    assert interest_owed > 10_000  # only part of the interest was covered
    assert _books(ledger_url)["program:loans-2025-10:income"] == 20_000


def test_early_repayment_costs_only_accrued_interest_and_returns_capacity(desk, ledger_url):
    app = _active(desk, amount_cents=300_000_000)
    before = fund_figures(desk, AUDITOR)
    assert before.committed_cents == before.outstanding_cents == 300_000_000
    interest = int(Fraction(300_000_000) * Fraction("0.0200") * 17 / 365 + Fraction(1, 2))
    with pytest.raises(LoanError, match="more than the"):
        repay(desk, AM1, app, 300_000_000 + interest + 1, "too-much", now=_at(17))
    done = repay(desk, AM1, app, 300_000_000 + interest, "payoff", now=_at(17))
    assert done.state == "repaid"
    assert done.interest_cents == interest
    after = fund_figures(desk, AUDITOR)
    assert after.committed_cents == 0
    assert after.available_cents == desk.policy.cap_cents
    assert after.repaid_cents == 300_000_000
    assert after.interest_paid_cents == interest
    books = _books(ledger_url)
    assert books["program:loans-2025-10:fund"] == desk.policy.cap_cents
    assert books[f"loan:{app}:principal"] == 0
    assert books[f"loan:{app}:interest"] == 0
    with pytest.raises(LoanError, match="is repaid"):
        repay(desk, AM1, app, 100, "after", now=_at(18))


def test_the_same_payment_is_recorded_once(desk, ledger_url):
    app = _active(desk)
    first = repay(desk, AM1, app, 1_000_000, "SWIFT-1", now=_at(10))
    again = repay(desk, CC1, app, 1_000_000, "SWIFT-1", now=_at(11))
    assert not first.duplicate
    assert again.duplicate
    assert _loan(desk, app, 11)["principal_repaid_cents"] == first.principal_cents
    with connect(ledger_url).connect() as conn:
        repays = conn.execute(
            select(func.count()).where(journal_entries.c.kind == "loan-repay")
        ).scalar_one()
    assert repays == 1


def test_payment_dates_are_checked(desk):
    app = _active(desk)
    accrue(desk, CC1, DAY0 + timedelta(days=10), now=_at(10))
    with pytest.raises(LoanError, match="date order"):
        repay(desk, AM1, app, 1_000, "back-dated", on=DAY0 + timedelta(days=5), now=_at(10))
    with pytest.raises(LoanError, match="future"):
        repay(desk, AM1, app, 1_000, "future", on=DAY0 + timedelta(days=20), now=_at(10))
    with pytest.raises(LoanError, match="positive"):
        repay(desk, AM1, app, 0, "zero", now=_at(10))
    with pytest.raises(LoanForbidden):
        accrue(desk, AM1, DAY0 + timedelta(days=10), now=_at(10))


def test_write_off_clears_the_receivables_into_the_loss_account(desk, ledger_url):
    app = _active(desk, amount_cents=80_000_000, term_days=180, repayment="bullet")
    repay(desk, AM1, app, 5_000_000, "part", now=_at(20))
    total = write_off(desk, CC1, app, "borrower insolvent", now=_at(50))
    loan = _loan(desk, app, 50)
    assert loan["state"] == "written_off"
    assert loan["principal_outstanding_cents"] == 0
    owed_principal = 80_000_000 - loan["principal_repaid_cents"]
    assert total == owed_principal + loan["interest_accrued_cents"] - loan["interest_paid_cents"]
    books = _books(ledger_url)
    assert books["external:loans:loans-2025-10:written-off"] == total
    assert all(books[f"loan:{app}:{what}"] == 0 for what in ("principal", "interest"))
    figures = fund_figures(desk, CC1)
    assert figures.written_off_cents == total
    assert figures.committed_cents == 0


def test_the_books_agree_with_the_dashboard(desk, ledger_url):
    a = _active(desk, amount_cents=40_000_000)
    b = _active(desk, amount_cents=60_000_000, term_days=180, repayment="bullet")
    accrue(desk, CC1, DAY0 + timedelta(days=35), now=_at(35))
    repay(desk, AM1, a, 4_000_000, "a-1", now=_at(35))
    write_off(desk, CC1, b, "fraud", now=_at(36))
    figures = fund_figures(desk, AUDITOR)
    books = _books(ledger_url)
    fund = books["program:loans-2025-10:fund"]
    assert fund == figures.cap_cents - figures.disbursed_cents + figures.repaid_cents
    receivable = sum(v for k, v in books.items() if k.endswith(":principal"))
    assert receivable == figures.outstanding_cents
    assert (
        books["program:loans-2025-10:income"]
        == figures.interest_paid_cents + figures.fees_paid_cents
    )
    assert all(v >= 0 for k, v in books.items() if not k.startswith("external:"))
    with connect(ledger_url).connect() as conn:
        assert conn.execute(select(func.sum(postings.c.amount_cents))).scalar_one() == 0
