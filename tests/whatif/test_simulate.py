"""The simulator against the published run and against the real engine."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recompense.policy import load_policy
from recompense.runs import execute_run
from recompense.whatif import ChangeError, Changes, export_policy, load, payouts, simulate
from recompense.whatif.stats import histogram

ENGINE_SCENARIOS = [
    {"min_loss_usd": "100"},
    {"min_ratio": "0.1"},
    {"cap_at_loss": False, "budget_usd": "90000"},
    {"weight": "log1p(loss_usd) * (1 + vip_tier)", "min_payout_usd": "20", "max_payout_usd": "900"},
    {"weight": "pow(loss_usd, 0.7) / (1 + account_age_days / 365)", "min_ratio": "0.5"},
    {"budget_usd": "100000000"},  # more than everyone's cap: nothing binds
    # ln(1 + x) for x in (−1, −0.5): numpy clamped x at −0.5 and paid everyone alike.
    {"weight": "log1p(-0.99 + 0.49 * loss_ratio_capped) + 5"},
]


def published(run: Path) -> dict[str, np.ndarray]:
    table = pq.read_table(run / "allocations.parquet")
    return {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}


def test_no_changes_reproduces_the_published_run_to_the_cent(small_run, population):
    paid = payouts(population, Changes())
    real = published(small_run)
    assert np.array_equal(population.user_id[paid.index], real["user_id"])
    assert np.array_equal(paid.allocation.amount_cents, real["amount_cents"])
    assert np.array_equal(paid.allocation.bound, real["bound"])
    outcome = simulate(population, Changes())
    assert outcome.eligible == outcome.published_eligible == len(real["user_id"])
    assert outcome.newly_eligible == outcome.no_longer_eligible == 0
    assert outcome.total_cents == outcome.published_total_cents == int(real["amount_cents"].sum())
    assert outcome.lam == outcome.published_lambda
    move = outcome.movement
    assert (move.gainers, move.losers, move.gained_cents, move.lost_cents) == (0, 0, 0, 0)
    assert move.unchanged == outcome.eligible
    assert outcome.distribution.quantiles == outcome.distribution.published_quantiles


def test_rule_verdicts_match_the_published_reason_codes(small_run, population):
    table = pq.read_table(small_run / "eligibility.parquet", columns=["reasons"])
    reasons = table["reasons"].to_pylist()
    passes = payouts(population, Changes()).passes
    for code, ok in passes.items():
        assert [code not in r for r in reasons] == ok.tolist(), code


@pytest.mark.parametrize("form", ENGINE_SCENARIOS, ids=lambda f: ",".join(f))
def test_exported_policy_run_by_the_engine_pays_what_the_simulator_said(
    small_run, population, tmp_path, form
):
    changes = Changes.from_form(form)
    program = tmp_path / "whatif.toml"
    program.write_text(export_policy(small_run, changes), encoding="utf-8")
    load_policy(program)  # the project's own loader accepts it
    execute_run(program, small_run.parent / "data", tmp_path / "run")
    real = published(tmp_path / "run")
    paid = payouts(population, changes)
    assert np.array_equal(population.user_id[paid.index], real["user_id"])
    assert np.array_equal(paid.allocation.amount_cents, real["amount_cents"])
    assert np.array_equal(paid.allocation.bound, real["bound"])
    # One definition of the formula, and the C library's pow and ln on both sides.
    assert np.array_equal(paid.weight, real["weight"])
    again = load(tmp_path / "run")
    assert simulate(again, Changes()).total_cents == simulate(population, changes).total_cents


def test_simulating_and_exporting_never_write_to_the_run(small_run, population, tmp_path):
    before = _digest(small_run)
    simulate(population, Changes(min_loss_usd=Decimal("10"), weight="loss_usd"))
    export_policy(population, Changes(budget_usd=Decimal("100000")))
    load(small_run)
    assert _digest(small_run) == before


def test_a_budget_below_the_minimum_payouts_names_the_budget(population):
    with pytest.raises(ChangeError) as info:
        simulate(population, Changes(budget_usd=Decimal("100"), min_payout_usd=Decimal("50")))
    assert info.value.field == "budget_usd"
    assert "exceed" in str(info.value)


def test_a_formula_giving_negative_weights_names_the_formula(population):
    with pytest.raises(ChangeError) as info:
        simulate(population, Changes(weight="loss_usd - 1000"))
    assert info.value.field == "weight"
    assert "negative or undefined" in str(info.value)


def test_narrow_ranges_get_equal_bins_of_whole_cents():
    new, old = np.array([400, 401, 950, 1999]), np.array([500, 2000])
    hist = histogram(new, old, bins=6)
    assert hist.scale == "linear"
    assert hist.edges_cents == (400, 667, 934, 1201, 1468, 1735, 2002)
    assert hist.counts == (2, 0, 1, 0, 0, 1)
    assert hist.published == (1, 0, 0, 0, 0, 1)


def test_movers_are_the_largest_changes_in_order(population):
    outcome = simulate(population, Changes(weight="loss_usd"), top=5)
    paid = payouts(population, Changes(weight="loss_usd")).per_user()
    change = paid - population.published_amount_cents
    gainers = outcome.movement.top_gainers
    assert [m.change_cents for m in gainers] == sorted(change[change > 0], reverse=True)[:5]
    losers = outcome.movement.top_losers
    assert [m.change_cents for m in losers] == sorted(change[change < 0])[:5]
    assert outcome.movement.gained_cents - outcome.movement.lost_cents == int(change.sum())
    for mover in gainers:
        at = int(np.searchsorted(population.user_id, mover.user_id))
        assert mover.before_cents == population.published_amount_cents[at]
        assert mover.after_cents == paid[at]


def test_histogram_and_quantiles_are_exact_cents(population):
    outcome = simulate(population, Changes(max_payout_usd=Decimal("2500")), bins=7)
    hist = outcome.distribution.histogram
    amounts = payouts(population, Changes(max_payout_usd=Decimal("2500"))).allocation.amount_cents
    assert hist.scale == "log"
    assert len(hist.edges_cents) <= 8
    assert all(isinstance(e, int) for e in hist.edges_cents)
    published = population.published_paid_sorted
    assert hist.edges_cents[0] == min(amounts.min(), published[0])
    assert hist.edges_cents[-1] == max(amounts.max(), published[-1]) + 1
    assert sum(hist.counts) == len(amounts)
    for i, count in enumerate(hist.counts):
        lo, hi = hist.edges_cents[i], hist.edges_cents[i + 1]
        assert count == int(((amounts >= lo) & (amounts < hi)).sum())
    assert sum(hist.published) == outcome.published_eligible
    levels = dict(outcome.distribution.quantiles)
    assert levels[0.0] == amounts.min()
    assert levels[1.0] == amounts.max() <= 250_000
    assert levels[0.5] == np.sort(amounts)[(len(amounts) + 1) // 2 - 1]
    lorenz = outcome.distribution.lorenz
    assert lorenz[0] == (0.0, 0.0)
    assert lorenz[-1] == (1.0, 1.0)
    assert all(b[1] >= a[1] for a, b in pairwise(lorenz))
    assert 0 < outcome.distribution.gini < 1


CHANGES = st.builds(
    Changes,
    min_loss_usd=st.none() | st.integers(0, 50_000).map(lambda c: Decimal(c) / 100),
    min_ratio=st.none() | st.integers(0, 150).map(lambda p: Decimal(p) / 100),
    min_payout_usd=st.none() | st.integers(0, 2_000).map(lambda c: Decimal(c) / 100),
    max_payout_usd=st.none() | st.integers(2_000, 1_000_000).map(lambda c: Decimal(c) / 100),
    cap_at_loss=st.none() | st.booleans(),
    budget_usd=st.none() | st.integers(50_000, 500_000).map(Decimal),
    weight=st.none() | st.sampled_from(["loss_usd", "sqrt(loss_usd)", "1", "vip_tier"]),
)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(changes=CHANGES)
def test_bounds_hold_and_the_budget_is_spent_to_the_cent_when_it_binds(population, changes):
    paid = payouts(population, changes)
    s, alloc = paid.settings, paid.allocation
    loss = population.loss_cents[paid.index]
    cap = np.minimum(s.max_payout_cents, loss) if s.cap_at_loss else s.max_payout_cents
    floor = np.minimum(s.min_payout_cents, cap)
    assert np.all(alloc.amount_cents >= floor)
    assert np.all(alloc.amount_cents <= cap)
    total = int(alloc.amount_cents.sum())
    reach = int(np.where(paid.weight > 0, cap, floor).sum())
    assert total == alloc.allocated_cents
    assert total == (s.budget_cents if reach > s.budget_cents else reach)


@PROPERTY
@given(changes=CHANGES, raise_loss=st.integers(0, 20_000), raise_ratio=st.integers(0, 50))
def test_stricter_rules_never_add_eligible_users(population, changes, raise_loss, raise_ratio):
    base = payouts(population, changes)
    stricter = Changes(
        min_loss_usd=Decimal(base.settings.min_loss_cents + raise_loss) / 100,
        min_ratio=base.settings.min_ratio + Decimal(raise_ratio) / 100,
    )
    tighter = payouts(population, stricter).eligible
    assert not np.any(tighter & ~base.eligible)
    assert tighter.sum() <= base.eligible.sum()


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_a_ratio_with_many_decimals_is_compared_exactly(population):
    ratio = Decimal("0.333333")  # the most places a policy (and so what-if) accepts
    eligible = payouts(population, Changes(min_ratio=ratio)).passes["RATIO_BELOW_MINIMUM"]
    exact = [
        net <= 0 or Fraction(int(loss)) >= Fraction(int(net)) * Fraction(ratio)
        for loss, net in zip(population.loss_cents, population.net_assets_cents, strict=True)
    ]
    assert eligible.tolist() == exact


def test_nobody_eligible_pays_nothing_and_everyone_published_loses(population):
    outcome = simulate(population, Changes(min_loss_usd=Decimal("100000000")))
    assert outcome.eligible == outcome.total_cents == 0
    assert outcome.unallocated_cents == outcome.budget_cents
    assert outcome.movement.losers == outcome.published_eligible
    assert outcome.movement.lost_cents == outcome.published_total_cents


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("budget_usd", "1e30", "must be at most"),
        ("min_loss_usd", "1e30", "must be at most"),
        ("max_payout_usd", "20000000", "must be at most"),
        ("min_payout_usd", "-1", "must not be negative"),
        ("min_ratio", "0.33333333333333", "at most 6 decimal places"),
    ],
)
def test_what_if_refuses_what_a_policy_file_refuses(field, value, message):
    """Issue 13.5: what-if accepts exactly the values check accepts, so exports run."""
    from recompense.whatif.changes import Changes
    from recompense.whatif.errors import ChangeError

    with pytest.raises(ChangeError) as info:
        Changes(**{field: value})
    assert message in str(info.value)
