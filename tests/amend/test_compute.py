"""The amendment's arithmetic, property-tested: differences only, never overdrawn, exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import PROGRAM
from recompense.amend.compute import Previous, Reserve, plan_amendment
from recompense.amend.errors import ReserveExceededError
from recompense.cases.decisions import AcceptedDecision
from recompense.policy import load_policy
from recompense.runs.artifacts import (
    ALLOCATIONS_SCHEMA,
    ELIGIBILITY_SCHEMA,
    RECIPIENTS_SCHEMA,
)

POLICY = load_policy(PROGRAM)
T0 = datetime(2026, 12, 1, tzinfo=UTC)
USERS = list(range(1, 9))


def previous(amounts: dict[int, int]) -> Previous:
    """A base run paying ``amounts`` (users 1…8 all seen liquidated, all eligible)."""
    elig = [
        {
            "user_id": u,
            "loss_usd": Decimal(1000 * u),
            "net_assets_usd": Decimal(2000 * u),
            "loss_ratio": 0.5,
            "incident_loss_usd": Decimal(0),
            "eligible": True,
            "reasons": [],
            "fills": 3,
            "loss_ratio_capped": 0.5,
            "user_type": "individual",
            "vip_tier": 0,
            "account_age_days": 400,
        }
        for u in USERS
    ]
    alloc = [
        {"user_id": u, "weight": 1.0, "amount_cents": c, "floor_cents": 400,
         "cap_cents": 600_000, "bound": "share"}
        for u, c in sorted(amounts.items())
    ]  # fmt: skip
    recipients = [{"user_id": u, "email": None, "locale": "en"} for u in sorted(amounts)]
    total = sum(amounts.values())
    return Previous(
        allocations=pa.Table.from_pylist(alloc, schema=ALLOCATIONS_SCHEMA),
        eligibility=pa.Table.from_pylist(elig, schema=ELIGIBILITY_SCHEMA),
        recipients=pa.Table.from_pylist(recipients, schema=RECIPIENTS_SCHEMA),
        amounts=None,
        allocated_cents=total,
        base_allocated_cents=total,
        lam=250.0,
    )


def claim(user: int, cents: int, n: int) -> AcceptedDecision:
    return AcceptedDecision(
        id=f"d{n}", case_id=f"c{n}", user_id=user, kind="claim", loss_cents=None,
        net_assets_cents=None, incident_loss_cents=None, not_compensated=None,
        claim_cents=cents, accepted_at=T0 + timedelta(seconds=n),
    )  # fmt: skip


def correction(user: int, loss: int, n: int) -> AcceptedDecision:
    return AcceptedDecision(
        id=f"d{n}", case_id=f"c{n}", user_id=user, kind="correction", loss_cents=loss,
        net_assets_cents=None, incident_loss_cents=None, not_compensated=None,
        claim_cents=None, accepted_at=T0 + timedelta(seconds=n),
    )  # fmt: skip


decisions = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), st.sampled_from(USERS), st.integers(1, 5_000_000)),
        st.tuples(st.just("fix"), st.sampled_from(USERS), st.integers(0, 10**9)),
    ),
    min_size=1,
    max_size=12,
)


def build(drawn):
    made = []
    for n, (kind, user, value) in enumerate(drawn):
        made.append(claim(user, value, n) if kind == "claim" else correction(user, value, n))
    return made


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=decisions, reserve=st.integers(0, 20_000_000), base=st.integers(400, 600_000))
def test_top_ups_are_differences_within_the_reserve(drawn, reserve, base):
    prev = previous(dict.fromkeys(USERS, base))
    try:
        plan = plan_amendment(prev, build(drawn), POLICY, Reserve(reserve, "refuse"))
    except ReserveExceededError:
        scaled = plan_amendment(prev, build(drawn), POLICY, Reserve(reserve, "scale"))
        rows = scaled.amounts.to_pylist()
        assert sum(r["topup_cents"] for r in rows) == reserve  # scaled: exactly what is left
        assert scaled.summary["scaled"] is True
        plan = scaled
    rows = plan.amounts.to_pylist()
    assert sum(r["topup_cents"] for r in rows) <= reserve
    for r in rows:
        assert r["topup_cents"] >= 0
        assert r["cumulative_cents"] == r["previous_cents"] + r["topup_cents"]
        assert r["cumulative_cents"] <= r["target_cents"]
        assert r["target_cents"] == r["awarded_cents"] + r["claims_cents"]
    total = pa.compute.sum(plan.allocations["amount_cents"]).as_py()
    assert total == prev.allocated_cents + plan.summary["topup_cents"]


def test_a_short_reserve_is_refused_with_the_figures():
    prev = previous(dict.fromkeys(USERS, 10_000))
    with pytest.raises(ReserveExceededError, match=r"\$50\.00 of top-ups for 1 user"):
        plan_amendment(prev, [claim(3, 5_000, 0)], POLICY, Reserve(4_999, "refuse"))


def test_scaling_shares_the_rest_by_largest_remainder():
    prev = previous(dict.fromkeys(USERS, 10_000))
    wants = [claim(1, 100, 0), claim(2, 100, 1), claim(3, 100, 2)]
    plan = plan_amendment(prev, wants, POLICY, Reserve(200, "scale"))
    topups = {r["user_id"]: r["topup_cents"] for r in plan.amounts.to_pylist()}
    assert topups == {1: 67, 2: 67, 3: 66}  # ties: the smaller user id first
