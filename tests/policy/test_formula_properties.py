"""Random formulas on random features: DuckDB, numpy and a plain-Python reference agree.

The reference below is written from the rules in the module docstring of
:mod:`recompense.policy.formula`, with Python floats and :mod:`math` only, and walks the
strategies' own tuple trees, not the module's parse tree. All three use IEEE float64
and the C library's ``pow``/``log``, so they must agree exactly: same NULLs, same
values (``==``; ``-0.0 == 0.0``). DuckDB only: a Spark session per example would take
minutes; Spark runs the fixed cases in ``test_formula.py``.
"""

from __future__ import annotations

import math

import ibis
import numpy as np
import pyarrow as pa
import pytest
from formula_strategies import FEATURE_NAMES, feature_rows, formula_trees, render
from hypothesis import given, settings
from hypothesis import strategies as st

from recompense.engine import connect
from recompense.policy.formula import (
    MAX_DEPTH,
    BinOp,
    Formula,
    FormulaError,
    Num,
    compile_expr,
    evaluate_numpy,
    parse,
)


@pytest.fixture(scope="module")
def duckdb():
    return connect("duckdb")


@settings(max_examples=200, deadline=None)
@given(tree=formula_trees, rows=feature_rows())
def test_duckdb_numpy_and_the_reference_agree_exactly(duckdb, tree, rows):
    formula = parse(render(tree))
    expected = [reference(tree, {n: rows[n][i] for n in FEATURE_NAMES}) for i in _range(rows)]
    got_numpy = evaluate_numpy(formula, _arrays(rows))
    got_numpy = np.broadcast_to(got_numpy, (len(expected),))
    got_duckdb = _duckdb_values(duckdb, formula, rows)
    for want, from_numpy, from_duckdb in zip(expected, got_numpy, got_duckdb, strict=True):
        if want is None:
            assert math.isnan(from_numpy), (want, from_numpy, from_duckdb)
            assert from_duckdb is None, (want, from_numpy, from_duckdb)
        else:
            assert want == from_numpy == from_duckdb, (want, from_numpy, from_duckdb)


@settings(max_examples=50, deadline=None)
@given(depth=st.integers(MAX_DEPTH + 1, 3 * MAX_DEPTH), op=st.sampled_from(["+", "^", "/"]))
def test_trees_too_deep_are_refused_by_both_compilers_not_recursed_into(depth, op):
    tree = Num(1.0)
    for _ in range(depth):
        tree = BinOp(op, tree, Num(2.0)) if op != "^" else BinOp(op, Num(2.0), tree)
    formula = Formula("built by hand", tree)
    columns = {n: np.ones(1) for n in FEATURE_NAMES}
    with pytest.raises(FormulaError, match=f"nests {depth} levels deep; at most {MAX_DEPTH}"):
        evaluate_numpy(formula, columns)
    table = ibis.table({n: "float64" for n in FEATURE_NAMES}, name="t")
    with pytest.raises(FormulaError, match=f"nests {depth} levels deep"):
        compile_expr(formula, {n: table[n] for n in FEATURE_NAMES})


def reference(tree: tuple, row: dict[str, float | None]) -> float | None:
    """The documented rules, one by one; ``None`` is NULL."""
    kind, *args = tree
    if kind == "num":
        return args[0]
    if kind == "name":
        value = row[args[0]]
        return value if value is not None and math.isfinite(value) else None
    values = [reference(arg, row) for arg in args]
    if any(v is None for v in values):
        return None
    result = RULES[kind](*values)
    return result if result is not None and math.isfinite(result) else None


def _pow(base: float, exponent: float) -> float | None:
    if base < 0:
        return None
    try:
        return math.pow(base, exponent)
    except (OverflowError, ValueError):  # too large; 0 to a negative power
        return None


RULES = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: 0.0 if b == 0 else a / b,
    "^": _pow,
    "pow": _pow,
    "neg": lambda a: -a,
    "sqrt": lambda a: None if a < 0 else math.sqrt(a),
    "log1p": lambda a: None if a <= -1 else math.log(1 + a),
    "min": lambda *a: min(a),
    "max": lambda *a: max(a),
}


def _range(rows: dict[str, list[float | None]]) -> range:
    return range(len(rows[FEATURE_NAMES[0]]))


def _arrays(rows: dict[str, list[float | None]]) -> dict[str, np.ndarray]:
    return {n: np.array([np.nan if v is None else v for v in rows[n]]) for n in FEATURE_NAMES}


def _duckdb_values(backend, formula: Formula, rows) -> list[float | None]:
    table = ibis.memtable(pa.table({n: pa.array(rows[n], pa.float64()) for n in FEATURE_NAMES}))
    expr = table.select(w=compile_expr(formula, {n: table[n] for n in FEATURE_NAMES}))
    return backend.to_pyarrow(expr).column("w").to_pylist()
