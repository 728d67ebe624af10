"""The full-payment engine: collateral liquidation events → each user's loss, in full.

For a programme of kind ``"full"`` (:mod:`recompense.policy.full`; the de-peg
compensation). Stages, reported to ``on_stage`` like the shared engine's:

``validate``    the contract checks (the dataset must hold ``collateral_liquidations``
                and ``reference_prices``);
``references``  each listed asset's adjusted reference price at ``collateral.reference_at``,
                from the ``reference_prices`` rows (a handful) in exact decimal arithmetic
                (:func:`~recompense.policy.full.adjusted_reference`), handed to the backend
                as decimal literals, so DuckDB and Spark use the same prices;
``events``      the rule, as Ibis expressions: events of a listed product and asset
                (compared in upper case) with ``window.start ≤ ts < window.end``, each
                paid ``max(0, reference − liquidation_price) × quantity`` rounded half up
                to cents exactly once (:func:`~recompense.engine.exact.usd_cents`);
``users``       per user the sum of their events' cents (exact), capped by the ceiling.

Only the per-event and per-user tables leave the backend. A user is in the users table
when at least one of their events counts; they are paid when their sum is above zero
(else reason ``NO_LOSS_AT_REFERENCE``: every counted event was sold at or above the
reference price).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from recompense.data import Dataset, normalized, validate
from recompense.data.contract import NUMBER_TYPE, USD_LIMIT
from recompense.data.errors import out_of_memory_errors
from recompense.engine.errors import AmountRangeError, PriceMissingError, out_of_memory
from recompense.engine.exact import CENTS_LIMIT, epoch_micros, hour_s, usd_cents
from recompense.engine.pipeline import StageCallback, hourly_table, timed_stage
from recompense.policy.full import FullPolicy, adjusted_reference

NEEDED = ("collateral_liquidations", "reference_prices")
REFERENCES_SCHEMA = pa.schema(
    [
        ("asset", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("market_usd", pa.decimal128(38, 12)),
        ("redemption_rate", pa.decimal128(38, 12)),
        ("underlying_usd", pa.decimal128(38, 12)),
        ("redemption_weight", pa.decimal128(38, 12)),
        ("floor_usd", pa.decimal128(38, 12)),
        ("reference_usd", pa.decimal128(38, 12)),
    ]
)
EVENT_COLUMNS = (
    "event_id",
    "user_id",
    "account_id",
    "product",
    "asset",
    "ts",
    "quantity",
    "liquidation_price",
    "reference_usd",
    "loss_cents",
)


@dataclass(frozen=True, slots=True)
class FullResult:
    users: pa.Table  # per_user's columns, sorted by user_id
    events: pa.Table  # EVENT_COLUMNS, sorted by user_id, ts, event_id
    references: pa.Table  # REFERENCES_SCHEMA, one row per listed asset
    hourly: pa.Table  # hour, fills (events), users, loss_cents
    timings: dict[str, float] = field(default_factory=dict)


def evaluate_full(
    backend: Any, dataset: Dataset, policy: FullPolicy, *, on_stage: StageCallback | None = None
) -> FullResult:
    """Run the full-payment rule on ``backend``; ``InputError`` (exit 2) on bad input."""
    try:
        return _evaluate(backend, dataset, policy, on_stage)
    except out_of_memory_errors() as exc:
        raise out_of_memory(backend.name, exc) from exc


def _evaluate(
    backend: Any, dataset: Dataset, policy: FullPolicy, on_stage: StageCallback | None
) -> FullResult:
    timings: dict[str, float] = {}
    require_tables(dataset)
    with timed_stage("validate", on_stage, timings):
        validate(dataset)
    tables = {name: normalized(dataset, name) for name in dataset.raw}
    with timed_stage("references", on_stage, timings):
        references = reference_prices(tables["reference_prices"], policy, dataset)
    with timed_stage("events", on_stage, timings):
        events = counted_events(tables, policy, references, backend.name).cache()
    try:
        with timed_stage("users", on_stage, timings):
            collected = events.order_by(["user_id", "ts", "event_id"]).to_pyarrow()
            _check_range(collected, dataset)
            users = check_users(per_user(events, tables["users"], policy).to_pyarrow(), dataset)
            hourly = _hourly(events)
    finally:
        events.release()
    collected = collected.drop_columns(["in_range", "hour_s"])
    # Spark hands timestamps back without their zone: the same instants, made explicit.
    ts = collected.schema.get_field_index("ts")
    collected = collected.set_column(ts, "ts", collected["ts"].cast(_UTC_MICROS))
    return FullResult(users, collected, references, hourly, timings)


def require_tables(dataset: Dataset) -> None:
    """Refuse (exit 2, naming the files) a dataset without the tables this rule reads."""
    dataset.require(NEEDED, why='a full-payment programme (kind = "full") reads them')


def reference_prices(table: Any, policy: FullPolicy, dataset: Dataset) -> pa.Table:
    """Each listed asset's adjusted reference price at ``collateral.reference_at``."""
    at = policy.collateral.reference_at
    assets = list(policy.collateral.assets)
    upper = table.asset.upper()
    rows = (
        table.filter(table["at"] == ibis.literal(at, type="timestamp('UTC')"), upper.isin(assets))
        .mutate(asset=upper)
        .order_by("asset")
        .to_pyarrow()
        .to_pylist()
    )
    file = dataset.describe("reference_prices")
    when = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["asset"] in found:
            raise PriceMissingError(
                f"{file}: asset {row['asset']} has more than one row at {when} "
                "(assets are compared in upper case); keep one"
            )
        found[row["asset"]] = row
    missing = [a for a in assets if a not in found]
    if missing:
        raise PriceMissingError(
            f"{file}: no row at {when} (collateral.reference_at) for asset(s) {', '.join(missing)}"
        )
    out = []
    for asset in assets:
        row, adjustment = found[asset], policy.collateral.adjustment(asset)
        try:
            reference = adjusted_reference(
                row["market_usd"], row["redemption_rate"], row["underlying_usd"], adjustment
            )
        except ValueError as exc:
            raise PriceMissingError(
                f"{file}: asset {asset} at {when}: columns 'redemption_rate' and "
                f"'underlying_usd' must be set: its redemption_weight in the policy is "
                f"{adjustment.redemption_weight} ({exc})"
            ) from exc
        if not 0 < reference < USD_LIMIT:
            raise AmountRangeError(
                f"{file}: asset {asset} at {when}: adjusted reference price {reference} is "
                f"outside the contract's range (0 < price < {USD_LIMIT:.0e} USD)"
            )
        out.append(
            {
                "asset": asset,
                "at": at,
                "market_usd": row["market_usd"],
                "redemption_rate": row["redemption_rate"],
                "underlying_usd": row["underlying_usd"],
                "redemption_weight": adjustment.redemption_weight,
                "floor_usd": adjustment.floor_usd,
                "reference_usd": reference,
            }
        )
    return pa.Table.from_pylist(out, schema=REFERENCES_SCHEMA)


def counted_events(
    tables: dict[str, Any], policy: FullPolicy, references: pa.Table, backend_name: str
) -> Any:
    """Counted events with their reference price and cents (NULL: out of range)."""
    epoch_us = epoch_micros(backend_name)
    events = tables["collateral_liquidations"]
    window = policy.window
    start_us = _micros(window.start)
    end_us = _micros(window.end)
    ts_us = epoch_us(events.ts)
    counted = events.filter(
        events.product.isin(list(policy.collateral.products)),
        events.asset.upper().isin(list(policy.collateral.assets)),
        ts_us >= start_us,
        ts_us < end_us,
    ).mutate(asset=events.asset.upper())
    owners = tables["accounts"].select(a_account_id="account_id", user_id="user_id")
    joined = counted.join(owners, counted.account_id == owners.a_account_id)
    # A handful of assets: their prices go in as literals (a CASE), not as an in-memory
    # table, which Spark cannot see from a cached query.
    prices = zip(
        references["asset"].to_pylist(), references["reference_usd"].to_pylist(), strict=True
    )
    reference = ibis.cases(
        *[(joined.asset == asset, ibis.literal(usd, type=NUMBER_TYPE)) for asset, usd in prices],
        else_=ibis.null(NUMBER_TYPE),
    )
    difference = reference - joined.liquidation_price
    zero = ibis.literal(Decimal(0), type=NUMBER_TYPE)
    shortfall = ibis.ifelse(difference > zero, difference, zero)
    cents, in_range = usd_cents(joined.quantity, shortfall)
    stored = EVENT_COLUMNS[: EVENT_COLUMNS.index("reference_usd")]  # as the data has them
    return joined.select(
        *stored,
        reference_usd=reference,
        loss_cents=cents,
        in_range=in_range,
        hour_s=hour_s(joined.ts, epoch_us),
    )


def per_user(events: Any, users: Any, policy: FullPolicy) -> Any:
    """One row per user with a counted event: their sum, the ceiling, the verdict."""
    sums = events.group_by("user_id").aggregate(
        events=events.count(),
        total=events.loss_cents.cast("decimal(38, 0)").sum(),
    )
    # Each event is below 10^14 cents (checked); a sum at or beyond it is refused too.
    in_limit = sums.total.abs() < ibis.literal(CENTS_LIMIT).cast("decimal(38, 0)")
    loss = ibis.ifelse(in_limit, sums.total, ibis.literal(0).cast("decimal(38, 0)"))
    sums = sums.mutate(loss_cents=loss.cast("int64"), total_in_range=in_limit)
    u = users.select(
        u_user_id="user_id",
        user_type="user_type",
        vip_tier="vip_tier",
        email="email",
        locale="locale",
    )
    t = sums.left_join(u, sums.user_id == u.u_user_id)
    ceiling = policy.ceiling_cents
    amount = t.loss_cents if ceiling is None else ibis.least(t.loss_cents, ceiling)
    capped = ibis.literal(False) if ceiling is None else t.loss_cents > ceiling
    return t.select(
        user_id=t.user_id,
        events=t.events,
        loss_cents=t.loss_cents,
        amount_cents=amount,
        bound=ibis.ifelse(capped, "ceiling", "full"),
        eligible=amount > 0,
        user_type=t.user_type,
        vip_tier=t.vip_tier.cast("int64"),
        email=t.email,
        locale=t.locale,
        total_in_range=t.total_in_range,
    ).order_by("user_id")


def _check_range(events: pa.Table, dataset: Dataset) -> None:
    bad = events.filter(pc.invert(events["in_range"]))
    if bad.num_rows:
        shown = ", ".join(str(e) for e in bad["event_id"].to_pylist()[:5])
        raise AmountRangeError(
            f"{dataset.describe('collateral_liquidations')}: {bad.num_rows} event(s) whose "
            f"payout reaches the contract's limit (${USD_LIMIT:.0e} per row; a quantity or "
            f"price in the wrong unit?), e.g. event_id {shown}"
        )


def check_users(users: pa.Table, dataset: Dataset) -> pa.Table:
    """Refuse a user whose total reaches the limit; drop the helper column."""
    bad = users.filter(pc.invert(users["total_in_range"]))
    if bad.num_rows:
        shown = ", ".join(str(u) for u in bad["user_id"].to_pylist()[:5])
        raise AmountRangeError(
            f"{dataset.describe('collateral_liquidations')}: {bad.num_rows} user(s) whose "
            f"total reaches the contract's limit (${USD_LIMIT:.0e}), e.g. user_id {shown}"
        )
    return users.drop_columns(["total_in_range"])


def _hourly(events: Any) -> pa.Table:
    hourly = events.group_by("hour_s").aggregate(
        fills=events.count(),
        users=events.user_id.nunique(),
        loss_cents=events.loss_cents.cast("decimal(38, 0)").sum(),
    )
    rows = hourly.order_by("hour_s").to_pyarrow().to_pylist()
    return hourly_table(rows, [int(r["loss_cents"] or 0) for r in rows])


def _micros(value: datetime) -> Any:
    """A UTC time's epoch microseconds, exactly (no float on the way)."""
    return ibis.literal((value - _EPOCH) // timedelta(microseconds=1), type="int64")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTC_MICROS = pa.timestamp("us", tz="UTC")


__all__ = [
    "FullResult",
    "counted_events",
    "evaluate_full",
    "per_user",
    "reference_prices",
    "require_tables",
]
