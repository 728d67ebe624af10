"""Exact integer helpers and time keys, evaluated by the backend itself."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import ibis
import pyarrow as pa

from recompense.engine.exact import (
    epoch_micros,
    floor_div,
    hour_s,
    micros_to_cents,
    minute_s,
    round_micros_to_cents,
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
