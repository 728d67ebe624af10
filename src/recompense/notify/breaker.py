"""A circuit breaker per channel: while the mail relay or the push gateway is down, wait.

Without it an outage burns every row's retries: each claim of a row whose channel is down
fails at once and counts as an attempt, so a 60 s outage of both channels turned 94% of
an outbox into ``gave-up`` without a single send reaching a server (issue 20).

::

    closed ──trip (a send failed with channel_down)──▶ open ◀──┐ probe failed: the
      ▲                                                   │      │ next one later
      │ the next batch is claimed: it is the trial        └──────┘
      │                                                   │ probe answered
      └───────────────── half-open ◀──────────────────────┘

- **closed**: rows of the channel are claimed and sent as usual;
- **trip**: a send failed in a way that says the channel, not the row, is unreachable
  (connection refused or timed out, TLS or authentication refused, SMTP 421, our sender
  refused; push: connection refused or timed out, HTTP 502/503/504). The worker puts
  that row and the channel's untried rows of the batch back to ``pending`` *without
  counting an attempt*, due when the probe is;
- **open**: the worker claims no row of the channel (the other channel goes on) and
  sleeps until the probe is due;
- **probe**: a real exchange with the peer and no notification in it — SMTP: connect,
  EHLO, STARTTLS and AUTH when configured, NOOP, QUIT; push: ``HEAD`` on the gateway URL,
  any answer but 502/503/504 — within the channel's send timeout. Answered: half-open,
  and the waiting rows are claimed again; not answered: open until the next probe;
- **half-open**: closed, and the next batch claimed for the channel is its *trial*.

Whose failure is it? (:meth:`Breaker.settle`, once per batch and channel.) A send that
fails with a channel-down answer is put down to the *channel* — its row waits, no attempt
counted — unless the peer is shown to be up around that failure; then it is put down to
the *notification* and counted as an attempt like any transient failure (retried with
backoff, ``gave-up`` after ``max_attempts``):

1. other notifications of the channel went through, in this batch or in the channel's
   batch just before it (since the breaker last opened), and a probe made right after
   the batch is answered: counted, the notifications that failed are *singled out*,
   and the breaker stays closed — one payload the gateway 503s, one message the relay
   421s, among good ones;
2. or every notification of the batch that failed so had been singled out before (by
   this worker), and a probe made right after the batch is answered: counted, and the
   breaker stays closed — the same poison rows, once the good ones are all delivered;
3. or the batch was the trial (a probe had been answered just before it was claimed):
   counted, and the breaker opens again as on any trip — poison rows this worker never
   saw among good ones.

Otherwise the breaker opens and nothing is counted. So an outage — probes failing —
never uses an attempt, however long, while a notification that always draws a
channel-down answer (a "poison" row) uses its attempts and gives up instead of pausing
its channel for ever; the rows its failures stopped are sent at once, under the same
lease (see the worker). The price, when the peer answers probes but fails every send
(its upstream down behind it, our sender refused at ``MAIL FROM``): rule 3 uses at most
one batch's failing sends — at most one per sender thread — per probe round, rounds
spaced by the doubling delay below; and if it took other notifications until a moment
before, the few singled out then (at most two batches' failing sends) are counted on
each retry. A peer that takes some notifications and refuses others (throttling) has the
refused ones retried with backoff, their attempts counted. A probe right after a batch is
made only while the batch's lease still covers it; otherwise the failure is the
channel's. The singled-out ids are kept in memory (the last :data:`SUSPECTS_KEPT`): a
restarted worker starts over with rules 1 and 3.

Probe delays grow with each failed round since the last delivered notification:
``min(cap, base · 2^(n-1))`` scaled by a random factor in ``[0.5, 1]`` (jitter, so the
workers of a fleet don't probe in step, but never near zero: a probe is a connection
the relay must accept). A successful probe does not reset the count; a delivered
notification does, so a relay that answers probes but fails every send (flapping) is
probed ever less often. ``RECOMPENSE_NOTIFY_PROBE_BASE`` (default 5 s) and
``RECOMPENSE_NOTIFY_PROBE_CAP`` (default 60 s) set base and cap; a server's
``Retry-After`` on a 503 is honoured as the earliest probe.

The breaker is per channel and per worker process (no shared state: each worker finds
out by itself, at the cost of one failed send per probe period). It lives in the worker's
main thread: the sender threads only report what they saw.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "half-open", "open"]

# Why a channel-down failure was counted against its notification (last_error says it).
OTHERS_WENT_THROUGH = (
    "other notifications of the channel went through just before or alongside, and it "
    "answered a probe right after"
)
SINGLED_OUT_BEFORE = (
    "it had drawn such an answer before while others went through, and the channel "
    "answered a probe right after"
)
PROBE_JUST_ANSWERED = "the channel had answered a probe just before"
SUSPECTS_KEPT = 10_000  # singled-out notification ids remembered per channel (~1 MB)


@dataclass(frozen=True, slots=True)
class ChannelState:
    """What a breaker says now: for progress lines, metrics and the drain's result."""

    channel: str
    state: State
    reason: str | None  # why it opened (the error of the failed send or probe)
    down_seconds: float  # how long it has been open (0 when closed)
    probe_in: float | None  # seconds until the next probe (None when closed)
    failures: int  # failed rounds (trips and probes) since the last delivery


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one batch of a channel said (:meth:`Breaker.settle`).

    ``counted``: the batch's channel-down failures were its notifications', not the
    channel's: each uses an attempt (``why`` says on what evidence). ``opened``: the
    breaker opened. ``probed``: a probe was made right after the batch, and its answer.
    """

    counted: bool = False
    opened: bool = False
    probed: Literal["up", "down"] | None = None
    why: str | None = None


class Breaker:
    """The breaker of one channel in one worker; not thread-safe (the worker's thread)."""

    def __init__(
        self,
        channel: str,
        *,
        base: float,
        cap: float,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.channel = channel
        self._base, self._cap = base, cap
        self._clock = clock
        self._rng = rng or random.Random()
        self._open_since: float | None = None
        self._probe_at = 0.0
        self._failures = 0
        self._reason: str | None = None
        self._half_open = False
        self._took_last = False  # the channel's last batch delivered (since it last opened)
        self._suspects: dict[str, None] = {}  # singled out (rules 1, 2): oldest first

    @property
    def is_open(self) -> bool:
        return self._open_since is not None

    @property
    def half_open(self) -> bool:
        """A probe was answered and no batch of the channel has been claimed since."""
        return self._half_open

    @property
    def probe_at(self) -> float:
        """When the next probe is due, on the breaker's clock (meaningful when open)."""
        return self._probe_at

    def claim(self) -> bool:
        """A batch of the channel is being claimed: True if it is the trial (the first
        since a probe was answered). The trial is used up, whatever the batch holds."""
        trial, self._half_open = self._half_open, False
        return trial

    def settle(
        self,
        *,
        trial: bool,
        delivered: bool,
        down: str | None,
        failed: Collection[str] = (),
        retry_after: float | None = None,
        probe: Callable[[], str | None] | None = None,
    ) -> Verdict:
        """Whose fault the channel-down failures of one batch were (module docstring).

        ``trial``: what :meth:`claim` said for the batch; ``delivered``: a send of the
        channel in it went through; ``down``: the reason of its first channel-down
        failure of a send that was tried (None: there was none), ``failed`` the ids of
        all of them; ``probe``: asks the peer now (None when there is no time left for
        it), called only when the rule needs it.
        """
        took_before, self._took_last = self._took_last, delivered
        if delivered:
            self.delivered()
        if down is None:
            return Verdict()
        taking = delivered or took_before
        if taking or (failed and all(i in self._suspects for i in failed)):
            if probe is None:  # no time to ask: the channel's, to be safe
                return Verdict(opened=self.trip(down, retry_after=retry_after))
            if probe() is not None:
                return Verdict(opened=self.trip(down, retry_after=retry_after), probed="down")
            self._single_out(failed)
            why = OTHERS_WENT_THROUGH if taking else SINGLED_OUT_BEFORE
            return Verdict(counted=True, probed="up", why=why)
        opened = self.trip(down, retry_after=retry_after)
        return Verdict(trial, opened, None, PROBE_JUST_ANSWERED if trial else None)

    def trip(self, reason: str, *, retry_after: float | None = None) -> bool:
        """A send found the channel down. True if this opened the breaker (it was closed)."""
        if self.is_open:
            return False
        self._half_open = self._took_last = False
        self._open_since = self._clock()
        self._fail(reason, retry_after)
        return True

    def probe_due(self) -> bool:
        return self.is_open and self._clock() >= self._probe_at

    def probe_failed(self, reason: str) -> None:
        """The probe found the channel still down: the next one later."""
        self._fail(reason, None)

    def close(self) -> float:
        """The probe was answered: half-open, the channel usable again; seconds it was
        open."""
        opened, self._open_since = self._open_since, None
        if opened is None:
            return 0.0
        self._half_open = True
        return self._clock() - opened

    def delivered(self) -> None:
        """A notification went through: the next outage starts from the base delay."""
        self._failures = 0

    def state(self) -> ChannelState:
        now = self._clock()
        if self._open_since is None:
            state: State = "half-open" if self._half_open else "closed"
            return ChannelState(self.channel, state, None, 0.0, None, self._failures)
        return ChannelState(
            self.channel,
            "open",
            self._reason,
            now - self._open_since,
            max(0.0, self._probe_at - now),
            self._failures,
        )

    def _single_out(self, ids: Collection[str]) -> None:
        for i in ids:
            self._suspects.pop(i, None)
            self._suspects[i] = None
        while len(self._suspects) > SUSPECTS_KEPT:
            del self._suspects[next(iter(self._suspects))]

    def _fail(self, reason: str, retry_after: float | None) -> None:
        self._failures += 1
        self._reason = reason
        delay = probe_delay(self._failures, base=self._base, cap=self._cap, rng=self._rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._cap))
        self._probe_at = self._clock() + delay


def probe_delay(failures: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to the next probe after ``failures`` failed rounds (1-based): "equal
    jitter", ``[ceiling/2, ceiling]`` with ``ceiling = min(cap, base · 2^(failures-1))``."""
    ceiling = min(cap, base * 2.0 ** min(max(failures, 1) - 1, 60))
    return ceiling * rng.uniform(0.5, 1.0)
