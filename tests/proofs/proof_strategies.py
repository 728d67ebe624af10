"""Hypothesis strategies for the proofs tests (kept next to them: tests/strategies.py is
owned by the allocation tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from recompense.proofs.trees import MAX_AMOUNT_CENTS


@st.composite
def payouts(draw, max_users: int = 70):
    """(user_ids ascending and unique, amount_cents) as int64 arrays, edge values included."""
    ids = draw(
        st.lists(
            st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(0, 1000)),
            min_size=1,
            max_size=max_users,
            unique=True,
        )
    )
    amount = st.one_of(
        st.just(0), st.integers(1, 600_000), st.integers(0, MAX_AMOUNT_CENTS // max_users)
    )
    amounts = draw(st.lists(amount, min_size=len(ids), max_size=len(ids)))
    order = np.argsort(ids)
    return np.array(ids, np.int64)[order], np.array(amounts, np.int64)
