"""Exact integer helpers and time keys, evaluated by the backend itself."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import ibis
import pyarrow as pa

from recompense.engine.exact import (
    epoch_micros,
    floor_div,
    hour_s,
    micros_to_cents,
    minute_s,
    round_micros_to_cents,
    usd_micros,
)
from recompense.money import round_to_cents

BIG = 2**62


def evaluate(backend, column, expr_of):
    table = ibis.memtable(pa.table({"x": column}))
    return backend.to_pyarrow(table.select(y=expr_of(table.x))).column("y").to_pylist()


def test_floor_div_is_exact_for_negative_and_huge_integers(backend):
    values = [-15001, -15000, -14999, -1, 0, 1, 9999, 10000, BIG + 12345, -BIG - 1, 2**53 + 1]
    got = evaluate(backend, pa.array(values, pa.int64()), lambda x: floor_div(x, 10_000))
    assert got == [v // 10_000 for v in values]


def test_cents_round_half_away_from_zero_like_money(backend):
    """One rule everywhere: the engine rounds −$10.005 as money.round_to_cents does."""
    micros = [4_999, 5_000, 15_000, -4_999, -5_000, -5_001, -10_005_000, 123_456_789_995_000]
    got = evaluate(backend, pa.array(micros, pa.int64()), round_micros_to_cents)
    assert got == [0, 1, 2, 0, -1, -1, -1001, 12_345_679_000]
    expected = [round_to_cents(Decimal(m) / 1_000_000) for m in micros]
    assert got == expected == [micros_to_cents(m) for m in micros]


def test_minute_and_hour_keys_floor_to_the_microsecond(backend):
    stamps = [
        datetime(2025, 10, 10, 21, 19, 59, 999_999, tzinfo=UTC),
        datetime(2025, 10, 10, 21, 20, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
    ]
    column = pa.array(stamps, pa.timestamp("us", tz="UTC"))
    epoch_us = epoch_micros(backend.name)
    minutes = evaluate(backend, column, lambda ts: minute_s(ts, epoch_us))
    hours = evaluate(backend, column, lambda ts: hour_s(ts, epoch_us))
    expected = [int(s.replace(second=0, microsecond=0).timestamp()) for s in stamps]
    assert minutes == expected
    assert hours == [int(s.replace(minute=0, second=0, microsecond=0).timestamp()) for s in stamps]


def test_usd_micros_round_half_away_from_zero_exactly(backend):
    """Ties, near-ties and values past the float estimate's 2⁴⁰ shortcut, vs ``Decimal``."""
    pairs = [
        ("0.0000005", "1"),  # a tie: +1
        ("-0.0000005", "1"),  # a tie: −1
        ("-0.0001245", "1"),  # 124.5 micro-dollars: −125
        ("-49.994875", "1"),
        ("1.0000015", "3"),  # 3,000,004.5: a tie far from zero
        ("0.000000499999", "1"),
        ("123456.123456789012", "0.000006510000"),
        ("8621655511.780000686646", "121500.5"),  # $1e15·: beyond 2⁴⁰ micro-dollars
        ("1099511.6277755", "1"),  # just past 2⁴⁰ micro-dollars, with a tie
        ("-1099511.6277745", "1"),
        ("999999.999999999999", "999999.999999999999"),  # just below $10¹²
    ]
    table = ibis.memtable(
        pa.table(
            {
                "a": pa.array([Decimal(a) for a, _ in pairs], pa.decimal128(38, 12)),
                "p": pa.array([Decimal(p) for _, p in pairs], pa.decimal128(38, 12)),
            }
        )
    )
    micros, in_range = usd_micros(table.a, table.p)
    # As text: PySpark collects an int64 column holding NULLs through float64.
    got = backend.to_pyarrow(table.select(m=micros.cast("string"), ok=in_range)).to_pylist()
    for (a, p), row in zip(pairs, got, strict=True):
        want = (Decimal(a) * Decimal(p) * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        in_limit = abs(want) < 10**18
        assert row["ok"] == in_limit, (a, p)
        assert row["m"] == (str(int(want)) if in_limit else None), (a, p, row)
