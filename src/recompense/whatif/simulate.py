"""One what-if: the engine's rules and the real allocation solver over a loaded run.

Semantics are the engine's, not a model of them:

- eligibility is :mod:`recompense.engine.eligibility` restated on numpy arrays with the
  same exact comparisons (cents; ``loss·q ≥ net·p`` for a ratio ``p/q``; net assets
  ≤ 0 pass; users paid by an excluding programme fail);
- weights come from :func:`recompense.policy.formula.evaluate_numpy`; while the formula
  is the published one, a user the run paid keeps the weight the engine computed, so
  that with no changes every published payout is reproduced to the cent;
- payouts come from :func:`recompense.allocation.allocate`, the solver the run used.

Nothing is written anywhere; the published run is only read (by :func:`load`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recompense.allocation import (
    BOUND_CAP,
    BOUND_FLOOR,
    BOUND_SHARE,
    Allocation,
    AllocationError,
    allocate,
)
from recompense.allocation.solver import WeightsError
from recompense.policy.formula import evaluate_numpy, parse
from recompense.runs.reasons import ALREADY_COMPENSATED, LOSS_BELOW_MINIMUM, RATIO_BELOW_MINIMUM
from recompense.whatif.changes import Changes, Settings
from recompense.whatif.errors import ChangeError
from recompense.whatif.population import Population
from recompense.whatif.stats import Distribution, Movement, distribution, movement

BOUNDS = (BOUND_FLOOR, BOUND_SHARE, BOUND_CAP)
HISTOGRAM_BINS = 20
TOP_MOVERS = 10


@dataclass(frozen=True, slots=True)
class Payouts:
    """Per-user result of a what-if; arrays over eligible users are in ``index`` order."""

    settings: Settings
    passes: dict[str, np.ndarray]  # reason code → bool per user of the population
    eligible: np.ndarray  # bool per user of the population
    index: np.ndarray  # positions of the eligible users in the population
    weight: np.ndarray  # float64 per eligible user
    allocation: Allocation  # amounts, floors, caps and bounds per eligible user

    def per_user(self) -> np.ndarray:
        """int64 payout for every user of the population (0 when not eligible)."""
        amount = np.zeros(len(self.eligible), dtype=np.int64)
        amount[self.index] = self.allocation.amount_cents
        return amount


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one what-if, compared with the published run. Money in cents."""

    fingerprint: str  # the published run it was computed from
    changes: dict[str, Any]  # the changes that were set (JSON-friendly)
    settings: Settings  # the parameters simulated
    liquidated: int
    eligible: int
    published_eligible: int
    newly_eligible: int
    no_longer_eligible: int
    rejected_by_reason: dict[str, int]
    total_cents: int  # Σ payouts
    budget_cents: int
    unallocated_cents: int
    published_total_cents: int
    lam: float  # cents per unit of weight (0 when everyone is at their cap)
    published_lambda: float
    by_bound: dict[str, int]
    distribution: Distribution
    movement: Movement
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (the ratio as a string; tuples as lists)."""
        data = asdict(self)
        data["settings"]["min_ratio"] = str(self.settings.min_ratio)
        for side in ("top_gainers", "top_losers"):
            for mover in data["movement"][side]:
                mover["change_cents"] = mover["after_cents"] - mover["before_cents"]
        return data


def simulate(
    population: Population,
    changes: Changes,
    *,
    bins: int = HISTOGRAM_BINS,
    top: int = TOP_MOVERS,
) -> Outcome:
    """Apply ``changes`` to the published run and allocate the budget again.

    Raises :class:`ChangeError` (an ``InputError``) naming the field when the changes
    cannot be honoured: minimum payouts above the budget, or a formula giving an
    eligible user a negative or undefined weight.
    """
    started = time.perf_counter()
    paid = payouts(population, changes)
    allocation, eligible = paid.allocation, paid.eligible
    was = population.published_eligible
    return Outcome(
        fingerprint=population.fingerprint,
        changes=changes.as_dict(),
        settings=paid.settings,
        liquidated=population.size,
        eligible=len(paid.index),
        published_eligible=int(was.sum()),
        newly_eligible=int((eligible & ~was).sum()),
        no_longer_eligible=int((was & ~eligible).sum()),
        rejected_by_reason={code: int((~ok).sum()) for code, ok in paid.passes.items()},
        total_cents=allocation.allocated_cents,
        budget_cents=allocation.budget_cents,
        unallocated_cents=allocation.unallocated_cents,
        published_total_cents=int(population.published_amount_cents.sum()),
        lam=allocation.lam,
        published_lambda=population.published_lambda,
        by_bound={b: int((allocation.bound == b).sum()) for b in BOUNDS},
        distribution=distribution(allocation.amount_cents, population.published_paid_sorted, bins),
        movement=movement(
            population.user_id, population.published_amount_cents, paid.per_user(), top
        ),
        elapsed_s=round(time.perf_counter() - started, 6),
    )


def payouts(population: Population, changes: Changes) -> Payouts:
    """Who is eligible under ``changes`` and what each eligible user is paid."""
    settings = changes.apply(population.published)
    passes = rule_verdicts(population, settings)
    eligible = np.logical_and.reduce(list(passes.values()))
    index = np.flatnonzero(eligible)
    weight = _weights(population, settings, index)
    allocation = _allocate(population, settings, index, weight)
    return Payouts(settings, passes, eligible, index, weight, allocation)


def rule_verdicts(population: Population, settings: Settings) -> dict[str, np.ndarray]:
    """Per rule (keyed by its reason code), which users pass; the engine's exact tests."""
    loss, net = population.loss_cents, population.net_assets_cents
    ratio = settings.ratio
    p, q = ratio.numerator, ratio.denominator
    widest = max(_abs_max(loss) * q, _abs_max(net) * p)
    if widest < 2**63:
        ratio_ok = (net <= 0) | (loss * np.int64(q) >= net * np.int64(p))
    else:  # exact with Python integers; only for ratios with very many decimals
        ratio_ok = (net <= 0) | (loss.astype(object) * q >= net.astype(object) * p)
    return {
        LOSS_BELOW_MINIMUM: loss >= settings.min_loss_cents,
        RATIO_BELOW_MINIMUM: np.asarray(ratio_ok, dtype=bool),
        ALREADY_COMPENSATED: ~population.compensated,
    }


def _weights(population: Population, settings: Settings, idx: np.ndarray) -> np.ndarray:
    """Weights of the eligible users ``idx``: the engine's own where it computed them."""
    columns = {name: values[idx] for name, values in population.features.items()}
    if settings.weight == population.published.weight:
        weight = population.published_weight[idx]
        todo = np.isnan(weight)
        if todo.any():
            fresh = {name: values[todo] for name, values in columns.items()}
            weight[todo] = evaluate_numpy(parse(settings.weight), fresh)
    else:
        weight = evaluate_numpy(parse(settings.weight), columns)
    weight = np.broadcast_to(weight, idx.shape).astype(np.float64)  # constant formulas
    bad = ~np.isfinite(weight) | (weight < 0)
    if bad.any():
        shown = ", ".join(
            f"user {population.user_id[i]}: {w}"
            for i, w in zip(idx[bad][:3], weight[bad][:3], strict=True)
        )
        raise ChangeError(
            "weight",
            settings.weight,
            f"gives {int(bad.sum()):,} eligible user(s) a negative or undefined weight "
            f"({shown}); weights must be finite and ≥ 0",
        )
    return weight


def _allocate(
    population: Population, settings: Settings, idx: np.ndarray, weight: np.ndarray
) -> Allocation:
    try:
        return allocate(
            population.user_id[idx],
            weight,
            population.loss_cents[idx],
            budget_cents=settings.budget_cents,
            min_payout_cents=settings.min_payout_cents,
            max_payout_cents=settings.max_payout_cents,
            cap_at_loss=settings.cap_at_loss,
        )
    except WeightsError as exc:  # the formula's fault, not the budget's
        raise ChangeError("weight", settings.weight, str(exc)) from None
    except AllocationError as exc:
        from recompense.money import format_usd

        raise ChangeError("budget_usd", format_usd(settings.budget_cents), str(exc)) from None


def _abs_max(values: np.ndarray) -> int:
    return int(np.abs(values).max()) if len(values) else 0
