"""An independent, exact reference for the programme's rules, for the differential fuzz.

Written from ``docs/data.md`` and ``docs/rules.md`` alone, in plain Python with
``Decimal``, ``Fraction`` and ``datetime``: it imports nothing from ``recompense`` and
reads the policy file with ``tomllib`` itself. Given a dataset as logical rows (what
the generator meant) plus how it was stored, it returns either the refusal reasons
(any of which the engine's message must name) or every liquidated user's features,
verdicts and — when the budget covers every cap — their exact payouts.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

SCALE = Decimal("1e-12")
AMOUNT_LIMIT = Decimal(10) ** 15
MICROS_LIMIT = 10**18
MINUTE = timedelta(minutes=1)
NUMBERS = {
    "balances": ("balance", "liability", "unrealized_pnl"),
    "prices": ("usd",),
    "liquidations": ("realized_pnl", "clearance_fee"),
    "prior_compensation": ("amount_usd",),
}
NON_NEGATIVE = {
    ("balances", "balance"),
    ("balances", "liability"),
    ("liquidations", "clearance_fee"),
    ("prior_compensation", "amount_usd"),
}
UNIQUE = {
    "users": ("user_id",),
    "accounts": ("account_id",),
    "liquidations": ("fill_id",),
    "prices": ("asset", "minute"),
    "balances": ("account_id", "wallet", "asset"),
}
REFERENCES = (
    ("accounts", "user_id", "users", "user_id"),
    ("balances", "account_id", "accounts", "account_id"),
    ("liquidations", "account_id", "accounts", "account_id"),
)


@dataclass(frozen=True)
class Rules:
    """The policy file's numbers, read with tomllib."""

    start: datetime
    end: datetime
    snapshot: datetime
    products: frozenset[str]
    min_loss_cents: int
    min_ratio: Fraction
    excluding: frozenset[str]
    min_payout_cents: int
    max_payout_cents: int
    cap_at_loss: bool
    staleness: timedelta
    incidents: tuple[tuple[datetime, datetime], ...]

    @classmethod
    def read(cls, path: Path) -> Rules:
        raw = tomllib.loads(path.read_text())
        cents = lambda usd: int(Decimal(usd) * 100)  # noqa: E731
        return cls(
            start=raw["window"]["start"],
            end=raw["window"]["end"],
            snapshot=raw["program"]["snapshot_at"],
            products=frozenset(raw["eligibility"]["products"]),
            min_loss_cents=cents(raw["eligibility"]["min_loss_usd"]),
            min_ratio=Fraction(Decimal(raw["eligibility"]["min_loss_ratio"])),
            excluding=frozenset(raw["eligibility"]["excluding_programs"]),
            min_payout_cents=cents(raw["payout"]["min_usd"]),
            max_payout_cents=cents(raw["payout"]["max_usd"]),
            cap_at_loss=raw["payout"]["cap_at_loss"],
            staleness=timedelta(minutes=raw["prices"]["staleness_minutes"]),
            incidents=tuple((i["start"], i["end"]) for i in raw.get("incidents", [])),
        )


@dataclass
class Outcome:
    refusals: set[str] = field(default_factory=set)  # fragments, any one in the message
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    payouts: dict[int, int] | None = None  # exact cents, when the budget covers every cap
    caps: dict[int, int] = field(default_factory=dict)
    floors: dict[int, int] = field(default_factory=dict)


def _half_away(value: Fraction) -> int:
    magnitude = abs(value)
    whole = int(magnitude)
    if magnitude - whole >= Fraction(1, 2):
        whole += 1
    return whole if value >= 0 else -whole


def expected(
    tables: dict[str, list[dict[str, Any]]],
    storage: dict[str, Any],
    rules: Rules,
    budget_cents: int,
) -> Outcome:
    """What the engine must produce for ``tables`` stored as ``storage`` says."""
    outcome = Outcome()
    _stored_refusals(tables, storage, outcome)
    if outcome.refusals:
        return outcome
    floats = storage["numbers"][0] == "float"
    values = {
        name: [_exact_row(name, row, floats=floats) for row in rows]
        for name, rows in tables.items()
    }
    _value_refusals(values, outcome)
    if outcome.refusals:
        return outcome
    _compute(values, rules, outcome)
    if not outcome.refusals:
        _allocate(outcome, rules, budget_cents)
    return outcome


def _stored_refusals(tables: dict[str, Any], storage: dict[str, Any], outcome: Outcome) -> None:
    """Refusals that depend on how values were stored: types, NaN, range, digits, offsets."""
    kind = storage["numbers"]
    if kind[0] == "decimal" and kind[1] > 38:
        outcome.refusals.add("wider than 38 digits")
        return
    for name, columns in NUMBERS.items():
        for row in tables[name]:
            for column in columns:
                value = row[column]
                if isinstance(value, float):  # NaN or infinity, stored as a float
                    outcome.refusals.add("NaN or infinite values")
                elif abs(value) >= AMOUNT_LIMIT:
                    outcome.refusals.add("outside the contract's range")
                elif kind[0] != "float" and value != value.quantize(SCALE):
                    outcome.refusals.add("beyond 12 decimal places")
    if not storage["naive_ok"]:
        if storage["format"] == "csv" and any(
            style == "naive" for style in storage["ts_styles"].values()
        ):
            outcome.refusals.add("timestamps without a UTC offset")
        if storage["format"] == "parquet" and storage["naive_parquet"]:
            outcome.refusals.add("timestamps have no time zone")


def _exact_row(name: str, row: dict[str, Any], *, floats: bool) -> dict[str, Any]:
    """The value the contract reads (docs/data.md): a float to 12 places, in float64."""
    exact = dict(row)
    for column in NUMBERS.get(name, ()):
        if floats:
            x = float(row[column])
            whole = math.floor(x)
            scaled = (x - whole) * 1e12
            units = math.floor(scaled) + (scaled - math.floor(scaled) >= 0.5)
            exact[column] = Decimal(whole) + Decimal(units).scaleb(-12)
        else:
            exact[column] = row[column].quantize(SCALE, rounding=ROUND_HALF_UP)
    return exact


def _value_refusals(values: dict[str, list[dict[str, Any]]], outcome: Outcome) -> None:
    for name, column in NON_NEGATIVE:
        if any(row[column] < 0 for row in values[name]):
            outcome.refusals.add("negative values")
    if any(row["usd"] <= 0 for row in values["prices"]):
        outcome.refusals.add("values ≤ 0")
    if any(row["minute"].second or row["minute"].microsecond for row in values["prices"]):
        outcome.refusals.add("not whole minutes")
    for name, key in UNIQUE.items():
        keys = [tuple(row[c] for c in key) for row in values[name]]
        if len(set(keys)) != len(keys):
            outcome.refusals.add("duplicate key")
    for child, column, parent, parent_column in REFERENCES:
        known = {row[parent_column] for row in values[parent]}
        if any(row[column] not in known for row in values[child]):
            outcome.refusals.add("refer to a")


def _compute(values: dict[str, list[dict[str, Any]]], rules: Rules, outcome: Outcome) -> None:
    owner = {a["account_id"]: a["user_id"] for a in values["accounts"]}
    prices: dict[str, dict[datetime, Decimal]] = {}
    for p in values["prices"]:
        prices.setdefault(p["asset"], {})[p["minute"]] = p["usd"]

    def price(asset: str, at: datetime) -> Decimal | None:
        minute = at.replace(second=0, microsecond=0)
        known = [m for m in prices.get(asset, {}) if minute - rules.staleness <= m <= minute]
        return prices[asset][max(known)] if known else None

    loss: dict[int, int] = {}
    incident: dict[int, int] = {}
    fills: dict[int, int] = {}
    for f in values["liquidations"]:
        if f["kind"] != "liquidation" or f["product"] not in rules.products:
            continue
        if not rules.start <= f["ts"] < rules.end:
            continue
        usd = price(f["margin_asset"], f["ts"])
        if usd is None:
            outcome.refusals.add("no price within")
            continue
        micros = _micros((f["clearance_fee"] - f["realized_pnl"]) * usd, outcome)
        user = owner[f["account_id"]]
        loss[user] = loss.get(user, 0) + micros
        fills[user] = fills.get(user, 0) + 1
        inside = any(s <= f["ts"] < e for s, e in rules.incidents)
        incident[user] = incident.get(user, 0) + (micros if inside else 0)
    net = {user: 0 for user in loss}
    for b in values["balances"]:
        user = owner[b["account_id"]]
        if user not in net:
            continue
        usd = price(b["asset"], rules.snapshot)
        if usd is None:
            outcome.refusals.add("no price within")
            continue
        net[user] += _micros((b["balance"] - b["liability"] + b["unrealized_pnl"]) * usd, outcome)
    for user in loss:
        if abs(loss[user]) >= MICROS_LIMIT or abs(net[user]) >= MICROS_LIMIT:
            outcome.refusals.add("outside the contract's range")
    if outcome.refusals:
        return
    users = {u["user_id"]: u for u in values["users"]}
    compensated = {
        p["user_id"] for p in values["prior_compensation"] if p["program_id"] in rules.excluding
    }
    for user in loss:
        loss_cents = max(_half_away(Fraction(loss[user], 10_000)), 0)
        net_cents = _half_away(Fraction(net[user], 10_000))
        incident_cents = min(max(_half_away(Fraction(incident[user], 10_000)), 0), loss_cents)
        reasons = []
        if loss_cents < rules.min_loss_cents:
            reasons.append("LOSS_BELOW_MINIMUM")
        if net_cents > 0 and Fraction(loss_cents, net_cents) < rules.min_ratio:
            reasons.append("RATIO_BELOW_MINIMUM")
        if user in compensated:
            reasons.append("ALREADY_COMPENSATED")
        registered = users[user]["registered_at"]
        age = (rules.snapshot - registered) // timedelta(days=1)
        outcome.users[user] = {
            "fills": fills[user],
            "loss_cents": loss_cents,
            "net_assets_cents": net_cents,
            "incident_loss_cents": incident_cents,
            "reasons": reasons,
            "eligible": not reasons,
            "account_age_days": max(age, 0),
        }


def _micros(usd: Decimal, outcome: Outcome) -> int:
    micros = _half_away(Fraction(usd) * 1_000_000)
    if abs(micros) >= MICROS_LIMIT:
        outcome.refusals.add("outside the contract's range")
        return 0
    return micros


def _allocate(outcome: Outcome, rules: Rules, budget_cents: int) -> None:
    """Floors and caps; the exact payouts when the budget covers every cap."""
    eligible = {u: r for u, r in outcome.users.items() if r["eligible"]}
    caps = {
        u: min(rules.max_payout_cents, r["loss_cents"])
        if rules.cap_at_loss
        else rules.max_payout_cents
        for u, r in eligible.items()
    }
    floors = {u: min(rules.min_payout_cents, cap) for u, cap in caps.items()}
    if sum(floors.values()) > budget_cents:
        outcome.refusals.add("exceed")
    elif sum(caps.values()) <= budget_cents:
        outcome.payouts = caps
    outcome.caps, outcome.floors = caps, floors
