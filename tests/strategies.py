"""Hypothesis strategies shared by the property tests (attrs keeps them in one place too)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

CENTS = st.integers(min_value=0, max_value=10**9)


@st.composite
def allocation_problems(draw, max_users: int = 60):
    """(user_id, weight, loss_cents, budget, min, max, cap_at_loss) with Σfloor ≤ budget."""
    n = draw(st.integers(min_value=1, max_value=max_users))
    ids = draw(st.lists(st.integers(1, 10**12), min_size=n, max_size=n, unique=True))
    weight = draw(
        st.lists(
            st.one_of(st.just(0.0), st.floats(0.001, 1e6), st.sampled_from([1.0, 2.0, 7.5])),
            min_size=n,
            max_size=n,
        )
    )
    loss = draw(st.lists(st.integers(0, 10**8), min_size=n, max_size=n))
    min_payout = draw(st.integers(0, 10_000))
    max_payout = draw(st.integers(max(min_payout, 1), 10**7))
    cap_at_loss = draw(st.booleans())
    cap = np.full(n, max_payout, dtype=np.int64)
    if cap_at_loss:
        cap = np.minimum(cap, np.array(loss, dtype=np.int64))
    floor_total = int(np.minimum(min_payout, cap).sum())
    cap_total = int(cap.sum())
    budget = draw(st.integers(max(floor_total, 1), max(floor_total, 1) + 2 * cap_total + 10))
    order = np.argsort(ids)
    return (
        np.array(ids, dtype=np.int64)[order],
        np.array(weight, dtype=np.float64)[order],
        np.array(loss, dtype=np.int64)[order],
        budget,
        min_payout,
        max_payout,
        cap_at_loss,
    )
