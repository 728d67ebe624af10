"""The loan fund's tables, defined in :mod:`recompense.db.loans` (the map and its contract).

Re-exported here, with the states and tiers their CHECK constraints are written from,
so the loan code imports them from its own package; every table is on the one
:data:`~recompense.db.base.metadata` (:mod:`recompense.db` says why one).
"""

from __future__ import annotations

from recompense.db.base import metadata
from recompense.db.loans import (
    REPAYMENT_TYPES,
    STATES,
    TIERS,
    State,
    loan_access_log,
    loan_applications,
    loan_approvals,
    loan_borrowers,
    loan_events,
    loan_funds,
    loan_schedule,
)

__all__ = [
    "REPAYMENT_TYPES",
    "STATES",
    "TIERS",
    "State",
    "loan_access_log",
    "loan_applications",
    "loan_approvals",
    "loan_borrowers",
    "loan_events",
    "loan_funds",
    "loan_schedule",
    "metadata",
]
