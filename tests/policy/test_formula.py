"""The weight formula: parsed safely, unknown names refused, same result on every engine."""

from __future__ import annotations

import math

import ibis
import numpy as np
import pyarrow as pa
import pytest

from recompense.policy.formula import (
    FEATURES,
    MAX_DEPTH,
    MAX_TOKENS,
    FormulaError,
    compile_expr,
    evaluate_numpy,
    parse,
)

FEATURE_VALUES = {
    "loss_usd": [100.0, 0.0, 2500.5, 50.0],
    "net_assets_usd": [200.0, -10.0, 0.0, 1e6],
    "loss_ratio_capped": [0.5, 1.0, 1.0, 0.00005],
    "incident_loss_usd": [40.0, 0.0, 2500.5, 0.0],
    "vip_tier": [0.0, 3.0, 9.0, 1.0],
    "account_age_days": [10.0, 3000.0, 0.0, 400.0],
}


def engine_values(source: str, backend) -> np.ndarray:
    table = ibis.memtable(pa.table(FEATURE_VALUES))
    expr = table.select(w=compile_expr(parse(source), {n: table[n] for n in FEATURES}))
    return backend.to_pyarrow(expr).column("w").to_numpy(zero_copy_only=False).astype(float)


@pytest.mark.parametrize(
    "source",
    [
        "loss_usd",
        "sqrt(loss_usd) * (0.5 + 0.5 * loss_ratio_capped)",
        "sqrt(loss_usd) * (0.5 + 0.5 * loss_ratio_capped)"
        " * (1 + 0.5 * min(incident_loss_usd / loss_usd, 1))",
        "log1p(loss_usd) + max(vip_tier, 1, 2) - min(account_age_days / 365, 5)",
        "pow(loss_usd, 0.75) + loss_usd ^ 0.5 + 2 ** 3",
        "-(-loss_usd) + +1e-3 - .5",
        "loss_usd / net_assets_usd",  # division by zero is 0
        "sqrt(net_assets_usd)",  # negative → NULL
        "max(sqrt(net_assets_usd), 1)",  # NULL is not hidden by min/max
        "log1p(-0.9 + 0 * loss_usd) + log1p(net_assets_usd / 100)",  # no clamp at −0.5
        "pow(net_assets_usd, 0.5) + 0 ^ -1 * loss_usd",  # negative base; 0⁻¹ = ∞ → NULL
        "loss_usd * 1e300 * 1e300 - loss_usd * 1e300 * 1e300",  # overflow is NULL, not NaN
        "0.1 + 0.2 - 0.3 + loss_usd * 0",  # IEEE doubles, not SQL decimals
    ],
)
def test_engine_and_numpy_agree(source, backend):
    expected = evaluate_numpy(parse(source), {k: np.array(v) for k, v in FEATURE_VALUES.items()})
    np.testing.assert_allclose(engine_values(source, backend), expected, rtol=1e-12, equal_nan=True)


def test_precedence_and_associativity():
    values = {k: np.array(v[:1]) for k, v in FEATURE_VALUES.items()}
    assert evaluate_numpy(parse("2 + 3 * 4 ^ 2"), values) == 50
    assert evaluate_numpy(parse("100 / 10 / 5"), values) == 2
    assert evaluate_numpy(parse("-2 ^ 2"), values) == -4
    assert evaluate_numpy(parse("2 ^ -1"), values) == 0.5
    assert evaluate_numpy(parse("10 - 4 - 3"), values) == 3


def test_division_by_zero_is_zero_and_domain_errors_are_null():
    values = {"loss_usd": np.array([5.0]), "net_assets_usd": np.array([0.0])}
    assert evaluate_numpy(parse("loss_usd / net_assets_usd"), values) == 0
    assert np.isnan(evaluate_numpy(parse("sqrt(0 - loss_usd)"), values)).all()
    assert np.isnan(evaluate_numpy(parse("log1p(-1)"), values)).all()


def test_names_lists_the_features_used():
    assert parse("sqrt(loss_usd) * vip_tier + 1").names == {"loss_usd", "vip_tier"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("loss_usd * bonus", "unknown name 'bonus'; features: loss_usd"),
        ("exp(loss_usd)", "unknown function 'exp'; allowed: min, max, sqrt, log1p, pow"),
        ("__import__(loss_usd)", "unknown function '__import__'"),
        ("__import__('os')", "unexpected character"),
        ("loss_usd.real", "unexpected character '.'"),
        ("sqrt(loss_usd, 2)", "sqrt() at position 0 takes 1 argument(s), got 2"),
        ("min(loss_usd)", "takes at least 2 argument(s)"),
        ("(loss_usd", "expected ')' at the end"),
        ("loss_usd +", "expected a number, a feature or a function at the end"),
        ("loss_usd loss_usd", "unexpected text after the end of the formula at position 9"),
        ("", "expected a number, a feature or a function"),
        ("1e999", "number out of range"),
        ("loss_usd; drop table users", "unexpected character ';'"),
    ],
)
def test_mistakes_are_named_with_their_position(source, message):
    with pytest.raises(FormulaError) as info:
        parse(source)
    assert message in str(info.value)


def test_every_rule_on_its_edge():
    values = {"loss_usd": np.array([5.0]), "net_assets_usd": np.array([-0.9])}

    def value(source):
        return evaluate_numpy(parse(source), values).item()

    assert value("log1p(net_assets_usd)") == math.log(1 - 0.9)  # no clamp at −0.5
    assert np.isnan(value("log1p(-1 + 0 * loss_usd)"))
    assert value("pow(0, 0) + 0 ^ 2") == 1
    assert np.isnan(value("pow(0, -1)"))
    assert np.isnan(value("net_assets_usd ^ 2"))
    assert np.isnan(value("min(sqrt(net_assets_usd), loss_usd)"))
    assert np.isnan(value("loss_usd * 1e308 * 10 / 1e308"))  # overflow anywhere is NULL
    assert value("0.1 + 0.2") == 0.1 + 0.2
    nulls = {"loss_usd": np.array([np.nan, np.inf])}
    assert np.isnan(evaluate_numpy(parse("loss_usd / 0 + 1"), nulls)).all()


@pytest.mark.parametrize(
    "source",
    [
        "(" * 5000 + "loss_usd" + ")" * 5000,
        "-" * 5000 + "loss_usd",
        "2" + " ^ 2" * 5000,
        "+" * 5000 + "loss_usd",
        "loss_usd" + " + 1" * 5000,
    ],
    ids=["parentheses", "minus", "power", "plus", "sum"],
)
def test_huge_formulas_are_refused_cleanly_not_with_a_recursion_error(source):
    with pytest.raises(FormulaError, match=f"more than {MAX_TOKENS} tokens .* at position"):
        parse(source)


@pytest.mark.parametrize(
    ("make", "position"),
    [
        (lambda n: "(" * n + "loss_usd" + ")" * n, lambda n: n - 1),
        (lambda n: "-" * n + "loss_usd", lambda n: n - 1),
        (lambda n: "sqrt(" * n + "loss_usd" + ")" * n, lambda n: 5 * (n - 1)),
        (lambda n: "2" + "^2" * n, lambda n: 2 * n - 1),
        (lambda n: "loss_usd" + "+1" * n, lambda n: 8 + 2 * (n - 1)),
        (lambda n: "1" + "*1" * (n - 1) + "-1", lambda n: 2 * n - 1),
    ],
    ids=["parentheses", "minus", "sqrt", "power", "sum", "product"],
)
def test_nesting_is_limited_and_the_message_names_the_position(make, position):
    parse(make(MAX_DEPTH))  # at the limit: accepted
    with pytest.raises(FormulaError) as info:
        parse(make(MAX_DEPTH + 1))
    message = str(info.value)
    assert (
        f"nests more than {MAX_DEPTH} levels deep at position {position(MAX_DEPTH + 1)}" in message
    )
    assert len(message) < 250  # the formula is cut, not echoed whole


def test_a_formula_at_the_depth_limit_runs_on_duckdb_and_agrees_with_numpy(duckdb_backend):
    source = "sqrt(" * (MAX_DEPTH - 1) + "loss_usd / net_assets_usd" + ")" * (MAX_DEPTH - 1)
    expected = evaluate_numpy(parse(source), {k: np.array(v) for k, v in FEATURE_VALUES.items()})
    got = engine_values(source, duckdb_backend)
    assert np.array_equal(got, expected, equal_nan=True)
