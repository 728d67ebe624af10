"""Inequality of a payout list: the Gini coefficient and the Lorenz curve, one implementation.

Both the run report (:mod:`recompense.report.stats`) and the what-if simulator
(:mod:`recompense.whatif.stats`) use these functions, so a run and its what-if show
the same Gini for the same payouts. Amounts are non-negative integer cents. The Gini
is computed from exact integer sums (no int64 overflow, whatever the size) and rounded
to float once; Lorenz shares are floats because they are drawn, not paid.

This module imports numpy only, so any package may import it without a cycle.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def gini(amounts_cents: npt.ArrayLike) -> float:
    """The Gini coefficient of non-negative integer amounts, computed exactly.

    With ``x`` sorted ascending and ranks ``i = 1..n``:
    ``G = 2·Σ i·x_i / (n·Σ x) − (n + 1) / n``. The sums are exact integers (no int64
    overflow, whatever ``n``) and the result is rounded to float once, so it lies in
    ``[0, 1)``. An empty input, or one whose total is zero, has ``G = 0``.
    """
    return gini_sorted(np.sort(as_cents(amounts_cents)))


def gini_sorted(ordered: IntArray) -> float:
    """:func:`gini` of amounts already validated by :func:`as_cents` and sorted ascending."""
    n = int(ordered.size)
    total = exact_sum(ordered)
    if n == 0 or total == 0:
        return 0.0
    return float(Fraction(2 * _rank_weighted_sum(ordered), n * total) - Fraction(n + 1, n))


def lorenz_shares(ordered: IntArray, ranks: IntArray) -> tuple[FloatArray, FloatArray]:
    """Lorenz vertices at ``ranks`` (each in ``0..n``) of sorted, validated amounts.

    Returns population shares ``rank / n`` and payout shares ``Σ x_1..x_rank / Σ x``.
    Running sums are exact in int64 while the total fits, floats beyond (for drawing
    only). The caller handles an empty or all-zero input (the line of equality), whose
    shares are undefined here.
    """
    n = int(ordered.size)
    total = exact_sum(ordered)
    if n == 0 or total == 0:
        raise ValueError("the Lorenz curve of an empty or all-zero list is the line of equality")
    kind = np.int64 if total < (1 << 63) else np.float64
    cumulative = np.concatenate(([0], np.cumsum(ordered, dtype=kind)))
    return ranks / n, cumulative[ranks] / total


def as_cents(amounts: npt.ArrayLike) -> IntArray:
    """``amounts`` as a one-dimensional int64 array; ``ValueError`` unless non-negative integers."""
    array = np.asarray(amounts)
    if array.ndim != 1:
        raise ValueError(f"amounts must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"amounts must be integer cents, got dtype {array.dtype}")
    cents = array.astype(np.int64)
    if cents.size and int(cents.min()) < 0:
        raise ValueError("amounts must be non-negative")
    return cents


def exact_sum(values: IntArray) -> int:
    """The sum of non-negative int64 values as a Python int, in chunks that can't overflow."""
    if values.size == 0:
        return 0
    largest = max(int(values.max()), 1)
    step = max(1, (1 << 62) // largest)
    return sum(int(values[i : i + step].sum(dtype=np.int64)) for i in range(0, values.size, step))


def _rank_weighted_sum(ordered: IntArray) -> int:
    """Σ i·x_i (i from 1) as an exact Python int: int64 dots over chunks that can't overflow."""
    n, largest = int(ordered.size), int(ordered[-1])
    if largest == 0:
        return 0
    if n * largest >= 1 << 62:  # even i·x_i alone may overflow int64: Python ints
        return sum(i * int(x) for i, x in enumerate(ordered.tolist(), start=1))
    step = (1 << 62) // (n * largest)
    total = 0
    for start in range(0, n, step):
        stop = min(n, start + step)
        ranks = np.arange(start + 1, stop + 1, dtype=np.int64)
        total += int(np.dot(ranks, ordered[start:stop]))
    return total
