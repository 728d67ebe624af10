"""The cases' tables, defined in :mod:`recompense.db.cases` (the map, the state machine).

Re-exported here, with the states and categories their CHECK constraints are written
from, so the cases code imports them from its own package; every table is on the one
:data:`~recompense.db.base.metadata` (:mod:`recompense.db` says why one).
"""

from __future__ import annotations

from recompense.db.cases import (
    APPEALS,
    CASE_STATES,
    CATEGORIES,
    CLAIMS,
    DECISION_KINDS,
    OPEN_STATES,
    CaseState,
    case_approvals,
    case_decisions,
    case_events,
    case_evidence,
    cases,
)

__all__ = [
    "APPEALS",
    "CASE_STATES",
    "CATEGORIES",
    "CLAIMS",
    "DECISION_KINDS",
    "OPEN_STATES",
    "CaseState",
    "case_approvals",
    "case_decisions",
    "case_events",
    "case_evidence",
    "cases",
]
