"""Per-user features as Ibis expressions: loss, net assets, ratio, incident loss, …

Exactness: amounts and prices are ``decimal(38, 12)``; each fill's (or balance row's)
USD value is their exact product, rounded half away from zero to integer micro-dollars
(1e-6 USD) once; micro-dollars are summed exactly (``decimal(38, 0)``, so sums neither
overflow nor depend on the order a parallel engine adds them in) and each user's total
is rounded half away from zero to integer cents exactly once. All later comparisons are
on integer cents, with exact integer helpers from :mod:`recompense.engine.exact`.

Range: a row whose USD value reaches $10¹² (``USD_LIMIT``), or a user whose loss or net
assets do, is carried as NULL and counted (``out_of_range``), and the pipeline refuses
the run naming them, as it does for a missing price.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import ibis

from recompense.engine.exact import (
    US_PER_DAY,
    EpochMicros,
    floor_div,
    hour_s,
    in_limit,
    minute_s,
    round_micros_to_cents,
    total,
    usd_micros,
)
from recompense.policy import Policy


def counted_fills(liquidations: Any, accounts: Any, policy: Policy, epoch_us: EpochMicros) -> Any:
    """Fills that count: forced liquidations (not ADL) of listed products inside the window."""
    window = policy.window
    fills = liquidations.filter(
        liquidations.kind == "liquidation",
        liquidations.product.isin(list(policy.eligibility.products)),
        liquidations.ts >= _ts(window.start),
        liquidations.ts < _ts(window.end),
    )
    owners = accounts.select(a_account_id="account_id", user_id="user_id")
    joined = fills.join(owners, fills.account_id == owners.a_account_id)
    return joined.select(
        "fill_id",
        "user_id",
        "product",
        "ts",
        "margin_asset",
        "realized_pnl",
        "clearance_fee",
        minute_s=minute_s(joined.ts, epoch_us),
        hour_s=hour_s(joined.ts, epoch_us),
        in_incident=_in_incident(joined.ts, policy),
    )


def fill_losses(fills: Any, grid: Any) -> Any:
    """Each counted fill with its loss in micro-dollars (NULL where no price)."""
    prices = grid.select(g_asset="asset", g_minute_s="minute_s", usd="usd")
    fills = fills.view()  # works around an Ibis 12 dereferencing bug with computed join keys
    joined = fills.left_join(
        prices, [fills.margin_asset == prices.g_asset, fills.minute_s == prices.g_minute_s]
    )
    micros, in_range = usd_micros(joined.clearance_fee - joined.realized_pnl, joined.usd)
    return joined.mutate(loss_micros=micros, out_of_range=~in_range)


def user_hour_losses(losses: Any) -> Any:
    """Losses per (user, hour): the one pass over fills both user totals and hourly charts use."""
    return losses.group_by(["user_id", "hour_s"]).aggregate(
        fills=losses.count(),
        loss_micros=total(losses.loss_micros),
        incident_micros=total(ibis.ifelse(losses.in_incident, losses.loss_micros, 0)),
        unpriced=losses.usd.isnull().cast("int64").sum(),
        out_of_range=losses.out_of_range.cast("int64").sum(),
    )


def user_losses(per_hour: Any) -> Any:
    """Totals per user, in micro-dollars, with counts of fills and unpriced fills."""
    return per_hour.group_by("user_id").aggregate(
        fills=per_hour.fills.sum(),
        loss_micros=per_hour.loss_micros.sum(),
        incident_micros=per_hour.incident_micros.sum(),
        unpriced_fills=per_hour.unpriced.sum(),
        out_of_range_fills=per_hour.out_of_range.sum(),
    )


def net_assets(balances: Any, accounts: Any, users: Any, grid: Any, snapshot: datetime) -> Any:
    """Net assets at the snapshot per user (only for ``users``), in micro-dollars."""
    owners = accounts.select(a_account_id="account_id", user_id="user_id")
    wanted = users.select(w_user_id="user_id")
    rows = balances.join(owners, balances.account_id == owners.a_account_id)
    rows = rows.semi_join(wanted, rows.user_id == wanted.w_user_id)
    snap_s = int(snapshot.timestamp()) - int(snapshot.timestamp()) % 60
    prices = grid.filter(grid.minute_s == snap_s).select(g_asset="asset", usd="usd")
    joined = rows.left_join(prices, rows.asset == prices.g_asset)
    amount = joined.balance - joined.liability + joined.unrealized_pnl
    micros, in_range = usd_micros(amount, joined.usd)
    valued = joined.mutate(value_micros=micros, out_of_range=~in_range)
    return valued.group_by("user_id").aggregate(
        net_micros=total(valued.value_micros),
        unpriced_balances=valued.usd.isnull().cast("int64").sum(),
        out_of_range_balances=valued.out_of_range.cast("int64").sum(),
    )


def user_features(
    losses: Any, net: Any, users: Any, compensated: Any, policy: Policy, epoch_us: EpochMicros
) -> Any:
    """One row per liquidated user with every feature the rules and the formula use."""
    n = net.select(
        n_user_id="user_id",
        net_micros="net_micros",
        unpriced_balances="unpriced_balances",
        out_of_range_balances="out_of_range_balances",
    )
    u = users.select(
        u_user_id="user_id",
        user_type="user_type",
        vip_tier="vip_tier",
        email="email",
        locale="locale",
        registered_at="registered_at",
    )
    c = compensated.select(c_user_id="user_id").distinct()
    t = losses.left_join(n, losses.user_id == n.n_user_id)
    t = t.left_join(u, t.user_id == u.u_user_id)
    t = t.left_join(c, t.user_id == c.c_user_id)
    snap_us = int(policy.program.snapshot_at.timestamp()) * 1_000_000
    net_total = t.net_micros.fill_null(ibis.literal(0).cast(t.net_micros.type()))
    zero = ibis.literal(0).cast(t.loss_micros.type())
    in_range = in_limit(t.loss_micros.fill_null(zero)) & in_limit(net_total)
    loss_cents = ibis.greatest(round_micros_to_cents(_int64(t.loss_micros, in_range)), 0)
    incident_cents = ibis.least(
        ibis.greatest(round_micros_to_cents(_int64(t.incident_micros, in_range)), 0),
        loss_cents,
    )
    net_cents = round_micros_to_cents(_int64(net_total, in_range))
    age_days = floor_div(snap_us - epoch_us(t.registered_at), US_PER_DAY)
    features = t.select(
        user_id=t.user_id,
        fills=t.fills,
        loss_cents=loss_cents,
        net_assets_cents=net_cents,
        incident_loss_cents=incident_cents,
        user_type=t.user_type,
        email=t.email,
        locale=t.locale,
        vip_tier=t.vip_tier.cast("int64"),
        account_age_days=ibis.greatest(age_days, 0),
        already_compensated=t.c_user_id.notnull(),
        unpriced_fills=t.unpriced_fills,
        unpriced_balances=t.unpriced_balances.fill_null(0),
        out_of_range=(
            t.out_of_range_fills + t.out_of_range_balances.fill_null(0) + (~in_range).cast("int64")
        ),
    )
    return with_formula_inputs(features)


def with_formula_inputs(f: Any) -> Any:
    """The float features the weight formula sees (USD values are cents-exact)."""
    positive_net = f.net_assets_cents > 0
    ratio = ibis.ifelse(
        positive_net,
        f.loss_cents.cast("float64")
        / ibis.ifelse(positive_net, f.net_assets_cents, 1).cast("float64"),
        ibis.null("float64"),
    )
    return f.mutate(
        loss_usd=f.loss_cents.cast("float64") / 100,
        net_assets_usd=f.net_assets_cents.cast("float64") / 100,
        incident_loss_usd=f.incident_loss_cents.cast("float64") / 100,
        loss_ratio=ratio,
        loss_ratio_capped=ibis.ifelse(positive_net, ibis.least(ratio, 1.0), 1.0),
    )


def _int64(micros: Any, in_range: Any) -> Any:
    """A total known to be in range as int64; 0 where it is not (the run is refused)."""
    return ibis.ifelse(in_range, micros, ibis.literal(0).cast(micros.type())).cast("int64")


def _in_incident(ts: Any, policy: Policy) -> Any:
    inside = ibis.literal(False)
    for incident in policy.incidents:
        inside = inside | ((ts >= _ts(incident.start)) & (ts < _ts(incident.end)))
    return inside


def _ts(value: datetime) -> Any:
    return ibis.literal(value, type="timestamp('UTC')")
