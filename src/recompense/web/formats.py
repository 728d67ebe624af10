"""Numbers, money, percentages and times as the page's language writes them (Babel, CLDR).

Every figure a page shows goes through here, so one page never mixes ``1.200.000,00 US$``
with ``3,757``:

- **money**: integer cents (or an exact :class:`~decimal.Decimal` of dollars) in USD,
  ``$1,234.56`` in English and ``1.234,56 US$`` in Spanish. Cents go to Babel as a
  ``Decimal`` scaled by 10⁻², never through a float, so every cent is exact.
- **numbers**: counts with the locale's grouping (``12,345`` / ``12.345``); exact decimals
  as exported (``-41.62928000``) keep every digit, with the locale's decimal mark.
- **percentages**: a share (``0.02``) with two decimals by default, ``2.00 %`` / ``2,00 %``.
- **times**: always converted to UTC and said so (``12 Oct 2025, 14:03 UTC``), to the
  minute; a naive value is taken as UTC (the ledger stores UTC). Dates: ``12 Oct 2025``.
  A liquidation's time of day (:func:`clock`) keeps its seconds and microseconds.
- **prices and quantities** of collateral, exactly as held (no rounding): a price at least
  to the cent (``$3,812.50323`` / ``3.812,50323 US$``), a quantity without trailing zeros
  (``0.52`` / ``0,52``), as ``recompense explain`` prints them (:mod:`recompense.money`).

Non-breaking spaces (U+00A0) join a figure to its sign or symbol, so a line never breaks
between them. Babel's ``Locale`` objects are parsed once per language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import (
    format_compact_currency,
    format_compact_decimal,
    format_currency,
    format_decimal,
    format_percent,
    is_currency,
)

CURRENCY = "USD"
CENT = Decimal("0.01")


def money(cents: int | Decimal, locale: str, currency: str = CURRENCY) -> str:
    """Integer cents (or a Decimal of cents) as an amount in ``currency``: exact.

    Integer cents take a fast path (a page or an eligibility answer formats many): the
    locale's shape (symbol, separators, where the sign goes) is read from Babel once, and
    the digits are laid out with integer arithmetic. The shape is used only if it
    reproduces Babel's own output for a set of samples; otherwise every call asks Babel.
    """
    shape = _money_shape(locale, currency) if isinstance(cents, int) else None
    if shape is not None and isinstance(cents, int):
        return shape.format(cents)
    amount = Decimal(cents).scaleb(-2) if isinstance(cents, int) else Decimal(cents) * CENT
    return format_currency(amount, currency, locale=_locale(locale))


def amount(cents: int, locale: str, currency: str) -> str:
    """A ledger amount in its own currency: money for an ISO currency (``USD``), else the
    figure with two decimals and the code (``1,234.56 USDC`` / ``1.234,56 USDC``)."""
    if is_currency(currency):
        return money(cents, locale, currency)
    return f"{number(Decimal(cents).scaleb(-2), locale, 2)}\u00a0{currency}"


def dollars(amount: Decimal | str, locale: str, currency: str = CURRENCY) -> str:
    """An exact amount of dollars (``Decimal("3100000")``, ``"2500000.00"``) as money;
    text that is not a number is shown as it is (it was typed, and is evidence)."""
    try:
        value = Decimal(str(amount).strip())
    except ArithmeticError:
        return str(amount)
    if not value.is_finite():
        return str(amount)
    return format_currency(value, currency, locale=_locale(locale))


def number(value: int | float | Decimal, locale: str, digits: int | None = None) -> str:
    """A count or a measure with the locale's grouping; ``digits`` fixes the decimals.

    Integers and fixed decimals take the same kind of fast path as :func:`money` (the
    locale's marks, checked against Babel once); other values ask Babel.
    """
    marks = _marks(locale)
    if marks is not None and (digits is not None or isinstance(value, int)):
        return marks.fixed(_decimal(value), digits or 0)
    return format_decimal(value, format=_pattern(digits), locale=_locale(locale))


def significant(value: float, locale: str, digits: int = 6) -> str:
    """A measure to ``digits`` significant digits (``6.28678``), with the locale's marks."""
    return exact(Decimal(f"{value:.{digits}g}"), locale)


def exact(text: str | Decimal, locale: str) -> str:
    """An exact decimal as exported (``-41.62928000``): every digit kept, trailing zeros too."""
    value = Decimal(str(text).strip())
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return number(value, locale, places)


def price(value: Decimal, locale: str, currency: str = CURRENCY) -> str:
    """A price exactly as held, at least to the cent: ``3812.503230`` → ``$3,812.50323``
    / ``3.812,50323 US$``; ``430`` → ``$430.00``. No rounding."""
    return format_currency(
        _plain(value), currency, locale=_locale(locale), decimal_quantization=False
    )


def quantity(value: Decimal, locale: str) -> str:
    """A quantity exactly as held, without trailing zeros: ``0.520000`` → ``0.52`` / ``0,52``."""
    return format_decimal(_plain(value), locale=_locale(locale), decimal_quantization=False)


def clock(moment: datetime, locale: str) -> str:
    """A time of day in UTC, ``21:40 UTC``, with the seconds (``21:40:07 UTC``) and the
    microseconds (``21:40:07.250000 UTC`` / ``21:40:07,250000 UTC``) only when it has them."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    shown = f"{moment:%H:%M}"
    if moment.second or moment.microsecond:
        shown += f":{moment:%S}"
    if moment.microsecond:
        mark = _locale(locale).number_symbols.get("latn", {}).get("decimal", ".")
        shown += f"{mark}{moment.microsecond:06d}"
    return f"{shown}\u00a0UTC"


def compact(value: float, locale: str) -> str:
    """An axis label: ``2.5K`` / ``2,5 mil``."""
    return format_compact_decimal(value, locale=_locale(locale), fraction_digits=1)


def compact_money(dollars: float, locale: str, currency: str = CURRENCY) -> str:
    """An axis label in money: ``$2.5K`` / ``2,5 mil US$`` (cents below one dollar)."""
    digits = 2 if 0 < abs(dollars) < 1 else 1
    return format_compact_currency(
        dollars, currency, locale=_locale(locale), fraction_digits=digits
    )


def percent(share: float | Decimal, locale: str, digits: int = 2) -> str:
    """A share as a percentage: ``0.02`` → ``2.00 %`` (``digits`` decimals)."""
    marks = _marks(locale)
    if marks is not None:
        return f"{marks.fixed(_decimal(share) * 100, digits)}\u00a0{marks.percent}"
    return format_percent(share, f"{_pattern(digits)}\u00a0%", locale=_locale(locale))


def when(moment: datetime | str | None, locale: str) -> str:
    """A moment in UTC to the minute, ``12 Oct 2025, 14:03 UTC``; None → ``""``.

    Strings are ISO 8601 (``2025-10-10T21:00:00Z``); naive values are UTC.
    """
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    shown = format_datetime(moment, "d MMM y, HH:mm", tzinfo=UTC, locale=_locale(locale))
    return f"{shown}\u00a0UTC"


def day(value: date | datetime | str | None, locale: str) -> str:
    """A calendar date, ``12 Oct 2025`` / ``12 oct 2025``; None → ``""``."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date() if value.tzinfo else value.date()
    return format_date(value, "d MMM y", locale=_locale(locale))


@cache
def _locale(tag: str) -> Locale:
    return Locale.parse(tag)


@dataclass(frozen=True, slots=True)
class _Shape:
    """How a locale writes an amount of money: ``-`` + prefix + grouped units + decimal
    mark + two digits + suffix (the sign's place read from Babel's negative sample)."""

    prefix: str
    suffix: str
    negative_prefix: str
    negative_suffix: str
    group: str
    decimal: str

    def format(self, cents: int) -> str:
        units, fraction = divmod(abs(cents), 100)
        digits = str(units)
        grouped = [digits[max(0, end - 3) : end] for end in range(len(digits), 0, -3)]
        body = f"{self.group.join(reversed(grouped))}{self.decimal}{fraction:02d}"
        if cents < 0:
            return f"{self.negative_prefix}{body}{self.negative_suffix}"
        return f"{self.prefix}{body}{self.suffix}"


_SAMPLES = (0, 5, 99, 100, 123_456, 100_000_000, 123_456_789_012_345, -5, -123_456_789)


@dataclass(frozen=True, slots=True)
class _Marks:
    """A locale's grouping and decimal marks and percent sign, as Babel writes them."""

    group: str
    decimal: str
    percent: str

    def fixed(self, value: Decimal, places: int) -> str:
        """``value`` rounded half-even to ``places`` decimals (as Babel rounds), grouped."""
        rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        whole, _, fraction = f"{abs(rounded):f}".partition(".")
        groups = [whole[max(0, end - 3) : end] for end in range(len(whole), 0, -3)]
        body = self.group.join(reversed(groups)) + (self.decimal + fraction if places else "")
        return f"-{body}" if rounded.is_signed() else body


_DECIMAL_SAMPLES = (
    (Decimal(0), 0),
    (Decimal("1234567.891"), 2),
    (Decimal("-0.001"), 2),
    (Decimal("0.125"), 2),
    (Decimal("0.135"), 2),
    (Decimal("-41.62928000"), 8),
    (Decimal("999.9996"), 3),
    (Decimal(-1234), 0),
    (Decimal("12345678901234567890.5"), 0),
)


@cache
def _marks(locale: str) -> _Marks | None:
    """The locale's marks, if they reproduce Babel's decimals and percentages on samples."""
    symbols = _locale(locale).number_symbols.get("latn", {})
    marks = _Marks(symbols.get("group", ","), symbols.get("decimal", "."), "%")
    for value, places in _DECIMAL_SAMPLES:
        babel = format_decimal(value, format=_pattern(places), locale=_locale(locale))
        share = format_percent(value, f"{_pattern(places)}\u00a0%", locale=_locale(locale))
        if marks.fixed(value, places) != babel:
            return None
        if f"{marks.fixed(value * 100, places)}\u00a0{marks.percent}" != share:
            return None
    return marks


def _pattern(digits: int | None) -> str | None:
    return None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros, and never in exponent form (``430`` stays ``430``)."""
    normalized = Decimal(value).normalize()
    exponent = normalized.as_tuple().exponent
    return (
        normalized.quantize(Decimal(1))
        if isinstance(exponent, int) and exponent > 0
        else normalized
    )


def _decimal(value: int | float | Decimal) -> Decimal:
    """Exactly the value shown: a float by its shortest repr (as Babel reads floats)."""
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


@cache
def _money_shape(locale: str, currency: str) -> _Shape | None:
    """The locale's shape for ``currency``, if it reproduces Babel on every sample."""

    def babel(cents: int) -> str:
        return format_currency(Decimal(cents).scaleb(-2), currency, locale=_locale(locale))

    positive, negative = babel(1_234_567_89), babel(-1_234_567_89)
    found = re.fullmatch(r"(\D*)1(\D+)234(\D+)567(\D+)89(\D*)", positive)
    signed = re.fullmatch(r"(\D*)1\D+234\D+567\D+89(\D*)", negative)
    if found is None or signed is None or found[2] != found[3]:
        return None
    shape = _Shape(found[1], found[5], signed[1], signed[2], found[2], found[4])
    return shape if all(shape.format(c) == babel(c) for c in _SAMPLES) else None
