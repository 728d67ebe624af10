"""What one ``distribute`` call has committed so far, and what it tells the operator.

The tally moves only after a batch's transaction committed (its count and cents are
what *this* call added), so when the database gives out for good the message can say
exactly what is in: "k of n batches, X vouchers, $Y", what the batch in flight became,
and that running the same command again resumes — never a guess, never SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from recompense.errors import DatabaseUnavailable
from recompense.failures import driver_message
from recompense.ledger.db import hint
from recompense.money import format_usd

Phase = Literal["check", "register", "issue", "complete"]
_DOING: dict[Phase, str] = {
    "check": "connecting and checking the schema",
    "register": "registering the programme",
    "issue": "issuing batch {batch} of {batches} (users {first}–{last})",
    "complete": "marking the programme complete",
}
_THEN: dict[Phase, str] = {
    "check": "",
    "register": "",
    "issue": " The batch in flight was committed or rolled back as a whole, never half.",
    "complete": " Every voucher is issued; the programme is not yet marked complete.",
}


@dataclass(frozen=True, slots=True)
class DistributionResult:
    """What one call did. ``stopped``: ``stop`` was set, so it ended after
    ``batches_done`` of ``batches_total`` batches; the rest are for the next call."""

    program_id: str
    issued_now: int
    already_issued: int
    total: int
    amount_issued_now_cents: int
    batches_done: int = 0
    batches_total: int = 0
    stopped: bool = False


@dataclass(slots=True)
class Tally:
    """What this call has confirmed committed, and what it is doing now."""

    program_id: str
    total: int  # vouchers of the run
    batches_total: int
    batches_done: int = 0
    seen: int = 0  # users of the committed batches
    issued: int = 0  # of which this call issued (the others were already there)
    cents: int = 0
    phase: Phase = "check"
    first: int = 0  # the batch in flight's first and last user
    last: int = 0

    def start(self, phase: Phase, first: int = 0, last: int = 0) -> str:
        """Enter ``phase``; its description, for retry announcements."""
        self.phase, self.first, self.last = phase, first, last
        return self.doing()

    def committed(self, users: int, added: int, cents: int) -> None:
        """The batch in flight committed: ``users`` in it, ``added`` new for ``cents``."""
        self.batches_done += 1
        self.seen += users
        self.issued += added
        self.cents += cents

    def doing(self) -> str:
        return _DOING[self.phase].format(
            batch=self.batches_done + 1,
            batches=self.batches_total,
            first=self.first,
            last=self.last,
        )

    def result(self, *, stopped: bool) -> DistributionResult:
        already = self.seen - self.issued if stopped else self.total - self.issued
        return DistributionResult(
            self.program_id,
            self.issued,
            already,
            self.total,
            self.cents,
            batches_done=self.batches_done,
            batches_total=self.batches_total,
            stopped=stopped,
        )

    def gave_up(
        self, db: str, failure: DatabaseUnavailable, exc: BaseException, retries: int
    ) -> DatabaseUnavailable:
        """The operator's message once the retries are spent: what failed and why, what
        this call committed, what the batch in flight became, and what to run next."""
        cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
        tries = f" (gave up after {retries} retries)" if failure.transient else ""
        if self.phase in ("check", "register"):
            committed = f"Nothing was issued by this run (programme {self.program_id})."
        else:
            committed = (
                f"Committed by this run before that: {self.batches_done} of "
                f"{self.batches_total} batches, {self.issued:,} vouchers, "
                f"{format_usd(self.cents)} (programme {self.program_id}).{_THEN[self.phase]}"
            )
        error = DatabaseUnavailable(
            f"--db {db}: the database failed while {self.doing()}: "
            f"{driver_message(cause).rstrip('.')}{tries}; {hint(cause)}. {committed} The "
            "books are exact; run the same command again to resume exactly where this one "
            "stopped (it issues only what is missing)."
        )
        error.transient = failure.transient
        return error
