"""What the what-if pays the engine pays, what it refuses the engine refuses, and
whatever it exports the engine accepts — for random weight formulas on a real run.

"The engine" here is its own weight path on the run's eligible users: the formula
compiled by :func:`compile_expr` and run by DuckDB, then :func:`allocate` (the step
that refuses NULL or negative weights). The full pipeline is run for a few fixed
formulas in ``test_simulate.py``; here it would cost seconds per example.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal

import ibis
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings

from policy.formula_strategies import formula_trees, render
from recompense.allocation import AllocationError, allocate
from recompense.allocation.solver import WeightsError
from recompense.engine import connect
from recompense.policy import validate_policy
from recompense.policy.formula import FEATURES, compile_expr, parse
from recompense.whatif import ChangeError, Changes, export_policy, payouts, simulate

NEGATIVE_LOG = "log1p(-0.99 + 0.49 * loss_ratio_capped) + 1"  # ln(0.15) + 1 < 0 for some


@pytest.fixture(scope="module")
def duckdb():
    return connect("duckdb")


@settings(max_examples=60, deadline=None)
@given(tree=formula_trees)
def test_what_if_and_engine_accept_refuse_and_pay_alike(duckdb, population, tree):
    source = render(tree)
    changes = Changes(weight=source)
    weight, engine = _engine(duckdb, population, source)
    try:
        paid = payouts(population, changes)
    except ChangeError as exc:
        assert exc.field == "weight", exc
        assert isinstance(engine, AllocationError), "the engine would have paid"
        with pytest.raises(ChangeError):
            export_policy(population, changes)
        return
    assert not isinstance(engine, AllocationError), engine
    assert np.array_equal(paid.weight, weight)
    assert np.array_equal(paid.allocation.amount_cents, engine.amount_cents)
    exported = validate_policy(tomllib.loads(export_policy(population, changes)), source="test")
    assert exported.payout.weight == source


def test_log1p_between_minus_one_and_minus_half_is_refused_by_both(duckdb, population):
    # numpy clamped log1p at −0.5: the what-if paid (and exported) what the engine refused.
    _weight, engine = _engine(duckdb, population, NEGATIVE_LOG)
    assert isinstance(engine, AllocationError)
    assert "negative" in str(engine)
    changes = Changes(weight=NEGATIVE_LOG)
    for attempt in (
        lambda: simulate(population, changes),
        lambda: export_policy(population, changes),
    ):
        with pytest.raises(ChangeError) as info:
            attempt()
        assert info.value.field == "weight"
        assert "negative or undefined" in str(info.value)


def test_weights_beyond_float64_are_the_formulas_fault_for_both(duckdb, population):
    # vip 0 weighs 1, everyone else 1e-310; the budget needs the light ones to earn too.
    source = "pow(1e-300, min(vip_tier, 1)) * pow(1e-10, min(vip_tier, 1))"
    idx = np.flatnonzero(population.published_eligible)
    settings = population.published
    cap = np.minimum(population.loss_cents[idx], settings.max_payout_cents)
    heavy = population.features["vip_tier"][idx] == 0
    floor = np.minimum(cap, settings.min_payout_cents)
    assert heavy.any()
    assert (~heavy).any()
    budget_cents = int(cap[heavy].sum() + floor[~heavy].sum()) + 100 * int((~heavy).sum())
    assert budget_cents < cap.sum()
    _weight, engine = _engine(duckdb, population, source, budget_cents)
    assert isinstance(engine, WeightsError)
    assert "rescale the weight formula" in str(engine)
    changes = Changes(weight=source, budget_usd=str(Decimal(budget_cents) / 100))
    with pytest.raises(ChangeError) as info:
        payouts(population, changes)
    assert info.value.field == "weight"
    assert "rescale the weight formula" in str(info.value)


def _engine(backend, population, source, budget_cents=None):
    """The engine's weights of the published eligible users, and its allocation (or error)."""
    idx = np.flatnonzero(population.published_eligible)
    columns = {name: values[idx] for name, values in population.features.items()}
    table = ibis.memtable(pa.table({"row": np.arange(len(idx)), **columns}))
    expr = table.select("row", w=compile_expr(parse(source), {n: table[n] for n in FEATURES}))
    result = backend.to_pyarrow(expr.order_by("row")).column("w")
    weight = result.to_numpy(zero_copy_only=False).astype(np.float64)  # NULL → NaN
    settings = population.published
    try:
        return weight, allocate(
            population.user_id[idx],
            weight,
            population.loss_cents[idx],
            budget_cents=budget_cents or settings.budget_cents,
            min_payout_cents=settings.min_payout_cents,
            max_payout_cents=settings.max_payout_cents,
            cap_at_loss=settings.cap_at_loss,
        )
    except AllocationError as exc:
        return weight, exc
