"""The full-payment programme file (``program.kind = "full"``): the de-peg programme loads,
the shared loader refuses it by name, and every bad value is refused naming its key."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recompense.data.contract import COLLATERAL_PRODUCTS
from recompense.policy import Policy, PolicyError, load_policy, load_programme
from recompense.policy.full import FullPolicy
from recompense.policy.model import validate_programme

PROGRAMS = Path(__file__).resolve().parents[2] / "programs"
DEPEG = PROGRAMS / "depeg-2025-10.toml"
TOGETHER = PROGRAMS / "together-2025-10.toml"


def raw() -> dict[str, Any]:
    return tomllib.loads(DEPEG.read_text(encoding="utf-8"))


def test_the_depeg_file_encodes_the_announcement():
    policy = load_programme(DEPEG)
    assert isinstance(policy, FullPolicy)
    assert policy.kind == "full"
    assert policy.program.id == "depeg-2025-10"
    assert policy.program.currency == "USDT"
    assert policy.budget_cents == 300_000_000_00
    assert policy.ceiling_cents is None
    assert policy.payout.when_over_budget == "refuse"
    assert policy.window.start == datetime(2025, 10, 10, 21, 36, tzinfo=UTC)
    assert policy.window.end == datetime(2025, 10, 10, 22, 17, tzinfo=UTC)
    assert policy.collateral.reference_at == datetime(2025, 10, 11, tzinfo=UTC)
    assert policy.collateral.assets == ("USDE", "BNSOL", "WBETH")
    assert set(policy.collateral.products) == set(COLLATERAL_PRODUCTS)
    assert "loan" in policy.collateral.products
    usde = policy.collateral.adjustment("USDE")
    assert (usde.redemption_weight, usde.floor_usd) == (Decimal("0.5"), Decimal("1.00"))
    for asset in ("BNSOL", "WBETH"):
        adjustment = policy.collateral.adjustment(asset)
        assert (adjustment.redemption_weight, adjustment.floor_usd) == (Decimal(1), None)
    assert policy.distribution.complete_within_hours == 72
    assert policy.four_eyes_above_cents == 1_000_000


def test_an_asset_without_an_adjustment_is_at_market():
    data = raw()
    data["collateral"]["adjustments"] = []
    policy = validate_programme(data, source="p.toml")
    assert isinstance(policy, FullPolicy)
    adjustment = policy.collateral.adjustment("WBETH")
    assert (adjustment.redemption_weight, adjustment.floor_usd) == (Decimal(0), None)


def test_the_shared_loader_refuses_a_full_programme_naming_program_kind():
    with pytest.raises(PolicyError) as caught:
        load_policy(DEPEG)
    message = str(caught.value)
    assert message.startswith(f"{DEPEG}: key 'program.kind'")
    assert '"full"' in message
    assert caught.value.exit_code == 2


def test_load_programme_reads_both_kinds():
    shared = load_programme(TOGETHER)
    assert isinstance(shared, Policy)
    assert shared.program.kind == "shared"
    assert isinstance(load_programme(DEPEG), FullPolicy)


def test_an_unknown_kind_is_named():
    data = raw()
    data["program"]["kind"] = "partial"
    with pytest.raises(PolicyError) as caught:
        validate_programme(data, source="p.toml")
    assert "key 'program.kind'" in str(caught.value)


def _adjust(**values: Any) -> Any:
    return lambda r: r["collateral"].update(adjustments=[{"asset": "USDE", **values}])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            _adjust(redemption_weight="1.000001"),
            "key 'collateral.adjustments.0.redemption_weight': must be from 0 to 1",
        ),
        (
            _adjust(redemption_weight="-0.1"),
            "key 'collateral.adjustments.0.redemption_weight': must be from 0 to 1",
        ),
        (
            _adjust(redemption_weight="0.1234567"),
            "key 'collateral.adjustments.0.redemption_weight': at most 6 decimal places",
        ),
        (
            _adjust(redemption_weight=1e-7),
            "key 'collateral.adjustments.0.redemption_weight': at most 6 decimal places",
        ),
        (
            _adjust(redemption_weight="NaN"),
            "key 'collateral.adjustments.0.redemption_weight'",
        ),
        (
            _adjust(redemption_weight=True),
            "key 'collateral.adjustments.0.redemption_weight': must be a number",
        ),
        (
            _adjust(floor_usd="0"),
            "key 'collateral.adjustments.0.floor_usd': must be greater than 0",
        ),
        (
            _adjust(floor_usd="-1.00"),
            "key 'collateral.adjustments.0.floor_usd': must be greater than 0",
        ),
        (
            _adjust(floor_usd="1.0000000000001"),
            "key 'collateral.adjustments.0.floor_usd': at most 12 decimal places",
        ),
        (
            _adjust(floor_usd="1000000.000000000001"),
            "key 'collateral.adjustments.0.floor_usd': must be at most",
        ),
        (
            _adjust(weight="0.5"),
            "key 'collateral.adjustments.0.weight': is not a known key (typo?)",
        ),
        (
            lambda r: r["collateral"].update(products=["usdm_futures", "spot"]),
            "key 'collateral.products': unknown product(s) ['spot']",
        ),
        (
            lambda r: r["collateral"].update(products=["loan", "loan"]),
            "key 'collateral.products': products must not repeat",
        ),
        (
            lambda r: r["collateral"].update(products=[]),
            "key 'collateral.products'",
        ),
        (
            lambda r: r["collateral"].update(assets=["USDE", "BNSOL", "WBETH", "USDE"]),
            "key 'collateral.assets': assets must not repeat",
        ),
        (
            lambda r: r["collateral"].update(assets=["usde", "BNSOL", "WBETH"]),
            "key 'collateral.assets.0'",  # upper case only: events are compared upper-cased
        ),
        (
            lambda r: r["collateral"].update(assets=["BNSOL", "WBETH"]),
            "key 'collateral': adjustments name asset(s) ['USDE'] not in assets",
        ),
        (
            lambda r: r["collateral"]["adjustments"].append({"asset": "BTC"}),
            "key 'collateral': adjustments name asset(s) ['BTC'] not in assets",
        ),
        (
            lambda r: r["collateral"]["adjustments"].append({"asset": "USDE"}),
            "key 'collateral': adjustments: each asset at most once",
        ),
        (
            lambda r: r["collateral"].update(
                reference_at=datetime(2025, 10, 10, 21, 35, 59, tzinfo=UTC)
            ),
            "collateral.reference_at must not be before window.start",
        ),
        (
            lambda r: r["collateral"].update(reference_at=datetime(2025, 10, 11)),
            "key 'collateral.reference_at': must carry a UTC offset",
        ),
        (lambda r: r["collateral"].pop("reference_at"), "key 'collateral.reference_at'"),
        (
            lambda r: r["collateral"].update(asset=["USDE"]),
            "key 'collateral.asset': is not a known key (typo?)",
        ),
        (lambda r: r["payout"].update(ceiling_usd="0"), "key 'payout.ceiling_usd'"),
        (lambda r: r["payout"].update(ceiling_usd="-1"), "key 'payout.ceiling_usd'"),
        (
            lambda r: r["payout"].update(ceiling_usd="10000000.01"),
            "key 'payout.ceiling_usd': must be at most $10,000,000.00",
        ),
        (
            lambda r: r["payout"].update(ceiling_usd="0.001"),
            "key 'payout.ceiling_usd'",
        ),
        (
            lambda r: r["payout"].update(when_over_budget="scale"),
            "key 'payout.when_over_budget'",
        ),
        (
            lambda r: r["payout"].update(cap_at_loss=True),
            "key 'payout.cap_at_loss': is not a known key (typo?)",
        ),
        (
            lambda r: r["program"].update(snapshot_at=datetime(2025, 10, 9, tzinfo=UTC)),
            "key 'program.snapshot_at': is not a known key (typo?)",
        ),
        (
            lambda r: r["program"].update(budget_usd="0"),
            "key 'program.budget_usd': must be greater",
        ),
        (
            lambda r: r["window"].update(end=datetime(2025, 10, 10, 21, 36, tzinfo=UTC)),
            "key 'window': end must be after start",
        ),
        (lambda r: r.update(eligibility={}), "key 'eligibility': is not a known key (typo?)"),
    ],
)
def test_every_mistake_names_its_key(edit, message):
    data = raw()
    edit(data)
    with pytest.raises(PolicyError) as caught:
        validate_programme(data, source="p.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("p.toml: key")


def test_limits_that_load():
    data = raw()
    data["collateral"]["adjustments"] = [
        {"asset": "USDE", "redemption_weight": "0.000001", "floor_usd": "0.000000000001"},
        {"asset": "BNSOL", "redemption_weight": "0.999999", "floor_usd": "1000000"},
        {"asset": "WBETH", "redemption_weight": 0.5},  # a TOML float printing as a decimal
    ]
    data["collateral"]["reference_at"] = data["window"]["start"]  # at the start: allowed
    data["payout"]["ceiling_usd"] = "10000000.00"
    data["program"].pop("budget_usd")  # optional for this kind
    policy = validate_programme(data, source="p.toml")
    assert isinstance(policy, FullPolicy)
    assert policy.ceiling_cents == 10**9
    assert policy.budget_cents is None
    assert policy.collateral.adjustment("USDE").floor_usd == Decimal("1e-12")
    assert policy.collateral.adjustment("WBETH").redemption_weight == Decimal("0.5")


# Whatever an operator writes under [collateral] or [payout] -----------------------------

_ANY_TOML_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.decimals(allow_nan=False, allow_infinity=False, places=14).map(str),
    st.lists(st.integers(), max_size=3),
    st.dates(),
    st.times(),
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.none() | st.just(UTC) | st.timezones(),
    ),
)
_NAMES = st.lists(
    st.sampled_from(["USDE", "BNSOL", "WBETH", "BTC", "usde", "", "A" * 21, "spot", "loan"])
    | st.sampled_from(COLLATERAL_PRODUCTS),
    max_size=5,
)
# Values an operator would plausibly write, so that the "loads" branch is reached too.
_PRODUCTS = st.lists(st.sampled_from(COLLATERAL_PRODUCTS), min_size=1, unique=True)
_ASSETS = st.permutations(["USDE", "BNSOL", "WBETH", "BTC", "X1"]).flatmap(
    lambda names: st.integers(3, 5).map(lambda n: names[:n])
)
_WHEN = st.datetimes(
    min_value=datetime(2025, 10, 10, 21), max_value=datetime(2025, 10, 12), timezones=st.just(UTC)
)
_WEIGHT = st.decimals(min_value=-1, max_value=2, places=7).map(str) | st.decimals(
    min_value=0, max_value=1, places=6
).map(str)
_FLOOR = st.decimals(min_value=-1, max_value=10**7, places=13).map(str) | st.decimals(
    min_value="0.000000000001", max_value=10**6, places=12
).map(str)
_ADJUSTMENT = st.fixed_dictionaries(
    {"asset": st.sampled_from(["USDE", "BNSOL", "WBETH", "BTC", "usde"]) | _ANY_TOML_VALUE},
    optional={
        "redemption_weight": _ANY_TOML_VALUE | _WEIGHT,
        "floor_usd": _ANY_TOML_VALUE | _FLOOR,
        "weight": st.just("0.5"),
    },
)
_PLAUSIBLE_ADJUSTMENTS = st.lists(
    st.fixed_dictionaries(
        {"asset": st.sampled_from(["USDE", "BNSOL", "WBETH"])},
        optional={"redemption_weight": _WEIGHT, "floor_usd": _FLOOR},
    ),
    max_size=3,
    unique_by=lambda a: a["asset"],
)
_WHERE_AND_VALUE = st.one_of(
    st.tuples(st.just(("collateral", "products")), _ANY_TOML_VALUE | _NAMES | _PRODUCTS),
    st.tuples(st.just(("collateral", "assets")), _ANY_TOML_VALUE | _NAMES | _ASSETS),
    st.tuples(st.just(("collateral", "reference_at")), _ANY_TOML_VALUE | _WHEN),
    st.tuples(
        st.just(("collateral", "adjustments")),
        _ANY_TOML_VALUE
        | st.lists(_ADJUSTMENT | _ANY_TOML_VALUE, max_size=4)
        | _PLAUSIBLE_ADJUSTMENTS,
    ),
    st.tuples(
        st.just(("collateral", "adjustments", 0, "redemption_weight")), _ANY_TOML_VALUE | _WEIGHT
    ),
    st.tuples(st.just(("collateral", "adjustments", 2, "floor_usd")), _ANY_TOML_VALUE | _FLOOR),
    st.tuples(
        st.just(("payout", "ceiling_usd")),
        _ANY_TOML_VALUE | st.decimals(min_value=-1, max_value=2 * 10**7, places=3).map(str),
    ),
    st.tuples(st.just(("payout", "when_over_budget")), _ANY_TOML_VALUE | st.just("refuse")),
    st.tuples(st.sampled_from([("payout", "extra"), ("collateral", "extra")]), _ANY_TOML_VALUE),
)


@settings(max_examples=400, deadline=None)
@given(where_and_value=_WHERE_AND_VALUE)
def test_any_value_of_the_collateral_and_payout_keys_loads_or_is_named(where_and_value):
    """A policy, or a PolicyError naming the key — never another exception."""
    path, value = where_and_value
    data = raw()
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    key = ".".join(str(part) for part in path)
    try:
        policy = validate_programme(data, source="p.toml")
    except PolicyError as exc:
        # The key itself, or a table holding it ('collateral': a rule across its keys)
        # and the key's own name in the sentence.
        message = str(exc)
        tables = [".".join(str(p) for p in path[:n]) for n in range(1, len(path))]
        within = any(f"key '{t}'" in message for t in tables) and str(path[-1]) in message
        assert key in message or within, (key, message)
    else:
        _holds_its_invariants(policy)


def _holds_its_invariants(policy: Any) -> None:
    assert isinstance(policy, FullPolicy)
    collateral = policy.collateral
    assert collateral.products
    assert set(collateral.products) <= set(COLLATERAL_PRODUCTS)
    assert len(set(collateral.products)) == len(collateral.products)
    assert len(set(collateral.assets)) == len(collateral.assets)
    assert all(re.fullmatch(r"[A-Z0-9]{1,20}", a) for a in collateral.assets)
    assert collateral.reference_at.utcoffset() == timedelta(0)
    assert collateral.reference_at >= policy.window.start
    for adjustment in collateral.adjustments:
        assert adjustment.asset in collateral.assets
        weight = adjustment.redemption_weight
        assert 0 <= weight <= 1
        assert weight == weight.quantize(Decimal("1e-6"))
        if adjustment.floor_usd is not None:
            assert 0 < adjustment.floor_usd <= 10**6
            assert adjustment.floor_usd == adjustment.floor_usd.quantize(Decimal("1e-12"))
    if policy.ceiling_cents is not None:
        assert 0 < policy.ceiling_cents <= 10**9
    assert policy.payout.when_over_budget == "refuse"


def test_toml_dates_and_times_are_not_instants():
    for value in (date(2025, 10, 11), time(0, 0)):
        data = raw()
        data["collateral"]["reference_at"] = value
        with pytest.raises(PolicyError, match=r"key 'collateral\.reference_at'"):
            validate_programme(data, source="p.toml")
