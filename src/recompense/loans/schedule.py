"""Schedule and interest arithmetic: pure functions on integer cents and ``Decimal`` rates.

Day count **Actual/365 Fixed**: interest for ``d`` actual days on a balance ``B`` is
``B × APR × d / 365``. Instalments fall every ``period_days`` actual days after
disbursement, so every period has the same length and the periodic rate is exactly
``r = APR × period_days / 365``.

Rounding rule (one rule, applied everywhere): amounts are computed exactly in ``Decimal``
(40 significant digits) and rounded **half-up to the cent** once, where they become money:

- *Equal instalments* (declining balance): the instalment is the annuity payment
  ``P·r / (1 − (1 + r)^−n)`` rounded to the cent (``P / n`` when ``r = 0``). Each period's
  interest is ``round(balance × r)``, its principal the instalment minus that interest;
  the last instalment takes whatever principal remains, so principal sums to ``P``
  exactly and the last instalment may differ from the others by a few cents.
- *Bullet*: one payment at maturity of ``P`` plus ``round(P × APR × term / 365)``.
- *Daily accrual*: the exact interest is accumulated (sub-cent digits kept in the
  database as text) and the booked figure is ``round(cumulative exact)``; each day books
  the difference, so accrual never drifts from the exact figure by more than half a cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from recompense.loans.errors import LoanError

DAYS_IN_YEAR = 365
PRECISION = 40


@dataclass(frozen=True, slots=True)
class Instalment:
    n: int
    due_on: date
    principal_cents: int
    interest_cents: int

    @property
    def total_cents(self) -> int:
        return self.principal_cents + self.interest_cents


def round_cents(amount: Decimal) -> int:
    """Half-up to an integer number of cents (``amount`` is already in cents)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def periodic_rate(apr: Decimal, period_days: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return apr * period_days / DAYS_IN_YEAR


def instalment_cents(principal_cents: int, apr: Decimal, periods: int, period_days: int) -> int:
    """The equal instalment, rounded half-up to the cent."""
    rate = periodic_rate(apr, period_days)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        if rate == 0:
            return round_cents(Decimal(principal_cents) / periods)
        payment = principal_cents * rate / (1 - (1 + rate) ** -periods)
    return round_cents(payment)


def build_schedule(
    principal_cents: int,
    apr: Decimal,
    term_days: int,
    repayment: str,
    start: date,
    period_days: int,
) -> tuple[Instalment, ...]:
    """The repayment schedule of a loan disbursed on ``start``."""
    if repayment == "bullet":
        interest = interest_for_days(principal_cents, apr, term_days)
        return (Instalment(1, start + timedelta(days=term_days), principal_cents, interest),)
    if term_days % period_days:
        raise LoanError(
            f"term {term_days} days: with instalments the term must be a multiple of "
            f"{period_days} days"
        )
    periods = term_days // period_days
    payment = instalment_cents(principal_cents, apr, periods, period_days)
    balance, rows = principal_cents, []
    for n in range(1, periods + 1):
        # balance × APR × days / 365 with the division last: rounding the periodic rate
        # first can turn an exact half cent into 0.4999… (then rounded down).
        interest = interest_for_days(balance, apr, period_days)
        principal = balance if n == periods else min(balance, max(payment - interest, 0))
        rows.append(Instalment(n, start + timedelta(days=n * period_days), principal, interest))
        balance -= principal
    return tuple(rows)


def interest_for_days(balance_cents: int, apr: Decimal, days: int) -> int:
    return round_cents(exact_interest(balance_cents, apr, days))


def exact_interest(balance_cents: int, apr: Decimal, days: int) -> Decimal:
    """Unrounded Actual/365F interest, in cents."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return balance_cents * apr * days / DAYS_IN_YEAR


@dataclass(frozen=True, slots=True)
class Accrual:
    exact: Decimal  # new cumulative exact interest, in cents
    booked_cents: int  # new cumulative booked interest
    delta_cents: int  # to post now


def accrue(
    cumulative_exact: Decimal, booked_cents: int, balance_cents: int, apr: Decimal, days: int
) -> Accrual:
    """Accrue ``days`` of interest on a constant balance on top of the running totals."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        exact = cumulative_exact + exact_interest(balance_cents, apr, days)
    booked = round_cents(exact)
    return Accrual(exact, booked, booked - booked_cents)


@dataclass(frozen=True, slots=True)
class Lateness:
    overdue_principal_cents: int
    days_late: int
    overdue_instalments: tuple[int, ...]

    @property
    def late(self) -> bool:
        return self.days_late > 0


def lateness(
    schedule: tuple[Instalment, ...], principal_settled_cents: int, today: date
) -> Lateness:
    """Which instalments are past due and not covered by the principal settled so far.

    Instalment ``k`` is overdue once ``today`` is after its due date and the principal
    repaid (or written off) is below the schedule's cumulative principal through ``k``.
    Because repayments pay interest first, an unpaid instalment always shows up as a
    principal shortfall.
    """
    due_so_far, overdue, first_due = 0, [], None
    for row in schedule:
        due_so_far += row.principal_cents
        if row.due_on < today and principal_settled_cents < due_so_far:
            overdue.append(row.n)
            first_due = first_due or row.due_on
    shortfall = 0
    if overdue:
        through = sum(r.principal_cents for r in schedule if r.n <= overdue[-1])
        shortfall = through - principal_settled_cents
    days = (today - first_due).days if first_due else 0
    return Lateness(shortfall, days, tuple(overdue))


def allocate(amount_cents: int, fees_due: int, interest_due: int) -> tuple[int, int, int]:
    """Split a repayment fees → interest → principal; returns (fees, interest, principal)."""
    fees = min(amount_cents, fees_due)
    interest = min(amount_cents - fees, interest_due)
    return fees, interest, amount_cents - fees - interest
