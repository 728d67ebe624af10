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
  bisect the sorted breakpoints for the one linear segment that crosses the budget and
  solve it — no iteration to a tolerance.
- Real-valued payouts are floored to cents and the remaining cents go one each to the
  largest fractional remainders (ties: larger weight first, then smaller user id), so
  the sum equals the budget to the cent, bounds hold, payouts are monotone in weight
  and the result is deterministic.

Errors::

    InputError
    └── AllocationError      the budget cannot be honoured (minimums exceed it)
        └── WeightsError     a weight is NaN, infinite or negative, or the weights span
                             more than float64 can share out (the formula's fault)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recompense.errors import InputError

BOUND_FLOOR = "floor"
BOUND_CAP = "cap"
BOUND_SHARE = "share"


class AllocationError(InputError):
    """The budget cannot be honoured (minimums exceed it, or weights are invalid)."""


class WeightsError(AllocationError):
    """The weights themselves cannot be allocated over: fix the formula, not the budget."""


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
    floor, cap = payout_bounds(
        loss_cents, min_payout_cents=min_payout_cents, max_payout_cents=max_payout_cents,
        cap_at_loss=cap_at_loss,
    )  # fmt: skip
    # A zero weight earns no share: such users stay at their floor whatever λ is.
    reach = np.where(weight > 0, cap, floor)
    floor_total, reach_total = int(floor.sum()), int(reach.sum())
    if floor_total > budget_cents:
        raise AllocationError(
            f"the minimum payouts alone ({_usd(floor_total)} for {len(user_id):,} users) exceed "
            f"the budget ({_usd(budget_cents)}); raise the budget or lower payout.min_usd"
        )
    if reach_total <= budget_cents:
        # λ = 0: the budget covers every cap; only a zero weight stays at its floor.
        share = np.where(weight > 0, np.inf, 0.0)
        bound = _bounds(share, floor, cap, min_payout_cents)
        return Allocation(reach, floor, cap, bound, 0.0, budget_cents, reach_total)
    lam, scale = _solve(weight, floor.astype(np.float64), cap.astype(np.float64), budget_cents)
    share = lam * (weight * scale)  # scaled: λ·w cannot overflow
    real = np.clip(share, floor, cap)
    amount = round_to_budget(real, weight, user_id, floor, cap, budget_cents)
    bound = _bounds(share, floor, cap, min_payout_cents)
    with np.errstate(over="ignore"):  # ∞ only for weights all below 1e-290
        per_weight = float(lam * scale)
    return Allocation(amount, floor, cap, bound, per_weight, budget_cents, budget_cents)


def payout_bounds(
    loss_cents: Any,
    *,
    min_payout_cents: int,
    max_payout_cents: int,
    cap_at_loss: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's (floor, cap): cap = min(max payout, loss) when capped at the loss,
    floor = min(min payout, cap) — nobody is paid more than they lost."""
    loss = np.atleast_1d(np.asarray(loss_cents, dtype=np.int64))
    cap = np.full(len(loss), max_payout_cents, dtype=np.int64)
    if cap_at_loss:
        cap = np.minimum(cap, np.maximum(loss, 0))
    return np.minimum(np.int64(min_payout_cents), cap), cap


def amounts_at(
    lam: float, weight: np.ndarray, floor: np.ndarray, cap: np.ndarray, *, min_payout_cents: int
) -> tuple[np.ndarray, np.ndarray]:
    """(cents, bound) at a fixed price per weight: an amendment's recomputation.

    An amendment recomputes a few users with the base run's λ (``manifest.json``'s
    ``lambda_cents_per_weight``) instead of re-solving the budget, so nobody else's
    payout moves: ``clamp(λ·w, floor, cap)`` rounded half up to the cent, once. λ = 0
    means the base budget covered every cap: a positive weight is paid its cap, as in
    :func:`allocate`. (The base run's own cents also carry the largest-remainder cent;
    a user whose inputs did not change keeps the base amount — the caller's rule.)
    """
    weight = np.asarray(weight, dtype=np.float64)
    floor = np.asarray(floor, dtype=np.int64)
    cap = np.asarray(cap, dtype=np.int64)
    if lam == 0:
        share = np.where(weight > 0, np.inf, 0.0)
        amount = np.where(weight > 0, cap, floor)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            share = lam * weight
            rounded = np.floor(np.minimum(share, 2.0**62) + 0.5)
        amount = np.clip(rounded.astype(np.int64), floor, cap)
    return amount.astype(np.int64), _bounds(share, floor, cap, min_payout_cents)


def solve_lambda(weight: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float) -> float:
    """The smallest λ with Σ clamp(λ·w, lo, hi) = budget.

    Requires Σlo ≤ budget < Σ_{w>0} hi + Σ_{w=0} lo (zero weights stay at their floor).

    S(λ) = Σ clamp(λ·w, lo, hi) is non-decreasing and piecewise linear, with
    breakpoints at a = lo/w (a user leaves the floor) and b = hi/w (reaches the cap). A
    bisection over the sorted breakpoints finds the last one with S ≤ budget; on the
    segment after it S is linear and λ follows. S and the segment's slope are summed
    directly, O(n) per step: prefix sums were O(log n) per step, but their differences
    cancel when weights span many orders of magnitude (``pow(account_age_days,
    vip_tier)``) and λ came out millions of cents wrong. The weights are scaled by a
    power of two (exact) so that the largest is about 1: lo/w stays finite for weights
    down to 1e-290 of the largest, whatever their magnitude.
    """
    lam, scale = _solve(weight, lo, hi, budget)
    return lam * scale


def _solve(
    weight: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float
) -> tuple[float, float]:
    """(λ for the scaled weights, the scale): see :func:`solve_lambda`."""
    active = weight > 0
    base = float(lo[~active].sum())
    w, lo_a, hi_a = weight[active], lo[active], hi[active]
    if not len(w):
        return 0.0, 1.0
    scale = _scale(w)
    w = w * scale
    a, b = _breakpoints(lo_a, w), _breakpoints(hi_a, w)

    def total(lam: float) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            return base + float(np.clip(lam * w, lo_a, hi_a).sum())

    point = _last_breakpoint(np.unique(np.concatenate([a, b])), lambda x: total(x) <= budget)
    # On the segment after `point`: users with a > point at their floor, b ≤ point at cap.
    const = base + float(lo_a[a > point].sum()) + float(hi_a[b <= point].sum())
    slope = float(w[(a <= point) & (b > point)].sum())
    with np.errstate(over="ignore"):
        lam = point if slope <= 0 else max(point, (budget - const) / slope)
    if not np.isfinite(lam) or total(lam) < budget - len(w):  # not within a cent each
        low, high = float(weight[active].min()), float(weight[active].max())
        raise WeightsError(
            f"no λ pays the budget in float64: the positive weights span {low:.3g} to "
            f"{high:.3g}, and sharing it out needs λ·weight beyond 1e308 for the smallest; "
            f"rescale the weight formula"
        )
    return lam, scale


def _scale(weight: np.ndarray) -> float:
    """A power of two bringing the largest weight to [0.5, 1): exact, order-preserving."""
    largest = float(weight.max()) if len(weight) else 0.0
    exponent = int(np.frexp(largest)[1]) if largest > 0 else 0
    return 2.0 ** -max(exponent, -1000)  # 2¹⁰⁰⁰ at most: 2¹⁰⁷⁴ would overflow


def _breakpoints(bound: np.ndarray, w: np.ndarray) -> np.ndarray:
    """λ where λ·w reaches ``bound``: 0 for a zero bound, ∞ past the float range."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return np.where(bound == 0, 0.0, bound / w)


def _last_breakpoint(points: np.ndarray, ok: Callable[[float], bool]) -> float:
    """The largest of the sorted ``points`` (or 0) where ``ok`` holds.

    ``ok`` is true up to some point and false after (S is non-decreasing).
    """
    lo_i, hi_i = 0, len(points)  # invariant: ok(points[< lo_i]) holds
    while lo_i < hi_i:
        mid = (lo_i + hi_i) // 2
        if ok(float(points[mid])):
            lo_i = mid + 1
        else:
            hi_i = mid
    return float(points[lo_i - 1]) if lo_i else 0.0


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


def _bounds(share: np.ndarray, floor: np.ndarray, cap: np.ndarray, min_payout: int) -> np.ndarray:
    """Which bound decided each payout, from λ·w itself (not from the rounded amount).

    An amount rounded down to the floor's cents was not decided by the floor: only
    λ·w < floor is ("floor"), λ·w > cap is "cap", anything between is "share" — the rule
    ``recompense explain`` states. A floor below the minimum payout is the user's own
    loss, so such a user held at it counts as "cap".
    """
    below = share < floor
    own_loss = floor < min_payout
    at_cap = (share > cap) | (below & own_loss)
    at_floor = below & ~own_loss
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
        raise WeightsError(
            f"the weight formula gave {int(bad.sum())} eligible user(s) a weight that is "
            f"negative, NaN or missing ({shown}); weights must be finite and ≥ 0"
        )


def _increasing(ids: np.ndarray) -> bool:
    """Strictly increasing, by comparison: ``np.diff`` overflows on extreme int64 ids."""
    return bool(np.all(ids[1:] > ids[:-1]))


def _usd(cents: int) -> str:
    from recompense.money import format_usd

    return format_usd(cents)
