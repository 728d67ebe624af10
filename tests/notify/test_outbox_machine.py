"""The outbox as a Hypothesis state machine, on the real transitions and database.

Two workers and an operator act in any order while a clock moves forward: enqueue
(rows as distribution writes them), claim a lease, send ok, fail transiently (retry
later) or permanently, release or defer (the attempt undone), let a lease run out (the
worker died), claim it back, give up after the attempt budget, requeue. A model
predicts every row's state and attempts, and after every step the database must show:

- nothing lost: exactly the rows enqueued, each in one state of
  :data:`recompense.notify.outbox.STATES`, the one the model says;
- at most one lease: a ``sending`` row has one owner and a lease end, no other row has
  either, and a claim never takes a row whose lease is still running;
- ``sent`` is final: a sent row never changes again (its ``sent_at`` included);
- attempts never decrease, except where the machine says: release and defer undo the
  claim's own attempt, and only the operator's requeue starts a fresh budget.

A worker whose lease was taken over changes nothing (the row count says so). SQLite for
the many examples, one shorter PostgreSQL run. A failure prints the steps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from notify_support import NOW, insert_rows, outbox_rows
from sqlalchemy import select

from recompense.ledger.db import connect
from recompense.ledger.schema import notifications
from recompense.notify import outbox
from stateful import Databases

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3
WORKERS = ("w1", "w2")
CHANNELS = ("email", "push")
SEEN: Counter[str] = Counter()


@dataclass
class Row:
    """What the model knows of one notification."""

    state: str = "pending"
    attempts: int = 0
    owner: str | None = None
    lease_until: datetime | None = None
    due: datetime = NOW
    error: str | None = None
    sent_at: datetime | None = None


class OutboxMachine(RuleBasedStateMachine):
    databases: Databases

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self.now = NOW
        self.rows: dict[str, Row] = {}
        self.held: dict[str, set[str]] = {worker: set() for worker in WORKERS}  # as it believes
        self.users = 0

    @initialize()
    def open_outbox(self) -> None:
        self.url = self.databases.fresh()

    def teardown(self) -> None:
        if self.url:
            self.databases.release(self.url)

    # -- transitions -------------------------------------------------------------------

    @rule(users=st.integers(1, 3), channels=st.sampled_from((("push",), CHANNELS)))
    def enqueue(self, users: int, channels: tuple[str, ...]) -> None:
        first = self.users + 1
        self.users += users
        rows = outbox_rows(range(first, self.users + 1), channels=channels, now=self.now)
        insert_rows(self.url, rows)
        for row in rows:
            self.rows[row["id"]] = Row(due=outbox.as_utc(row["next_attempt_at"]))

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 4))
    def claim(self, worker: str, limit: int) -> None:
        eligible = {i for i, r in self.rows.items() if self._claimable(r)}
        dead = {i for i, r in self.rows.items() if self._expired(r) and r.attempts >= MAX_ATTEMPTS}
        with connect(self.url).begin() as conn:
            claimed = outbox.claim(
                conn,
                owner=worker,
                now=self.now,
                lease=LEASE,
                limit=limit,
                channels=CHANNELS,
                max_attempts=MAX_ATTEMPTS,
            )
        taken = {n.id for n in claimed.notifications}
        assert taken <= eligible  # never a row leased to someone else, never one not due
        assert len(taken) <= limit
        assert claimed.abandoned <= len(dead)
        if eligible - taken:
            assert len(taken) + claimed.abandoned > 0  # a claim makes progress
        for n in claimed.notifications:
            row = self.rows[n.id]
            row.state, row.owner, row.lease_until = "sending", worker, self.now + LEASE
            row.attempts += 1
            assert n.attempts == row.attempts
        for row_id in self._abandoned_now(dead):
            self.rows[row_id].state = "failed"
        self.held[worker] |= taken
        SEEN["claimed"] += len(taken)
        SEEN["abandoned"] += claimed.abandoned

    @precondition(lambda self: any(self.held.values()))
    @rule(worker=st.sampled_from(WORKERS), outcome=st.sampled_from(("sent", "retry", "failed")))
    def finish(self, worker: str, outcome: str) -> None:
        """The worker reports what became of the rows it believes it holds: those whose
        lease was taken over (it was too slow) must not change."""
        mine, live = self._believed(worker)
        with connect(self.url).begin() as conn:
            if outcome == "sent":
                changed = outbox.mark_sent(conn, mine, owner=worker, now=self.now)
            elif outcome == "retry":
                due = self.now + timedelta(minutes=1)
                retries = [outbox.Retry(i, due, "retry: 451 try later") for i in mine]
                changed = outbox.mark_retry(conn, retries, owner=worker)
            else:
                failures = [outbox.Failure(i, "rejected: 550 no such user") for i in mine]
                changed = outbox.mark_failed(conn, failures, owner=worker)
        assert changed == len(live)
        for row_id in live:
            self._apply(row_id, outcome)
        SEEN[outcome] += changed

    @precondition(lambda self: any(self.held.values()))
    @rule(worker=st.sampled_from(WORKERS), defer=st.booleans())
    def give_back(self, worker: str, defer: bool) -> None:
        """Release (the lease ran short) or defer (the channel is down): not an attempt."""
        mine, live = self._believed(worker)
        due = self.now + timedelta(minutes=2)
        with connect(self.url).begin() as conn:
            if defer:
                deferrals = [outbox.Retry(i, due, "waiting: channel down") for i in mine]
                changed = outbox.defer(conn, deferrals, owner=worker)
            else:
                changed = outbox.release(conn, mine, owner=worker, now=self.now)
        assert changed == len(live)
        for row_id in live:
            row = self.rows[row_id]
            row.state, row.owner, row.lease_until = "pending", None, None
            row.attempts -= 1
            row.due = due if defer else self.now
            row.error = "waiting: channel down" if defer else row.error
        SEEN["given back"] += changed

    @rule(minutes=st.sampled_from((1, 3, 6)))
    def time_passes(self, minutes: int) -> None:
        """Leases run out when their worker stays silent (it crashed, or hangs)."""
        self.now += timedelta(minutes=minutes)

    @rule(include_rejected=st.booleans())
    def requeue(self, include_rejected: bool) -> None:
        with connect(self.url).begin() as conn:
            changed = outbox.requeue(conn, now=self.now, include_rejected=include_rejected)
        expected = [
            i
            for i, r in self.rows.items()
            if r.state == "failed"
            and (include_rejected or (r.error or "").startswith(("gave-up:", "abandoned:")))
        ]
        assert changed == len(expected)
        for row_id in expected:
            row = self.rows[row_id]
            row.state, row.attempts, row.due, row.owner, row.lease_until = (
                "pending",
                0,
                self.now,
                None,
                None,
            )
        SEEN["requeued"] += changed

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def the_database_agrees(self) -> None:
        if not self.url:
            return
        with connect(self.url).connect() as conn:
            stored = {r.id: r for r in conn.execute(select(notifications))}
        assert set(stored) == set(self.rows)  # nothing lost, nothing made up
        for row_id, row in self.rows.items():
            found = stored[row_id]
            assert found.status in outbox.STATES
            assert found.status == row.state, (row_id, found.status, row)
            assert found.attempts == row.attempts, (row_id, found.attempts, row)
            assert found.attempts >= 0
            leased = found.status == "sending"
            assert (found.lease_until is not None) == leased, row_id  # at most one lease
            if leased:
                assert found.lease_owner == row.owner
                assert outbox.as_utc(found.lease_until) == row.lease_until
            if found.status == "sent":  # final: sent once, never touched again
                sent_at = outbox.as_utc(found.sent_at)
                assert row.sent_at is None or sent_at == row.sent_at
                row.sent_at = sent_at

    # -- the model ---------------------------------------------------------------------

    def _claimable(self, row: Row) -> bool:
        due = row.state == "pending" and row.due <= self.now
        return due or (self._expired(row) and row.attempts < MAX_ATTEMPTS)

    def _expired(self, row: Row) -> bool:
        return (
            row.state == "sending" and row.lease_until is not None and row.lease_until <= self.now
        )

    def _holds(self, worker: str, row_id: str) -> bool:
        row = self.rows[row_id]
        return row.state == "sending" and row.owner == worker

    def _believed(self, worker: str) -> tuple[list[str], list[str]]:
        """The rows ``worker`` believes it holds (forgotten now: it reports on them), and
        those it still does."""
        mine = sorted(self.held[worker])
        self.held[worker] = set()
        return mine, [i for i in mine if self._holds(worker, i)]

    def _abandoned_now(self, dead: set[str]) -> list[str]:
        """Which of the dead leases the claim failed (it looks at ``limit`` of them)."""
        with connect(self.url).connect() as conn:
            query = select(notifications.c.id, notifications.c.status).where(
                notifications.c.id.in_(sorted(dead))
            )
            found = {row_id: status for row_id, status in conn.execute(query)}
        gone = [row_id for row_id in sorted(dead) if found[row_id] == "failed"]
        for row_id in gone:
            row = self.rows[row_id]
            row.lease_until = None
            row.error = f"abandoned: the lease expired on all {MAX_ATTEMPTS} attempts"
        return gone

    def _apply(self, row_id: str, outcome: str) -> None:
        row = self.rows[row_id]
        row.lease_until = None
        if outcome == "sent":
            row.state = "sent"
        elif outcome == "retry":
            row.state, row.owner, row.due = "pending", None, self.now + timedelta(minutes=1)
            row.error = "retry: 451 try later"
        else:
            row.state, row.error = "failed", "rejected: 550 no such user"


RUNS = {"sqlite": (40, 40), "postgresql": (3, 30)}  # (examples, steps per example)


@pytest.mark.parametrize("backend", sorted(RUNS))
def test_the_outbox_machine(backend: str, tmp_path: Path) -> None:
    examples, steps = RUNS[backend]
    SEEN.clear()
    databases = Databases(backend, tmp_path)
    OutboxMachine.databases = databases
    try:
        run_state_machine_as_test(
            OutboxMachine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                derandomize=True,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        databases.close()
    if backend == "sqlite":  # the examples reached every transition
        missing = {"claimed", "sent", "retry", "failed", "given back", "requeued", "abandoned"}
        assert not missing - {k for k, n in SEEN.items() if n}, sorted(SEEN.items())
