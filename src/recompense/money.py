"""Money at rest: integer cents and ``Decimal``, never floats.

Following beancount's ``D()``: one constructor turns operator input (TOML strings,
integers, CLI arguments) into ``Decimal``; amounts are then carried as integer cents.
The engine may use floats for the intermediate USD conversion of asset amounts; it
rounds to integer cents exactly once, where the rules say (see ``engine``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def D(value: str | int | Decimal) -> Decimal:
    """Parse an amount exactly. Floats are refused: they are not exact."""
    if isinstance(value, (bool, float)):
        raise TypeError(f"amount {value!r} must be a string, an int or a Decimal, not a float")
    try:
        result = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def to_cents(amount: Decimal) -> int:
    """Exact conversion of a USD amount with at most two decimals to integer cents."""
    if amount != amount.quantize(CENT):
        raise ValueError(f"{amount} has more than two decimals (cents)")
    return int(amount.quantize(CENT) * 100)


def round_to_cents(amount: Decimal) -> int:
    """Round half-up (away from zero for negatives) to integer cents."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def format_usd(cents: int) -> str:
    """``123456789`` → ``$1,234,567.89``; ``-5`` → ``-$0.05``. Integer arithmetic only."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def format_price(value: Decimal) -> str:
    """A USD price exactly as held, at least to the cent: ``Decimal("3812.503230")`` →
    ``$3,812.50323``; ``0.65`` → ``$0.65``; ``430`` → ``$430.00``. No rounding."""
    sign = "-" if value < 0 else ""
    text = f"{abs(value).normalize():f}"
    whole, _, decimals = text.partition(".")
    return f"{sign}${int(whole):,}.{decimals.ljust(2, '0')}"


def format_quantity(value: Decimal) -> str:
    """An asset quantity exactly as held, without trailing zeros: ``0.520000`` → ``0.52``."""
    text = f"{value.normalize():f}"
    whole, dot, decimals = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}{dot}{decimals}"
