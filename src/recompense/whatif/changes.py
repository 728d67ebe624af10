"""What an operator may change in a what-if, and the settings that result.

:class:`Changes` holds optional overrides in the policy's own units (USD amounts with
at most two decimals, the ratio as a decimal, the weight formula as text); ``None``
means "as published". Values are parsed and checked when the object is built, so a
``Changes`` that exists is valid on its own; :meth:`Changes.apply` adds the checks that
need the published settings (the minimum payout must not exceed the maximum).
Strings are accepted everywhere (an HTML form sends strings); an empty string is
"no change".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from recompense.money import CENT, D, to_cents
from recompense.policy.formula import FormulaError, parse
from recompense.policy.model import MAX_AMOUNT_USD, MAX_PAYOUT_USD, RATIO_PLACES, usd_amount
from recompense.whatif.errors import ChangeError

MAX_RATIO = Decimal(10)  # the policy's own limit on eligibility.min_loss_ratio
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True, slots=True)
class Settings:
    """The parameters a simulation runs with (published ones, or with changes applied)."""

    min_loss_cents: int
    min_ratio: Decimal
    min_payout_cents: int
    max_payout_cents: int
    cap_at_loss: bool
    budget_cents: int
    weight: str

    @property
    def ratio(self) -> Fraction:
        """The minimum loss ratio as an exact fraction, as the engine compares it."""
        return Fraction(self.min_ratio)


@dataclass(frozen=True, slots=True)
class Changes:
    """Optional overrides of the published policy; ``None`` keeps the published value."""

    min_loss_usd: Decimal | None = None
    min_ratio: Decimal | None = None
    min_payout_usd: Decimal | None = None
    max_payout_usd: Decimal | None = None
    cap_at_loss: bool | None = None
    budget_usd: Decimal | None = None
    weight: str | None = None

    def __post_init__(self) -> None:
        checks = {
            "min_loss_usd": lambda v: _usd(v, "min_loss_usd", positive=False),
            "min_ratio": _ratio,
            "min_payout_usd": lambda v: _usd(v, "min_payout_usd", positive=False),
            "max_payout_usd": lambda v: _usd(v, "max_payout_usd", positive=True),
            "cap_at_loss": _flag,
            "budget_usd": lambda v: _usd(v, "budget_usd", positive=True),
            "weight": _weight,
        }
        for name, check in checks.items():
            value = getattr(self, name)
            if isinstance(value, str) and not value.strip():
                value = None
            object.__setattr__(self, name, None if value is None else check(value))

    @classmethod
    def from_form(cls, form: Mapping[str, str | bool | None]) -> Changes:
        """Build from text input keyed by field name; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        for key in form:
            if key not in known:
                raise ChangeError(key, form[key], f"is not a what-if field; known: {sorted(known)}")
        return cls(**form)  # type: ignore[arg-type]  # parsed and checked in __post_init__

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def as_dict(self) -> dict[str, Any]:
        """The changes that are set, JSON-friendly (amounts as strings)."""
        shown: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                shown[f.name] = str(value) if isinstance(value, Decimal) else value
        return shown

    def apply(self, published: Settings) -> Settings:
        """``published`` with these changes; refuses a minimum payout above the maximum."""
        cents = {
            "min_loss_cents": self.min_loss_usd,
            "min_payout_cents": self.min_payout_usd,
            "max_payout_cents": self.max_payout_usd,
            "budget_cents": self.budget_usd,
        }
        updates: dict[str, Any] = {k: to_cents(v) for k, v in cents.items() if v is not None}
        for name in ("min_ratio", "cap_at_loss", "weight"):
            if (value := getattr(self, name)) is not None:
                updates[name] = value
        settings = replace(published, **updates)
        if settings.min_payout_cents > settings.max_payout_cents:
            field = "min_payout_usd" if self.min_payout_usd is not None else "max_payout_usd"
            raise ChangeError(
                field,
                str(getattr(self, field)),
                f"the minimum payout ({_dollars(settings.min_payout_cents)}) must not exceed "
                f"the maximum payout ({_dollars(settings.max_payout_cents)})",
            )
        return settings


def _usd(value: Any, field: str, *, positive: bool) -> Decimal:
    """The policy's own rule (``policy.model.usd_amount``): what-if accepts exactly the
    amounts a policy file may hold, so an explored change can always be exported."""
    if isinstance(value, float | bool):
        raise ChangeError(field, value, 'must be a USD amount given exactly, e.g. "50.00"')
    payout = field in ("min_payout_usd", "max_payout_usd")
    try:
        amount = usd_amount(
            value.strip() if isinstance(value, str) else value,
            maximum=MAX_PAYOUT_USD if payout else MAX_AMOUNT_USD,
        )
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ChangeError(field, value, str(exc)) from None
    if positive and amount == 0:
        raise ChangeError(field, value, "must be greater than 0")
    return amount.quantize(CENT)


def _ratio(value: Any) -> Decimal:
    if isinstance(value, float | bool):
        raise ChangeError("min_ratio", value, 'must be a ratio given exactly, e.g. "0.30"')
    try:
        ratio = D(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError) as exc:
        raise ChangeError("min_ratio", value, f'must be a ratio such as "0.30": {exc}') from None
    if not Decimal(0) <= ratio <= MAX_RATIO:
        raise ChangeError("min_ratio", value, f"must be between 0 and {MAX_RATIO}")
    if ratio != ratio.quantize(Decimal(1).scaleb(-RATIO_PLACES)):
        raise ChangeError("min_ratio", value, f"at most {RATIO_PLACES} decimal places")
    return ratio


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ChangeError("cap_at_loss", value, "must be true or false")


def _weight(value: Any) -> str:
    if not isinstance(value, str):
        raise ChangeError("weight", value, "must be a formula, e.g. sqrt(loss_usd)")
    try:
        parse(value)
    except FormulaError as exc:
        raise ChangeError("weight", value, str(exc)) from None
    return value.strip()


def _dollars(cents: int) -> str:
    from recompense.money import format_usd

    return format_usd(cents)
