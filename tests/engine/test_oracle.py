"""The engine against an independent oracle on the calibrated synthetic crash.

The oracle is written differently on purpose: pandas ``merge_asof`` with a tolerance for
the price lookup (the engine uses a forward-filled grid), numpy integer arithmetic for
the cents, and Python's ``Fraction`` for the ratio test.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from recompense.data import open_dataset
from recompense.data.synth import generate
from recompense.engine import evaluate


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oracle") / "data"
    generate(25_000, 5, folder)
    return folder


def oracle(folder, policy) -> pd.DataFrame:
    read = lambda name: pd.read_parquet(folder / f"{name}.parquet")  # noqa: E731
    fills, accounts, prices = read("liquidations"), read("accounts"), read("prices")
    balances, prior = read("balances"), read("prior_compensation")
    fills = fills[
        (fills.kind == "liquidation")
        & fills["product"].isin(policy.eligibility.products)
        & (fills.ts >= pd.Timestamp(policy.window.start))
        & (fills.ts < pd.Timestamp(policy.window.end))
    ].merge(accounts[["account_id", "user_id"]], on="account_id")
    fills["minute"] = fills.ts.dt.floor("min")
    prices = prices.sort_values("minute")
    priced = pd.merge_asof(
        fills.sort_values("minute"),
        prices.rename(columns={"asset": "margin_asset"}),
        on="minute",
        by="margin_asset",
        tolerance=pd.Timedelta(minutes=60),
        direction="backward",
    )
    assert priced.usd.notna().all()
    micros = np.floor((priced.clearance_fee - priced.realized_pnl) * priced.usd * 1e6 + 0.5).astype(
        np.int64
    )
    users = priced.assign(micros=micros).groupby("user_id").micros.sum()
    loss = np.maximum((users.to_numpy() + 5000) // 10_000, 0)
    result = pd.DataFrame({"user_id": users.index, "loss_cents": loss})
    snap = prices[prices.minute == pd.Timestamp(policy.program.snapshot_at)][["asset", "usd"]]
    held = balances.merge(accounts[["account_id", "user_id"]], on="account_id").merge(
        snap, on="asset"
    )
    value = (held.balance - held.liability + held.unrealized_pnl) * held.usd
    held["micros"] = np.floor(value * 1e6 + 0.5).astype(np.int64)
    net = held.groupby("user_id").micros.sum()
    result["net_cents"] = (result.user_id.map(net).fillna(0).astype(np.int64) + 5000) // 10_000
    excluded = set(prior[prior.program_id.isin(policy.eligibility.excluding_programs)].user_id)
    ratio = policy.min_ratio
    result["eligible"] = [
        loss_c >= policy.min_loss_cents
        and (net_c <= 0 or Fraction(loss_c) >= ratio * net_c)
        and uid not in excluded
        for uid, loss_c, net_c in zip(
            result.user_id, result.loss_cents, result.net_cents, strict=True
        )
    ]
    return result.sort_values("user_id").reset_index(drop=True)


def test_engine_matches_the_oracle_to_the_cent(backend, synth, policy):
    expected = oracle(synth, policy)
    users = evaluate(backend, open_dataset(backend, synth), policy).users.to_pandas()
    assert len(users) == len(expected) > 500
    assert users.user_id.tolist() == expected.user_id.tolist()
    assert users.loss_cents.tolist() == expected.loss_cents.tolist()
    assert users.net_assets_cents.tolist() == expected.net_cents.tolist()
    assert users.eligible.tolist() == expected.eligible.tolist()
    assert 0.2 < users.eligible.mean() < 0.8
