"""Summaries of a payout list: histogram, quantiles, Lorenz curve, who gains and loses.

Amounts are integer cents; histogram edges and quantiles are exact cents. Shares on the
Lorenz curve and the Gini coefficient are floats: they are drawn, not paid. Both come
from :mod:`recompense.inequality`, the implementation the run report uses, so a what-if
and the report show the same Gini for the same payouts (the Gini from exact integer
sums, rounded to float once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recompense.inequality import as_cents, gini_sorted, lorenz_shares

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
LORENZ_POINTS = 50
LOG_RATIO = 100  # segments: points at 0, 1/50, …, 1 of the population


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts in half-open bins ``[edges[i], edges[i+1])`` of integer cents.

    ``published`` counts the published payouts in the same bins, for an overlay.
    """

    edges_cents: tuple[int, ...]
    counts: tuple[int, ...]
    published: tuple[int, ...]
    scale: str  # "linear" (equal widths) or "log" (geometric widths, for wide ranges)


@dataclass(frozen=True, slots=True)
class Distribution:
    histogram: Histogram
    quantiles: tuple[tuple[float, int], ...]  # (level, cents), nearest rank
    published_quantiles: tuple[tuple[float, int], ...]
    lorenz: tuple[tuple[float, float], ...]  # (population share, payout share)
    published_lorenz: tuple[tuple[float, float], ...]
    gini: float
    published_gini: float


@dataclass(frozen=True, slots=True)
class Mover:
    user_id: int
    before_cents: int  # published payout (0: not paid)
    after_cents: int  # payout in the what-if (0: not eligible)

    @property
    def change_cents(self) -> int:
        return self.after_cents - self.before_cents


@dataclass(frozen=True, slots=True)
class Movement:
    """Who gains and who loses against the published run."""

    gainers: int
    losers: int
    unchanged: int  # paid in at least one of the two, same amount
    gained_cents: int  # Σ of increases
    lost_cents: int  # Σ of decreases, as a positive number
    top_gainers: tuple[Mover, ...]  # largest increase first; ties by smaller user_id
    top_losers: tuple[Mover, ...]  # largest decrease first


def distribution(new: np.ndarray, published: np.ndarray, bins: int) -> Distribution:
    """Both payout lists (cents of paid users only) summarised on the same bins."""
    new_sorted, old_sorted = np.sort(as_cents(new)), np.sort(as_cents(published))
    lorenz_new, gini_new = lorenz(new_sorted)
    lorenz_old, gini_old = lorenz(old_sorted)
    return Distribution(
        histogram=histogram(new_sorted, old_sorted, bins),
        quantiles=quantiles(new_sorted),
        published_quantiles=quantiles(old_sorted),
        lorenz=lorenz_new,
        published_lorenz=lorenz_old,
        gini=gini_new,
        published_gini=gini_old,
    )


def histogram(new_sorted: np.ndarray, old_sorted: np.ndarray, bins: int) -> Histogram:
    """About ``bins`` bins of whole cents spanning both lists (both sorted).

    Payouts span orders of magnitude ($4 to $6,000), so when the largest is at least
    :data:`LOG_RATIO` times the smallest the edges are geometric (rounded down to whole
    cents, duplicates dropped); otherwise the width is ``⌊(hi − lo) / bins⌋ + 1`` cents.
    Either way the first edge is the smallest payout and the last is above the largest.
    """
    both = [a for a in (new_sorted, old_sorted) if len(a)]
    if not both:
        return Histogram((0, 1), (0,), (0,), "linear")
    lo = min(int(a[0]) for a in both)
    hi = max(int(a[-1]) for a in both)
    if lo > 0 and hi >= LOG_RATIO * lo:
        scale = "log"
        edges = np.unique(np.floor(np.geomspace(lo, hi + 1, bins + 1)).astype(np.int64))
        edges[0], edges[-1] = lo, hi + 1
    else:
        scale = "linear"
        edges = lo + ((hi - lo) // bins + 1) * np.arange(bins + 1, dtype=np.int64)
    return Histogram(
        tuple(int(e) for e in edges),
        _counts(new_sorted, edges),
        _counts(old_sorted, edges),
        scale,
    )


def quantiles(sorted_cents: np.ndarray) -> tuple[tuple[float, int], ...]:
    """Nearest-rank quantiles: the smallest payout with at least q of payouts ≤ it."""
    n = len(sorted_cents)
    if not n:
        return tuple((q, 0) for q in QUANTILES)
    ranks = [max(int(np.ceil(q * n)) - 1, 0) for q in QUANTILES]
    return tuple((q, int(sorted_cents[r])) for q, r in zip(QUANTILES, ranks, strict=True))


def lorenz(sorted_cents: np.ndarray) -> tuple[tuple[tuple[float, float], ...], float]:
    """Lorenz curve points and the Gini coefficient of a sorted payout list (cents ≥ 0).

    Always ``LORENZ_POINTS + 1`` points at evenly spaced ranks (repeated when there are
    fewer payouts than points); an empty or all-zero list gives the line of equality
    and a Gini of 0.
    """
    ordered = as_cents(sorted_cents)
    n = int(ordered.size)
    if not n or not int(ordered[-1]):
        line = tuple((k / LORENZ_POINTS, k / LORENZ_POINTS) for k in range(LORENZ_POINTS + 1))
        return line, 0.0
    at = np.rint(np.linspace(0, n, LORENZ_POINTS + 1)).astype(np.int64)
    xs, ys = lorenz_shares(ordered, at)
    points = tuple((float(x), float(y)) for x, y in zip(xs, ys, strict=True))
    return points, gini_sorted(ordered)


def movement(user_id: np.ndarray, before: np.ndarray, after: np.ndarray, top: int) -> Movement:
    """Compare payouts per user (0 = not paid); the ``top`` largest moves each way."""
    change = after - before
    up, down = change > 0, change < 0
    paid = (before > 0) | (after > 0)
    return Movement(
        gainers=int(up.sum()),
        losers=int(down.sum()),
        unchanged=int((paid & (change == 0)).sum()),
        gained_cents=int(change[up].sum()),
        lost_cents=int(-change[down].sum()),
        top_gainers=_top(user_id, before, after, np.flatnonzero(up), change, top),
        top_losers=_top(user_id, before, after, np.flatnonzero(down), -change, top),
    )


def _top(
    user_id: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    idx: np.ndarray,
    size: np.ndarray,
    top: int,
) -> tuple[Mover, ...]:
    if top <= 0 or not len(idx):
        return ()
    if len(idx) > top:
        kth = np.partition(size[idx], len(idx) - top)[len(idx) - top]
        idx = idx[size[idx] >= kth]  # all ties at the threshold, then order exactly
    idx = idx[np.lexsort((user_id[idx], -size[idx]))][:top]
    return tuple(Mover(int(user_id[i]), int(before[i]), int(after[i])) for i in idx)


def _counts(sorted_cents: np.ndarray, edges: np.ndarray) -> tuple[int, ...]:
    at = np.searchsorted(sorted_cents, edges, side="left")
    return tuple(int(c) for c in np.diff(at))
