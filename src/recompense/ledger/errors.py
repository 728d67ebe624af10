"""Errors of the ledger and distribution.

::

    RecompenseError
    ├── InputError
    │   ├── LedgerError           a database URL or schema the ledger cannot use
    │   ├── RunMismatchError      a different run for a programme that already has vouchers
    │   ├── UnapprovedRunError    a run without two officers' approvals of its current fingerprint
    │   ├── ApprovalError         an approval that cannot be recorded
    │   │   ├── ApproverForbidden   not an approver, or the one who ran it (403)
    │   │   └── ApprovalConflict    approved by them already, or already distributed (409)
    │   └── VoucherError          a redemption that cannot happen (expired, already closed)
    │       └── VoucherNotFound   no such voucher *for this user* (404: ids can't be probed)
    ├── UnbalancedEntryError      code tried to post an entry that does not sum to zero (a bug)
    └── UnavailableError
        └── DatabaseUnavailable   refused, timed out or lost connection (exit 3)

Database errors are translated at the boundary (:func:`recompense.failures.classify`);
transient ones (a dropped link, serialization failures, lock timeouts, a restart) are
retried by :mod:`~recompense.ledger.retry` where the transaction is idempotent.
"""

from __future__ import annotations

from recompense.errors import InputError, RecompenseError


class LedgerError(InputError):
    """The database URL or schema cannot be used (an unreachable server is
    :class:`~recompense.errors.DatabaseUnavailable`)."""


class RunMismatchError(InputError):
    """A programme already holds vouchers from another run."""


class UnapprovedRunError(InputError):
    """``distribute`` of a run whose current fingerprint lacks the approvals it needs."""


class ApprovalError(InputError):
    """An approval that cannot be recorded (the message says why)."""


class ApproverForbidden(ApprovalError):
    """The actor may not approve this run: not an approver's role, or they ran it."""


class ApprovalConflict(ApprovalError):
    """The approval exists already, or the run is already distributed."""


class VoucherError(InputError):
    """A voucher transition that is not allowed (expired, already redeemed, revoked)."""


class VoucherNotFound(VoucherError):
    """No such voucher for this user (also when it exists but belongs to someone else)."""


class UnbalancedEntryError(RecompenseError):
    """A journal entry whose postings do not sum to zero per currency: a bug, never input."""
