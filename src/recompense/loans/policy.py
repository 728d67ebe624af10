"""The loan policy file (``programs/loans-2025-10.toml``): the fund, who may borrow, terms.

Validated with Pydantic; unknown keys are refused, and every mistake names the file and
the key (``FILE: key 'terms.max_days': …``). Amounts are USD strings held as
:class:`~decimal.Decimal` and used as integer cents; APRs are decimals (``"0.0200"`` is
2 %), never floats.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from recompense.loans.errors import LoanPolicyError
from recompense.money import D, to_cents
from recompense.tomlfile import read_toml, validate_model

DEFAULT_POLICY = Path("programs/loans-2025-10.toml")
RepaymentType = Literal["bullet", "instalments"]


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)  # TOML floats: accept only when they print as a clean decimal
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        return D(value)
    raise ValueError('must be a decimal number written as a string, e.g. "0.0200"')


def _usd(value: Any) -> Decimal:
    amount = _decimal(value)
    to_cents(amount)  # refuses sub-cent precision
    if amount <= 0:
        raise ValueError("must be a positive USD amount")
    return amount


USD = Annotated[Decimal, BeforeValidator(_usd)]
Rate = Annotated[Decimal, BeforeValidator(_decimal)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fund(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str
    currency: str = "USD"
    cap_usd: USD


class Borrowers(_Strict):
    tiers: tuple[str, ...] = ("vip", "institutional")
    max_outstanding_usd: USD
    min_amount_usd: USD


class AprTier(_Strict):
    max_days: int = Field(gt=0)
    apr: Rate = Field(ge=0, lt=1)


class Terms(_Strict):
    min_days: int = Field(gt=0)
    max_days: int = Field(gt=0)
    period_days: int = Field(gt=0)
    repayment_types: tuple[RepaymentType, ...] = ("bullet", "instalments")
    day_count: Literal["actual/365-fixed"] = "actual/365-fixed"
    apr_tiers: tuple[AprTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Terms:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days {self.min_days} is above max_days {self.max_days}")
        limits = [tier.max_days for tier in self.apr_tiers]
        if limits != sorted(set(limits)):
            raise ValueError(f"apr_tiers must have increasing max_days, got {limits}")
        if limits[-1] < self.max_days:
            raise ValueError(f"apr_tiers stop at {limits[-1]} days; max_days is {self.max_days}")
        return self


class Servicing(_Strict):
    late_fee_usd: Annotated[Decimal, BeforeValidator(_decimal)] = Decimal(0)
    grace_days: int = Field(default=0, ge=0)


class Decisions(_Strict):
    target_hours: int = Field(gt=0)
    warn_hours: int = Field(ge=0)
    four_eyes_above_usd: USD


class LoanPolicy(_Strict):
    fund: Fund
    borrowers: Borrowers
    terms: Terms
    servicing: Servicing
    decisions: Decisions

    @property
    def fund_id(self) -> str:
        return self.fund.id

    @property
    def cap_cents(self) -> int:
        return to_cents(self.fund.cap_usd)

    @property
    def max_outstanding_cents(self) -> int:
        return to_cents(self.borrowers.max_outstanding_usd)

    @property
    def min_amount_cents(self) -> int:
        return to_cents(self.borrowers.min_amount_usd)

    @property
    def four_eyes_above_cents(self) -> int:
        return to_cents(self.decisions.four_eyes_above_usd)

    @property
    def late_fee_cents(self) -> int:
        return to_cents(self.servicing.late_fee_usd)

    def apr_for(self, term_days: int) -> Decimal:
        """The APR of the first tier whose ``max_days`` covers the term."""
        for tier in self.terms.apr_tiers:
            if term_days <= tier.max_days:
                return tier.apr
        raise LoanPolicyError(f"no APR tier covers a term of {term_days} days")


def load_loan_policy(path: Path) -> LoanPolicy:
    """Read and validate a loan policy file; :class:`LoanPolicyError` names the key at fault."""
    raw = read_toml(path, kind="loan policy file", error=LoanPolicyError)
    return validate_loan_policy(raw, source=str(path))


def validate_loan_policy(raw: dict[str, Any], *, source: str) -> LoanPolicy:
    return validate_model(LoanPolicy, raw, source=source, error=LoanPolicyError)
