"""The payout distribution: Gini, Lorenz curve, histogram, bounds and run checks.

Everything here is vectorised over the ``amount_cents`` column (numpy, and
pyarrow.compute for strings): the report must render a million eligible users in
well under three seconds, so no Python loop runs over users. Money stays in integer
cents; sums are exact. The Gini and the Lorenz arithmetic come from
:mod:`recompense.inequality`, the one implementation the what-if simulator uses too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# The Gini and the Lorenz arithmetic live in recompense.inequality, shared with whatif;
# gini and the array aliases are re-exported here for the report's modules.
from recompense.inequality import FloatArray as FloatArray
from recompense.inequality import IntArray as IntArray
from recompense.inequality import as_cents, gini_sorted, lorenz_shares
from recompense.inequality import exact_sum as _exact_sum
from recompense.inequality import gini as gini
from recompense.report.inputs import ReportInput

BOUNDS = ("floor", "share", "cap")
HISTOGRAM_BINS = 30


def lorenz_points(
    amounts_cents: npt.ArrayLike, max_points: int = 201
) -> tuple[FloatArray, FloatArray]:
    """The Lorenz curve: population share ``x`` against payout share ``y``, both 0..1.

    Starts at (0, 0) and ends at (1, 1); at most ``max_points`` vertices, taken at
    evenly spaced ranks (so a drawing stays small; :func:`gini` uses every amount).
    An empty or all-zero input gives the line of equality.
    """
    return _lorenz_sorted(np.sort(as_cents(amounts_cents)), max_points)


@dataclass(frozen=True, slots=True)
class PayoutStats:
    """Distribution of the eligible users' payouts (integer cents)."""

    count: int
    total_cents: int
    mean_cents: int  # half up
    median_cents: int  # mean of the two middle amounts for even counts, half up
    min_cents: int
    max_cents: int
    gini: float
    top_1pct_share: float
    top_10pct_share: float
    bottom_50pct_share: float
    lorenz_x: FloatArray
    lorenz_y: FloatArray


def payout_stats(amounts: IntArray) -> PayoutStats:
    """Count, total, mean, median, range, Gini and top/bottom shares of ``amounts`` (cents).

    The top 1% and 10% are rounded up to whole users (at least one), the bottom 50%
    down, so small runs still show a meaningful share.
    """
    ordered = np.sort(amounts)
    n = int(ordered.size)
    total = _exact_sum(ordered)
    lx, ly = _lorenz_sorted(ordered, 201)
    if n == 0:
        return PayoutStats(0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, lx, ly)
    lo_mid, hi_mid = int(ordered[(n - 1) // 2]), int(ordered[n // 2])

    def share(count: int, top: bool) -> float:
        part = ordered[n - count :] if top else ordered[:count]
        return _exact_sum(part) / total if total else 0.0

    return PayoutStats(
        count=n,
        total_cents=total,
        mean_cents=(2 * total + n) // (2 * n),
        median_cents=(lo_mid + hi_mid + 1) // 2,
        min_cents=int(ordered[0]),
        max_cents=int(ordered[-1]),
        gini=gini_sorted(ordered),
        top_1pct_share=share(max(1, -(-n // 100)), top=True),
        top_10pct_share=share(max(1, -(-n // 10)), top=True),
        bottom_50pct_share=share(n // 2, top=False),
        lorenz_x=lx,
        lorenz_y=ly,
    )


@dataclass(frozen=True, slots=True)
class Histogram:
    """Payout counts per bin, stacked by bound. ``edges`` are in cents (floats)."""

    edges: FloatArray
    counts: dict[str, IntArray]  # bound → counts per bin
    log: bool


def payout_histogram(
    amounts: IntArray, bounds: Categories, lo_cents: int, hi_cents: int
) -> Histogram:
    """Log-spaced bins from the floor to the maximum payout (linear when the range is narrow).

    Amounts outside ``[lo, hi]`` (which the allocation should never produce) are
    counted in the first or last bin rather than dropped.
    """
    if amounts.size:
        lo_cents = min(lo_cents, int(amounts.min()))
        hi_cents = max(hi_cents, int(amounts.max()))
    lo, hi = float(max(lo_cents, 1)), float(max(hi_cents, 1))
    log = hi / lo >= 4
    if hi <= lo:
        hi = lo + 1.0
    if log:
        edges = np.geomspace(lo, hi, HISTOGRAM_BINS + 1)
    else:
        edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    clipped = np.clip(amounts.astype(np.float64), lo, hi)
    counts: dict[str, IntArray] = {}
    for code, bound in enumerate(bounds.labels):
        hist, _ = np.histogram(clipped[bounds.codes == code], bins=edges)
        counts[bound] = hist.astype(np.int64)
    return Histogram(edges, counts, log)


@dataclass(frozen=True, slots=True)
class Categories:
    """A string column as small integer codes into ``labels``."""

    labels: tuple[str, ...]
    codes: IntArray


def bound_categories(allocations: pa.Table) -> Categories:
    """``bound`` as codes: floor, share, cap always (even when absent), then others sorted.

    A null bound is shown as ``(none)``. Dictionary encoding keeps this O(n) in C.
    """
    encoded = pc.dictionary_encode(allocations.column("bound")).combine_chunks()
    found = [str(v) for v in encoded.dictionary.to_pylist()]
    has_null = encoded.null_count > 0
    extra = sorted(set(found) - set(BOUNDS)) + (["(none)"] if has_null else [])
    labels = (*BOUNDS, *extra)
    position = {label: i for i, label in enumerate(labels)}
    remap = np.array([position[v] for v in found] + [position.get("(none)", 0)], np.int64)
    indices = pc.fill_null(encoded.indices, len(found)).to_numpy(zero_copy_only=False)
    return Categories(labels, remap[np.asarray(indices, dtype=np.int64)])


@dataclass(frozen=True, slots=True)
class BoundRow:
    bound: str
    users: int
    amount_cents: int


def bound_rows(amounts: IntArray, bounds: Categories) -> tuple[BoundRow, ...]:
    """Users and cents per bound, in the order of ``bounds.labels``."""
    users = np.bincount(bounds.codes, minlength=len(bounds.labels))
    cents = [
        int(amounts[bounds.codes == code].sum(dtype=np.int64)) for code in range(len(bounds.labels))
    ]
    return tuple(
        BoundRow(label, int(users[code]), cents[code]) for code, label in enumerate(bounds.labels)
    )


@dataclass(frozen=True, slots=True)
class Check:
    """One invariant of the run, with the number it should have and the number it has."""

    label: str
    expected: int
    actual: int
    money: bool = False  # expected and actual are cents

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def consistency_checks(
    data: ReportInput, amounts: IntArray, caps: IntArray, eligible: int
) -> tuple[Check, ...]:
    """Invariants of the run that the owner should see hold, each with both numbers."""
    total = _exact_sum(amounts)
    outside = int(((amounts < data.min_payout_cents) | (amounts > data.max_payout_cents)).sum())
    over_cap = int((amounts > caps).sum())
    allocated = data.allocated_cents + data.unallocated_cents
    checks = [
        Check("allocated + unallocated = budget", data.budget_cents, allocated, money=True),
        Check("sum of payouts = allocated", data.allocated_cents, total, money=True),
        Check("payout rows = eligible users", eligible, int(amounts.size)),
        Check("payouts outside the floor and maximum", 0, outside),
        Check("payouts above the user's own cap", 0, over_cap),
    ]
    if data.funnel:
        checks.append(Check("last funnel stage = eligible users", eligible, data.funnel[-1][1]))
    return tuple(checks)


def column_ints(table: pa.Table, name: str) -> IntArray:
    """An integer column as int64 numpy (nulls as 0: ``check_input`` refuses them in money)."""
    return ints(table.column(name))


def ints(column: pa.ChunkedArray | pa.Array) -> IntArray:
    filled = pc.fill_null(column, 0)
    return np.asarray(filled.to_numpy(), dtype=np.int64)


def _lorenz_sorted(ordered: IntArray, max_points: int) -> tuple[FloatArray, FloatArray]:
    n = int(ordered.size)
    total = _exact_sum(ordered)
    if n == 0 or total == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    ranks = np.unique(np.linspace(0, n, min(n + 1, max(max_points, 2))).round().astype(np.int64))
    return lorenz_shares(ordered, ranks)
