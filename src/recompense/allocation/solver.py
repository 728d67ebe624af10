"""Budget-exact allocation: payout = clamp(λ·weight, floor, cap), summing to the budget.

Contract, all amounts in integer cents:

- ``cap_i = min(max payout, loss_i)`` when capping at the loss is on, else the max
  payout; ``floor_i = min(min payout, cap_i)`` — nobody is paid more than they lost,
  even when that is less than the minimum payout.
- If every user at their floor already exceeds the budget: :class:`AllocationError`.
- If every user at their cap stays within the budget: everyone gets their cap and the
  rest is reported as unallocated. (A user with weight 0 earns no share and stays at
  their floor.)
- Otherwise λ solves Σ clamp(λ·wᵢ, floorᵢ, capᵢ) = budget exactly. The sum is
  piecewise linear and non-decreasing in λ, with breakpoints at floorᵢ/wᵢ and capᵢ/wᵢ:
  sort them, sweep the running constant and slope, and solve the one linear segment
  that crosses the budget — no iteration to a tolerance.
- Real-valued payouts are floored to cents and the remaining cents go one each to the
  largest fractional remainders (ties: larger weight first, then smaller user id), so
  the sum equals the budget to the cent, bounds hold, payouts are monotone in weight
  and the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recompense.errors import InputError

BOUND_FLOOR = "floor"
BOUND_CAP = "cap"
BOUND_SHARE = "share"


class AllocationError(InputError):
    """The budget cannot be honoured (minimums exceed it, or weights are invalid)."""


@dataclass(frozen=True, slots=True)
class Allocation:
    amount_cents: np.ndarray  # int64, one per user, in input order
    floor_cents: np.ndarray  # int64
    cap_cents: np.ndarray  # int64
    bound: np.ndarray  # str: floor | cap | share
    lam: float  # cents per unit of weight (0 when nothing binds)
    budget_cents: int
    allocated_cents: int

    @property
    def unallocated_cents(self) -> int:
        return self.budget_cents - self.allocated_cents


def allocate(
    user_id: np.ndarray,
    weight: np.ndarray,
    loss_cents: np.ndarray,
    *,
    budget_cents: int,
    min_payout_cents: int,
    max_payout_cents: int,
    cap_at_loss: bool = True,
) -> Allocation:
    """Allocate ``budget_cents`` over users; see the module docstring for the contract."""
    user_id = np.asarray(user_id, dtype=np.int64)
    weight = np.asarray(weight, dtype=np.float64)
    _check_weights(user_id, weight)
    cap = np.full(len(user_id), max_payout_cents, dtype=np.int64)
    if cap_at_loss:
        cap = np.minimum(cap, np.maximum(np.asarray(loss_cents, dtype=np.int64), 0))
    floor = np.minimum(np.int64(min_payout_cents), cap)
    # A zero weight earns no share: such users stay at their floor whatever λ is.
    reach = np.where(weight > 0, cap, floor)
    floor_total, reach_total = int(floor.sum()), int(reach.sum())
    if floor_total > budget_cents:
        raise AllocationError(
            f"the minimum payouts alone ({_usd(floor_total)} for {len(user_id):,} users) exceed "
            f"the budget ({_usd(budget_cents)}); raise the budget or lower payout.min_usd"
        )
    if reach_total <= budget_cents:
        bound = _bounds(reach, floor, cap, min_payout_cents)
        return Allocation(reach, floor, cap, bound, 0.0, budget_cents, reach_total)
    lam = solve_lambda(weight, floor.astype(np.float64), cap.astype(np.float64), budget_cents)
    real = np.clip(lam * weight, floor, cap)
    amount = round_to_budget(real, weight, user_id, floor, cap, budget_cents)
    bound = _bounds(amount, floor, cap, min_payout_cents)
    return Allocation(amount, floor, cap, bound, lam, budget_cents, budget_cents)


def solve_lambda(weight: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float) -> float:
    """The smallest λ with Σ clamp(λ·w, lo, hi) = budget.

    Requires Σlo ≤ budget < Σ_{w>0} hi + Σ_{w=0} lo (zero weights stay at their floor).

    With a = lo/w (user leaves the floor) and b = hi/w (user reaches the cap), sorted
    with prefix sums of w, lo and hi,

        S(λ) = Σlo + Σ_{a ≤ λ} (λ·w − lo) − Σ_{b ≤ λ} (λ·w − hi),

    is evaluated at any λ in O(log n). A bisection over the sorted breakpoints finds the
    last breakpoint with S ≤ budget; on the segment after it S is linear and λ follows.
    """
    active = weight > 0
    base = float(lo.sum())
    w, lo_a, hi_a = weight[active], lo[active], hi[active]
    if not len(w):
        return 0.0
    a, b = lo_a / w, hi_a / w
    order_a, order_b = np.argsort(a), np.argsort(b)
    a, b = a[order_a], b[order_b]
    zero = np.zeros(1)
    wa = np.concatenate([zero, np.cumsum(w[order_a])])
    la = np.concatenate([zero, np.cumsum(lo_a[order_a])])
    wb = np.concatenate([zero, np.cumsum(w[order_b])])
    hb = np.concatenate([zero, np.cumsum(hi_a[order_b])])

    def state(lam: float) -> tuple[float, float]:
        """(constant, slope) of S on the segment starting at ``lam``."""
        i = int(np.searchsorted(a, lam, side="right"))
        j = int(np.searchsorted(b, lam, side="right"))
        return base - la[i] + hb[j], wa[i] - wb[j]

    def value(lam: float) -> float:
        const, slope = state(lam)
        return const + slope * lam

    points = _merged_bisect(a, b, lambda lam: value(lam) <= budget)
    const, slope = state(points)
    if slope <= 0:
        return points
    return max(points, (budget - const) / slope)


def _merged_bisect(a: np.ndarray, b: np.ndarray, ok: Callable[[float], bool]) -> float:
    """The largest breakpoint (from sorted ``a`` ∪ ``b``, or 0) where ``ok`` holds.

    ``ok`` is true up to some point and false after (S is non-decreasing).
    """
    best = 0.0
    for sorted_points in (a, b):
        lo_i, hi_i = 0, len(sorted_points)  # invariant: ok(points[< lo_i]) holds
        while lo_i < hi_i:
            mid = (lo_i + hi_i) // 2
            if ok(float(sorted_points[mid])):
                lo_i = mid + 1
            else:
                hi_i = mid
        if lo_i:
            best = max(best, float(sorted_points[lo_i - 1]))
    return best


def round_to_budget(
    real: np.ndarray,
    weight: np.ndarray,
    user_id: np.ndarray,
    floor: np.ndarray,
    cap: np.ndarray,
    budget: int,
) -> np.ndarray:
    """Integer cents within [floor, cap] summing to ``budget`` (largest remainder).

    The ``missing`` cents go to the largest fractional remainders; among equal
    remainders, larger weight first, then smaller user id. Selection is O(n): a
    partition finds the threshold, and only ties at the threshold are sorted.
    """
    amount: np.ndarray = np.clip(np.floor(real).astype(np.int64), floor, cap)
    missing = budget - int(amount.sum())
    if missing == 0:
        return amount
    if missing > 0:
        room = np.flatnonzero(amount < cap)
        key = real[room] - amount[room]  # larger first
        step = 1
    else:
        room = np.flatnonzero(amount > floor)
        key = amount[room] - real[room]  # smallest remainder loses a cent first
        step = -1
    count = abs(missing)
    if count > len(room):  # pragma: no cover - floating error beyond one cent each
        raise AllocationError(f"internal: cannot place {missing} cents within the bounds")
    # Ids order the last ties; ~id reverses their order without overflow (-id does not).
    ids = user_id[room] if step > 0 else ~user_id[room]
    chosen = _top_k(room, key, weight[room] * step, ids, count)
    amount[chosen] += step
    return amount


def _top_k(
    idx: np.ndarray, key: np.ndarray, tie1: np.ndarray, tie2: np.ndarray, k: int
) -> np.ndarray:
    """``idx`` of the k largest ``key``; ties by larger ``tie1``, then smaller ``tie2``."""
    if k == len(idx):
        return idx
    kth = np.partition(key, len(key) - k)[len(key) - k]
    above = key > kth
    tied = np.flatnonzero(key == kth)
    need = k - int(above.sum())
    tied = tied[np.lexsort((tie2[tied], -tie1[tied]))][:need]
    return np.concatenate([idx[above], idx[tied]])


def _bounds(amount: np.ndarray, floor: np.ndarray, cap: np.ndarray, min_payout: int) -> np.ndarray:
    """Which bound decided each payout: the cap (max payout or own loss), the floor, or λ.

    A user whose cap is at or below the minimum payout is paid their cap; they count as
    "cap" when the cap is below the minimum (their own loss limits them), else "floor".
    """
    at_cap = (amount >= cap) & ~((cap == floor) & (floor == min_payout))
    at_floor = ~at_cap & (amount <= floor)
    return np.where(at_cap, BOUND_CAP, np.where(at_floor, BOUND_FLOOR, BOUND_SHARE)).astype(str)


def _check_weights(user_id: np.ndarray, weight: np.ndarray) -> None:
    ids = user_id if _increasing(user_id) else np.sort(user_id)
    if not _increasing(ids):
        raise AllocationError("duplicate user ids in the allocation input")
    bad = ~np.isfinite(weight) | (weight < 0)
    if bad.any():
        shown = ", ".join(
            f"user {u}: {w}" for u, w in zip(user_id[bad][:5], weight[bad][:5], strict=True)
        )
        raise AllocationError(
            f"the weight formula gave {int(bad.sum())} eligible user(s) a weight that is "
            f"negative, NaN or missing ({shown}); weights must be finite and ≥ 0"
        )


def _increasing(ids: np.ndarray) -> bool:
    """Strictly increasing, by comparison: ``np.diff`` overflows on extreme int64 ids."""
    return bool(np.all(ids[1:] > ids[:-1]))


def _usd(cents: int) -> str:
    from recompense.money import format_usd

    return format_usd(cents)
