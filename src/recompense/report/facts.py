"""The aggregates of one run, gathered once before the page is laid out."""

from __future__ import annotations

from dataclasses import dataclass

from recompense.report.inputs import ReportInput
from recompense.report.rows import (
    HourBar,
    ReasonCounts,
    ScatterSample,
    UserRow,
    eligible_count,
    hourly_bars,
    reason_counts,
    scatter_sample,
    top_payouts,
)
from recompense.report.stats import (
    BoundRow,
    Check,
    Histogram,
    PayoutStats,
    bound_categories,
    bound_rows,
    column_ints,
    consistency_checks,
    payout_histogram,
    payout_stats,
)


@dataclass(frozen=True, slots=True)
class Facts:
    payouts: PayoutStats
    considered: int
    eligible: int
    bounds: tuple[BoundRow, ...]
    histogram: Histogram
    scatter: ScatterSample
    top: tuple[UserRow, ...]
    reasons: ReasonCounts
    hours: tuple[HourBar, ...]
    checks: tuple[Check, ...]


def collect(data: ReportInput) -> Facts:
    """Every aggregate the page shows, computed once (vectorised; see ``stats`` and ``rows``)."""
    amounts = column_ints(data.allocations, "amount_cents")
    categories = bound_categories(data.allocations)
    eligible = eligible_count(data.eligibility)
    return Facts(
        payouts=payout_stats(amounts),
        considered=data.eligibility.num_rows,
        eligible=eligible,
        bounds=bound_rows(amounts, categories),
        histogram=payout_histogram(
            amounts, categories, data.min_payout_cents, data.max_payout_cents
        ),
        scatter=scatter_sample(data.allocations, data.eligibility),
        top=top_payouts(data.allocations, data.eligibility),
        reasons=reason_counts(data.eligibility),
        hours=hourly_bars(data.hourly),
        checks=consistency_checks(
            data, amounts, column_ints(data.allocations, "cap_cents"), eligible
        ),
    )
