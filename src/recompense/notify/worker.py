"""The worker: claim a batch, send it outside any transaction, record the outcomes.

Delivery is at least once. A worker that dies between sending and recording leaves its
rows in ``sending``; when the lease expires another worker claims and sends them again
with the same idempotency key (email ``Message-ID``, push ``Idempotency-Key``), which a
deduplicating receiver drops. Within a lease no row is ever sent twice: claims are
exclusive (``SKIP LOCKED`` on PostgreSQL, the single writer on SQLite), a send only
starts while the lease still covers a full send timeout plus a tenth of the lease (kept
for recording the batch), and every send ends within its timeout — the senders enforce
one deadline on the whole send, not a timeout per socket operation (issue 20, defect 6).

Outcomes: sent; transient failure → ``pending`` again after exponential backoff with full
jitter (``gave-up`` → ``failed`` once ``max_attempts`` claims are used); permanent
failure → ``failed`` with the reason; channel down → ``pending`` without using an
attempt, and the channel's breaker opens: no row of that channel is claimed until a
probe finds it back (:mod:`~recompense.notify.breaker`; issue 20, defect 5) — unless the
breaker finds the peer up around the failure (others of the batch went through and it
answers a probe right after, or it had answered one just before): then the failure is
the notification's and counts as a transient one, so a notification that always draws
a channel-down answer gives up instead of pausing its channel for ever. Each batch's
outcomes commit in one transaction.

A database that fails mid-drain raises :class:`OutboxError` (an ``UnavailableError``:
exit code 3): the rows this worker had claimed return to the queue when their lease
expires, and running the worker again resumes.

Several workers may drain the same outbox at once, on one machine or many; the rate
limit is per worker. Leases use this process's UTC clock, so hosts need NTP.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from recompense.failures import classify, driver_message
from recompense.ledger.db import connect, hint, require_schema, shown
from recompense.notify import metrics, outbox
from recompense.notify.breaker import Breaker, ChannelState
from recompense.notify.dispatch import Dispatcher, Outcome, Result
from recompense.notify.errors import NotifySettingsError, OutboxError
from recompense.notify.outbox import Notification
from recompense.notify.pacing import backoff_seconds
from recompense.notify.settings import NotifySettings

Progress = Callable[[int, int], None]  # (done: sent + failed, total known so far)
Clock = Callable[[], datetime]
PROGRESS_RECOUNT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """A breaker changed: ``down`` (a send found the channel down), ``still-down`` (a
    probe failed) or ``up`` (a probe was answered). ``state`` is the breaker after it;
    ``counted``: the failure that opened it was counted as an attempt (the peer had just
    answered a probe: the notification, not the channel, is the likely cause)."""

    kind: Literal["down", "still-down", "up"]
    state: ChannelState
    counted: bool = False


ChannelWatcher = Callable[[ChannelEvent], None]


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
    claimed: int = 0  # rows claimed, every claim counted (a row may count several times)
    deferred: int = 0  # put back untried or unanswered because the channel was down
    probes: int = 0  # probes of a channel found down
    channels_down: dict[str, str] = field(default_factory=dict)  # at the end, rows waiting: why


def drain(
    url: str,
    settings: NotifySettings,
    *,
    worker_id: str | None = None,
    once: bool = True,
    stop_when_idle: bool = True,
    max_seconds: float | None = None,
    on_progress: Progress | None = None,
    on_channel: ChannelWatcher | None = None,
    stop: threading.Event | None = None,
    push_transport: httpx.BaseTransport | None = None,
    now: Clock = lambda: datetime.now(UTC),
) -> DrainResult:
    """Deliver the outbox at ``url``.

    ``once``: deliver what is due now, then return (rows waiting for a retry stay
    pending). Otherwise loop: sleep until the next row is due, a lease expires or a
    channel found down is due for its probe, and with ``stop_when_idle`` return once no
    row of this worker's channels is pending or sending; without it, run until ``stop``
    is set or ``max_seconds`` pass. ``on_channel`` hears each breaker change.
    """
    if worker_id is not None and not 0 < len(worker_id) <= 64:
        raise NotifySettingsError(f"--worker-id {worker_id!r}: 1 to 64 characters")
    engine = connect(url)
    require_schema(engine)
    owner = worker_id or default_worker_id()
    run = _Run(engine, settings, owner, now, on_progress, on_channel)
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


@dataclass(frozen=True, slots=True)
class Requeued:
    """Failed rows put back to pending: after transient failures (``gave-up``,
    ``abandoned``) and, when asked, rejected ones (permanent failures)."""

    transient: int
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.transient + self.rejected


def requeue_failed(
    url: str, *, include_rejected: bool = False, now: Clock = lambda: datetime.now(UTC)
) -> Requeued:
    """Put failed rows back to pending with a fresh attempt budget, in one transaction.

    Only rows that failed for transient reasons (``gave-up``, ``abandoned``: for after an
    outage that outlasted the retries) unless ``include_rejected``, which also retries
    permanent rejections (``rejected``: for after a template, payload or address fix).
    """
    engine = connect(url)
    require_schema(engine)
    with engine.begin() as conn:
        transient = outbox.requeue(conn, now=now())
        rejected = outbox.requeue(conn, now=now(), include_rejected=True) if include_rejected else 0
    return Requeued(transient, rejected)


def default_worker_id() -> str:
    """``host:pid:random``: unique per process, readable in ``lease_owner``."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class _Run:
    """One drain's state: its tallies, its breakers and the database side of each step."""

    def __init__(
        self,
        engine: Engine,
        settings: NotifySettings,
        owner: str,
        now: Clock,
        on_progress: Progress | None,
        on_channel: ChannelWatcher | None = None,
    ) -> None:
        self.engine, self.settings, self.owner, self.now = engine, settings, owner, now
        self.on_progress, self.on_channel = on_progress, on_channel
        self.started = time.monotonic()
        self.sent = self.retried = self.failed = self.lease_lost = 0
        self.claimed = self.deferred = self.probes = 0
        self.total = 0
        self.counted_at = -math.inf
        self.breakers = {
            channel: Breaker(channel, base=settings.probe_base, cap=settings.probe_cap)
            for channel in settings.channels
        }
        for channel in settings.channels:
            metrics.channel_open(channel, False)

    def step(self, dispatcher: Dispatcher) -> bool:
        """Probe, claim, send and record one batch; False when nothing was due."""
        self._report()
        self._probe(dispatcher)
        channels = [c for c, b in self.breakers.items() if not b.is_open]
        if not channels:
            return False
        s = self.settings
        trials = frozenset(c for c in channels if self.breakers[c].claim())
        claimed_at = time.monotonic()
        with self._transaction("claiming notifications") as conn:
            claimed = outbox.claim(
                conn,
                owner=self.owner,
                now=self.now(),
                lease=timedelta(seconds=s.lease_seconds),
                limit=self._batch_size(),
                channels=channels,
                max_attempts=s.max_attempts,
            )
        self.failed += claimed.abandoned
        if claimed.abandoned:
            metrics.ABANDONED.inc(claimed.abandoned)
        if not claimed.notifications:
            return claimed.abandoned > 0
        self.claimed += len(claimed.notifications)
        record_by = claimed_at + s.lease_seconds - s.record_reserve
        outcomes, blamed = self._send(dispatcher, claimed.notifications, trials, record_by)
        self._record(outcomes, blamed)
        self._report()
        return True

    def idle_wait(self, stop_when_idle: bool) -> float | None:
        """Seconds to sleep before looking again; None: nothing left to wait for."""
        closed = [c for c, b in self.breakers.items() if not b.is_open]
        down = [c for c, b in self.breakers.items() if b.is_open]
        with self._transaction("looking for due notifications") as conn:
            wake = outbox.next_wakeup(conn, channels=closed) if closed else None
            waiting = bool(down) and _unfinished(outbox.counts(conn, channels=down)) > 0
        poll = self.settings.poll_seconds
        waits = [] if wake is None else [(wake - self.now()).total_seconds()]
        if waiting or (down and not stop_when_idle):
            probe_at = min(self.breakers[c].probe_at for c in down)
            waits.append(probe_at - time.monotonic())
        if not waits:
            return None if stop_when_idle else poll
        return min(poll, max(0.01, min(waits)))

    def result(self) -> DrainResult:
        """The tallies; ``channels_down``: open breakers whose channel has rows waiting (a
        breaker opened by a notification's last try, which then gave up, is not news)."""
        down = [c for c, b in self.breakers.items() if b.is_open]
        with self._transaction("counting notifications") as conn:
            left = outbox.counts(conn)
            waiting = [c for c in down if _unfinished(outbox.counts(conn, channels=[c]))]
        return DrainResult(
            sent=self.sent,
            retried=self.retried,
            failed=self.failed,
            pending_left=_unfinished(left),
            lease_lost=self.lease_lost,
            seconds=time.monotonic() - self.started,
            worker_id=self.owner,
            channels=self.settings.channels,
            claimed=self.claimed,
            deferred=self.deferred,
            probes=self.probes,
            channels_down={c: self.breakers[c].state().reason or "" for c in waiting},
        )

    def _probe(self, dispatcher: Dispatcher) -> None:
        """Probe each channel whose breaker is open and due; close it if answered."""
        for channel, breaker in self.breakers.items():
            if not breaker.probe_due():
                continue
            self.probes += 1
            problem = dispatcher.probe(channel)
            metrics.PROBES.labels(channel, "down" if problem else "up").inc()
            if problem:
                breaker.probe_failed(problem)
                self._tell("still-down", breaker)
                continue
            breaker.close()
            metrics.channel_open(channel, False)
            self._tell("up", breaker)

    def _send(
        self,
        dispatcher: Dispatcher,
        batch: Sequence[Notification],
        trials: frozenset[str],
        record_by: float,
    ) -> tuple[list[Outcome], dict[str, str]]:
        """Send a claimed batch: its outcomes, in order, and the notifications whose
        channel-down failure the breaker put down to them (id → why: counted).

        When the breaker finds the peer up around such a failure, the channel's rows the
        failure stopped are sent at once, under the same lease (as a batch of their own,
        judged again), rather than put back and claimed again: one notification the peer
        refuses costs a probe, not a round trip of the whole batch through the database.
        """
        done: dict[str, Outcome] = {}
        blamed: dict[str, str] = {}
        todo = list(batch)
        while todo:
            outcomes = dispatcher.send_batch(todo, send_by=record_by - self.settings.send_timeout)
            why = self._settle(outcomes, trials, dispatcher, record_by)
            todo = []
            for o in outcomes:
                channel = o.notification.channel
                if channel in why and o.result == "deferred" and not o.tried:
                    if not self.breakers[channel].is_open:
                        todo.append(o.notification)
                        continue
                elif channel in why and o.result == "deferred":
                    blamed[o.notification.id] = why[channel]
                done[o.notification.id] = o
            trials = frozenset(c for c in {n.channel for n in todo} if self.breakers[c].claim())
        return [done[n.id] for n in batch], blamed

    def _settle(
        self,
        outcomes: Sequence[Outcome],
        trials: frozenset[str],
        dispatcher: Dispatcher,
        record_by: float,
    ) -> dict[str, str]:
        """Let each channel's breaker judge the batch; the channels whose channel-down
        failures are their notifications' (counted as attempts), with the evidence.

        A probe right after the batch is made only if it ends, send timeout and all, while
        the lease still has its reserve for recording the batch (``record_by``).
        """
        blamed: dict[str, str] = {}
        for channel, breaker in self.breakers.items():
            mine = [o for o in outcomes if o.notification.channel == channel]
            if not mine:
                continue
            failed = [o for o in mine if o.result == "deferred" and o.tried]
            down = failed[0] if failed else None
            in_time = time.monotonic() + self.settings.timeout(channel) <= record_by
            verdict = breaker.settle(
                trial=channel in trials,
                delivered=any(o.result == "sent" for o in mine),
                down=None if down is None else down.reason or "channel down",
                failed=[o.notification.id for o in failed],
                retry_after=None if down is None else down.retry_after,
                probe=functools.partial(dispatcher.probe, channel) if in_time else None,
            )
            if verdict.probed is not None:
                self.probes += 1
                metrics.PROBES.labels(channel, verdict.probed).inc()
            if verdict.counted and verdict.why:
                blamed[channel] = verdict.why
            if verdict.opened:
                metrics.TRIPS.labels(channel).inc()
                metrics.channel_open(channel, True)
                self._tell("down", breaker, counted=verdict.counted)
        return blamed

    def _tell(
        self, kind: Literal["down", "still-down", "up"], breaker: Breaker, *, counted: bool = False
    ) -> None:
        if self.on_channel is not None:
            self.on_channel(ChannelEvent(kind, breaker.state(), counted))

    def _record(self, outcomes: Sequence[Outcome], blamed: dict[str, str]) -> None:
        """Write the batch's outcomes in one transaction; ``blamed``: see :meth:`_send`."""
        s, now = self.settings, self.now()
        sent = [o.notification.id for o in outcomes if o.result == "sent"]
        released = [o.notification.id for o in outcomes if o.result == "released"]
        retries: list[outbox.Retry] = []
        deferrals: list[outbox.Retry] = []
        failures: list[outbox.Failure] = []
        failed_how: list[tuple[str, str]] = []  # (channel, reason) for the metrics
        for o in outcomes:
            attempts = o.notification.attempts
            result, error = _judged(o, blamed)
            if result == "failed":
                failures.append(outbox.Failure(o.notification.id, f"rejected: {error}"))
                failed_how.append((o.notification.channel, "rejected"))
            elif result == "deferred":
                deferrals.append(self._deferral(o, now))
            elif result == "retry" and attempts >= s.max_attempts:
                reason = f"gave-up: after {attempts} attempts; last error: {error}"
                failures.append(outbox.Failure(o.notification.id, reason))
                failed_how.append((o.notification.channel, "gave_up"))
            elif result == "retry":
                delay = backoff_seconds(
                    attempts, base=s.backoff_base, cap=s.backoff_cap, retry_after=o.retry_after
                )
                due = now + timedelta(seconds=delay)
                retries.append(outbox.Retry(o.notification.id, due, f"retry: {error}"))
        with self._transaction("recording delivery outcomes") as conn:
            done = outbox.mark_sent(conn, sent, owner=self.owner, now=now)
            done += outbox.mark_retry(conn, retries, owner=self.owner)
            done += outbox.defer(conn, deferrals, owner=self.owner)
            done += outbox.mark_failed(conn, failures, owner=self.owner)
            done += outbox.release(conn, released, owner=self.owner, now=now)
        self.sent += len(sent)
        self.retried += len(retries)
        self.deferred += len(deferrals)
        self.failed += len(failures)
        self.lease_lost += len(outcomes) - done
        channel = {o.notification.id: o.notification.channel for o in outcomes}
        metrics.count_recorded(
            (channel[i] for i in sent),
            (channel[r.id] for r in retries),
            failed_how,
            len(outcomes) - done,
            deferred=(channel[r.id] for r in deferrals),
        )

    def _deferral(self, o: Outcome, now: datetime) -> outbox.Retry:
        """Due when this worker next probes the channel (now, if its breaker is closed)."""
        breaker = self.breakers.get(o.notification.channel)
        wait = 0.0
        if breaker is not None and breaker.is_open:
            wait = max(0.0, breaker.probe_at - time.monotonic())
        error = f"waiting: channel {o.notification.channel} down (not counted as an attempt): "
        return outbox.Retry(
            o.notification.id, now + timedelta(seconds=wait), error + (o.reason or "")
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
            self.total = done + _unfinished(left)
            self.counted_at = time.monotonic()
        self.total = max(self.total, done)
        self.on_progress(done, self.total)

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        """One transaction; the database failing in it (refused, cut, timed out, full) is
        an :class:`OutboxError` (exit code 3). Any other database error is a bug: it keeps
        its traceback."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            failure = classify(exc)
            if failure is None:
                raise
            error = OutboxError(
                f"--db {shown(self.engine)}: {doing} failed: "
                f"{driver_message(exc).rstrip('.')}; {hint(exc)}. The notifications this "
                "worker had claimed return to the queue when their lease expires (within "
                f"{self.settings.lease_seconds:g} s, RECOMPENSE_NOTIFY_LEASE_SECONDS); run "
                "the same command again to resume: a notification sent but not yet recorded "
                "is sent again under the same idempotency key, for the receiver to drop."
            )
            error.transient = failure.transient
            raise error from exc


def _judged(o: Outcome, blamed: dict[str, str]) -> tuple[Result, str | None]:
    """The outcome to record and its reason: a channel-down failure the breaker blamed on
    the notification is a transient failure of it (an attempt used)."""
    why = blamed.get(o.notification.id)
    if why is not None:
        return "retry", f"{o.reason} (counted as an attempt: {why})"
    return o.result, o.reason


def _unfinished(counts: dict[outbox.State, int]) -> int:
    return counts["pending"] + counts["sending"]
