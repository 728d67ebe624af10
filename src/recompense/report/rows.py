"""Rows pulled out of the run's tables: top payouts, the scatter sample, hours, reasons.

Only a bounded number of users ever leaves Arrow here (20 for the table, at most
:data:`SCATTER_POINTS` for the scatter), found with vectorised selection and one
hash lookup into ``eligibility``; hours are few. ``eligibility``'s USD floats are
rounded to integer cents once, in :func:`usd_to_cents`, for display only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from recompense.report.stats import FloatArray, IntArray, ints

REASONS = ("LOSS_BELOW_MINIMUM", "RATIO_BELOW_MINIMUM", "ALREADY_COMPENSATED")
SCATTER_POINTS = 3000
TOP_ROWS = 20


@dataclass(frozen=True, slots=True)
class ReasonCounts:
    rejected_users: int
    counts: tuple[tuple[str, int], ...]  # known codes first (zero included), then others
    without_reason: int


def reason_counts(eligibility: pa.Table) -> ReasonCounts:
    """How often each reason code appears among non-eligible users (null = not eligible).

    A user may carry several reasons, so the counts can add up to more than the
    number of rejected users.
    """
    rejected = pc.fill_null(pc.invert(eligibility.column("eligible")), True)
    reasons = pc.filter(eligibility.column("reasons"), rejected)
    sizes = pc.fill_null(pc.list_value_length(reasons), 0)
    found: dict[str, int] = {}
    for item in pc.value_counts(pc.list_flatten(reasons)).to_pylist():
        found[str(item["values"])] = int(item["counts"])
    others = sorted(code for code in found if code not in REASONS)
    counts = tuple((code, found.get(code, 0)) for code in (*REASONS, *others))
    without = int(pc.sum(pc.equal(sizes, 0)).as_py() or 0)
    return ReasonCounts(len(reasons), counts, without)


def eligible_count(eligibility: pa.Table) -> int:
    return int(pc.sum(pc.fill_null(eligibility.column("eligible"), False)).as_py() or 0)


@dataclass(frozen=True, slots=True)
class UserRow:
    """One user, as the top-20 table and the scatter show them."""

    user_id: int
    amount_cents: int
    bound: str
    loss_cents: int | None  # None when the user is missing from eligibility
    net_assets_cents: int | None
    loss_ratio: float | None


def top_payouts(allocations: pa.Table, eligibility: pa.Table) -> tuple[UserRow, ...]:
    """The largest payouts, ties broken by ascending user id (independent of row order)."""
    amounts = ints(allocations.column("amount_cents"))
    ids = ints(allocations.column("user_id"))
    if amounts.size > TOP_ROWS:
        threshold = np.partition(amounts, amounts.size - TOP_ROWS)[amounts.size - TOP_ROWS]
        candidates = np.flatnonzero(amounts >= threshold)
    else:
        candidates = np.arange(amounts.size)
    order = np.lexsort((ids[candidates], -amounts[candidates]))[:TOP_ROWS]
    return user_rows(allocations, eligibility, candidates[order])


@dataclass(frozen=True, slots=True)
class ScatterSample:
    loss_usd: FloatArray
    payout_usd: FloatArray
    bound: npt.NDArray[np.str_]
    user_id: IntArray
    population: int  # eligible users before sampling
    unplotted: int  # sampled users with no (positive) loss or payout to place on log axes


def scatter_sample(allocations: pa.Table, eligibility: pa.Table) -> ScatterSample:
    """At most :data:`SCATTER_POINTS` users, chosen by a hash of their id.

    The same users are drawn whatever the row order, and from run to run, so two
    reports of the same run are byte-identical.
    """
    ids = ints(allocations.column("user_id"))
    rows = user_rows(allocations, eligibility, _hash_sample(ids, SCATTER_POINTS))
    loss = np.array([np.nan if r.loss_cents is None else r.loss_cents for r in rows], float)
    payout = np.array([r.amount_cents for r in rows], dtype=np.float64)
    keep = (loss > 0) & (payout > 0)
    bounds = np.array([r.bound for r in rows], dtype=np.str_).reshape(-1)
    return ScatterSample(
        loss_usd=loss[keep] / 100,
        payout_usd=payout[keep] / 100,
        bound=bounds[keep],
        user_id=np.array([r.user_id for r in rows], dtype=np.int64)[keep],
        population=int(ids.size),
        unplotted=int((~keep).sum()),
    )


def user_rows(
    allocations: pa.Table, eligibility: pa.Table, indices: IntArray
) -> tuple[UserRow, ...]:
    """Join a few allocation rows (by position) to their eligibility rows (by user id)."""
    if indices.size == 0:
        return ()
    picked = allocations.take(pa.array(indices, pa.int64()))
    ids = picked.column("user_id").combine_chunks()
    # Hash the few wanted ids and probe eligibility with them (not the other way round).
    subset = eligibility.filter(pc.is_in(eligibility.column("user_id"), value_set=ids))
    if subset.num_rows == 0:
        subset = pa.Table.from_pylist([{}], schema=eligibility.schema)  # one all-null row
    where = pc.index_in(ids, value_set=subset.column("user_id").combine_chunks())
    found = subset.take(pc.fill_null(where, 0))
    present = pc.is_valid(where).to_pylist()
    loss = usd_to_cents(found.column("loss_usd"))
    assets = usd_to_cents(found.column("net_assets_usd"))
    ratio = [
        r if r is not None and math.isfinite(r) else None
        for r in found.column("loss_ratio").to_pylist()
    ]
    return tuple(
        UserRow(
            user_id=int(uid),
            amount_cents=int(amount),
            bound="(none)" if bound is None else str(bound),
            loss_cents=loss[i] if present[i] else None,
            net_assets_cents=assets[i] if present[i] else None,
            loss_ratio=ratio[i] if present[i] else None,
        )
        for i, (uid, amount, bound) in enumerate(
            zip(
                ids.to_pylist(),
                picked.column("amount_cents").to_pylist(),
                picked.column("bound").to_pylist(),
                strict=True,
            )
        )
    )


@dataclass(frozen=True, slots=True)
class HourBar:
    hour: datetime  # aware, UTC
    fills: int
    users: int
    loss_cents: int


def hourly_bars(hourly: pa.Table) -> tuple[HourBar, ...]:
    """Hourly rows sorted by hour; one row per hour is small, so plain Python is fine."""
    table = hourly.sort_by("hour")
    as_utc = pc.cast(table.column("hour"), pa.timestamp("us", tz="UTC"))  # any unit; naive = UTC
    micros = pc.cast(as_utc, pa.int64()).to_pylist()
    return tuple(
        HourBar(
            hour=datetime.fromtimestamp(us // 1_000_000, tz=UTC),
            fills=int(fills or 0),
            users=int(users or 0),
            loss_cents=int(loss or 0),
        )
        for us, fills, users, loss in zip(
            micros,
            table.column("fills").to_pylist(),
            table.column("users").to_pylist(),
            table.column("loss_cents").to_pylist(),
            strict=True,
        )
        if us is not None
    )


def usd_to_cents(values: pa.Array | pa.ChunkedArray) -> list[int | None]:
    """Cents-exact USD floats → integer cents (half away from zero); null or NaN → None."""
    cents = pc.round(pc.multiply(values, 100.0), round_mode="half_towards_infinity")
    return [int(v) if v is not None and math.isfinite(v) else None for v in cents.to_pylist()]


def _hash_sample(ids: IntArray, k: int) -> IntArray:
    """Positions of the ``k`` ids with the smallest mixed hash, ordered by id.

    The mix (multiply by odd constants, xor-shift) is a bijection on 64 bits, so
    distinct ids never tie; ordering by id makes the drawing independent of row order.
    """
    if ids.size <= k:
        return np.argsort(ids, kind="stable").astype(np.int64)
    h = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    picked = np.argpartition(h, k - 1)[:k]
    return picked[np.argsort(ids[picked], kind="stable")].astype(np.int64)
