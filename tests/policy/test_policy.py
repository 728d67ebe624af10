"""The programme file: the real programme loads; every mistake names its key."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recompense.policy import PolicyError, load_policy, validate_policy


def test_the_together_initiative_file_encodes_the_announcement(policy):
    assert policy.program.id == "together-2025-10"
    assert policy.program.currency == "USDC"
    assert policy.budget_cents == 300_000_000_00
    assert policy.min_payout_cents == 400
    assert policy.max_payout_cents == 600_000
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
    assert policy.distribution.start_within_hours == 24
    assert policy.distribution.complete_within_hours == 96


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
        (
            lambda r: r["eligibility"].update(min_loss_ratio="0.33333333333333"),
            "key 'eligibility.min_loss_ratio': at most 6 decimal places (got '0.33333333333333')",
        ),
        (
            lambda r: r["eligibility"].update(min_loss_ratio="0." + "3" * 40),
            "key 'eligibility.min_loss_ratio': at most 6 decimal places",
        ),
        (
            lambda r: r["eligibility"].update(min_loss_ratio="1e-7"),
            "key 'eligibility.min_loss_ratio': at most 6 decimal places",
        ),
        (
            lambda r: r["eligibility"].update(min_loss_ratio="10.000001"),
            "key 'eligibility.min_loss_ratio': Input should be less than or equal to 10",
        ),
        (
            lambda r: r["eligibility"].update(min_loss_ratio="NaN"),
            "key 'eligibility.min_loss_ratio': 'NaN' is not a finite number",
        ),
        (
            lambda r: r["program"].update(budget_usd="1e30"),
            "key 'program.budget_usd': must be at most $1,000,000,000,000.00 (got '1e30')",
        ),
        (
            lambda r: r["program"].update(budget_usd=1e30),
            "key 'program.budget_usd': must be at most $1,000,000,000,000.00",
        ),
        (
            lambda r: r["program"].update(budget_usd=10**40),
            "key 'program.budget_usd': must be at most $1,000,000,000,000.00",
        ),
        (
            lambda r: r["program"].update(budget_usd="1000000000000.01"),
            "key 'program.budget_usd': must be at most",
        ),
        (
            lambda r: r["program"].update(budget_usd="-1e30"),
            "key 'program.budget_usd': must not be negative",
        ),
        (
            lambda r: r["program"].update(budget_usd="0"),
            "key 'program.budget_usd': must be greater",
        ),
        (
            lambda r: r["program"].update(budget_usd="inf"),
            "key 'program.budget_usd': must be a USD amount such as \"50.00\"",
        ),
        (
            lambda r: r["eligibility"].update(min_loss_usd="1e13"),
            "key 'eligibility.min_loss_usd': must be at most $1,000,000,000,000.00",
        ),
        (
            lambda r: r["payout"].update(max_usd="10000000.01"),
            "key 'payout.max_usd': must be at most $10,000,000.00",
        ),
        (
            lambda r: r["payout"].update(min_usd="1e9"),
            "key 'payout.min_usd': must be at most $10,000,000.00",
        ),
        (
            lambda r: r["program"].update(snapshot_at=datetime(1, 1, 1, tzinfo=UTC)),
            "key 'program.snapshot_at': must be from 1970-01-01 up to 2100-01-01",
        ),
        (
            lambda r: r["window"].update(end="9999-12-31T23:59:59Z"),
            "key 'window.end': must be from 1970-01-01 up to 2100-01-01",
        ),
        (
            lambda r: r["window"].update(end=datetime(2025, 11, 10, 0, 1, tzinfo=UTC)),
            "key 'window': end must be at most 31 days after start",
        ),
        (
            lambda r: r["distribution"].update(complete_within_hours=10**18),
            "key 'distribution.complete_within_hours'",
        ),
        (
            lambda r: r["distribution"].update(voucher_validity_days=10**18),
            "key 'distribution.voucher_validity_days'",
        ),
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
    assert policy.min_ratio == Fraction(3, 10)
    assert policy.min_loss_cents == 5000


def test_a_budget_override_is_validated(policy):
    from decimal import Decimal

    assert policy.with_budget(Decimal("1200000")).budget_cents == 120_000_000
    with pytest.raises(PolicyError, match=r"program\.budget_usd"):
        policy.with_budget(Decimal("0.001"))


def test_the_largest_accepted_values_load(program_path):
    data = raw(program_path)
    data["program"]["budget_usd"] = "1000000000000.00"
    data["eligibility"]["min_loss_usd"] = "1000000000000"
    data["eligibility"]["min_loss_ratio"] = "9.999999"
    data["payout"].update(min_usd="10000000", max_usd="10000000.00")
    data["window"]["end"] = datetime(2025, 11, 10, tzinfo=UTC)  # 31 days
    policy = validate_policy(data, source="p.toml")
    assert policy.budget_cents == 10**14
    assert policy.min_loss_cents == 10**14
    assert policy.max_payout_cents == policy.min_payout_cents == 10**9
    assert policy.min_ratio == Fraction(9_999_999, 1_000_000)
    data["eligibility"]["min_loss_ratio"] = "0.3000000000"  # trailing zeros: still 3/10
    assert validate_policy(data, source="p.toml").min_ratio == Fraction(3, 10)


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=10, allow_nan=False, places=6))
def test_every_accepted_ratio_keeps_the_exact_comparison_small(ratio):
    """q ≤ 10^6 and p ≤ 10^7: the bound engine.eligibility.needed_loss_cents relies on."""
    from builders import PROGRAM

    data = raw(PROGRAM)
    data["eligibility"]["min_loss_ratio"] = str(ratio)
    fraction = validate_policy(data, source="p.toml").min_ratio
    assert fraction == Fraction(ratio)
    assert fraction.denominator <= 10**6
    assert fraction.numerator <= 10**7


def test_a_budget_override_is_bounded_like_the_file(policy):
    from decimal import Decimal

    with pytest.raises(PolicyError) as info:
        policy.with_budget(Decimal("1e30"))
    assert "--budget-usd: key 'program.budget_usd': must be at most" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1e30", "must be at most $1,000,000,000,000.00"),
        ("0", "must be greater than 0"),
        ("-5", "must not be negative"),
        ("NaN", "not a finite number"),
        ("", "is not a number"),
        ("12.345", "more than two decimals"),
    ],
)
def test_budget_usd_refuses_what_the_policy_refuses(text, message):
    from recompense.policy.model import budget_usd

    with pytest.raises(ValueError, match=re.escape(message)):
        budget_usd(text)


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(PolicyError, match="no such programme file"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[program\nid = 1")
    with pytest.raises(PolicyError, match=r"bad\.toml: not valid TOML"):
        load_policy(bad)


_ANY_TOML_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
)
_CASES_AND_AMENDMENTS = [
    ("cases", "decision_target_hours"),
    ("cases", "four_eyes_above_usd"),
    ("amendments", "reserve_usd"),
    ("amendments", "when_short"),
]


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(_CASES_AND_AMENDMENTS), value=_ANY_TOML_VALUE)
def test_any_value_of_the_cases_and_amendments_keys_loads_or_is_named(where, value):
    """Whatever an operator writes under [cases] or [amendments]: a policy, or a
    PolicyError naming the key — never another exception."""
    from builders import PROGRAM

    raw = tomllib.loads(PROGRAM.read_text(encoding="utf-8"))
    section, key = where
    raw.setdefault(section, {})[key] = value
    try:
        policy = validate_policy(raw, source="p.toml")
    except PolicyError as exc:
        assert f"key '{section}.{key}'" in str(exc)
    else:
        assert policy.reserve_cents >= 0
        assert policy.four_eyes_above_cents >= 0
        assert policy.amendments.when_short in {"refuse", "scale"}
