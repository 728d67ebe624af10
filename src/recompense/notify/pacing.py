"""Pacing: when to retry (exponential backoff with full jitter) and how fast to send.

Full jitter (delay drawn uniformly from ``[0, min(cap, base · 2^(attempt-1))]``) spreads
the retries of a batch that failed together — say, everything queued while the SMTP
server was down — so they don't come back as one thundering herd.

The rate limit is per worker process: with *N* workers the total is at most *N × rate*.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable


def backoff_seconds(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    A server's ``Retry-After`` is honoured as a floor, still capped at ``cap``.
    """
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 1) - 1, 60))
    delay = (rng or random).uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


class TokenBucket:
    """At most ``rate`` acquisitions per second across threads; ``rate == 0``: unlimited.

    A bucket of one token (no bursts): each caller reserves the next free slot under the
    lock and sleeps outside it, so waiting threads don't block each other's bookkeeping.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)
