"""Bounded retries of idempotent database work, with exponential backoff and jitter.

A dropped connection, a serialization failure, a lock timeout or a server restart
(:func:`recompense.failures.classify` says ``transient``) is usually gone a few seconds
later. Work whose every transaction is idempotent — a distribution batch (it inserts
only the users that have no voucher yet), a read — can simply run again, inside the same
command, instead of sending the operator back to the shell at 3 a.m.

The n-th retry waits ``retry_delay · 2^(n-1)`` seconds, at most ``retry_delay_max``,
half of it fixed and half random ("equal jitter": distributors cut off together do not
come back together), at most ``retries`` times (``RECOMPENSE_DB_*``,
:class:`~recompense.ledger.limits.DatabaseSettings`). Each retry is announced through
``on_retry`` (the CLI prints it on stderr). After the last one the failure propagates
unchanged: the caller knows what was committed and says so. A failure that is not
transient (a refused login, a full disk, a bug) propagates at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from recompense.errors import UnavailableError
from recompense.failures import classify, driver_message
from recompense.ledger.limits import DatabaseSettings, settings

T = TypeVar("T")
Announce = Callable[[str], None]


class StopRequested(Exception):
    """``stop`` was set while waiting to retry: the caller stops, as between batches."""


def retrying(
    work: Callable[[], T],
    *,
    what: str,
    on_retry: Announce | None = None,
    stop: threading.Event | None = None,
    limits: DatabaseSettings | None = None,
    rng: random.Random | None = None,
) -> T:
    """``work()``, tried again after each transient database failure, a bounded number of
    times. ``what`` names the work in the announcements ("issuing batch 3 of 12").

    Raises :class:`StopRequested` (from the failure) if ``stop`` is set while waiting.
    """
    limits = limits or settings()
    rng = rng or random.Random()
    attempt = 0
    while True:
        try:
            return work()
        except Exception as exc:
            failure = classify(exc)
            if failure is None or not failure.transient or attempt >= limits.retries:
                raise
            attempt += 1
            pause = backoff(attempt, limits, rng)
            if on_retry is not None:
                on_retry(
                    f"{what}: {_cause(exc)}; retry {attempt} of {limits.retries} in {pause:.1f} s"
                )
            if stop is None:
                time.sleep(pause)
            elif stop.wait(pause):
                raise StopRequested(what) from exc


def backoff(attempt: int, limits: DatabaseSettings, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): equal jitter."""
    ceiling = min(limits.retry_delay_max, limits.retry_delay * 2.0 ** min(attempt - 1, 60))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def _cause(exc: BaseException) -> str:
    """The driver's first line (never SQL parameters), also behind our own translation."""
    if isinstance(exc, UnavailableError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return driver_message(exc).rstrip(".")
