"""The fund's cap: never overcommitted, even by 200 concurrent approvals; capacity returns."""

from __future__ import annotations

import random
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from loan_support import AM1, AUDITOR, CC1, CC2, CC3, LOAN_POLICY, T0, new_application

from recompense.loans import (
    approve,
    disburse,
    fund_figures,
    register_borrower,
    repay,
    undo_approval,
    write_off,
)
from recompense.loans.desk import Desk
from recompense.loans.errors import FundExhausted, LoanError, LoanForbidden, LoanPolicyError
from recompense.loans.policy import validate_loan_policy

LATER = T0 + timedelta(hours=1)


def _policy(**changes):
    raw = tomllib.loads(LOAN_POLICY.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        raw[section][key] = value
    return validate_loan_policy(raw, source="test")


@pytest.fixture
def small_fund(desk):
    """The same desk with a $1,500,000 cap (and the per-borrower limit at $1,000,000)."""
    policy = _policy(
        **{"fund.cap_usd": "1500000.00", "borrowers.max_outstanding_usd": "1000000.00"}
    )
    return Desk(desk.url, policy, desk.keyring)


def _borrowers(desk, n, start=5000):
    for user in range(start, start + n):
        register_borrower(desk, CC1, user, "institutional", AM1.id)
    return list(range(start, start + n))


def test_an_approval_that_would_pass_the_cap_is_refused(small_fund):
    users = _borrowers(small_fund, 4)
    apps = [new_application(small_fund, borrower=u, amount_cents=50_000_000) for u in users]
    for app in apps[:3]:
        assert approve(small_fund, CC1, app, "ok", now=LATER) == "approved"
    with pytest.raises(
        FundExhausted, match=r"above the fund's cap of \$1,500,000.00 \(\$0.00 left\)"
    ):
        approve(small_fund, CC1, apps[3], "one too many", now=LATER)
    figures = fund_figures(small_fund, AUDITOR)
    assert figures.committed_cents == figures.cap_cents == 150_000_000
    assert figures.approved_not_disbursed_cents == 150_000_000
    assert figures.by_state["submitted"] == 1


def test_undo_repayment_and_write_off_return_capacity(small_fund):
    users = _borrowers(small_fund, 4)
    a, b, c, d = (new_application(small_fund, borrower=u, amount_cents=50_000_000) for u in users)
    for app in (a, b, c):
        approve(small_fund, CC1, app, "ok", now=LATER)
    undo_approval(small_fund, CC2, a, "documents expired", now=LATER)
    assert approve(small_fund, CC1, d, "fits now", now=LATER) == "approved"
    disburse(small_fund, CC1, b, "go", now=LATER)
    disburse(small_fund, CC1, c, "go", now=LATER)
    with pytest.raises(FundExhausted):
        approve(small_fund, CC2, a, "again", now=LATER)
    repay(small_fund, AM1, b, 10_000_000, "b-part", now=LATER)  # principal $100,000 back
    with pytest.raises(FundExhausted, match=r"\$100,000.00 left"):
        approve(small_fund, CC2, a, "again", now=LATER)
    write_off(small_fund, CC1, c, "insolvent", now=LATER)
    assert approve(small_fund, CC2, a, "capacity returned", now=LATER) == "approved"
    figures = fund_figures(small_fund, CC3)
    assert figures.committed_cents == 40_000_000 + 50_000_000 + 50_000_000
    assert figures.repaid_cents == 10_000_000
    assert figures.written_off_cents == 50_000_000


def test_the_per_borrower_limit_holds_at_approval(small_fund):
    (user,) = _borrowers(small_fund, 1)
    first = new_application(small_fund, borrower=user, amount_cents=60_000_000)
    second = new_application(small_fund, borrower=user, amount_cents=60_000_000)
    approve(small_fund, CC1, first, "ok", now=LATER)
    with pytest.raises(LoanError, match=r"per-borrower limit of \$1,000,000.00"):
        approve(small_fund, CC1, second, "too much for one borrower", now=LATER)


def test_the_cap_of_the_fund_cannot_change_under_it(desk):
    app = new_application(desk)
    approve(desk, CC1, app, "creates the fund", now=LATER)
    other = Desk(desk.url, _policy(**{"fund.cap_usd": "200000000.00"}), desk.keyring)
    second = new_application(other)
    with pytest.raises(LoanPolicyError, match="caps do not change"):
        approve(other, CC1, second, "bigger cap?", now=LATER)


def test_the_dashboard_is_for_the_committee_and_auditors(desk):
    assert fund_figures(desk, CC1).cap_cents == 10_000_000_000
    assert fund_figures(desk, AUDITOR).committed_cents == 0
    with pytest.raises(LoanForbidden):
        fund_figures(desk, AM1)


def test_200_concurrent_approvals_never_overshoot_the_cap(desk):
    """200 applications worth $140M race for the $100M fund; not a cent more is committed."""
    rng = random.Random(6)
    users = _borrowers(desk, 200)
    amounts = [rng.randrange(40_000_000, 100_000_000) for _ in users]  # $400k .. $1M: one vote
    apps = [
        new_application(desk, borrower=u, amount_cents=a)
        for u, a in zip(users, amounts, strict=True)
    ]
    assert sum(amounts) > desk.policy.cap_cents + 20_000_000_00
    start = threading.Barrier(16)

    def decide(index: int) -> str:
        if index < 16:
            start.wait()  # the first wave leaves together
        member = (CC1, CC2, CC3)[index % 3]
        try:
            return approve(desk, member, apps[index], "race", now=LATER)
        except FundExhausted:
            return "exhausted"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(decide, range(len(apps))))
    approved = [a for a, o in zip(amounts, outcomes, strict=True) if o == "approved"]
    refused = [a for a, o in zip(amounts, outcomes, strict=True) if o == "exhausted"]
    figures = fund_figures(desk, AUDITOR)
    assert len(approved) + len(refused) == 200
    assert refused
    assert figures.committed_cents == sum(approved) <= desk.policy.cap_cents
    assert figures.by_state == {"approved": len(approved), "submitted": len(refused)}
    # every refusal was right: it would not have fit even in what is left at the end
    assert min(refused) > desk.policy.cap_cents - figures.committed_cents
