"""The programme file: the real programme loads; every mistake names its key."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from fractions import Fraction

import pytest

from recompense.policy import PolicyError, load_policy, validate_policy


def test_the_together_initiative_file_encodes_the_announcement(policy):
    assert policy.program.id == "together-2025-10"
    assert policy.program.currency == "USDC"
    assert policy.budget_cents == 300_000_000_00
    assert policy.min_payout_cents == 400 and policy.max_payout_cents == 600_000
    assert policy.min_loss_cents == 5000
    assert policy.min_ratio == Fraction(3, 10)
    assert policy.payout.cap_at_loss
    assert policy.window.start == datetime(2025, 10, 10, tzinfo=UTC)
    assert policy.window.end == datetime(2025, 10, 12, tzinfo=UTC)
    assert policy.program.snapshot_at == datetime(2025, 10, 9, 23, 59, tzinfo=UTC)
    assert policy.program.announced_at == datetime(2025, 10, 14, 15, 17, tzinfo=UTC)
    assert policy.prices.staleness_minutes == 60
    assert {i.id: i.start.strftime("%H:%M") for i in policy.incidents} == {
        "platform-glitch": "21:18",
        "depeg": "21:36",
    }
    assert policy.eligibility.excluding_programs == ("depeg-2025-10",)
    assert set(policy.eligibility.products) == {
        "usdm_futures",
        "coinm_futures",
        "cross_margin",
        "isolated_margin",
        "portfolio_margin",
    }
    assert (
        policy.distribution.start_within_hours == 24
        and policy.distribution.complete_within_hours == 96
    )


def raw(program_path):
    return tomllib.loads(program_path.read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["payout"].update(min_usd="4.001"),
            "key 'payout.min_usd': 4.001 has more than two decimals",
        ),
        (
            lambda r: r["payout"].update(min_usd="7000"),
            "key 'payout': min_usd (7000) must not exceed max_usd (6000.00)",
        ),
        (lambda r: r["payout"].pop("max_usd"), "key 'payout.max_usd': is required but missing"),
        (
            lambda r: r["payout"].update(maximum="1"),
            "key 'payout.maximum': is not a known key (typo?)",
        ),
        (
            lambda r: r["eligibility"].update(products=["spot"]),
            "key 'eligibility.products': unknown product(s) ['spot']",
        ),
        (
            lambda r: r["eligibility"].update(min_loss_ratio="-0.1"),
            "key 'eligibility.min_loss_ratio'",
        ),
        (
            lambda r: r["window"].update(end=datetime(2025, 10, 9, tzinfo=UTC)),
            "key 'window': end must be after start",
        ),
        (
            lambda r: r["window"].update(start=datetime(2025, 10, 10)),
            "key 'window.start': must carry a UTC offset",
        ),
        (lambda r: r["program"].update(budget_usd="-5"), "key 'program.budget_usd'"),
        (
            lambda r: r["program"].update(budget_usd=True),
            "key 'program.budget_usd': must be a USD amount",
        ),
        (lambda r: r["program"].update(id="Has Spaces"), "key 'program.id'"),
        (lambda r: r["prices"].update(staleness_minutes=-1), "key 'prices.staleness_minutes'"),
        (
            lambda r: r["payout"].update(weight="loss_usd * luck"),
            "key 'payout.weight': weight formula 'loss_usd * luck': unknown name 'luck'",
        ),
        (lambda r: r.pop("distribution"), "key 'distribution': is required but missing"),
    ],
)
def test_every_mistake_names_its_key(program_path, edit, message):
    data = raw(program_path)
    edit(data)
    with pytest.raises(PolicyError) as info:
        validate_policy(data, source="p.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("p.toml: key")


def test_toml_floats_are_accepted_when_they_are_clean_decimals(program_path):
    data = raw(program_path)
    data["eligibility"]["min_loss_ratio"] = 0.3
    data["eligibility"]["min_loss_usd"] = 50.0
    policy = validate_policy(data, source="p.toml")
    assert policy.min_ratio == Fraction(3, 10) and policy.min_loss_cents == 5000


def test_a_budget_override_is_validated(policy):
    from decimal import Decimal

    assert policy.with_budget(Decimal("1200000")).budget_cents == 120_000_000
    with pytest.raises(PolicyError, match=r"program\.budget_usd"):
        policy.with_budget(Decimal("0.001"))


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(PolicyError, match="no such programme file"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[program\nid = 1")
    with pytest.raises(PolicyError, match=r"bad\.toml: not valid TOML"):
        load_policy(bad)
