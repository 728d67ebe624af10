"""The worker: claim a batch, send it outside any transaction, record the outcomes.

Delivery is at least once. A worker that dies between sending and recording leaves its
rows in ``sending``; when the lease expires another worker claims and sends them again
with the same idempotency key (email ``Message-ID``, push ``Idempotency-Key``), which a
deduplicating receiver drops. Within a lease no row is ever sent twice: claims are
exclusive (``SKIP LOCKED`` on PostgreSQL, the single writer on SQLite) and a send only
starts while the lease still covers a full send timeout.

Outcomes: sent; transient failure → ``pending`` again after exponential backoff with full
jitter (``gave-up`` → ``failed`` once ``max_attempts`` claims are used); permanent
failure → ``failed`` with the reason. Each batch's outcomes commit in one transaction.

Several workers may drain the same outbox at once, on one machine or many; the rate
limit is per worker. Leases use this process's UTC clock, so hosts need NTP.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from recompense.ledger.db import connect, require_schema
from recompense.notify import metrics, outbox
from recompense.notify.dispatch import Dispatcher, Outcome
from recompense.notify.errors import NotifySettingsError, OutboxError
from recompense.notify.pacing import backoff_seconds
from recompense.notify.settings import NotifySettings

Progress = Callable[[int, int], None]  # (done: sent + failed, total known so far)
Clock = Callable[[], datetime]
PROGRESS_RECOUNT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class DrainResult:
    sent: int
    retried: int  # transient failures put back to pending (a row may count twice)
    failed: int  # rejected, gave up, or abandoned
    pending_left: int  # rows still pending or sending, every channel
    lease_lost: int = 0  # outcomes not recorded: another worker took the row over
    seconds: float = 0.0
    worker_id: str = ""
    channels: tuple[str, ...] = ()


def drain(
    url: str,
    settings: NotifySettings,
    *,
    worker_id: str | None = None,
    once: bool = True,
    stop_when_idle: bool = True,
    max_seconds: float | None = None,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
    push_transport: httpx.BaseTransport | None = None,
    now: Clock = lambda: datetime.now(UTC),
) -> DrainResult:
    """Deliver the outbox at ``url``.

    ``once``: deliver what is due now, then return (rows waiting for a retry stay
    pending). Otherwise loop: sleep until the next row is due or a lease expires, and
    with ``stop_when_idle`` return once no row of this worker's channels is pending or
    sending; without it, run until ``stop`` is set or ``max_seconds`` pass.
    """
    if worker_id is not None and not 0 < len(worker_id) <= 64:
        raise NotifySettingsError(f"--worker-id {worker_id!r}: 1 to 64 characters")
    engine = connect(url)
    require_schema(engine)
    run = _Run(engine, settings, worker_id or default_worker_id(), now, on_progress)
    deadline = time.monotonic() + max_seconds if max_seconds is not None else math.inf
    stop = stop or threading.Event()
    with Dispatcher(settings, push_transport=push_transport) as dispatcher:
        while not stop.is_set() and time.monotonic() < deadline:
            if run.step(dispatcher):
                continue
            if once:
                break
            wait = run.idle_wait(stop_when_idle)
            if wait is None:
                break
            stop.wait(min(wait, max(0.0, deadline - time.monotonic())))
    return run.result()


def requeue_failed(
    url: str, *, include_rejected: bool = False, now: Clock = lambda: datetime.now(UTC)
) -> int:
    """Put failed rows back to pending with a fresh attempt budget; how many.

    Only rows that failed for transient reasons (``gave-up``, ``abandoned``) unless
    ``include_rejected``. For after an outage that outlasted the retries.
    """
    engine = connect(url)
    require_schema(engine)
    with engine.begin() as conn:
        return outbox.requeue(conn, now=now(), include_rejected=include_rejected)


def default_worker_id() -> str:
    """``host:pid:random``: unique per process, readable in ``lease_owner``."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class _Run:
    """One drain's state: its tallies and the database side of each step."""

    def __init__(
        self,
        engine: Engine,
        settings: NotifySettings,
        owner: str,
        now: Clock,
        on_progress: Progress | None,
    ) -> None:
        self.engine, self.settings, self.owner, self.now = engine, settings, owner, now
        self.on_progress = on_progress
        self.started = time.monotonic()
        self.sent = self.retried = self.failed = self.lease_lost = 0
        self.total = 0
        self.counted_at = -math.inf

    def step(self, dispatcher: Dispatcher) -> bool:
        """Claim, send and record one batch; False when nothing was due."""
        self._report()
        s = self.settings
        claimed_at = time.monotonic()
        with self._transaction("claiming notifications") as conn:
            claimed = outbox.claim(
                conn,
                owner=self.owner,
                now=self.now(),
                lease=timedelta(seconds=s.lease_seconds),
                limit=self._batch_size(),
                channels=s.channels,
                max_attempts=s.max_attempts,
            )
        self.failed += claimed.abandoned
        if claimed.abandoned:
            metrics.ABANDONED.inc(claimed.abandoned)
        if not claimed.notifications:
            return claimed.abandoned > 0
        send_by = claimed_at + s.lease_seconds - s.send_timeout
        outcomes = dispatcher.send_batch(claimed.notifications, send_by=send_by)
        self._record(outcomes)
        self._report()
        return True

    def idle_wait(self, stop_when_idle: bool) -> float | None:
        """Seconds to sleep before looking again; None: nothing left to wait for."""
        with self._transaction("looking for due notifications") as conn:
            wake = outbox.next_wakeup(conn, channels=self.settings.channels)
        poll = self.settings.poll_seconds
        if wake is None:
            return None if stop_when_idle else poll
        return min(poll, max(0.01, (wake - self.now()).total_seconds()))

    def result(self) -> DrainResult:
        with self._transaction("counting notifications") as conn:
            left = outbox.counts(conn)
        return DrainResult(
            sent=self.sent,
            retried=self.retried,
            failed=self.failed,
            pending_left=left["pending"] + left["sending"],
            lease_lost=self.lease_lost,
            seconds=time.monotonic() - self.started,
            worker_id=self.owner,
            channels=self.settings.channels,
        )

    def _record(self, outcomes: Sequence[Outcome]) -> None:
        s, now = self.settings, self.now()
        sent = [o.notification.id for o in outcomes if o.result == "sent"]
        released = [o.notification.id for o in outcomes if o.result == "released"]
        retries: list[outbox.Retry] = []
        failures: list[outbox.Failure] = []
        failed_how: list[tuple[str, str]] = []  # (channel, reason) for the metrics
        for o in outcomes:
            attempts = o.notification.attempts
            if o.result == "failed":
                failures.append(outbox.Failure(o.notification.id, f"rejected: {o.reason}"))
                failed_how.append((o.notification.channel, "rejected"))
            elif o.result == "retry" and attempts >= s.max_attempts:
                reason = f"gave-up: after {attempts} attempts; last error: {o.reason}"
                failures.append(outbox.Failure(o.notification.id, reason))
                failed_how.append((o.notification.channel, "gave_up"))
            elif o.result == "retry":
                delay = backoff_seconds(
                    attempts, base=s.backoff_base, cap=s.backoff_cap, retry_after=o.retry_after
                )
                due = now + timedelta(seconds=delay)
                retries.append(outbox.Retry(o.notification.id, due, f"retry: {o.reason}"))
        with self._transaction("recording delivery outcomes") as conn:
            done = outbox.mark_sent(conn, sent, owner=self.owner, now=now)
            done += outbox.mark_retry(conn, retries, owner=self.owner)
            done += outbox.mark_failed(conn, failures, owner=self.owner)
            done += outbox.release(conn, released, owner=self.owner, now=now)
        self.sent += len(sent)
        self.retried += len(retries)
        self.failed += len(failures)
        self.lease_lost += len(outcomes) - done
        channel = {o.notification.id: o.notification.channel for o in outcomes}
        metrics.count_recorded(
            (channel[i] for i in sent),
            (channel[r.id] for r in retries),
            failed_how,
            len(outcomes) - done,
        )

    def _batch_size(self) -> int:
        """Never claim more than half a lease's worth of sends at the rate limit."""
        s = self.settings
        if s.rate <= 0:
            return s.batch
        return max(1, min(s.batch, int(s.rate * s.lease_seconds / 2)))

    def _report(self) -> None:
        if self.on_progress is None:
            return
        done = self.sent + self.failed
        if time.monotonic() - self.counted_at >= PROGRESS_RECOUNT_SECONDS:
            with self._transaction("counting notifications") as conn:
                left = outbox.counts(conn, channels=self.settings.channels)
            self.total = done + left["pending"] + left["sending"]
            self.counted_at = time.monotonic()
        self.total = max(self.total, done)
        self.on_progress(done, self.total)

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            shown = self.engine.url.render_as_string(hide_password=True)
            raise OutboxError(
                f"--db {shown}: {doing} failed: {getattr(exc, 'orig', None) or exc}; "
                f"rows this worker had claimed return to the queue when their lease "
                f"expires ({self.settings.lease_seconds:g} s)"
            ) from exc
