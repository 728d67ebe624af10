"""Exact integer arithmetic and time keys as Ibis expressions, portable across backends.

Money: amounts and prices are ``decimal(38, 12)``; their product is exact in
``decimal(38, 24)`` (both DuckDB and Spark — the latter with precision loss switched
off, see :mod:`recompense.engine.backends`) and is rounded to integer micro-dollars
once. Every rounding in the engine is **half away from zero** (``ROUND_HALF_UP`` of
Python's ``decimal``; SQL ``ROUND`` on decimals), like :func:`recompense.money.round_to_cents`.

Ibis compiles ``//`` through floating point and DuckDB's ``date_trunc`` on time-zone-aware
timestamps is slow (it goes through the calendar), so the engine builds both from two
primitives that every backend has: ``%`` on integers and the timestamp's epoch in
microseconds (DuckDB ``epoch_us``, Spark ``unix_micros``, declared as Ibis builtins).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

import ibis
import ibis.expr.datatypes as dt

from recompense.data.contract import NUMBER_TYPE, USD_LIMIT
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


MICROS_LIMIT = USD_LIMIT * 1_000_000
TOTAL_TYPE = "decimal(38, 0)"  # sums of micro-dollars: cannot overflow, on any backend


def usd_micros(amount: Any, price: Any) -> tuple[Any, Any]:
    """Exact ``round(amount × price)`` in micro-dollars, and whether it is in range.

    ``amount`` and ``price`` are ``decimal(38, 12)``; their product is exact in
    ``decimal(38, 24)``. Rounding that product to 6 places directly is a 128-bit
    division per row (2.5 µs on DuckDB: 4× the whole losses stage), so it is rounded
    the way a careful person would: a float64 estimate ``e = round(amount·price·10⁶)``
    is within 0.001 of the true value ``X`` while ``|e| < 2⁴⁰`` (six roundings of 2⁻⁵³
    each), so ``X − e`` — computed exactly in decimals, by multiplication and
    subtraction only — lies in (−1.5, 1.5), and comparing it with ±½ gives the
    rounding half away from zero exactly. Beyond 2⁴⁰ micro-dollars ($1.1M in one row,
    rare) the product is rounded directly. Where the estimate says the value is beyond
    2 × ``USD_LIMIT`` the product is not formed at all (``decimal(38, 24)`` would
    overflow). Returns NULL micro-dollars where the price is NULL or the value is out
    of range; ``in_range`` is false where the rounded value is ≥ ``USD_LIMIT`` in
    magnitude (the contract's limit, applied exactly).
    """
    estimate = amount.cast("float64") * price.cast("float64") * 1e6
    product = amount * price
    guess = estimate.round()  # int64 once the CASE below has ruled out huge values
    exact = ibis.ifelse(
        estimate.abs() < 2.0**40,
        guess + _correction(product, guess),
        ((product.round(6)) * 1_000_000).cast("int64"),
    )
    micros = ibis.ifelse(estimate.abs() < 2e6 * USD_LIMIT, exact, ibis.null("int64"))
    in_range = (micros.abs() < MICROS_LIMIT).fill_null(False) | price.isnull()
    return ibis.ifelse(in_range, micros, ibis.null("int64")), in_range


def _correction(product: Any, guess: Any) -> Any:
    """−1, 0 or +1: how far ``guess`` is from round-half-away(product · 10⁶).

    Every decimal here is a product of two ``decimal(38, 12)`` values, so all of them
    are ``decimal(38, 24)`` on every backend and compare exactly (Spark compares
    decimals of different scales at the coarser one).
    """
    number = NUMBER_TYPE
    millionth = ibis.literal(Decimal("0.000001"), type=number)
    half = ibis.literal(Decimal("0.5"), type=number) * millionth
    below = product - guess.cast(number) * millionth  # X − guess, in USD
    up = (below > half) | ((below == half) & (guess >= 0))
    down = (below < -half) | ((below == -half) & (guess <= 0))
    return up.cast("int64") - down.cast("int64")


def total(micros: Any) -> Any:
    """Sum of int64 micro-dollars, exact and overflow-free (``decimal(38, 0)``)."""
    return micros.cast(TOTAL_TYPE).sum()


def in_limit(total_micros: Any) -> Any:
    """A user's total (``decimal(38, 0)``) is inside ±``USD_LIMIT``: safe as int64 cents."""
    return total_micros.abs() < ibis.literal(MICROS_LIMIT).cast(TOTAL_TYPE)


def round_micros_to_cents(micros: Any) -> Any:
    """int64 micro-dollars → int64 cents, half away from zero, exact for |micros| < 2⁶²."""
    half = MICROS_PER_CENT // 2
    return ibis.ifelse(
        micros >= 0,
        floor_div(micros + half, MICROS_PER_CENT),
        -floor_div(half - micros, MICROS_PER_CENT),
    )


def micros_to_cents(micros: int) -> int:
    """The same rounding in Python: half away from zero."""
    cents = (abs(micros) + MICROS_PER_CENT // 2) // MICROS_PER_CENT
    return cents if micros >= 0 else -cents


def floor_div(a: Any, m: int) -> Any:
    """Exact ⌊a / m⌋ for int64 ``a`` and positive ``m``.

    ``a - pmod(a, m)`` is an exact multiple of ``m``; dividing it in float64 lands
    within 0.5 of the true integer quotient for any int64, so rounding recovers it.
    ``%`` truncates toward zero on DuckDB and Spark alike, hence the positive modulo.
    """
    pmod = ((a % m) + m) % m
    return ((a - pmod).cast("float64") / m).round().cast("int64")
