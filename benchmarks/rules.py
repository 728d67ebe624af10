"""The programme parameters the two baselines need, read from the policy TOML.

Deliberately independent of ``recompense``: the baselines re-implement the rules from
their description (the programme file and its comments), so they share neither code
nor bugs with the engine. Only what the rules use is read; the weight formula is
hand-written in each baseline, so a programme with another formula is refused.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

# The formula both baselines hand-code (programs/together-2025-10.toml).
WEIGHT = (
    "sqrt(loss_usd) * (0.5 + 0.5 * loss_ratio_capped)"
    " * (1 + 0.5 * min(incident_loss_usd / loss_usd, 1))"
)
# The per-user table both baselines write, sorted by user_id.
COLUMNS = (
    "user_id",
    "fills",
    "loss_cents",
    "net_assets_cents",
    "incident_loss_cents",
    "loss_ratio",
    "loss_ratio_capped",
    "user_type",
    "vip_tier",
    "account_age_days",
    "passes_min_loss",
    "passes_min_ratio",
    "passes_not_compensated",
    "eligible",
    "weight",
)


@dataclass(frozen=True, slots=True)
class Rules:
    """Window ``[start, end)``, snapshot, thresholds; times are UTC-aware."""

    start: datetime
    end: datetime
    snapshot: datetime
    products: tuple[str, ...]
    min_loss_cents: int
    ratio: Fraction  # loss ≥ ratio × net assets, compared as loss·q ≥ net·p
    excluding: tuple[str, ...]
    staleness: timedelta
    incidents: tuple[tuple[datetime, datetime], ...]


def load_rules(path: Path) -> Rules:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    if raw["payout"]["weight"] != WEIGHT:
        raise SystemExit(f"{path}: the baselines hand-code the weight {WEIGHT!r}")
    eligibility = raw["eligibility"]
    return Rules(
        start=_utc(raw["window"]["start"]),
        end=_utc(raw["window"]["end"]),
        snapshot=_utc(raw["program"]["snapshot_at"]),
        products=tuple(eligibility["products"]),
        min_loss_cents=int(Decimal(eligibility["min_loss_usd"]) * 100),
        ratio=Fraction(Decimal(eligibility["min_loss_ratio"])),
        excluding=tuple(eligibility.get("excluding_programs", ())),
        staleness=timedelta(minutes=raw["prices"]["staleness_minutes"]),
        incidents=tuple((_utc(i["start"]), _utc(i["end"])) for i in raw.get("incidents", ())),
    )


def snapshot_minute(rules: Rules) -> datetime:
    """The minute the net-assets prices are read at (the snapshot, floored to the minute)."""
    return rules.snapshot.replace(second=0, microsecond=0)


def epoch_minute(t: datetime) -> int:
    """Whole minutes since 1970-01-01 UTC, floored."""
    return int(t.timestamp()) // 60


def window_minutes(rules: Rules) -> tuple[int, int]:
    """Epoch minutes ``[first, end)`` that a fill in the window can fall in."""
    return epoch_minute(rules.start), -(-int(rules.end.timestamp()) // 60)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
