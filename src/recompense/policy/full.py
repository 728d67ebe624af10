"""The second kind of programme: each user is paid their computed loss in full.

``program.kind = "full"`` (the de-peg compensation of 2025-10-11: ``programs/depeg-2025-10.toml``)
against ``"shared"`` (the default: a fixed budget shared by weight, :mod:`.model`). A
full programme pays, per collateral liquidation event in the window,
``max(0, adjusted reference price − liquidation price) × quantity`` in cents, and per user
the sum, capped by an optional ``payout.ceiling_usd``. Its optional ``program.budget_usd``
is a limit, never a share: a run whose payouts exceed it is refused
(``payout.when_over_budget = "refuse"``, the only value; nothing is scaled).

The adjusted reference price of an asset, from the ``reference_prices`` row at
``collateral.reference_at`` (market price ``m``; redemption rate ``r`` in units of the
underlying per unit; the underlying's price ``u``) and the policy's adjustment
(redemption weight ``w``, optional floor ``f``)::

    adjusted = max(f, (1 − w) · m + w · r · u)

rounded half up to 12 decimal places (the contract's scale) — the one rounding before
the per-event cents. Weights are 0 to 1 with at most 6 decimal places; the floor is a USD
amount with at most 12 decimal places. The floor and the weights are decisions, so they
live here; the prices and rates are facts, so they live in the data.

Values are bounded like the shared kind's (:mod:`.model`): a ceiling at most $10^7,
a budget at most $10^12, times 1970–2100, the window at most 31 days.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from recompense.data.contract import COLLATERAL_PRODUCTS
from recompense.money import D, to_cents
from recompense.policy.model import (
    PROGRAM_ID_PATTERN,
    Amendments,
    BudgetUSD,
    Cases,
    Distribution,
    PayoutUSD,
    UTCTime,
    Window,
    _Strict,
)

WEIGHT_PLACES = 6
PRICE_PLACES = 12
MAX_FLOOR_USD = Decimal(10**6)
ASSET_PATTERN = r"^[A-Z0-9]{1,20}$"


def _decimal(value: Any, *, example: str) -> Decimal:
    if isinstance(value, float):
        value = repr(value)  # TOML floats: only when they print as a clean decimal
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f'must be a number such as "{example}"')
    try:
        return D(value)
    except ValueError as exc:
        raise ValueError(f'must be a number such as "{example}": {exc}') from None


def _weight(value: Any) -> Decimal:
    weight = _decimal(value, example="0.70")
    if not 0 <= weight <= 1:
        raise ValueError("must be from 0 to 1")
    if weight != weight.quantize(Decimal(1).scaleb(-WEIGHT_PLACES)):
        raise ValueError(f"at most {WEIGHT_PLACES} decimal places")
    return weight


def _floor(value: Any) -> Decimal:
    floor = _decimal(value, example="0.95")
    if floor <= 0:
        raise ValueError("must be greater than 0")
    if floor > MAX_FLOOR_USD:
        raise ValueError(f"must be at most {MAX_FLOOR_USD:,}")
    if floor != floor.quantize(Decimal(1).scaleb(-PRICE_PLACES)):
        raise ValueError(f"at most {PRICE_PLACES} decimal places")
    return floor


Weight = Annotated[Decimal, BeforeValidator(_weight)]
FloorUSD = Annotated[Decimal, BeforeValidator(_floor)]


class FullProgram(_Strict):
    id: str = Field(pattern=PROGRAM_ID_PATTERN)
    kind: Literal["full"]
    name: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{2,10}$")
    budget_usd: BudgetUSD | None = None
    announced_at: UTCTime


class Adjustment(_Strict):
    """One asset's index adjustment: its redemption weight and an optional price floor."""

    asset: str = Field(pattern=ASSET_PATTERN)
    redemption_weight: Weight = Decimal(0)
    floor_usd: FloorUSD | None = None


class Collateral(_Strict):
    """Whose liquidations count: products, collateral assets, and the reference time."""

    products: tuple[str, ...] = Field(min_length=1)
    assets: tuple[Annotated[str, Field(pattern=ASSET_PATTERN)], ...] = Field(min_length=1)
    reference_at: UTCTime
    adjustments: tuple[Adjustment, ...] = ()

    @field_validator("products")
    @classmethod
    def _known_products(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(COLLATERAL_PRODUCTS))
        if unknown:
            raise ValueError(f"unknown product(s) {unknown}; allowed: {list(COLLATERAL_PRODUCTS)}")
        if len(set(value)) != len(value):
            raise ValueError("products must not repeat")
        return value

    @field_validator("assets")
    @classmethod
    def _unique_assets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("assets must not repeat")
        return value

    @model_validator(mode="after")
    def _adjusted_assets(self) -> Collateral:
        named = [a.asset for a in self.adjustments]
        if len(set(named)) != len(named):
            raise ValueError(f"adjustments: each asset at most once, got {named}")
        stray = sorted(set(named) - set(self.assets))
        if stray:
            raise ValueError(f"adjustments name asset(s) {stray} not in assets {list(self.assets)}")
        return self

    def adjustment(self, asset: str) -> Adjustment:
        for adjustment in self.adjustments:
            if adjustment.asset == asset:
                return adjustment
        return Adjustment(asset=asset)


class FullPayout(_Strict):
    ceiling_usd: PayoutUSD | None = Field(default=None, gt=0)
    when_over_budget: Literal["refuse"] = "refuse"


class FullPolicy(_Strict):
    """A full-payment programme file (``program.kind = "full"``)."""

    program: FullProgram
    window: Window
    collateral: Collateral
    payout: FullPayout = FullPayout()
    distribution: Distribution
    cases: Cases = Cases()
    amendments: Amendments = Amendments()

    @model_validator(mode="after")
    def _reference_after_window(self) -> FullPolicy:
        if self.collateral.reference_at < self.window.start:
            raise ValueError("collateral.reference_at must not be before window.start")
        return self

    @property
    def kind(self) -> str:
        return "full"

    @property
    def budget_cents(self) -> int | None:
        budget = self.program.budget_usd
        return None if budget is None else to_cents(budget)

    @property
    def ceiling_cents(self) -> int | None:
        ceiling = self.payout.ceiling_usd
        return None if ceiling is None else to_cents(ceiling)

    @property
    def reserve_cents(self) -> int:
        return to_cents(self.amendments.reserve_usd)

    @property
    def four_eyes_above_cents(self) -> int:
        return to_cents(self.cases.four_eyes_above_usd)

    def with_budget(self, budget_usd: Decimal) -> FullPolicy:
        """The same policy with another budget limit (``--budget-usd``), validated again."""
        from recompense.policy.model import PolicyError
        from recompense.tomlfile import validate_model

        data = self.model_dump()
        data["program"]["budget_usd"] = str(budget_usd)
        return validate_model(FullPolicy, data, source="--budget-usd", error=PolicyError)


def adjusted_reference(
    market_usd: Decimal,
    redemption_rate: Decimal | None,
    underlying_usd: Decimal | None,
    adjustment: Adjustment,
) -> Decimal:
    """``max(floor, (1 − w)·m + w·r·u)`` rounded half up to 12 places (see the module).

    Exact: Python's decimal at 80 digits holds every product of these bounded inputs.
    Raises :class:`ValueError` when the weight is above 0 and ``r`` or ``u`` is missing.
    """
    from decimal import ROUND_HALF_UP, localcontext

    w = adjustment.redemption_weight
    with localcontext() as ctx:
        ctx.prec = 80
        if w:
            if redemption_rate is None or underlying_usd is None:
                raise ValueError("redemption_rate and underlying_usd are needed (weight > 0)")
            blended = (1 - w) * market_usd + w * redemption_rate * underlying_usd
        else:
            blended = market_usd
        if adjustment.floor_usd is not None:
            blended = max(blended, adjustment.floor_usd)
        return blended.quantize(Decimal(1).scaleb(-PRICE_PLACES), rounding=ROUND_HALF_UP)
