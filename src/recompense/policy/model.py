"""The programme policy: one TOML file that says who is paid and how much.

Validated with Pydantic; unknown keys are refused. Every mistake is reported as
``FILE: key 'a.b': what is wrong (got VALUE)`` so an operator can fix the file without
reading code. Amounts are strings or integers in USD with at most two decimals and are
held as :class:`~decimal.Decimal`; times must carry a UTC offset.

Every value is bounded so that whatever ``recompense check`` accepts also runs, exactly,
in int64 cents everywhere downstream (engine, allocation, ledger, proofs):

- the budget and the minimum loss: at most $10^12 (10^14 cents, the data contract's
  range for a user's loss and net assets);
- the minimum and maximum payout: at most $10^7 (10^9 cents), so the allocation's sums
  of n floors or n caps stay below 2^63 for any n below 9·10^9 users;
- the minimum loss ratio: 0 to 10 with at most 6 decimal places, so as a fraction p/q
  in lowest terms q ≤ 10^6 and p ≤ 10^7 (see ``engine.eligibility`` for why that keeps
  the exact comparison inside int64);
- times: from 1970 to 2100 (UTC); the loss window: at most 31 days; hours and days of
  the distribution: at most 10 years.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from recompense.data.contract import PRODUCTS
from recompense.errors import InputError
from recompense.money import D, format_usd, to_cents
from recompense.policy.formula import Formula, FormulaError, parse
from recompense.tomlfile import read_toml, validate_model

if TYPE_CHECKING:
    from recompense.policy.full import FullPolicy


class PolicyError(InputError):
    """A programme file that does not validate."""


MAX_AMOUNT_USD = Decimal(10**12)  # budget and minimum loss: 10^14 cents
MAX_PAYOUT_USD = Decimal(10**7)  # one user's payout: 10^9 cents
MAX_RATIO = Decimal(10)
RATIO_PLACES = 6
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_WINDOW = timedelta(days=31)
MAX_HOURS = 10 * 365 * 24
MAX_DAYS = 10 * 365


def usd_amount(value: Any, *, maximum: Decimal = MAX_AMOUNT_USD) -> Decimal:
    """Parse a USD amount as the policy does: exact, ≥ 0, ≤ ``maximum``, whole cents.

    Shared with the CLI's ``--budget-usd`` so both refuse the same values. Raises
    :class:`ValueError` saying what is wrong (the caller names the key or option).
    """
    if isinstance(value, float):
        # TOML floats are not exact; accept them only when they print as a clean decimal.
        value = repr(value)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError('must be a USD amount such as "50.00"')
    try:
        amount = D(value)
    except ValueError as exc:
        raise ValueError(f'must be a USD amount such as "50.00": {exc}') from None
    if amount < 0:
        raise ValueError("must not be negative")
    if amount > maximum:
        raise ValueError(f"must be at most {format_usd(int(maximum) * 100)}")
    to_cents(amount)  # raises on sub-cent precision (bounded above, so quantize is exact)
    return amount


def budget_usd(value: Any) -> Decimal:
    """A programme budget: a USD amount above 0 and at most :data:`MAX_AMOUNT_USD`."""
    amount = usd_amount(value)
    if amount == 0:
        raise ValueError("must be greater than 0")
    return amount


def _payout_usd(value: Any) -> Decimal:
    return usd_amount(value, maximum=MAX_PAYOUT_USD)


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError("must be a date-time with a UTC offset, e.g. 2025-10-10T00:00:00Z")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a UTC offset, e.g. 2025-10-10T00:00:00Z (naive time)")
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be from 1970-01-01 up to 2100-01-01 (UTC)")
    return value.astimezone(UTC)


USD = Annotated[Decimal, BeforeValidator(usd_amount)]
PayoutUSD = Annotated[Decimal, BeforeValidator(_payout_usd)]
BudgetUSD = Annotated[Decimal, BeforeValidator(budget_usd)]
UTCTime = Annotated[datetime, BeforeValidator(_utc)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A programme id leaves room for its amendments' ledger ids ("<id>~a<n>", 64 at most).
PROGRAM_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,55}$"


class Program(_Strict):
    id: str = Field(pattern=PROGRAM_ID_PATTERN)
    # "shared": a fixed budget shared by weight (this model); "full": each user's loss in
    # full (recompense.policy.full.FullPolicy).
    kind: Literal["shared"] = "shared"
    name: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{2,10}$")
    budget_usd: BudgetUSD
    announced_at: UTCTime
    snapshot_at: UTCTime


class Window(_Strict):
    """Half-open loss window ``[start, end)``, at most :data:`MAX_WINDOW` long.

    The engine prices every minute of the window for every asset (a forward-filled
    grid), so its cost grows with the length: 31 days is 44,640 minutes per asset,
    while 70 years ran a 2,000-user run out of memory.
    """

    start: UTCTime
    end: UTCTime

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_WINDOW:
            raise ValueError(f"end must be at most {MAX_WINDOW.days} days after start")
        return self


class Eligibility(_Strict):
    products: tuple[str, ...] = Field(min_length=1)
    min_loss_usd: USD
    min_loss_ratio: Decimal = Field(ge=0, le=MAX_RATIO)
    excluding_programs: tuple[str, ...] = ()

    @field_validator("products")
    @classmethod
    def _known_products(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(PRODUCTS))
        if unknown:
            raise ValueError(f"unknown product(s) {unknown}; allowed: {list(PRODUCTS)}")
        if len(set(value)) != len(value):
            raise ValueError("products must not repeat")
        return value

    @field_validator("min_loss_ratio", mode="before")
    @classmethod
    def _ratio(cls, value: Any) -> Decimal:
        if isinstance(value, float):
            value = repr(value)
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise ValueError('must be a ratio such as "0.30"')
        return D(value)

    @field_validator("min_loss_ratio")
    @classmethod
    def _ratio_places(cls, value: Decimal) -> Decimal:
        """At most 6 places: the exact comparison's bound (0 ≤ value ≤ 10 is checked first)."""
        if value != value.quantize(Decimal(1).scaleb(-RATIO_PLACES)):
            raise ValueError(f"at most {RATIO_PLACES} decimal places")
        return value


class Payout(_Strict):
    min_usd: PayoutUSD
    max_usd: PayoutUSD = Field(gt=0)
    cap_at_loss: bool = True
    weight: str = Field(min_length=1)

    @model_validator(mode="after")
    def _bounds(self) -> Payout:
        if self.min_usd > self.max_usd:
            raise ValueError(f"min_usd ({self.min_usd}) must not exceed max_usd ({self.max_usd})")
        return self


class Prices(_Strict):
    staleness_minutes: int = Field(ge=0, le=24 * 60)


class Incident(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    start: UTCTime
    end: UTCTime
    description: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Incident:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Distribution(_Strict):
    """How and how fast the payouts reach users.

    ``method``: ``"voucher"`` (the default) issues a voucher the user redeems in the
    Rewards Hub before it expires; ``"credit"`` credits the amount straight to the user's
    reward wallet as it is issued (the voucher row is the payment's record, issued and
    redeemed in the same transaction; nothing to redeem, nothing expires).
    """

    start_within_hours: int = Field(gt=0, le=MAX_HOURS)
    complete_within_hours: int = Field(gt=0, le=MAX_HOURS)
    voucher_validity_days: int = Field(gt=0, le=MAX_DAYS)
    method: Literal["voucher", "credit"] = "voucher"


class Cases(_Strict):
    """Users' cases (appeals and claims): the decision clock and the four-eyes amount.

    A decision whose amount — a claim's amount, or for a correction the most it can pay
    (the corrected loss, capped at the maximum payout) — is above ``four_eyes_above_usd``
    needs two different officers; at or below it, one (never the one who proposed it
    twice). ``decision_target_hours`` is the promise to users: from opening to decision.
    """

    decision_target_hours: int = Field(default=72, gt=0, le=MAX_HOURS)
    four_eyes_above_usd: PayoutUSD = Decimal("1000.00")


class Amendments(_Strict):
    """Amendment runs: the reserve that pays corrections and claims, apart from the budget.

    An amendment pays each user the difference between their new cumulative amount and
    what was already issued; decreases are recorded and never clawed back. When the
    accepted increases exceed what is left of the reserve, ``when_short = "refuse"``
    refuses the amendment (nothing is paid; raise the reserve or decide fewer cases) and
    ``"scale"`` pays every top-up the same share of it, to the cent.
    """

    reserve_usd: USD = Decimal("0")
    when_short: Literal["refuse", "scale"] = "refuse"


class Policy(_Strict):
    program: Program
    window: Window
    eligibility: Eligibility
    payout: Payout
    prices: Prices
    incidents: tuple[Incident, ...] = ()
    distribution: Distribution
    cases: Cases = Cases()
    amendments: Amendments = Amendments()

    @field_validator("incidents")
    @classmethod
    def _unique_incidents(cls, value: tuple[Incident, ...]) -> tuple[Incident, ...]:
        ids = [i.id for i in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"incident ids must be unique, got {ids}")
        return value

    @model_validator(mode="after")
    def _snapshot_before_window(self) -> Policy:
        if self.program.snapshot_at >= self.window.start:
            raise ValueError("program.snapshot_at must be before window.start")
        return self

    # Derived, exact values used by the engine and the allocation.
    @property
    def budget_cents(self) -> int:
        return to_cents(self.program.budget_usd)

    @property
    def min_loss_cents(self) -> int:
        return to_cents(self.eligibility.min_loss_usd)

    @property
    def min_ratio(self) -> Fraction:
        """The minimum loss ratio as an exact fraction (0.30 → 3/10)."""
        return Fraction(self.eligibility.min_loss_ratio)

    @property
    def min_payout_cents(self) -> int:
        return to_cents(self.payout.min_usd)

    @property
    def max_payout_cents(self) -> int:
        return to_cents(self.payout.max_usd)

    @property
    def staleness(self) -> timedelta:
        return timedelta(minutes=self.prices.staleness_minutes)

    @property
    def reserve_cents(self) -> int:
        return to_cents(self.amendments.reserve_usd)

    @property
    def four_eyes_above_cents(self) -> int:
        return to_cents(self.cases.four_eyes_above_usd)

    @property
    def formula(self) -> Formula:
        return parse(self.payout.weight)

    def with_budget(self, budget_usd: Decimal) -> Policy:
        """The same policy with another budget (``--budget-usd``), validated again."""
        data = self.model_dump()
        data["program"]["budget_usd"] = str(budget_usd)
        return validate_policy(data, source="--budget-usd")


def load_policy(path: Path) -> Policy:
    """Read and validate a shared-budget programme file; :class:`PolicyError` names the
    key at fault (a full-payment file is refused here: see :func:`load_programme`)."""
    raw = read_toml(path, kind="programme file", error=PolicyError)
    if _kind(raw) == "full":
        raise PolicyError(
            f"{path}: key 'program.kind': a full-payment programme (\"full\"); this reads "
            "shared-budget programmes only (recompense run and check read both kinds)"
        )
    return validate_policy(raw, source=str(path))


def load_programme(path: Path) -> Policy | FullPolicy:
    """Read and validate a programme file of either kind (``program.kind``)."""
    raw = read_toml(path, kind="programme file", error=PolicyError)
    return validate_programme(raw, source=str(path))


def validate_programme(raw: dict[str, Any], *, source: str) -> Policy | FullPolicy:
    if _kind(raw) == "full":
        from recompense.policy.full import FullPolicy

        return validate_model(FullPolicy, raw, source=source, error=PolicyError)
    return validate_policy(raw, source=source)


def _kind(raw: dict[str, Any]) -> Any:
    program = raw.get("program")
    return program.get("kind") if isinstance(program, dict) else None


def validate_policy(raw: dict[str, Any], *, source: str) -> Policy:
    policy = validate_model(Policy, raw, source=source, error=PolicyError)
    try:
        policy.formula  # noqa: B018 - parse now so a bad formula fails at load time
    except FormulaError as exc:
        raise PolicyError(f"{source}: key 'payout.weight': {exc}") from exc
    return policy
