"""The engine's pipeline: dataset + policy → one row of features and verdicts per user.

Stages (each reported to ``on_stage`` for progress bars and timed):

``validate``  the contract checks of :mod:`recompense.data.validation`;
``losses``    one pass over the fills: counted fills priced and summed per (user, hour),
              cached on the backend (small: users × hours);
``features``  net assets for liquidated users only, joins, the rules, the weight
              formula; collected to Arrow (one row per liquidated user).

"Already compensated" is the dataset's ``prior_compensation`` rows of a programme in
``excluding_programs``, together with the ledger's (``paid``: who the books show paid
by those programmes, :mod:`recompense.ledger.paid`), handed to the backend as an
in-memory table so that DuckDB and Spark see the same rows.

Only the per-user table leaves the backend. Nothing here writes files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import pyarrow as pa

from recompense.data import Dataset, normalized, validate
from recompense.data.contract import USD_LIMIT
from recompense.data.errors import out_of_memory_errors
from recompense.engine import features as feat
from recompense.engine.eligibility import RULES, apply_rules
from recompense.engine.errors import AmountRangeError, PriceMissingError, out_of_memory
from recompense.engine.exact import EpochMicros, epoch_micros, micros_to_cents
from recompense.engine.prices import price_grid, window_minutes
from recompense.policy import Policy
from recompense.policy.formula import compile_expr

StageCallback = Callable[[str], None]

OUTPUT_COLUMNS = (
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
    "email",
    "locale",
    *(rule.column for rule in RULES),
    "eligible",
    "weight",
)


@dataclass(frozen=True, slots=True)
class EngineResult:
    """What the engine hands to allocation and the run folder."""

    users: pa.Table  # OUTPUT_COLUMNS, sorted by user_id
    hourly: pa.Table  # hour (timestamp UTC), fills, users, loss_cents
    timings: dict[str, float] = field(default_factory=dict)


def evaluate(
    backend: Any,
    dataset: Dataset,
    policy: Policy,
    *,
    on_stage: StageCallback | None = None,
    paid: pa.Table | None = None,
) -> EngineResult:
    """Run validation and every rule on ``backend``; raise ``InputError`` on bad input.

    ``paid`` (``user_id``, ``program_id``, …): users the ledger shows paid by a programme,
    excluded like ``prior_compensation`` rows when ``excluding_programs`` lists it.
    """
    try:
        return _evaluate(backend, dataset, policy, on_stage, paid)
    except out_of_memory_errors() as exc:
        raise out_of_memory(backend.name, exc) from exc


def _evaluate(
    backend: Any,
    dataset: Dataset,
    policy: Policy,
    on_stage: StageCallback | None,
    paid: pa.Table | None,
) -> EngineResult:
    timings: dict[str, float] = {}

    def stage(name: str) -> AbstractContextManager[None]:
        return timed_stage(name, on_stage, timings)

    with stage("validate"):
        validate(dataset)
    tables = {name: normalized(dataset, name) for name in dataset.raw}
    epoch_us = epoch_micros(backend.name)
    grid = price_grid(
        tables["prices"],
        window_minutes(policy.window.start, policy.window.end, (policy.program.snapshot_at,)),
        policy.staleness,
        epoch_us,
    )
    with stage("losses"):
        fills = feat.counted_fills(tables["liquidations"], tables["accounts"], policy, epoch_us)
        losses = feat.fill_losses(fills, grid)
        per_hour = feat.user_hour_losses(losses).cache()
    try:
        with stage("features"):
            hourly = _hourly(per_hour)
            users = _features(tables, per_hour, grid, policy, epoch_us, paid).to_pyarrow()
            _check_prices(users, losses, tables, grid, policy, dataset.describe("prices"))
            _check_ranges(users, losses, dataset)
    finally:
        per_hour.release()
    for name in ("unpriced_fills", "unpriced_balances", "out_of_range"):
        users = users.drop_columns([name])
    return EngineResult(users=users, hourly=hourly, timings=timings)


def _features(
    tables: dict[str, Any],
    per_hour: Any,
    grid: Any,
    policy: Policy,
    epoch_us: EpochMicros,
    paid: pa.Table | None,
) -> Any:
    losses = feat.user_losses(per_hour)
    excluding = list(policy.eligibility.excluding_programs)
    prior = tables["prior_compensation"]
    if paid is not None:
        from_ledger = ibis.memtable(paid.select(["user_id", "program_id"]))
        prior = prior.select("user_id", "program_id").union(from_ledger, distinct=False)
    compensated = prior.filter(
        prior.program_id.isin(excluding) if excluding else ibis.literal(False)
    )
    net = feat.net_assets(
        tables["balances"], tables["accounts"], losses, grid, policy.program.snapshot_at
    )
    features = feat.user_features(losses, net, tables["users"], compensated, policy, epoch_us)
    verdicts = apply_rules(features, policy)
    names = {name: verdicts[name] for name in policy.formula.names}
    weight = compile_expr(policy.formula, names)
    with_weight = verdicts.mutate(
        weight=ibis.ifelse(verdicts.eligible, weight, ibis.null("float64"))
    )
    extra = ("unpriced_fills", "unpriced_balances", "out_of_range")
    return with_weight.select(*OUTPUT_COLUMNS, *extra).order_by("user_id")


def _hourly(per_hour: Any) -> pa.Table:
    hourly = per_hour.group_by("hour_s").aggregate(
        fills=per_hour.fills.sum(),
        users=per_hour.user_id.nunique(),
        loss_micros=per_hour.loss_micros.sum(),
    )
    rows = hourly.order_by("hour_s").to_pyarrow().to_pylist()
    return hourly_table(rows, [micros_to_cents(int(r["loss_micros"] or 0)) for r in rows])


def hourly_table(rows: list[dict[str, Any]], cents: list[int]) -> pa.Table:
    """The run folder's ``hourly.parquet`` from rows of ``hour_s``, ``fills`` and ``users``
    (by hour, in order) and each hour's loss in cents."""
    return pa.table(
        {
            "hour": pa.array(
                [datetime.fromtimestamp(r["hour_s"], UTC) for r in rows],
                pa.timestamp("us", tz="UTC"),
            ),
            "fills": pa.array([r["fills"] for r in rows], pa.int64()),
            "users": pa.array([r["users"] for r in rows], pa.int64()),
            "loss_cents": pa.array(cents, pa.int64()),
        }
    )


def _check_prices(
    users: pa.Table,
    losses: Any,
    tables: dict[str, Any],
    grid: Any,
    policy: Policy,
    prices_file: str,
) -> None:
    """Fail, naming assets and minutes, when a fill or balance had no fresh-enough price."""
    import pyarrow.compute as pc

    limit = policy.prices.staleness_minutes
    if pc.sum(users["unpriced_fills"]).as_py():
        missing = losses.filter(losses.usd.isnull())
        rows = (
            missing.group_by(["margin_asset", "minute_s"])
            .aggregate(example_fill=missing.fill_id.min())
            .order_by(["minute_s", "margin_asset"])
            .limit(5)
            .to_pyarrow()
            .to_pylist()
        )
        shown = [
            f"{r['margin_asset']} at {_iso(r['minute_s'])} (fill_id {r['example_fill']})"
            for r in rows
        ]
        raise PriceMissingError(
            f"{prices_file}: no price within {limit} minutes for " + "; ".join(shown)
        )
    if pc.sum(users["unpriced_balances"]).as_py():
        snap_s = int(policy.program.snapshot_at.timestamp()) // 60 * 60
        priced = grid.filter(grid.minute_s == snap_s).select("asset")
        balances = tables["balances"]
        missing = balances.anti_join(priced, balances.asset == priced.asset)
        assets = missing.select("asset").distinct().order_by("asset").limit(5).to_pyarrow()
        asset_names = ", ".join(assets.column(0).to_pylist())
        raise PriceMissingError(
            f"{prices_file}: no price within {limit} minutes of the snapshot "
            f"{_iso(snap_s)} for asset(s) {asset_names} (used in balances)"
        )


def _check_ranges(users: pa.Table, losses: Any, dataset: Dataset) -> None:
    """Fail, naming fills and users, when a USD value is outside the contract's range."""
    import pyarrow.compute as pc

    if not pc.sum(users["out_of_range"]).as_py():
        return
    limit = f"${USD_LIMIT:.0e}".replace("e+", "e")
    bad_users = pc.filter(users["user_id"], pc.greater(users["out_of_range"], 0))
    shown_users = ", ".join(str(u) for u in bad_users.to_pylist()[:5])
    fills = losses.filter(losses.out_of_range).order_by("fill_id").limit(5)
    shown_fills = ", ".join(str(f) for f in fills.fill_id.to_pyarrow().to_pylist())
    where = f"fill_id {shown_fills} in {dataset.describe('liquidations')}; " if shown_fills else ""
    raise AmountRangeError(
        f"USD values outside the contract's range (|value| < {limit} per fill, balance row "
        f"and user total; an amount in the wrong unit, e.g. wei?): {where}"
        f"{len(bad_users)} user(s), e.g. user_id {shown_users} "
        f"(see {dataset.describe('balances')} for their snapshot balances)"
    )


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%MZ")


@contextmanager
def timed_stage(
    name: str, on_stage: StageCallback | None, timings: dict[str, float]
) -> Iterator[None]:
    """Report the start of a stage to the callback and record its duration."""
    if on_stage:
        on_stage(name)
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - start, 4)
