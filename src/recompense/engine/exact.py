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

    ``amount`` and ``price`` are ``decimal(38, 12)``; their product ``X`` (in USD) is
    exact in ``decimal(38, 24)``. Rounding it to 6 places directly is a 128-bit
    division per row (2.5 µs on DuckDB: 4× the whole losses stage, and Spark's decimal
    ``ROUND`` gave a wrong last digit at 10¹⁸), so it is rounded with multiplications,
    subtractions and comparisons only:

    1. a float64 estimate ``g₀ = round(amount · price · 10⁶)``, within 10⁻¹⁵ relative;
    2. beyond 2⁴⁰ micro-dollars (rare: over $1.1M in one row) the exact remainder
       ``X − g₀·10⁻⁶`` (a decimal, below 2·10⁻³ USD) converted to float64 moves the
       guess to ``g₁``; below, ``g₁ = g₀``. Either way ``g₁`` is within 0.5 + 10⁻³ of
       ``X·10⁶``;
    3. the exact remainder ``X − g₁·10⁻⁶`` compared with ±½·10⁻⁶ decides the last
       step (ties away from zero) — exact for every value.

    Where the estimate says the value is beyond 2 × ``USD_LIMIT`` the product is
    formed from a zero amount (``decimal(38, 24)`` would overflow). Returns NULL micro-dollars where
    the price is NULL or the value is out of range; ``in_range`` is false where the
    rounded value is ≥ ``USD_LIMIT`` in magnitude (the contract's limit, applied exactly).
    """
    return _rounded_product(amount, price, _MILLIONTH, MICROS_LIMIT)


def usd_cents(amount: Any, price: Any) -> tuple[Any, Any]:
    """Exact ``round(amount × price)`` in cents (half away from zero), and whether it is
    in range: the algorithm of :func:`usd_micros` with a unit of 10⁻² instead of 10⁻⁶
    (used where the rule rounds once, straight to cents: the de-peg payout per event)."""
    return _rounded_product(amount, price, _HUNDREDTH, CENTS_LIMIT)


def _rounded_product(amount: Any, price: Any, unit: Decimal, limit: int) -> tuple[Any, Any]:
    """``round(amount × price / unit)`` exactly, NULL where out of ±``limit`` units."""
    scale = float(1 / unit)
    estimate = amount.cast("float64") * price.cast("float64") * scale
    safe = estimate.abs() < 2 * scale * USD_LIMIT
    # Out-of-range rows get zero operands, so no row forms an overflowing product or
    # cast (an error under ANSI) whatever a backend evaluates eagerly.
    amount = ibis.ifelse(safe, amount, ibis.literal(0).cast(NUMBER_TYPE))
    estimate = ibis.ifelse(safe, estimate, 0.0)
    product = amount * price
    first = estimate.round()
    # Below 2⁴⁰ units the estimate is already within 0.001 of a unit (step 2 is a no-op).
    step = (_remainder(product, first, unit).cast("float64") * scale).round()
    second = ibis.ifelse(estimate.abs() < 2.0**40, first, first + step)
    exact = second + _correction(product, second, unit)
    units = ibis.ifelse(safe, exact, ibis.null("int64"))
    in_range = (units.abs() < limit).fill_null(False) | price.isnull()
    return ibis.ifelse(in_range, units, ibis.null("int64")), in_range


_MILLIONTH = Decimal("0.000001")
_HUNDREDTH = Decimal("0.01")
CENTS_LIMIT = USD_LIMIT * 100


def _remainder(product: Any, guess: Any, unit: Decimal) -> Any:
    """``X − guess·unit`` exactly, as ``decimal(38, 24)`` on every backend."""
    return product - guess.cast(NUMBER_TYPE) * ibis.literal(unit, type=NUMBER_TYPE)


def _correction(product: Any, guess: Any, unit: Decimal) -> Any:
    """−1, 0 or +1: the step from ``guess`` to round-half-away(``X``·10⁶).

    The remainder and ½·10⁻⁶ are both products of two ``decimal(38, 12)`` values, so
    ``decimal(38, 24)`` on every backend, and compare exactly (Spark compares decimals
    of different scales at the coarser one).
    """
    half = ibis.literal(Decimal("0.5"), type=NUMBER_TYPE) * ibis.literal(unit, type=NUMBER_TYPE)
    rest = _remainder(product, guess, unit)
    up = (rest > half) | ((rest == half) & (guess >= 0))
    down = (rest < -half) | ((rest == -half) & (guess <= 0))
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
