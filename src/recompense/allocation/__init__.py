"""Budget-exact allocation of payouts in integer cents (see :mod:`.solver`)."""

from recompense.allocation.solver import (
    BOUND_CAP,
    BOUND_FLOOR,
    BOUND_SHARE,
    Allocation,
    AllocationError,
    allocate,
    amounts_at,
    payout_bounds,
    solve_lambda,
)

__all__ = [
    "BOUND_CAP",
    "BOUND_FLOOR",
    "BOUND_SHARE",
    "Allocation",
    "AllocationError",
    "allocate",
    "amounts_at",
    "payout_bounds",
    "solve_lambda",
]
