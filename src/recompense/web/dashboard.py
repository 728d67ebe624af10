"""The programme dashboard's figures: the run's (cached) and the ledger's (live).

From the run, computed once per run with the report's own statistics and charts
(:mod:`recompense.report`): the eligibility funnel, the payout histogram and the
Lorenz curve. From the ledger, on every view: vouchers by state against the
programme's total, the 24 h start and 96 h completion promises
(:func:`recompense.distribution.status.status`), notification delivery, and
redemptions and clawbacks (expired or revoked vouchers) per hour or day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, case, func, select

from recompense.distribution.status import Status, status
from recompense.ledger.schema import notifications, vouchers
from recompense.report import charts
from recompense.report.stats import (
    Histogram,
    PayoutStats,
    bound_categories,
    payout_histogram,
    payout_stats,
)
from recompense.web.queries import aware
from recompense.web.runindex import RunIndex

CLOSED = ("redeemed", "expired", "revoked")


@dataclass(frozen=True, slots=True)
class RunFigures:
    funnel: tuple[tuple[str, int], ...]
    payouts: PayoutStats
    histogram: Histogram
    funnel_svg: str
    histogram_svg: str
    lorenz_svg: str


@dataclass(frozen=True, slots=True)
class Closures:
    start: datetime
    redeemed: int
    redeemed_cents: int
    clawed_back: int
    clawed_back_cents: int


@dataclass(frozen=True, slots=True)
class LedgerFigures:
    status: Status
    notifications: dict[str, int]
    closures: tuple[Closures, ...]


def run_figures(index: RunIndex) -> RunFigures:
    """The run's distribution: the report's statistics and charts (about 1 s per 1M users)."""
    a = index.allocations
    amounts = a.amount_cents
    labels: list[str] = np.array(a.bounds, dtype=object)[a.bound_codes].tolist() if a.bounds else []
    categories = bound_categories(pa.table({"bound": pa.array(labels, pa.string())}))
    low, high = payout_range(index)
    histogram = payout_histogram(amounts, categories, low, high)
    stats = payout_stats(amounts)
    funnel = tuple((str(s["stage"]), int(s["users"])) for s in index.manifest.get("funnel", []))
    return RunFigures(
        funnel=funnel,
        payouts=stats,
        histogram=histogram,
        funnel_svg=charts.funnel_chart(funnel),
        histogram_svg=charts.histogram_chart(histogram, low, high),
        lorenz_svg=charts.lorenz_chart(stats),
    )


def payout_range(index: RunIndex) -> tuple[int, int]:
    """The payouts' axis, in cents: a shared programme's minimum and maximum payout; a
    full-payment programme has neither (it pays each loss), so the smallest and largest
    payout, as its run's report draws them."""
    params = index.params
    if index.kind == "shared":
        return int(params["min_payout_cents"]), int(params["max_payout_cents"])
    amounts = index.allocations.amount_cents
    return (int(amounts.min()), int(amounts.max())) if amounts.size else (0, 0)


def ledger_figures(engine: Engine, url: str, program_id: str) -> LedgerFigures:
    return LedgerFigures(
        status=status(program_id, url),
        notifications=notification_counts(engine, program_id),
        closures=closures(engine, program_id),
    )


def notification_counts(engine: Engine, program_id: str) -> dict[str, int]:
    """sent / retrying (pending after a failed attempt) / pending / sending / failed."""
    n = notifications.c
    retried = case((n.attempts > 0, 1), else_=0)
    query = (
        select(n.status, retried, func.count())
        .where(n.program_id == program_id)
        .group_by(n.status, retried)
    )
    counts = dict.fromkeys(("sent", "retrying", "pending", "sending", "failed"), 0)
    with engine.connect() as conn:
        for state, was_retried, count in conn.execute(query):
            key = "retrying" if state == "pending" and was_retried else state
            counts[key] = counts.get(key, 0) + int(count)
    return counts


def closures(engine: Engine, program_id: str) -> tuple[Closures, ...]:
    """Redeemed and clawed-back vouchers per hour (per day beyond 3 days), oldest first."""
    v = vouchers.c
    bucket = (
        func.date_trunc("hour", v.closed_at)
        if engine.dialect.name == "postgresql"
        else func.strftime("%Y-%m-%dT%H:00:00", v.closed_at)
    )
    query = (
        select(bucket, v.status, func.count(), func.sum(v.amount_cents))
        .where(v.program_id == program_id, v.status.in_(CLOSED))
        .group_by(bucket, v.status)
    )
    with engine.connect() as conn:
        rows = [(_moment(b), s, int(c), int(t or 0)) for b, s, c, t in conn.execute(query)]
    if not rows:
        return ()
    span = max(r[0] for r in rows) - min(r[0] for r in rows)
    daily = span > timedelta(days=3)
    merged: dict[datetime, list[int]] = {}
    for moment, state, count, cents in rows:
        key = moment.replace(hour=0) if daily else moment
        slot = merged.setdefault(key, [0, 0, 0, 0])
        offset = 0 if state == "redeemed" else 2
        slot[offset] += count
        slot[offset + 1] += cents
    return tuple(Closures(k, *merged[k]) for k in sorted(merged))


def _moment(value: object) -> datetime:
    if isinstance(value, datetime):
        return aware(value)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
