"""The state machine: every allowed and every forbidden transition, maker-checker, the clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from loan_support import (
    AM1,
    AM2,
    AUDITOR,
    CC1,
    CC2,
    INSTITUTION,
    OPS,
    OTHER_INSTITUTION,
    REGULAR,
    T0,
    USER,
    VIP,
    new_application,
    run_action,
)

from recompense.loans import (
    Actor,
    NewApplication,
    apply,
    approve,
    disburse,
    due_soon,
    reject,
    repay,
    show,
    undo_approval,
    withdraw,
    write_off,
)
from recompense.loans.errors import LoanError, LoanForbidden, LoanNotFound, TransitionError
from recompense.loans.lifecycle import TRANSITIONS
from recompense.loans.schema import STATES

LATER = T0 + timedelta(hours=2)


def _in_state(desk, state: str) -> str:
    """An application of am-1's institutional borrower, brought to ``state``."""
    app = new_application(desk, submitted=state != "draft")
    if state in ("approved", "active", "repaid", "written_off"):
        approve(desk, CC1, app, "sound", now=LATER)
    if state in ("active", "repaid", "written_off"):
        disburse(desk, CC1, app, "pay out", now=LATER)
    steps = {
        "rejected": lambda: reject(desk, CC1, app, "insufficient", now=LATER),
        "withdrawn": lambda: withdraw(desk, AM1, app, "client changed mind", now=LATER),
        "repaid": lambda: repay(desk, AM1, app, 50_000_000, "full", now=LATER),
        "written_off": lambda: write_off(desk, CC1, app, "bankrupt", now=LATER),
    }
    if state in steps:
        steps[state]()
    assert _state(desk, app) == state
    return app


def _state(desk, app: str) -> str:
    return show(desk, AUDITOR, app, "test check", now=LATER)["state"]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_every_transition_from_every_state(desk, state, action):
    app = _in_state(desk, state)
    rule = TRANSITIONS[action]
    if state in rule.sources:
        assert run_action(action, desk, app) == rule.target
        assert _state(desk, app) == rule.target
    else:
        with pytest.raises(TransitionError, match=f"is {state}"):
            run_action(action, desk, app)
        assert _state(desk, app) == state


def test_the_approver_is_never_the_submitter(desk):
    app = new_application(desk)
    same_person = Actor("credit_committee", AM1.id)  # am-1 also sits on the committee
    with pytest.raises(LoanForbidden, match="maker-checker"):
        approve(desk, same_person, app, "self-approval", now=LATER)
    with pytest.raises(LoanForbidden, match="maker-checker"):
        reject(desk, same_person, app, "self-decision", now=LATER)
    assert approve(desk, CC1, app, "independent", now=LATER) == "approved"


def test_above_the_threshold_two_distinct_members_approve(desk):
    big = new_application(desk, amount_cents=100_000_001)  # $1,000,000.01 > four-eyes $1M
    assert approve(desk, CC1, big, "first", now=LATER) == "submitted"
    with pytest.raises(LoanForbidden, match="second member"):
        approve(desk, CC1, big, "again", now=LATER)
    data = show(desk, CC1, big, "check votes", now=LATER)
    assert data["state"] == "submitted"
    assert [v["member_id"] for v in data["approvals"]] == ["cc-1"]
    assert approve(desk, CC2, big, "second", now=LATER) == "approved"
    at_threshold = new_application(desk, amount_cents=100_000_000)  # exactly $1M: one is enough
    assert approve(desk, CC1, at_threshold, "one", now=LATER) == "approved"


def test_no_role_bypasses_the_committee(desk):
    app = new_application(desk, amount_cents=200_000_000)
    for actor in (AM1, AUDITOR):
        with pytest.raises(LoanForbidden):
            approve(desk, actor, app, "bypass", now=LATER)
    for actor in (OPS, USER, AM2):
        with pytest.raises(LoanNotFound):
            approve(desk, actor, app, "bypass", now=LATER)
    assert approve(desk, CC1, app, "first", now=LATER) == "submitted"


def test_undo_approval_starts_the_votes_over(desk):
    big = new_application(desk, amount_cents=150_000_000)
    approve(desk, CC1, big, "first", now=LATER)
    approve(desk, CC2, big, "second", now=LATER)
    assert undo_approval(desk, CC1, big, "collateral changed", now=LATER) == "submitted"
    assert approve(desk, CC1, big, "first again", now=LATER) == "submitted"
    data = show(desk, CC1, big, "check", now=LATER)
    assert data["schedule"] == []
    assert len(data["approvals"]) == 1


def test_only_the_assigned_manager_applies_for_vip_and_institutional_users(desk):
    def new(borrower: int, **changes):
        fields = dict(
            borrower_id=borrower,
            amount_cents=5_000_000,
            term_days=180,
            repayment="bullet",
            financial_statements="x",
            stated_losses="1.00",
        )
        return NewApplication(**{**fields, **changes})

    assert apply(desk, AM1, new(VIP), now=T0)
    with pytest.raises(LoanError, match="regular user"):
        apply(desk, AM1, new(REGULAR), now=T0)
    with pytest.raises(LoanForbidden, match="not the assigned account manager"):
        apply(desk, AM1, new(OTHER_INSTITUTION), now=T0)
    with pytest.raises(LoanForbidden, match="not the assigned account manager"):
        apply(desk, AM1, new(424242), now=T0)  # unknown user
    for actor in (CC1, AUDITOR, OPS, USER):
        with pytest.raises(LoanForbidden, match="account manager"):
            apply(desk, actor, new(INSTITUTION), now=T0)
    bad = {
        "amount_cents": (999_999, "below the minimum of \\$10,000.00"),
        "term_days": (721, "between 30 and 720"),
        "repayment": ("balloon", "one of bullet, instalments"),
    }
    for field, (value, message) in bad.items():
        with pytest.raises(LoanError, match=message):
            apply(desk, AM1, new(INSTITUTION, **{field: value}), now=T0)
    with pytest.raises(LoanError, match="multiple of 30"):
        apply(desk, AM1, new(INSTITUTION, repayment="instalments", term_days=100), now=T0)
    with pytest.raises(LoanError, match="per-borrower limit"):
        apply(desk, AM1, new(INSTITUTION, amount_cents=1_000_000_001), now=T0)


def test_the_apr_is_fixed_by_the_term_tier(desk):
    rates = {}
    for term in (30, 180, 181, 360, 720):
        app = new_application(desk, term_days=term, repayment="bullet", submitted=False)
        rates[term] = show(desk, AM1, app, "rate check", now=T0)["apr"]
    assert rates == {30: "0.0150", 180: "0.0150", 181: "0.0200", 360: "0.0200", 720: "0.0250"}


def test_every_transition_is_recorded_with_who_when_and_why(desk):
    app = new_application(desk)
    approve(desk, CC1, app, "strong collateral", now=T0 + timedelta(hours=5))
    disburse(desk, CC2, app, "funds released", now=T0 + timedelta(hours=6))
    events = show(desk, AUDITOR, app, "audit", now=LATER)["events"]
    trail = [
        (
            e["action"],
            e["from_state"],
            e["to_state"],
            str(e["actor_role"]),
            e["actor_id"],
            e["reason"],
        )
        for e in events
    ]
    assert trail == [
        ("create", None, "draft", "account_manager", "am-1", "application created"),
        ("submit", "draft", "submitted", "account_manager", "am-1", "complete file"),
        ("approve", "submitted", "approved", "credit_committee", "cc-1", "strong collateral"),
        ("disburse", "approved", "active", "credit_committee", "cc-2", "funds released"),
    ]
    assert events[2]["at"].replace(tzinfo=None) == (T0 + timedelta(hours=5)).replace(tzinfo=None)
    assert events[3]["entry_id"]
    assert events[3]["amount_cents"] == 50_000_000


def test_time_to_decision_against_the_48_hour_target(desk):
    fresh = new_application(desk, now=T0)
    closing = new_application(desk, now=T0 - timedelta(hours=40))
    overdue = new_application(desk, now=T0 - timedelta(hours=50))
    decided = new_application(desk, now=T0 - timedelta(hours=30))
    approve(desk, CC1, decided, "fine", now=T0 - timedelta(hours=6))
    watch = due_soon(desk, CC1, now=T0)
    assert [(r["id"], r["decision"]["status"]) for r in watch] == [
        (overdue, "missed"),
        (closing, "due soon"),
    ]
    clock = show(desk, CC1, decided, "clock", now=T0)["decision"]
    assert clock["status"] == "met"
    assert clock["hours_taken"] == 24.0
    assert show(desk, CC1, fresh, "clock", now=T0)["decision"]["status"] == "open"
    assert due_soon(desk, AM2, now=T0) == []  # am-2 sees none of am-1's borrowers
