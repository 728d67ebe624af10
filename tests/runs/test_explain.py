"""``explain`` never contradicts itself: the numbers that decided, with enough digits.

A tiny run whose λ is 1 cent per unit of weight (weight = loss in USD, plus 100,000 for a
VIP), so every user's share λ·w is known in advance:

- user 1 lost $299.96 of $1,000.00: 29.996%, just below 30% (not "30.00% < 30%");
- user 2's share is 400.3 cents, just above the $4.00 floor, but the largest-remainder
  rounding pays exactly $4.00: the share decided, not the floor;
- user 3's share is 1,000.7 cents (paid $10.01), user 4's 50 cents (the floor decided),
  user 5's 10^7 cents (the $6,000 cap decided), user 6's 100,060 cents against a loss of
  $60 (their own loss decided).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from builders import PROGRAM, World
from recompense.cli.main import app
from recompense.errors import InputError
from recompense.runs import execute_run, explain

WEIGHT = 'weight = "loss_usd + 100000 * vip_tier"'


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    world = World()
    world.fill(world.user(1, net_usdt=1000.0), 299.96)
    for user_id, loss in ((2, 400.30), (3, 1000.70), (4, 50.00), (5, 10_000_000.0)):
        world.fill(world.user(user_id, net_usdt=10.0), loss)
    world.fill(world.user(6, net_usdt=10.0, vip_tier=1), 60.00)
    text = PROGRAM.read_text()
    text = re.sub(r"^weight = .*$", WEIGHT, text, flags=re.M)
    text = text.replace('budget_usd = "300000000.00"', 'budget_usd = "6078.01"')
    policy = root / "policy.toml"
    policy.write_text(text)
    out = root / "run"
    execute_run(policy, world.write(root / "data"), out)
    return out


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_the_run_is_the_one_described(run):
    paid = {r["user_id"]: r for r in pq.read_table(run / "allocations.parquet").to_pylist()}
    assert {u: r["amount_cents"] for u, r in paid.items()} == {
        2: 400,
        3: 1001,
        4: 400,
        5: 600_000,
        6: 6_000,
    }
    assert paid[2]["bound"] == "share"  # λ·w = 400.3 cents: above the floor, rounded down
    assert json.loads((run / "manifest.json").read_text())["lambda_cents_per_weight"] == (
        pytest.approx(1.0, abs=1e-9)
    )


def test_a_ratio_just_below_the_minimum_shows_the_digits_that_decided(run):
    story = explain(run, 1)
    ratio = story.checks[1]
    assert not story.eligible
    assert ratio.code == "RATIO_BELOW_MINIMUM"
    assert not ratio.passed
    expected = (
        "loss $299.96 is 29.996% of net assets $1,000.00, below the minimum 30% (needed $300.00)"
    )
    assert ratio.detail == expected
    assert f"✘ RATIO_BELOW_MINIMUM {expected}" in cli("explain", "--run", str(run), "1")
    data = json.loads(cli("explain", "--run", str(run), "1", "--json"))
    assert data["checks"][1] == {"code": "RATIO_BELOW_MINIMUM", "passed": False, "detail": expected}


def test_a_share_just_above_the_floor_is_a_share_even_when_paid_the_floor(run):
    story = explain(run, 2)
    assert (story.amount_cents, story.bound, story.limit) == (400, "share", None)
    assert story.share_cents == pytest.approx(400.3)
    assert "λ × weight = $4.003" in story.bound_detail
    assert "below the minimum" not in story.bound_detail
    assert "paid as $4.00 after rounding" in story.bound_detail
    text = cli("explain", "--run", str(run), "2")
    assert "Payout: $4.00 (share) — your share of the budget, λ × weight = $4.003" in text
    data = json.loads(cli("explain", "--run", str(run), "2", "--json"))
    assert (data["amount_cents"], data["bound"], data["limit"]) == (400, "share", None)
    assert data["bound_detail"] == story.bound_detail


@pytest.mark.parametrize(
    ("user_id", "bound", "limit", "label", "words"),
    [
        (3, "share", None, "share", "λ × weight = $10.007"),
        (4, "floor", "min_payout", "floor", "λ × weight = $0.50, is below the minimum payout"),
        (5, "cap", "max_payout", "cap", "is above the cap $6,000.00, set by the maximum payout"),
        (6, "cap", "own_loss", "own-loss cap", "is above the cap $60.00, set by your own loss"),
    ],
)
def test_the_bound_named_is_the_one_that_decided(run, user_id, bound, limit, label, words):
    story = explain(run, user_id)
    assert (story.bound, story.limit) == (bound, limit)
    assert words in story.bound_detail
    assert f"({label}) — " in cli("explain", "--run", str(run), str(user_id))
    data = json.loads(cli("explain", "--run", str(run), str(user_id), "--json"))
    assert (data["bound"], data["limit"]) == (bound, limit)


def test_a_passing_ratio_says_at_least(run):
    detail = explain(run, 2).checks[1].detail
    assert detail == (
        "loss $400.30 is 4003.00% of net assets $10.00, at least the minimum 30% (needed $3.00)"
    )


@pytest.mark.parametrize("user_id", [2**63, -(2**63) - 1, 10**20])
def test_a_user_id_beyond_int64_is_refused(run, user_id):
    with pytest.raises(InputError, match="64-bit"):
        explain(run, user_id)
    result = CliRunner().invoke(app, ["explain", "--run", str(run), str(user_id)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "user_id" in result.output


def test_the_largest_int64_is_just_not_liquidated(run):
    assert explain(run, 2**63 - 1).reasons == ("NO_COUNTED_LIQUIDATION",)


PARAMS = {"min_payout_cents": 400, "max_payout_cents": 600_000}


@pytest.mark.parametrize(
    ("floor", "cap", "lam", "weight", "decided"),
    [
        (400, 600_000, 1.0, 399.99, ("floor", "min_payout")),
        (400, 600_000, 1.0, 400.0, ("share", None)),  # equal to the floor: the share decided
        (400, 600_000, 1.0, 600_000.0, ("share", None)),
        (400, 600_000, 1.0, 600_000.01, ("cap", "max_payout")),
        (400, 5_000, 1.0, 5_000.5, ("cap", "own_loss")),
        (250, 250, 1.0, 10.0, ("cap", "own_loss")),  # lost $2.50: less than the $4 minimum
        (400, 5_000, 0.0, 3.0, ("cap", "own_loss")),  # λ = 0: the budget covered every cap
        (400, 5_000, 0.0, 0.0, ("floor", "min_payout")),  # weight 0 stays at the floor
        (400, 600_000, 1e300, 1e300, ("cap", "max_payout")),  # λ·w overflows: above any cap
    ],
)
def test_decide_bound_compares_the_share_exactly(floor, cap, lam, weight, decided):
    from recompense.runs.explain import decide_bound

    alloc = {"floor_cents": floor, "cap_cents": cap, "weight": weight}
    assert decide_bound(alloc, PARAMS, lam=lam, share=lam * weight) == decided
