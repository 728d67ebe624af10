"""Every Parquet decimal precision 1–76, in both physical layouts: read exactly or refused.

DuckDB used to read fixed-length decimals of precision 39–75 as the wrong numbers
(``decimal256(50, 20)`` holding −10.00 became a loss of $167,772,160). The contract
now reads every decimal of precision ≤ 38 exactly and refuses wider ones from the
file's footer, before any engine sees it. Checked here value by value against
``Decimal``, for the fixed-length layout and (precision ≤ 18) the integer layout.
"""

from __future__ import annotations

from decimal import Decimal

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recompense.data.contract import AMOUNT_LIMIT, NUMBER_TYPE, SCALE, Column, TableSpec
from recompense.data.parquet import footer_problems
from recompense.data.stored import stored_checks

SPEC = TableSpec("amounts", (Column("x", "num"),))
CASES = [
    (precision, scale, layout)
    for precision in range(1, 77)
    for scale in sorted({0, min(precision, SCALE), min(precision, SCALE + 1), precision})
    for layout in ("fixed", "integer")
    if layout == "fixed" or precision <= 18
]


def expected(value: Decimal) -> str | Decimal:
    """The contract's verdict on one stored decimal, computed with ``Decimal`` only."""
    if abs(value) >= AMOUNT_LIMIT:
        return "range"
    if value != value.quantize(Decimal(1).scaleb(-SCALE)):
        return "precision"
    return value


def read(path, con) -> tuple[list[str], list[Decimal]]:
    """The stored checks that fail, and the values as the engine reads them."""
    table = con.read_parquet(str(path))
    checks = stored_checks(SPEC.columns[0], table.x, naive_ok=False)
    metrics = {f"c{i}": p.fill_null(False).cast("int64").sum() for i, (_, p) in enumerate(checks)}
    row = table.aggregate(n=table.count(), **metrics).to_pyarrow().to_pylist()[0]
    failing = [message for i, (message, _) in enumerate(checks) if row[f"c{i}"]]
    if failing:
        return failing, []
    return failing, table.select(v=table.x.cast(NUMBER_TYPE)).to_pyarrow()["v"].to_pylist()


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


@pytest.mark.parametrize(("precision", "scale", "layout"), CASES)
def test_each_decimal_width_is_exact_or_refused(precision, scale, layout, tmp_path, con):
    type_ = (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
    digits = int("7" * precision)
    values = [Decimal(-digits).scaleb(-scale), Decimal(digits % 10**15).scaleb(-scale)]
    values.append(values[1].quantize(Decimal(1).scaleb(-min(scale, SCALE))))
    fits = [
        v
        for v in values
        if len(v.as_tuple().digits) <= precision and v.as_tuple().exponent >= -scale
    ]
    path = tmp_path / "amounts.parquet"
    options = {"store_decimal_as_integer": layout == "integer"}
    for value in fits:
        pq.write_table(pa.table({"x": pa.array([value], type_)}), path, **options)
        problems = footer_problems(SPEC, [path], naive_ok=False)
        if precision > 38:
            assert problems
            assert f"{type_} is wider than 38 digits" in problems[0]
            continue
        assert problems == []
        failing, read_values = read(path, con)
        verdict = expected(value)
        if verdict == "range":
            assert failing == [m for m in failing if "range" in m], (value, failing)
            assert failing, (value, failing)
        elif verdict == "precision":
            assert len(failing) == 1, value
            assert "beyond 12 decimal places" in failing[0], value
        else:
            assert failing == [], (value, read_values)
            assert read_values == [verdict], (value, read_values)
