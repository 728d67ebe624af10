"""Allocation: exact to the cent, within bounds, monotone in weight, deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recompense.allocation import AllocationError, allocate
from recompense.allocation.solver import round_to_budget
from strategies import allocation_problems


def run(problem):
    ids, weight, loss, budget, lo, hi, cap_at_loss = problem
    return allocate(
        ids,
        weight,
        loss,
        budget_cents=budget,
        min_payout_cents=lo,
        max_payout_cents=hi,
        cap_at_loss=cap_at_loss,
    )


@settings(max_examples=300, deadline=None)
@given(allocation_problems())
def test_sum_is_the_budget_to_the_cent_or_everyone_is_at_their_cap(problem):
    result = run(problem)
    total = int(result.amount_cents.sum())
    assert total == result.allocated_cents
    if result.unallocated_cents:
        # Everyone who can earn a share is at their cap; zero weights stay at their floor.
        reach = np.where(problem[1] > 0, result.cap_cents, result.floor_cents)
        assert np.array_equal(result.amount_cents, reach)
        assert total < result.budget_cents
    else:
        assert total == result.budget_cents


@settings(max_examples=300, deadline=None)
@given(allocation_problems())
def test_every_payout_is_within_its_floor_and_cap(problem):
    _ids, _weight, loss, _budget, _lo, hi, cap_at_loss = problem
    result = run(problem)
    assert result.amount_cents.dtype == np.int64
    assert np.all(result.amount_cents >= result.floor_cents)
    assert np.all(result.amount_cents <= result.cap_cents)
    assert np.all(result.amount_cents <= hi)
    if cap_at_loss:
        assert np.all(result.amount_cents <= np.maximum(loss, 0))


@settings(max_examples=300, deadline=None)
@given(allocation_problems())
def test_more_weight_never_means_less_pay_between_users_with_the_same_bounds(problem):
    result = run(problem)
    weight = problem[1]
    bounds = np.stack([result.floor_cents, result.cap_cents], axis=1)
    for key in np.unique(bounds, axis=0):
        same = np.all(bounds == key, axis=1)
        order = np.argsort(weight[same], kind="stable")
        paid = result.amount_cents[same][order]
        w = weight[same][order]
        # Sorted by weight, payouts never go down (equal weights may differ by the tie-break cent).
        strictly_more = np.diff(w) > 0
        assert np.all(np.diff(paid)[strictly_more] >= 0)


@settings(max_examples=100, deadline=None)
@given(allocation_problems())
def test_same_inputs_same_outputs_whatever_the_input_order(problem):
    ids, weight, loss, budget, lo, hi, cap_at_loss = problem
    first = run(problem)
    again = run(problem)
    assert np.array_equal(first.amount_cents, again.amount_cents)
    shuffled = np.random.default_rng(0).permutation(len(ids))
    moved = allocate(
        ids[shuffled],
        weight[shuffled],
        loss[shuffled],
        budget_cents=budget,
        min_payout_cents=lo,
        max_payout_cents=hi,
        cap_at_loss=cap_at_loss,
    )
    assert np.array_equal(moved.amount_cents, first.amount_cents[shuffled])


@settings(max_examples=200, deadline=None)
@given(allocation_problems(), st.data())
def test_weights_spanning_280_orders_of_magnitude_still_pay_the_budget_exactly(problem, data):
    # e.g. pow(account_age_days, vip_tier): prefix sums of such weights cancelled, λ came
    # out millions of cents wrong and rounding failed with an internal error.
    ids, weight, loss, budget, lo, hi, cap_at_loss = problem
    exponents = data.draw(st.lists(st.integers(-140, 140), min_size=len(ids), max_size=len(ids)))
    wild = np.where(weight > 0, 10.0 ** np.array(exponents, dtype=np.float64), 0.0)
    result = run((ids, wild, loss, budget, lo, hi, cap_at_loss))
    assert int(result.amount_cents.sum()) == result.allocated_cents
    assert result.allocated_cents == budget or result.unallocated_cents > 0
    assert np.all(result.floor_cents <= result.amount_cents)
    assert np.all(result.amount_cents <= result.cap_cents)
    amount, floor, cap = result.amount_cents, result.floor_cents, result.cap_cents
    same_bounds = (floor[:, None] == floor) & (cap[:, None] == cap)
    heavier = (wild[:, None] > wild) & same_bounds
    assert np.all((amount[:, None] >= amount)[heavier])


def test_weights_beyond_what_float64_can_share_out_are_refused_with_the_numbers():
    # The budget needs the 1e-300 weight to earn 9,000 cents: λ ≈ 1e304, λ·1e300 = ∞.
    with pytest.raises(AllocationError, match=r"span 1e-300 to 1e\+300.*rescale"):
        allocate(
            np.array([1, 2]),
            np.array([1e300, 1e-300]),
            np.array([1000, 10**6]),
            budget_cents=10_000,
            min_payout_cents=0,
            max_payout_cents=10**6,
        )


def test_the_budget_binds_with_a_known_answer():
    # λ = 100 cents per unit of weight: 100, 200, 300, 400 → sums to 1,000 exactly.
    result = allocate(
        np.array([1, 2, 3, 4]),
        np.array([1.0, 2.0, 3.0, 4.0]),
        np.array([10**6] * 4),
        budget_cents=1000,
        min_payout_cents=0,
        max_payout_cents=10**6,
    )
    assert result.amount_cents.tolist() == [100, 200, 300, 400]
    assert result.lam == pytest.approx(100.0)
    assert result.bound.tolist() == ["share"] * 4


def test_floor_and_cap_bind_and_the_rest_is_shared():
    # Caps: 50 (own loss) and 600; the floor is 400 for the others.
    result = allocate(
        np.array([1, 2, 3, 4]),
        np.array([1.0, 1.0, 100.0, 200.0]),
        np.array([50, 10**6, 10**6, 10**6]),
        budget_cents=1500,
        min_payout_cents=400,
        max_payout_cents=600,
    )
    assert result.amount_cents.tolist() == [50, 400, 450, 600]
    assert result.bound.tolist() == ["cap", "floor", "share", "cap"]
    assert int(result.amount_cents.sum()) == 1500


def test_remainder_cents_go_to_the_largest_remainders_then_smaller_ids():
    result = allocate(
        np.array([1, 2, 3]),
        np.array([1.0, 1.0, 1.0]),
        np.array([10**6] * 3),
        budget_cents=100,
        min_payout_cents=0,
        max_payout_cents=10**6,
    )
    assert result.amount_cents.tolist() == [34, 33, 33]


def test_everyone_at_their_cap_leaves_the_rest_unallocated():
    result = allocate(
        np.array([1, 2]),
        np.array([1.0, 5.0]),
        np.array([700, 10**6]),
        budget_cents=10**9,
        min_payout_cents=400,
        max_payout_cents=600_000,
    )
    assert result.amount_cents.tolist() == [700, 600_000]
    assert result.unallocated_cents == 10**9 - 600_700


def test_minimums_above_the_budget_are_refused_with_the_numbers():
    with pytest.raises(AllocationError, match=r"\$12.00 for 3 users.*\$10.00"):
        allocate(
            np.array([1, 2, 3]),
            np.ones(3),
            np.array([10**6] * 3),
            budget_cents=1000,
            min_payout_cents=400,
            max_payout_cents=600_000,
        )


@pytest.mark.parametrize("bad", [float("nan"), -1.0, float("inf")])
def test_invalid_weights_are_refused_naming_the_user(bad):
    with pytest.raises(AllocationError, match="user 2"):
        allocate(
            np.array([1, 2]),
            np.array([1.0, bad]),
            np.array([10**6] * 2),
            budget_cents=10**5,
            min_payout_cents=400,
            max_payout_cents=600_000,
        )


def test_duplicate_users_are_refused():
    with pytest.raises(AllocationError, match="duplicate"):
        allocate(
            np.array([2, 1, 2]),
            np.ones(3),
            np.array([10**6] * 3),
            budget_cents=10**5,
            min_payout_cents=0,
            max_payout_cents=600_000,
        )


def test_two_million_users_allocate_exactly():
    rng = np.random.default_rng(7)
    n = 2_000_000
    loss = (rng.lognormal(6, 2, n) * 100).astype(np.int64) + 5000
    result = allocate(
        np.arange(n),
        np.sqrt(loss / 100),
        loss,
        budget_cents=30_000_000_000,
        min_payout_cents=400,
        max_payout_cents=600_000,
    )
    assert int(result.amount_cents.sum()) == 30_000_000_000
    assert result.amount_cents.min() >= 400
    assert result.amount_cents.max() <= 600_000


EXTREME_IDS = [-(2**63), -5, 0, 2**63 - 1]


@pytest.mark.parametrize(
    "ids",
    [[-5, 2**63 - 1], [-(2**63), 2**63 - 1], [2**63 - 1, 0, -5, -(2**63)], EXTREME_IDS],
    ids=["-5,max", "min,max", "all-reversed", "all"],
)
def test_any_int64_user_ids_are_accepted(ids):
    # -5 and 2⁶³−1 are further apart than int64 holds: a check by differences wrapped.
    ids = np.array(ids, dtype=np.int64)
    n = len(ids)
    result = allocate(
        ids,
        np.ones(n),
        np.array([10**6] * n),
        budget_cents=25 * n + n - 1,
        min_payout_cents=0,
        max_payout_cents=10**6,
    )
    paid = dict(zip(ids.tolist(), result.amount_cents.tolist(), strict=True))
    # Equal weights: the n − 1 remainder cents go to the smallest ids, the largest gets none.
    assert paid == {u: 25 if u == max(paid) else 26 for u in paid}


def test_cents_taken_back_go_from_the_largest_ids_first_even_at_the_int64_edges():
    # Rounding overshoots only through floating error, so call the rounding step itself.
    ids = np.array(EXTREME_IDS, dtype=np.int64)
    amount = round_to_budget(
        np.full(4, 26.0), np.ones(4), ids, np.zeros(4, np.int64), np.full(4, 100), budget=102
    )
    assert amount.tolist() == [26, 26, 25, 25]


@pytest.mark.parametrize("ids", [[-(2**63), 2**63 - 1, -(2**63)], [2**63 - 1, -5, 2**63 - 1]])
def test_duplicate_extreme_ids_are_still_refused(ids):
    with pytest.raises(AllocationError, match="duplicate"):
        allocate(
            np.array(ids, dtype=np.int64),
            np.ones(3),
            np.array([10**6] * 3),
            budget_cents=10**5,
            min_payout_cents=0,
            max_payout_cents=600_000,
        )
