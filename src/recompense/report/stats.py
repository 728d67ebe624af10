"""The payout distribution: Gini, Lorenz curve, histogram, bounds and run checks.

Everything here is vectorised over the ``amount_cents`` column (numpy, and
pyarrow.compute for strings): the report must render a million eligible users in
well under three seconds, so no Python loop runs over users. Money stays in integer
cents; sums are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from recompense.report.inputs import ReportInput

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

BOUNDS = ("floor", "share", "cap")
HISTOGRAM_BINS = 30


def gini(amounts_cents: npt.ArrayLike) -> float:
    """The Gini coefficient of non-negative integer amounts, computed exactly.

    With ``x`` sorted ascending and ranks ``i = 1..n``:
    ``G = 2·Σ i·x_i / (n·Σ x) − (n + 1) / n``. The sums are exact integers (no int64
    overflow, whatever ``n``) and the result is rounded to float once. An empty
    input, or one whose total is zero, has ``G = 0``.
    """
    return _gini_sorted(np.sort(_as_cents(amounts_cents)))


def lorenz_points(
    amounts_cents: npt.ArrayLike, max_points: int = 201
) -> tuple[FloatArray, FloatArray]:
    """The Lorenz curve: population share ``x`` against payout share ``y``, both 0..1.

    Starts at (0, 0) and ends at (1, 1); at most ``max_points`` vertices, taken at
    evenly spaced ranks (so a drawing stays small; :func:`gini` uses every amount).
    An empty or all-zero input gives the line of equality.
    """
    return _lorenz_sorted(np.sort(_as_cents(amounts_cents)), max_points)


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
        gini=_gini_sorted(ordered),
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


def _as_cents(amounts: npt.ArrayLike) -> IntArray:
    array = np.asarray(amounts)
    if array.ndim != 1:
        raise ValueError(f"amounts must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"amounts must be integer cents, got dtype {array.dtype}")
    cents = array.astype(np.int64)
    if cents.size and int(cents.min()) < 0:
        raise ValueError("amounts must be non-negative")
    return cents


def _gini_sorted(ordered: IntArray) -> float:
    n = int(ordered.size)
    total = _exact_sum(ordered)
    if n == 0 or total == 0:
        return 0.0
    return float(Fraction(2 * _rank_weighted_sum(ordered), n * total) - Fraction(n + 1, n))


def _rank_weighted_sum(ordered: IntArray) -> int:
    """Σ i·x_i (i from 1) as an exact Python int: int64 dots over chunks that can't overflow."""
    n, largest = int(ordered.size), int(ordered[-1])
    if largest == 0:
        return 0
    step = max(1, (1 << 62) // (n * largest))
    total = 0
    for start in range(0, n, step):
        stop = min(n, start + step)
        ranks = np.arange(start + 1, stop + 1, dtype=np.int64)
        total += int(np.dot(ranks, ordered[start:stop]))
    return total


def _exact_sum(values: IntArray) -> int:
    """The sum of non-negative int64 values as a Python int, in chunks that can't overflow."""
    if values.size == 0:
        return 0
    largest = max(int(values.max()), 1)
    step = max(1, (1 << 62) // largest)
    return sum(int(values[i : i + step].sum(dtype=np.int64)) for i in range(0, values.size, step))


def _lorenz_sorted(ordered: IntArray, max_points: int) -> tuple[FloatArray, FloatArray]:
    n = int(ordered.size)
    total = _exact_sum(ordered)
    if n == 0 or total == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    # Exact running sums where int64 allows; floats (for drawing only) beyond that.
    kind = np.int64 if total < (1 << 63) else np.float64
    cumulative = np.concatenate(([0], np.cumsum(ordered, dtype=kind)))
    ranks = np.unique(np.linspace(0, n, min(n + 1, max(max_points, 2))).round().astype(np.int64))
    return ranks / n, cumulative[ranks] / total
