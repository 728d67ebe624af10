"""An independent, exact reference for the full-payment (de-peg) rule.

Written from the rule's text, not from the engine: it takes the logical rows of the
dataset (what a test meant to write: ``Decimal`` amounts, aware ``datetime`` s) and a
loaded :class:`~recompense.policy.full.FullPolicy` (only read, for its values), and
computes everything in ``fractions.Fraction``. It imports nothing from
``recompense.engine`` and does not call ``recompense.policy.full.adjusted_reference``.

The rule, per collateral liquidation event whose product is in ``collateral.products``,
whose asset upper-cased is in ``collateral.assets`` and with
``window.start ≤ ts < window.end`` (to the microsecond)::

    R     = round_half_up(max(floor, (1 − w)·market + w·rate·underlying), 12 places)
    cents = round_half_up(max(0, R − liquidation_price) × quantity × 100)

(with no floor, no ``max``; with ``w = 0``, ``R`` is the market price and the rate may be
missing). Per user the sum of their events' cents, capped by ``payout.ceiling_usd``; a
user appears when at least one event counts, and is eligible when the amount is above 0.

Refusals, in the order the stages meet them: a listed asset with no ``reference_prices``
row at ``collateral.reference_at`` or with more than one (asset names compared in upper
case), or a weight above 0 with the rate or the underlying's price missing
(``PriceMissingError``); an adjusted price outside ``0 < R < 10¹²`` USD, an event paying
10¹² USD or more, or a user whose sum reaches it (``AmountRangeError``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

PRICE_SCALE = 10**12  # the adjusted reference price is rounded to 12 decimal places
USD_LIMIT = 10**12  # one event's payout, one user's sum, the reference price: below this
CENTS_LIMIT = USD_LIMIT * 100


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal the engine may give: its exception class name and a message fragment."""

    error: str
    text: str


@dataclass(frozen=True, slots=True)
class Expected:
    """What the rule gives: refusals (any one of which the engine must raise), or tables."""

    refusals: tuple[Refusal, ...] = ()
    references: dict[str, Decimal] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    hourly: list[dict[str, Any]] = field(default_factory=list)


def round_half_up(value: Fraction) -> int:
    """The integer nearest ``value``, ties away from zero."""
    magnitude = abs(value)
    whole, rest = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * rest >= magnitude.denominator:
        whole += 1
    return whole if value >= 0 else -whole


def reference_price(
    market: Decimal,
    rate: Decimal | None,
    underlying: Decimal | None,
    weight: Decimal,
    floor: Decimal | None,
) -> Fraction | None:
    """``R`` exactly, on the 12-place grid; ``None`` when the weight needs a missing value."""
    w = Fraction(weight)
    if w:
        if rate is None or underlying is None:
            return None
        blended = (1 - w) * Fraction(market) + w * Fraction(rate) * Fraction(underlying)
    else:
        blended = Fraction(market)
    if floor is not None:
        blended = max(Fraction(floor), blended)
    return Fraction(round_half_up(blended * PRICE_SCALE), PRICE_SCALE)


def event_cents(reference: Fraction, liquidation_price: Decimal, quantity: Decimal) -> int:
    shortfall = max(Fraction(0), reference - Fraction(liquidation_price))
    return round_half_up(shortfall * Fraction(quantity) * 100)


def expected(tables: dict[str, list[dict[str, Any]]], policy: Any) -> Expected:
    """The rule applied to ``tables`` (contract rows by table name) under ``policy``."""
    references, refusals = _references(tables.get("reference_prices", []), policy)
    if refusals:
        return Expected(refusals=tuple(refusals))
    events = _counted(tables, policy, references)
    too_big = [e for e in events if abs(e["loss_cents"]) >= CENTS_LIMIT]
    if too_big:
        text = f"{len(too_big)} event(s) whose payout reaches the contract's limit"
        return Expected(refusals=(Refusal("AmountRangeError", text),))
    users = _users(events, tables["users"], policy)
    over = [u for u in users if u["loss_cents"] >= CENTS_LIMIT]
    if over:
        text = f"{len(over)} user(s) whose total reaches the contract's limit"
        return Expected(refusals=(Refusal("AmountRangeError", text),))
    shown = {a: _decimal(r) for a, r in references.items()}
    return Expected((), shown, events, users, _hourly(events))


def _references(
    rows: list[dict[str, Any]], policy: Any
) -> tuple[dict[str, Fraction], list[Refusal]]:
    collateral = policy.collateral
    at = collateral.reference_at
    by_asset: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["at"] == at:
            by_asset.setdefault(row["asset"].upper(), []).append(row)
    refusals = [
        Refusal("PriceMissingError", f"asset {asset} has more than one row")
        for asset in collateral.assets
        if len(by_asset.get(asset, [])) > 1
    ]
    missing = [asset for asset in collateral.assets if asset not in by_asset]
    if missing:
        refusals.append(Refusal("PriceMissingError", f"for asset(s) {', '.join(missing)}"))
    if refusals:
        return {}, refusals
    prices: dict[str, Fraction] = {}
    for asset in collateral.assets:
        row = by_asset[asset][0]
        weight, floor = _adjustment(policy, asset)
        price = reference_price(
            row["market_usd"], row["redemption_rate"], row["underlying_usd"], weight, floor
        )
        if price is None:
            refusals.append(Refusal("PriceMissingError", f"asset {asset} at "))
        elif not 0 < price < USD_LIMIT:
            refusals.append(Refusal("AmountRangeError", f"asset {asset} at "))
        else:
            prices[asset] = price
    return prices, refusals


def _adjustment(policy: Any, asset: str) -> tuple[Decimal, Decimal | None]:
    for adjustment in policy.collateral.adjustments:
        if adjustment.asset == asset:
            return adjustment.redemption_weight, adjustment.floor_usd
    return Decimal(0), None


def _counted(
    tables: dict[str, list[dict[str, Any]]], policy: Any, references: dict[str, Fraction]
) -> list[dict[str, Any]]:
    owner = {a["account_id"]: a["user_id"] for a in tables["accounts"]}
    start, end = policy.window.start, policy.window.end
    out = []
    for event in tables.get("collateral_liquidations", []):
        asset = event["asset"].upper()
        if event["product"] not in policy.collateral.products:
            continue
        if asset not in policy.collateral.assets or not start <= event["ts"] < end:
            continue
        reference = references[asset]
        out.append(
            {
                "event_id": event["event_id"],
                "user_id": owner[event["account_id"]],
                "account_id": event["account_id"],
                "product": event["product"],
                "asset": asset,
                "ts": event["ts"],
                "quantity": event["quantity"],
                "liquidation_price": event["liquidation_price"],
                "reference_usd": _decimal(reference),
                "loss_cents": event_cents(reference, event["liquidation_price"], event["quantity"]),
            }
        )
    return sorted(out, key=lambda e: (e["user_id"], e["ts"], e["event_id"]))


def _users(
    events: list[dict[str, Any]], users: list[dict[str, Any]], policy: Any
) -> list[dict[str, Any]]:
    ceiling = policy.payout.ceiling_usd
    ceiling_cents = None if ceiling is None else int(Fraction(ceiling) * 100)
    info = {u["user_id"]: u for u in users}
    sums: dict[int, list[int]] = {}
    for event in events:
        sums.setdefault(event["user_id"], []).append(event["loss_cents"])
    out = []
    for user_id in sorted(sums):
        loss = sum(sums[user_id])
        capped = ceiling_cents is not None and loss > ceiling_cents
        amount = ceiling_cents if capped else loss
        person = info[user_id]
        out.append(
            {
                "user_id": user_id,
                "events": len(sums[user_id]),
                "loss_cents": loss,
                "amount_cents": amount,
                "bound": "ceiling" if capped else "full",
                "eligible": amount > 0,
                "user_type": person["user_type"],
                "vip_tier": person["vip_tier"],
                "email": person["email"],
                "locale": person["locale"],
            }
        )
    return out


def _hourly(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hours: dict[datetime, list[dict[str, Any]]] = {}
    for event in events:
        hour = event["ts"].astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hours.setdefault(hour, []).append(event)
    return [
        {
            "hour": hour,
            "fills": len(hours[hour]),
            "users": len({e["user_id"] for e in hours[hour]}),
            "loss_cents": sum(e["loss_cents"] for e in hours[hour]),
        }
        for hour in sorted(hours)
    ]


def _decimal(value: Fraction) -> Decimal:
    """A price on the 12-place grid as the ``Decimal`` the engine's tables hold."""
    units = value * PRICE_SCALE
    if units.denominator != 1:
        raise AssertionError(f"{value} is not on the 12-place grid")
    return Decimal(units.numerator).scaleb(-12)
