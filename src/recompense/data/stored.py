"""Predicates over values as stored, before anything is cast: what makes a value unusable.

Each function returns ``(message, predicate)`` pairs for one contract column of the
raw table (Parquet as typed, CSV as text). A row for which a predicate is true breaks
the contract. They exist so that :func:`recompense.data.readers.normalized` can cast
without failing (a traceback from the backend) or silently rounding a decimal input:

- CSV integers must be plain integer text within int64 (the backends' casts would
  round ``1.5`` to 2);
- numbers must parse (CSV), be finite, lie strictly inside ±``AMOUNT_LIMIT`` and carry
  no non-zero digit beyond the ``SCALE``-th decimal place — floats excepted, which are
  not exact to begin with and are taken to 12 places (``readers.as_number``);
- CSV timestamps must parse and, unless the operator says naive times are UTC, carry an
  offset (``Z``, ``+02:00``, ``-0530``), value by value: one naive row among aware ones
  is refused, not read in the session's time zone.

Every comparison is exact: decimals are compared as decimals, integers below 2⁵³
convert to float exactly, and floats are compared as floats.
"""

from __future__ import annotations

from typing import Any

import ibis

from recompense.data.contract import AMOUNT_LIMIT, NUMBER_TYPE, SCALE, Column

Check = tuple[str, Any]

# Text that is a plain (non-scientific) decimal with a non-zero digit after the 12th place.
_EXCESS_DIGITS = rf"^[^eE]*\.[0-9]{{{SCALE}}}[0-9]*[1-9][^eE]*$"
_WHOLE_DIGITS = len(str(AMOUNT_LIMIT)) - 1  # 15: every in-range value's integer digits
# Wide enough to hold every in-range value's first 23 decimals, for scientific notation.
_WIDE_SCALE = 38 - _WHOLE_DIGITS
_WIDE_TYPE = f"decimal(38, {_WIDE_SCALE})"
_INTEGER_TEXT = r"^\s*[+-]?[0-9]+\s*$"
_OFFSET_TEXT = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]*)?)?\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)\s*$"

LIMIT_TEXT = f"{AMOUNT_LIMIT:.0e}".replace("e+", "e")


def stored_checks(col: Column, column: Any, *, naive_ok: bool) -> list[Check]:
    """The checks on one stored column of kind int, num or ts (others have none)."""
    dtype = column.type()
    if col.kind == "int" and dtype.is_string():
        return [("values that are not integers within int64", _bad_integer_text(column))]
    if col.kind == "num":
        return _text_number_checks(column) if dtype.is_string() else _number_checks(column)
    if col.kind == "ts" and dtype.is_string():
        return _text_timestamp_checks(column, naive_ok=naive_ok)
    return []


def _bad_integer_text(column: Any) -> Any:
    text = column.strip()
    return column.notnull() & (~text.re_search(_INTEGER_TEXT) | text.try_cast("int64").isnull())


def _number_checks(column: Any) -> list[Check]:
    dtype = column.type()
    if dtype.is_floating():
        return [
            ("NaN or infinite values", column.isnan() | column.isinf()),
            (_range_message(), _float_out_of_range(column)),
        ]
    if dtype.is_integer():
        return [(_range_message(), column.cast("float64").abs() >= float(AMOUNT_LIMIT))]
    checks: list[Check] = []
    integer_digits = (dtype.precision or 38) - (dtype.scale or 0)
    out_of_range: Any = ibis.literal(False)
    if integer_digits > _WHOLE_DIGITS:  # otherwise no value of this type can be that big
        limit = ibis.literal(AMOUNT_LIMIT).cast(f"decimal(38, {dtype.scale or 0})")
        out_of_range = column.abs() >= limit
        checks.append((_range_message(), out_of_range))
    if (dtype.scale or 0) > SCALE:
        # Zero, not an unevaluated branch, for out-of-range rows: a backend may cast
        # every row (Spark's generated code), and the casts must not overflow.
        fitting = ibis.ifelse(out_of_range, ibis.literal(0).cast(dtype), column)
        inexact = _rounds(fitting, dtype.scale)
        checks.append((_excess_message(), inexact))
    return checks


def _text_number_checks(column: Any) -> list[Check]:
    text = column.strip()
    value = text.try_cast("float64")
    finite = ~(value.isnan() | value.isinf())
    # Exact: a number below 10¹⁵ in magnitude is one that fits decimal(38, 23).
    wide = text.try_cast(_WIDE_TYPE)
    in_range = finite & wide.notnull()
    fitting = wide.fill_null(ibis.literal(0).cast(_WIDE_TYPE))
    inexact = in_range & (text.re_search(_EXCESS_DIGITS) | _rounds(fitting, _WIDE_SCALE))
    return [
        ("values that are not numbers", column.notnull() & value.isnull()),
        ("NaN or infinite values", ~finite),
        (_range_message(), finite & ~in_range),
        (_excess_message(), inexact),
    ]


def _text_timestamp_checks(column: Any, *, naive_ok: bool) -> list[Check]:
    text = column.strip()
    checks: list[Check] = [
        (
            "values that are not timestamps (write ISO 8601, e.g. 2025-10-10T21:20:00Z)",
            column.notnull() & text.try_cast("timestamp('UTC')").isnull(),
        )
    ]
    if not naive_ok:
        checks.append(
            (
                "timestamps without a UTC offset; write e.g. 2025-10-10T21:20:00Z, "
                "or pass --naive-timestamps-are-utc if every naive time is UTC",
                column.notnull() & ~text.re_search(_OFFSET_TEXT),
            )
        )
    return checks


def _rounds(value: Any, scale: int) -> Any:
    """Whether rounding an in-range decimal of ``scale`` places to 12 places changes it.

    Both sides are compared as the same type, ``decimal(15 + scale, scale)``: comparing
    decimals of different scales is not exact on every backend (Spark casts the finer
    one down to the coarser scale first, which hides exactly the digits in question).
    """
    same = f"decimal({min(38, _WHOLE_DIGITS + scale)}, {scale})"
    return value.cast(same) != value.cast(NUMBER_TYPE).cast(same)


def _float_out_of_range(column: Any) -> Any:
    return ~(column.isnan() | column.isinf()) & (column.abs() >= float(AMOUNT_LIMIT))


def _range_message() -> str:
    return f"values outside the contract's range (|value| < {LIMIT_TEXT})"


def _excess_message() -> str:
    return (
        f"values with a non-zero digit beyond {SCALE} decimal places "
        "(the contract's precision; round them at the source)"
    )
