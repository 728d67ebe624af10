"""Baseline: the eligibility rules written the straightforward pandas way.

Read the Parquet files with pandas, filter, ``merge``, ``merge_asof`` for the price at
or before each fill's minute, ``groupby`` per user. Money as the engine does
it: each row's USD value rounded half away from zero to int64 micro-dollars (in float64:
the contract multiplies exact decimals), summed as int64, each total rounded once to cents.
Run as its own process by bench_engine.py; same interface as baseline_sql.py::

    python benchmarks/baseline_pandas.py --program programs/together-2025-10.toml \
        --data benchmarks/data/users-1000000-seed-7 --out benchmarks/data/pandas-users.parquet
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rules import COLUMNS, Rules, load_rules, snapshot_minute

FILL_COLUMNS = ["account_id", "product", "kind", "ts", "margin_asset"]
AMOUNTS = ["realized_pnl", "clearance_fee"]
BALANCE_COLUMNS = ["account_id", "asset", "balance", "liability", "unrealized_pnl"]
USER_COLUMNS = ["user_id", "user_type", "vip_tier", "registered_at"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rules = load_rules(args.program)
    started = time.perf_counter()
    users = evaluate(args.data, rules)
    computed = time.perf_counter()
    users[list(COLUMNS)].to_parquet(args.out, index=False, compression="zstd")
    timings = {
        "compute_s": round(computed - started, 4),
        "write_s": round(time.perf_counter() - computed, 4),
        "rows": len(users),
    }
    print(json.dumps(timings))


def evaluate(data: Path, rules: Rules) -> pd.DataFrame:
    """The per-user table, sorted by user_id (rules.COLUMNS)."""
    accounts = pd.read_parquet(data / "accounts.parquet", columns=["account_id", "user_id"])
    prices = pd.read_parquet(data / "prices.parquet", columns=["asset", "minute", "usd"])
    prices["minute"] = prices["minute"].dt.floor("min")
    losses = user_losses(priced_fills(data, accounts, prices, rules), rules)
    net = net_assets(data, accounts, prices, losses.index, rules)
    users = pd.read_parquet(data / "users.parquet", columns=USER_COLUMNS)
    table = losses.join(net).join(users.set_index("user_id"))
    compensated = prior_compensated(data, rules)
    return verdicts(table.reset_index(), compensated, rules)


def priced_fills(
    data: Path, accounts: pd.DataFrame, prices: pd.DataFrame, rules: Rules
) -> pd.DataFrame:
    """Counted fills with the owner and the USD price of their margin asset (NaN: none)."""
    fills = pd.read_parquet(data / "liquidations.parquet", columns=FILL_COLUMNS + AMOUNTS)
    fills = fills[
        (fills["kind"] == "liquidation")
        & fills["product"].isin(rules.products)
        & (fills["ts"] >= rules.start)
        & (fills["ts"] < rules.end)
    ]
    fills = fills.merge(accounts, on="account_id")
    fills["minute"] = fills["ts"].dt.floor("min")
    return pd.merge_asof(
        fills.sort_values("minute"),
        prices.sort_values("minute").rename(columns={"asset": "margin_asset"}),
        on="minute",
        by="margin_asset",
        tolerance=rules.staleness,
        direction="backward",
    )


def user_losses(fills: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """fills, loss_micros, incident_micros per user_id (the index)."""
    _refuse_unpriced(fills["usd"], "fill(s)")
    usd = (fills["clearance_fee"] - fills["realized_pnl"]) * fills["usd"]
    fills["micros"] = to_micros(usd)
    in_incident = np.zeros(len(fills), dtype=bool)
    for start, end in rules.incidents:
        in_incident |= ((fills["ts"] >= start) & (fills["ts"] < end)).to_numpy()
    fills["incident_micros"] = np.where(in_incident, fills["micros"], 0)
    return fills.groupby("user_id").agg(
        fills=("micros", "size"),
        loss_micros=("micros", "sum"),
        incident_micros=("incident_micros", "sum"),
    )


def net_assets(
    data: Path, accounts: pd.DataFrame, prices: pd.DataFrame, users: pd.Index, rules: Rules
) -> pd.Series:
    """net_micros at the snapshot per user_id, for ``users`` only (others: no row)."""
    snap = snapshot_minute(rules)
    fresh = prices[(prices["minute"] <= snap) & (prices["minute"] >= snap - rules.staleness)]
    latest = fresh.sort_values("minute").groupby("asset")["usd"].last()
    owners = accounts[accounts["user_id"].isin(users)]
    balances = pd.read_parquet(data / "balances.parquet", columns=BALANCE_COLUMNS)
    rows = balances.merge(owners, on="account_id").join(latest, on="asset")
    _refuse_unpriced(rows["usd"], "balance row(s)")
    amount = rows["balance"] - rows["liability"] + rows["unrealized_pnl"]
    rows["micros"] = to_micros(amount * rows["usd"])
    return rows.groupby("user_id")["micros"].sum().rename("net_micros")


def prior_compensated(data: Path, rules: Rules) -> pd.Index:
    prior = pd.read_parquet(data / "prior_compensation.parquet", columns=["user_id", "program_id"])
    return pd.Index(prior.loc[prior["program_id"].isin(rules.excluding), "user_id"].unique())


def verdicts(t: pd.DataFrame, compensated: pd.Index, rules: Rules) -> pd.DataFrame:
    """Cents, the three rules, ``eligible`` and the weight, one row per user."""
    t["loss_cents"] = np.maximum(cents_half_away(t["loss_micros"]), 0)
    t["net_assets_cents"] = cents_half_away(t["net_micros"].fillna(0).astype("int64"))
    incident = np.maximum(cents_half_away(t["incident_micros"]), 0)
    t["incident_loss_cents"] = np.minimum(incident, t["loss_cents"])
    loss, net = t["loss_cents"], t["net_assets_cents"]
    t["loss_ratio"] = (loss / net).where(net > 0)
    t["loss_ratio_capped"] = t["loss_ratio"].clip(upper=1.0).fillna(1.0)
    age_days = (pd.Timestamp(rules.snapshot) - t["registered_at"]) // pd.Timedelta(days=1)
    t["account_age_days"] = np.maximum(age_days.astype("int64"), 0)
    t["passes_min_loss"] = loss >= rules.min_loss_cents
    t["passes_min_ratio"] = (net <= 0) | (
        loss * rules.ratio.denominator >= net * rules.ratio.numerator
    )
    t["passes_not_compensated"] = ~t["user_id"].isin(compensated)
    t["eligible"] = t["passes_min_loss"] & t["passes_min_ratio"] & t["passes_not_compensated"]
    t["weight"] = weight(t).where(t["eligible"])
    return t.sort_values("user_id", ignore_index=True)


def weight(t: pd.DataFrame) -> pd.Series:
    """rules.WEIGHT; x / 0 is 0, as the policy's formula language defines it."""
    loss_usd = t["loss_cents"] / 100
    incident_usd = t["incident_loss_cents"] / 100
    share = (incident_usd / loss_usd).where(loss_usd != 0, 0.0)
    return (
        np.sqrt(loss_usd) * (0.5 + 0.5 * t["loss_ratio_capped"]) * (1 + 0.5 * np.minimum(share, 1))
    )


def to_micros(usd: pd.Series) -> np.ndarray:
    """float USD → int64 micro-dollars, half away from zero (float arithmetic: the
    contract's exact decimal product can differ in the last micro-dollar)."""
    values = usd.to_numpy() * 1_000_000
    return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64)


def cents_half_away(micros: pd.Series) -> pd.Series:
    return np.sign(micros) * ((micros.abs() + 5_000) // 10_000)


def _refuse_unpriced(usd: pd.Series, what: str) -> None:
    missing = int(usd.isna().sum())
    if missing:
        raise SystemExit(f"{missing} {what} without a price within the staleness limit")


if __name__ == "__main__":
    main()
