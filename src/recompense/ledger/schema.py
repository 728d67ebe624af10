"""The ledger's tables, defined in :mod:`recompense.db.ledger` (the map and its contract).

Re-exported here so the ledger's readers and writers import them from their own
package. Every table is on the one :data:`~recompense.db.base.metadata`, which this
module re-exports too (:mod:`recompense.db` says why one).
"""

from __future__ import annotations

from recompense.db.base import BIG_ID, TS, metadata
from recompense.db.ledger import (
    ACCOUNT_KINDS,
    CHANNELS,
    ENTRY_KINDS,
    NOTIFICATION_STATES,
    VOUCHER_STATES,
    audit_events,
    journal_entries,
    ledger_accounts,
    notifications,
    postings,
    programs,
    run_approvals,
    vouchers,
)

__all__ = [
    "ACCOUNT_KINDS",
    "BIG_ID",
    "CHANNELS",
    "ENTRY_KINDS",
    "NOTIFICATION_STATES",
    "TS",
    "VOUCHER_STATES",
    "audit_events",
    "journal_entries",
    "ledger_accounts",
    "metadata",
    "notifications",
    "postings",
    "programs",
    "run_approvals",
    "vouchers",
]
