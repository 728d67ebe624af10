"""Sending a claimed batch: sender threads, the rate limit, and errors turned into outcomes.

Each thread keeps its own SMTP session for the life of the worker (sessions are not
thread-safe, and reusing one saves the connect/EHLO/STARTTLS/AUTH round trips per
message); push shares one keep-alive httpx transport. Threads overlap the network
waits: the GIL is released while a socket blocks.

Per batch, the first "channel down" error (connection refused, bad credentials, SMTP
421, HTTP 503: see :mod:`~recompense.notify.breaker`) stops the other rows of that
channel from being tried: the failed row and the untried ones come back ``deferred``.
The worker puts the untried ones back to pending without counting an attempt; the
failed one too, unless the breaker finds the peer up around the failure (then the
failure is the notification's and counts). :meth:`Dispatcher.probe` is the probe.

A send is started only while the lease has at least one send timeout left (``send_by``),
and each send has a deadline of one send timeout from its start, enforced by the senders
on every socket operation; so it ends before another worker may take the row over. Rows
past ``send_by`` are released untried.

``RECOMPENSE_KILL_AT=notify-after-send@n`` (see :mod:`recompense.faults`) kills the
process right after the *n*-th successful send, before it is recorded: the crash the
idempotency keys exist for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, cast

import httpx

from recompense.faults import checkpoint
from recompense.notify.errors import PermanentDeliveryError, TransientDeliveryError
from recompense.notify.mail import SmtpSender
from recompense.notify.metrics import SEND_SECONDS
from recompense.notify.outbox import Notification
from recompense.notify.pacing import TokenBucket
from recompense.notify.push import PushSender
from recompense.notify.settings import NotifySettings
from recompense.notify.templates import (
    CaseNotice,
    parse_notice,
    render_case_email,
    render_case_push,
    render_email,
    render_push,
)

Result = Literal["sent", "retry", "failed", "released", "deferred"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """``deferred``: the channel is down (this send said so, or another of the batch did
    and this row was not tried: ``tried`` False); ``released``: not tried, the lease was
    running out. Whether a ``deferred`` send's failure counts as an attempt is the
    breaker's call (:meth:`~recompense.notify.breaker.Breaker.settle`)."""

    notification: Notification
    result: Result
    reason: str | None = None
    retry_after: float | None = None  # seconds, when the receiver said so
    tried: bool = True  # a send was made (False: deferred or released without one)


class Dispatcher:
    """Delivers batches with ``settings.threads`` threads. Use as a context manager."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        push_transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._bucket = TokenBucket(settings.rate)
        self._threads = settings.threads
        self._pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="notify-send")
        self._local = threading.local()
        self._smtp_senders: list[SmtpSender] = []
        self._lock = threading.Lock()
        self._push = PushSender(settings, transport=push_transport) if settings.push_url else None

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def send_batch(self, batch: Sequence[Notification], *, send_by: float) -> list[Outcome]:
        """One outcome per notification, in order. ``send_by`` is on the monotonic clock:
        no send starts after it.

        Each thread takes the next row from a shared cursor (one task per thread, not per
        row: the executor's per-task cost is noticeable at thousands of sends a second).
        """
        down: dict[str, str] = {}
        outcomes: list[Outcome | None] = [None] * len(batch)
        cursor = iter(range(len(batch)))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                outcomes[index] = self._deliver(batch[index], down, send_by)

        tasks = [self._pool.submit(work) for _ in range(min(self._threads, len(batch)))]
        for task in tasks:
            task.result()
        return cast(list[Outcome], outcomes)  # every index was filled

    def probe(self, channel: str) -> str | None:
        """A real exchange with the channel's peer, no notification in it: None when it
        answered, else why not (see :mod:`~recompense.notify.breaker`)."""
        if channel == "email":
            prober = SmtpSender(self._settings)
            try:
                return prober.probe()
            finally:
                prober.close()
        if channel == "push" and self._push is not None:
            return self._push.probe()
        return f"no sender for channel {channel!r}"

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for sender in self._smtp_senders:
            sender.close()
        if self._push is not None:
            self._push.close()

    def _deliver(self, item: Notification, down: dict[str, str], send_by: float) -> Outcome:
        if item.channel in down:
            reason = f"{down[item.channel]} (not tried: channel down)"
            return Outcome(item, "deferred", reason, tried=False)
        self._bucket.acquire()
        if self._clock() > send_by:
            return Outcome(item, "released", tried=False)
        started = time.perf_counter()
        try:
            self._send(item, time.monotonic() + self._settings.timeout(item.channel))
        except TransientDeliveryError as exc:
            _timed(item.channel, "retry", started)
            if exc.channel_down:
                down.setdefault(item.channel, exc.reason)
                return Outcome(item, "deferred", exc.reason, exc.retry_after)
            return Outcome(item, "retry", exc.reason, exc.retry_after)
        except PermanentDeliveryError as exc:
            _timed(item.channel, "failed", started)
            return Outcome(item, "failed", exc.reason)
        _timed(item.channel, "sent", started)
        checkpoint("notify-after-send")
        return Outcome(item, "sent")

    def _send(self, item: Notification, deadline: float) -> None:
        notice = parse_notice(item.id, item.channel, item.payload)
        if item.channel == "email":
            email = (
                render_case_email(notice, item.locale)
                if isinstance(notice, CaseNotice)
                else render_email(notice, item.locale, self._settings.redeem_url)
            )
            self._smtp().send(item.id, item.recipient, email, deadline=deadline)
        elif item.channel == "push" and self._push is not None:
            push = (
                render_case_push(notice, item.locale)
                if isinstance(notice, CaseNotice)
                else render_push(notice, item.locale)
            )
            self._push.send(item.id, item.locale, notice, push, deadline=deadline)
        else:
            reason = f"no sender for channel {item.channel!r}"
            raise PermanentDeliveryError(item.id, item.channel, reason)

    def _smtp(self) -> SmtpSender:
        sender: SmtpSender | None = getattr(self._local, "smtp", None)
        if sender is None:
            sender = SmtpSender(self._settings)
            self._local.smtp = sender
            with self._lock:
                self._smtp_senders.append(sender)
        return sender


def _timed(channel: str, result: str, started: float) -> None:
    SEND_SECONDS.labels(channel, result).observe(time.perf_counter() - started)
