"""Schedule and accrual arithmetic, checked against numpy-financial and the exact formula."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy_financial as npf
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from recompense.loans.errors import LoanError
from recompense.loans.schedule import (
    Instalment,
    accrue,
    allocate,
    build_schedule,
    instalment_cents,
    lateness,
    periodic_rate,
)

START = date(2025, 10, 20)
APRS = st.sampled_from([Decimal("0.0150"), Decimal("0.0200"), Decimal("0.0250"), Decimal("0.0999")])
PRINCIPAL = st.integers(min_value=1_000_000, max_value=1_000_000_000)  # $10k .. $10M


def _half_up(value: Fraction) -> int:
    """Exact half-up rounding of a non-negative rational to an integer (the oracle)."""
    return int(value + Fraction(1, 2))


@given(principal=PRINCIPAL, apr=APRS, periods=st.integers(1, 24))
def test_instalment_is_numpy_financial_pmt_rounded(principal, apr, periods):
    rate = float(apr) * 30 / 365
    expected = float(npf.pmt(rate, periods, -principal))
    assert abs(instalment_cents(principal, apr, periods, 30) - expected) <= 0.5 + 1e-6


@given(principal=PRINCIPAL, apr=APRS, periods=st.integers(2, 24))
def test_interest_and_principal_split_follow_numpy_financial(principal, apr, periods):
    rows = build_schedule(principal, apr, periods * 30, "instalments", START, 30)
    rate = float(periodic_rate(apr, 30))
    assert len(rows) == periods
    assert sum(r.principal_cents for r in rows) == principal
    for row in rows[:-1]:
        assert abs(row.interest_cents - float(npf.ipmt(rate, row.n, periods, -principal))) <= 1
        assert abs(row.principal_cents - float(npf.ppmt(rate, row.n, periods, -principal))) <= 1.5
        assert row.total_cents == rows[0].total_cents  # equal instalments
    total_interest = float(npf.pmt(rate, periods, -principal)) * periods - principal
    assert abs(sum(r.interest_cents for r in rows) - total_interest) <= periods


@given(principal=PRINCIPAL, apr=APRS, periods=st.integers(1, 24))
# An exact half cent (10,017/2): rounding the periodic rate first gave 5,008, not 5,009.
@example(principal=4_062_450, apr=Decimal("0.0150"), periods=1)
def test_declining_balance_interest_is_exact_per_period(principal, apr, periods):
    rows = build_schedule(principal, apr, periods * 30, "instalments", START, 30)
    balance = principal
    for row in rows:
        exact = Fraction(balance) * Fraction(apr) * 30 / 365
        assert row.interest_cents == _half_up(exact)
        assert row.due_on == START + timedelta(days=30 * row.n)
        balance -= row.principal_cents
    assert balance == 0


@given(principal=PRINCIPAL, apr=APRS, term=st.integers(30, 720))
def test_bullet_is_principal_plus_simple_interest_actual_365(principal, apr, term):
    (only,) = build_schedule(principal, apr, term, "bullet", START, 30)
    assert only.principal_cents == principal
    assert only.due_on == START + timedelta(days=term)
    fv = float(npf.fv(float(apr) * term / 365, 1, 0, -principal))
    assert abs(only.total_cents - fv) <= 0.5 + 1e-3
    assert only.interest_cents == _half_up(Fraction(principal) * Fraction(apr) * term / 365)


def test_zero_rate_splits_principal_evenly():
    rows = build_schedule(100_000_00, Decimal(0), 90, "instalments", START, 30)
    assert [r.principal_cents for r in rows] == [3_333_333, 3_333_333, 3_333_334]
    assert all(r.interest_cents == 0 for r in rows)


def test_instalment_term_must_be_a_multiple_of_the_period():
    with pytest.raises(LoanError, match="multiple of 30 days"):
        build_schedule(1_000_000, Decimal("0.02"), 45, "instalments", START, 30)


@given(principal=PRINCIPAL, apr=APRS, days=st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_daily_accrual_never_drifts_from_the_exact_interest(principal, apr, days):
    exact, booked, posted = Decimal(0), 0, 0
    for step in days:
        result = accrue(exact, booked, principal, apr, step)
        exact, booked, posted = result.exact, result.booked_cents, posted + result.delta_cents
    oracle = Fraction(principal) * Fraction(apr) * sum(days) / 365
    assert posted == booked == _half_up(oracle)
    assert abs(Fraction(exact) - oracle) < Fraction(1, 10**20)


def test_accruing_day_by_day_books_the_bullet_interest():
    apr, principal = Decimal("0.0200"), 123_456_789
    (only,) = build_schedule(principal, apr, 360, "bullet", START, 30)
    daily = Fraction(principal) * Fraction(apr) / 365  # 6,764.76 cents a day
    exact, booked = Decimal(0), 0
    for _ in range(360):
        step = accrue(exact, booked, principal, apr, 1)
        exact, booked = step.exact, step.booked_cents
        assert step.delta_cents in (int(daily), int(daily) + 1)  # floor or ceiling, no drift
    assert booked == only.interest_cents


@pytest.mark.parametrize(
    ("amount", "fees", "interest", "expected"),
    [
        (100, 30, 50, (30, 50, 20)),
        (60, 30, 50, (30, 30, 0)),
        (20, 30, 50, (20, 0, 0)),
        (500, 0, 0, (0, 0, 500)),
    ],
)
def test_repayments_pay_fees_then_interest_then_principal(amount, fees, interest, expected):
    assert allocate(amount, fees, interest) == expected


def test_lateness_counts_days_from_the_first_unpaid_due_date():
    schedule = (
        Instalment(1, date(2025, 11, 19), 100, 5),
        Instalment(2, date(2025, 12, 19), 100, 4),
        Instalment(3, date(2026, 1, 18), 100, 3),
    )
    on_time = lateness(schedule, 100, date(2025, 12, 19))
    assert not on_time.late
    assert on_time.overdue_instalments == ()
    late = lateness(schedule, 50, date(2025, 12, 25))
    assert late.late
    assert late.overdue_instalments == (1, 2)
    assert late.days_late == (date(2025, 12, 25) - date(2025, 11, 19)).days
    assert late.overdue_principal_cents == 150
    assert not lateness(schedule, 300, date(2026, 6, 1)).late  # repaid early: never late
