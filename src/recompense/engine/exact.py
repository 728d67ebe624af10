"""Exact integer arithmetic and time keys as Ibis expressions, portable across backends.

Ibis compiles ``//`` through floating point and DuckDB's ``date_trunc`` on time-zone-aware
timestamps is slow (it goes through the calendar), so the engine builds both from two
primitives that every backend has: ``%`` on integers and the timestamp's epoch in
microseconds (DuckDB ``epoch_us``, Spark ``unix_micros``, declared as Ibis builtins).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import ibis
import ibis.expr.datatypes as dt

from recompense.errors import InputError

MICROS_PER_CENT = 10_000
US_PER_MINUTE = 60_000_000
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 86_400_000_000

EpochMicros = Callable[[Any], Any]


@cache
def epoch_micros(backend_name: str) -> EpochMicros:
    """The backend's builtin for a UTC timestamp's epoch in integer microseconds."""
    names = {"duckdb": "epoch_us", "pyspark": "unix_micros"}
    if backend_name not in names:
        raise InputError(f"engine {backend_name!r} has no epoch-microseconds builtin")

    @ibis.udf.scalar.builtin(name=names[backend_name])  # type: ignore[untyped-decorator]
    def epoch_us(ts: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[valid-type]
        """Microseconds since 1970-01-01T00:00:00Z."""

    return epoch_us  # type: ignore[no-any-return]


def minute_s(ts: Any, epoch_us: EpochMicros) -> Any:
    """Epoch seconds of the minute a timestamp falls in (UTC), as int64."""
    return floor_div(epoch_us(ts), US_PER_MINUTE) * 60


def hour_s(ts: Any, epoch_us: EpochMicros) -> Any:
    """Epoch seconds of the hour a timestamp falls in (UTC), as int64."""
    return floor_div(epoch_us(ts), US_PER_HOUR) * 3600


def to_micros(usd: Any) -> Any:
    """float USD → int64 micro-dollars, rounded half-up (NULL stays NULL)."""
    return (usd * 1_000_000 + 0.5).floor().cast("int64")


def round_micros_to_cents(micros: Any) -> Any:
    """int64 micro-dollars → int64 cents, half-up, exact for every int64."""
    return floor_div(micros + MICROS_PER_CENT // 2, MICROS_PER_CENT)


def floor_div(a: Any, m: int) -> Any:
    """Exact ⌊a / m⌋ for int64 ``a`` and positive ``m``.

    ``a - pmod(a, m)`` is an exact multiple of ``m``; dividing it in float64 lands
    within 0.5 of the true integer quotient for any int64, so rounding recovers it.
    ``%`` truncates toward zero on DuckDB and Spark alike, hence the positive modulo.
    """
    pmod = ((a % m) + m) % m
    return ((a - pmod).cast("float64") / m).round().cast("int64")
