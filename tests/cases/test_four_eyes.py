"""The four-eyes boundary: at the programme's amount one officer decides, a cent more
needs two; a correction's amount is the most it can pay (capped at the max payout)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from case_support import ALICE, BOB

from recompense.cases import service
from recompense.cases.desk import CasePolicy
from recompense.cases.lifecycle import decision_amount

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLAIM_AT = datetime(2025, 10, 10, 21, 5, tzinfo=UTC)


@pytest.mark.parametrize(("extra", "state"), [(0, "accepted"), (1, "proposed")])
def test_a_claim_at_the_amount_needs_one_officer_a_cent_more_two(
    desk, program, params, extra, state
):
    limit = params["cases"]["four_eyes_above_cents"]
    case_id = service.open_case(
        desk, "user:7", program, "claim_earn", "Redemption delayed.",
        stated_cents=limit + extra, occurred_at=CLAIM_AT, now=T0,
    )  # fmt: skip
    assert service.accept(desk, ALICE, case_id, service.Claim(limit + extra), "ok", now=T0) == state


@pytest.mark.parametrize(("extra", "state"), [(0, "accepted"), (1, "proposed")])
def test_a_corrected_loss_at_the_amount_needs_one_officer(desk, program, params, extra, state):
    limit = params["cases"]["four_eyes_above_cents"]
    case_id = service.open_case(desk, "user:7", program, "appeal_loss", "Loss wrong.", now=T0)
    decision = service.Correction(loss_cents=limit + extra)
    assert service.accept(desk, ALICE, case_id, decision, "ok", now=T0) == state


def test_a_proposal_becomes_accepted_with_a_second_officer(desk, program):
    case_id = service.open_case(desk, "user:7", program, "appeal_net_assets", "NA wrong.", now=T0)
    assert (
        service.accept(desk, ALICE, case_id, service.Correction(net_assets_cents=1), "ok", now=T0)
        == "proposed"
    )
    assert service.approve(desk, BOB, case_id, "agree", now=T0) == "accepted"
    detail = service.case_detail(desk, BOB, case_id, now=T0)
    assert detail.decisions[0].approvals == (ALICE, BOB)


POLICY = CasePolicy("p", 72, 100_000, 600_000, None)


@pytest.mark.parametrize(
    ("decision", "amount"),
    [
        (service.Claim(123), 123),
        (service.Correction(loss_cents=50), 50),
        (service.Correction(loss_cents=10**9), 600_000),  # capped at the max payout
        (service.Correction(net_assets_cents=5), 600_000),  # loss unchanged: the max payout
        (service.Correction(not_compensated=True), 600_000),
    ],
)
def test_the_decision_amount(decision, amount):
    assert decision_amount(decision, POLICY) == amount


@pytest.mark.parametrize(
    ("category", "decision", "message"),
    [
        ("appeal_loss", service.Claim(5), "decide it with a correction"),
        ("claim_earn", service.Correction(loss_cents=5), "decide it with a claim amount"),
        ("appeal_loss", service.Correction(), "at least one"),
        ("appeal_loss", service.Correction(loss_cents=5, incident_loss_cents=6), "above the loss"),
        ("appeal_loss", service.Correction(loss_cents=-1), "out of range"),
        ("claim_earn", service.Claim(0), "out of range"),
    ],
)
def test_a_decision_that_does_not_fit_the_case_is_refused(
    desk, program, category, decision, message
):
    extra = {"stated_cents": 10, "occurred_at": CLAIM_AT} if category.startswith("claim") else {}
    case_id = service.open_case(desk, "user:7", program, category, "x", now=T0, **extra)
    with pytest.raises(service.CaseError, match=message):
        service.accept(desk, ALICE, case_id, decision, "r", now=T0)
