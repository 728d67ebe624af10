"""The weight formula: parsed safely, unknown names refused, same result on every engine."""

from __future__ import annotations

import ibis
import numpy as np
import pyarrow as pa
import pytest

from recompense.policy.formula import FEATURES, FormulaError, compile_expr, evaluate_numpy, parse

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
