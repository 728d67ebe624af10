"""The rules of the programme, on tiny inline datasets, at their exact boundaries."""

from __future__ import annotations

import pytest

from builders import World
from recompense.data import open_dataset
from recompense.engine import PriceMissingError, evaluate


def run(backend, world: World, tmp_path, policy):
    dataset = open_dataset(backend, world.write(tmp_path / "data"))
    result = evaluate(backend, dataset, policy)
    return {row["user_id"]: row for row in result.users.to_pylist()}, result


def test_exactly_fifty_dollars_passes_and_one_cent_less_fails(backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=100.0), 50.00)
    world.fill(world.user(2, net_usdt=100.0), 49.99)
    users, _ = run(backend, world, tmp_path, policy)
    assert users[1]["loss_cents"] == 5000
    assert users[1]["passes_min_loss"]
    assert users[2]["loss_cents"] == 4999
    assert not users[2]["passes_min_loss"]


def test_exactly_thirty_percent_passes_compared_in_cents(backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=1000.00), 300.00)  # exactly 30%
    world.fill(world.user(2, net_usdt=1000.01), 300.00)  # 29.9997%
    world.fill(world.user(3, net_usdt=333.33), 100.00)  # 30.0003%
    users, _ = run(backend, world, tmp_path, policy)
    assert users[1]["passes_min_ratio"]
    assert users[1]["eligible"]
    assert not users[2]["passes_min_ratio"]
    assert users[3]["passes_min_ratio"]


def test_net_assets_at_or_below_zero_pass_the_ratio(backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=-500.0), 60.0)
    world.fill(world.user(2, net_usdt=0), 60.0)
    users, _ = run(backend, world, tmp_path, policy)
    for uid in (1, 2):
        assert users[uid]["passes_min_ratio"]
        assert users[uid]["loss_ratio"] is None
        assert users[uid]["loss_ratio_capped"] == 1.0
    assert users[1]["net_assets_cents"] == -50000


def test_window_is_half_open_and_adl_and_unlisted_fills_do_not_count(backend, tmp_path, policy):
    world = World()
    acct = world.user(1, net_usdt=100.0)
    world.fill(acct, 10.0, at="2025-10-10T00:00:00")  # first instant: counts
    world.fill(acct, 20.0, at="2025-10-11T23:59:59.999999")  # last minute: counts
    world.fill(acct, 400.0, at="2025-10-12T00:00:00")  # end is exclusive
    world.fill(acct, 800.0, at="2025-10-09T23:59:59")  # before the window
    world.fill(acct, 1600.0, kind="adl")  # auto-deleveraging is not a forced liquidation
    users, _ = run(backend, world, tmp_path, policy)
    assert users[1]["loss_cents"] == 3000
    assert users[1]["fills"] == 2


def test_sub_accounts_roll_up_and_fees_add_to_the_loss(backend, tmp_path, policy):
    world = World()
    master = world.user(1, net_usdt=200.0)
    world.accounts.append({"account_id": 11, "user_id": 1, "kind": "sub"})
    world.balances.append(
        {
            "account_id": 11,
            "wallet": "cross_margin",
            "asset": "BTC",
            "balance": 0.001,
            "liability": 0.0,
            "unrealized_pnl": 0.0,
        }
    )
    world.fill(master, 30.0, fee=0.5)
    world.fill(11, 0.0002, asset="BTC", product="coinm_futures")  # 0.0002 BTC × 100k = $20
    users, _ = run(backend, world, tmp_path, policy)
    assert users[1]["loss_cents"] == 5050
    assert users[1]["net_assets_cents"] == 30000  # 200 USDT + 0.001 BTC × 100k


def test_gains_offset_losses_and_the_total_floors_at_zero(backend, tmp_path, policy):
    world = World()
    acct = world.user(1)
    world.fill(acct, 100.0)
    world.fill(acct, -250.0)  # a liquidation that realised a gain
    users, _ = run(backend, world, tmp_path, policy)
    assert users[1]["loss_cents"] == 0
    assert not users[1]["eligible"]


def test_already_compensated_users_are_excluded_only_by_listed_programmes(
    backend, tmp_path, policy
):
    world = World()
    world.fill(world.user(1, net_usdt=10.0), 100.0)
    world.fill(world.user(2, net_usdt=10.0), 100.0)
    world.prior_compensation += [
        {
            "user_id": 1,
            "program_id": "depeg-2025-10",
            "amount_usd": 80.0,
            "paid_at": world.prices[0]["minute"],
        },
        {
            "user_id": 2,
            "program_id": "transfer-delay-2025-10",
            "amount_usd": 5.0,
            "paid_at": world.prices[0]["minute"],
        },
    ]
    users, _ = run(backend, world, tmp_path, policy)
    assert not users[1]["passes_not_compensated"]
    assert not users[1]["eligible"]
    assert users[2]["eligible"]


def test_price_falls_back_to_the_latest_minute_within_the_limit(backend, tmp_path, policy):
    world = World()
    world.prices = [
        p
        for p in world.prices
        if not (p["asset"] == "BTC" and p["minute"].hour == 21 and 0 < p["minute"].minute <= 30)
    ]
    # BTC at 21:00 is 100k; 21:01–21:30 are missing, so a fill at 21:20 uses 21:00 (20 min old).
    world.prices = [
        dict(p, usd=90_000.0)
        if p["asset"] == "BTC" and p["minute"].hour == 21 and p["minute"].minute == 0
        else p
        for p in world.prices
    ]
    acct = world.user(1, net_usdt=10.0)
    world.fill(acct, 0.001, asset="BTC", product="coinm_futures", at="2025-10-10T21:20:42")
    users, _ = run(backend, world, tmp_path, policy)
    assert users[1]["loss_cents"] == 9000


def test_a_price_older_than_the_limit_fails_the_run_naming_asset_and_minute(
    backend, tmp_path, policy
):
    world = World()
    world.prices = [
        p
        for p in world.prices
        if not (p["asset"] == "BTC" and p["minute"].day == 10 and 19 <= p["minute"].hour <= 21)
    ]
    acct = world.user(1, net_usdt=10.0)
    world.fill(acct, 0.001, asset="BTC", product="coinm_futures", at="2025-10-10T21:20:42")
    with pytest.raises(PriceMissingError, match=r"BTC at 2025-10-10T21:20Z \(fill_id 1\)"):
        run(backend, world, tmp_path, policy)


def test_a_snapshot_asset_without_price_fails_the_run(backend, tmp_path, policy):
    world = World()
    acct = world.user(1, net_usdt=10.0)
    world.balances.append(
        {
            "account_id": acct,
            "wallet": "spot",
            "asset": "PEPE",
            "balance": 1.0,
            "liability": 0.0,
            "unrealized_pnl": 0.0,
        }
    )
    world.fill(acct, 100.0)
    with pytest.raises(PriceMissingError, match="PEPE"):
        run(backend, world, tmp_path, policy)


def test_incident_losses_are_the_part_inside_incident_windows(backend, tmp_path, policy):
    world = World()
    acct = world.user(1, net_usdt=10.0)
    world.fill(acct, 100.0, at="2025-10-10T21:17:59")  # before the glitch window
    world.fill(acct, 40.0, at="2025-10-10T21:18:00")  # glitch
    world.fill(acct, 2.0, at="2025-10-10T22:30:00")  # de-peg window only
    users, _ = run(backend, world, tmp_path, policy)
    assert users[1]["incident_loss_cents"] == 4200
    assert users[1]["loss_cents"] == 14200


def test_weight_follows_the_policy_formula_for_eligible_users_only(backend, tmp_path, policy):
    import math

    world = World()
    world.fill(world.user(1, net_usdt=250.0), 100.0, at="2025-10-10T12:00")
    world.fill(world.user(2, net_usdt=250.0), 10.0)
    users, _ = run(backend, world, tmp_path, policy)
    # sqrt(100) × (0.5 + 0.5 × 0.4) × (1 + 0.5 × 0): no loss inside an incident window
    assert users[1]["weight"] == pytest.approx(math.sqrt(100) * 0.7, rel=1e-12)
    assert users[2]["weight"] is None


def test_hourly_losses_add_up_to_the_users_losses(backend, tmp_path, policy):
    world = World()
    acct = world.user(1, net_usdt=10.0)
    world.fill(acct, 100.0, at="2025-10-10T20:59:59")
    world.fill(acct, 50.0, at="2025-10-10T21:00:00")
    world.fill(world.user(2), 25.0, at="2025-10-10T21:30:00")
    _, result = run(backend, world, tmp_path, policy)
    hourly = result.hourly.to_pylist()
    assert [(h["hour"].hour, h["fills"], h["users"], h["loss_cents"]) for h in hourly] == [
        (20, 1, 1, 10000),
        (21, 2, 2, 7500),
    ]


def with_eligibility(policy, **changes):
    from recompense.policy import validate_policy

    data = policy.model_dump()
    data["eligibility"].update(changes)
    return validate_policy(data, source="test")


def test_a_six_place_ratio_is_exact_at_the_contracts_largest_amounts(backend, tmp_path, policy):
    """Net assets near $10^12 and ratio 0.333333: loss·q ≥ net·p would overflow int64."""
    third = with_eligibility(policy, min_loss_ratio="0.333333")
    net = 999_999_999_999 * 100  # cents
    needed = -(-net * 333_333 // 1_000_000)  # ⌈net · 333333/10^6⌉
    world = World()
    world.fill(world.user(1, net_usdt=net / 100), needed / 100)
    world.fill(world.user(2, net_usdt=net / 100), (needed - 1) / 100)
    world.fill(world.user(3, net_usdt=-net / 100), 60.0)
    users, _ = run(backend, world, tmp_path, third)
    assert users[1]["net_assets_cents"] == net
    assert users[1]["loss_cents"] == needed
    assert users[2]["loss_cents"] == needed - 1
    assert users[1]["passes_min_ratio"]
    assert not users[2]["passes_min_ratio"]
    assert users[3]["passes_min_ratio"]


@pytest.mark.parametrize(
    ("ratio", "net_cents"),
    [
        ("0.333333", 100_000),  # 33,333.3 cents: 33,334 needed
        ("0.000001", 1),
        ("10", 10**14 - 1),
        ("0", 10**13),
        ("1.999999", 7_777_777),
        ("9.999999", 99_999_999_999_999),
    ],
)
def test_the_needed_loss_is_the_exact_ceiling(backend, ratio, net_cents):
    """needed_loss_cents against Python's exact Fraction arithmetic, for ±net."""
    import math
    from fractions import Fraction

    import ibis

    from recompense.engine.eligibility import needed_loss_cents

    t = ibis.memtable({"net": [net_cents, -net_cents, 0]}, schema={"net": "int64"})
    got = backend.execute(t.mutate(needed=needed_loss_cents(t.net, Fraction(ratio))))
    expected = [math.ceil(Fraction(n) * Fraction(ratio)) for n in (net_cents, -net_cents, 0)]
    assert got["needed"].tolist() == expected
