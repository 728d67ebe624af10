"""The one Gini/Lorenz implementation (recompense.inequality), as the what-if uses it."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from recompense import inequality
from recompense.report import gini as report_gini
from recompense.report import lorenz_points
from recompense.whatif import stats
from strategies import CENTS

PAYOUTS = st.lists(CENTS, max_size=60)
# Amounts whose sums (and Σ i·x_i) overflow int64: the exact paths must still hold.
HUGE_PAYOUTS = st.lists(st.integers(0, 2**62), max_size=12)


def reference_gini(amounts: list[int]) -> Fraction:
    """Mean absolute difference over all ordered pairs / twice the mean, in Fractions."""
    n, total = len(amounts), sum(amounts)
    if n == 0 or total == 0:
        return Fraction(0)
    spread = sum(abs(a - b) for a in amounts for b in amounts)
    return Fraction(spread, 2 * n * total)


@given(st.one_of(PAYOUTS, HUGE_PAYOUTS))
def test_gini_is_the_exact_value_rounded_once(amounts: list[int]) -> None:
    g = inequality.gini(np.array(amounts, dtype=np.int64))
    assert g == float(reference_gini(amounts))
    assert 0.0 <= g < 1.0


@given(PAYOUTS, PAYOUTS)
def test_whatif_and_report_publish_the_same_gini(new: list[int], published: list[int]) -> None:
    d = stats.distribution(np.array(new, np.int64), np.array(published, np.int64), bins=10)
    assert d.gini == report_gini(np.array(new, np.int64)) == float(reference_gini(new))
    assert d.published_gini == float(reference_gini(published))


@given(PAYOUTS)
def test_whatif_lorenz_has_fixed_points_on_the_exact_curve(amounts: list[int]) -> None:
    ordered = sorted(amounts)
    points, _ = stats.lorenz(np.array(ordered, np.int64))
    assert len(points) == stats.LORENZ_POINTS + 1  # repeated ranks when n < 50
    assert points[0] == (0.0, 0.0)
    assert points[-1] == (1.0, 1.0)
    assert all(b[0] >= a[0] and b[1] >= a[1] for a, b in pairwise(points))
    total = sum(ordered)
    for x, y in points:
        if total:
            rank = round(x * len(ordered))
            assert y == sum(ordered[:rank]) / total
        else:
            assert x == y  # the line of equality


@given(st.lists(CENTS, min_size=stats.LORENZ_POINTS, max_size=150))
def test_report_and_whatif_lorenz_agree_where_they_share_ranks(amounts: list[int]) -> None:
    # From LORENZ_POINTS payouts up both pick the same ranks (below, the what-if repeats
    # ranks to keep a fixed number of points; the report keeps each rank once). All
    # zeros is the line of equality: 2 points in the report, a fixed number here.
    assume(any(amounts))
    xs, ys = lorenz_points(np.array(amounts, np.int64), max_points=stats.LORENZ_POINTS + 1)
    points, _ = stats.lorenz(np.sort(np.array(amounts, np.int64)))
    assert points == tuple(zip(xs.tolist(), ys.tolist(), strict=True))


def test_whatif_gini_does_not_overflow_int64() -> None:
    # Σ x = 2^63 and Σ i·x_i = 5·2^62: both beyond int64.
    points, g = stats.lorenz(np.array([0, 2**62, 2**62], dtype=np.int64))
    assert g == pytest.approx(1 / 3, abs=1e-15)
    assert points[-1] == (1.0, 1.0)


def test_whatif_refuses_negative_payouts() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        stats.distribution(np.array([-1, 5]), np.array([1, 2]), bins=4)
