"""The outbox state machine: one function per transition, each a conditional UPDATE.

::

    pending ──claim──▶ sending ──mark_sent──▶ sent
       ▲                 │ │
       │   mark_retry ◀──┘ └──mark_failed──▶ failed ──requeue──▶ pending
       │   release (not tried: lease running out)
       │   defer (channel down: due when the breaker probes; the attempt undone)
       └── claim also takes ``sending`` rows whose lease expired (their worker died);
           ``abandon`` fails them instead once they have used ``max_attempts``.

Every transition out of ``sending`` is conditional on ``status = 'sending' AND
lease_owner = :me``: a worker whose lease expired and was taken over changes nothing,
and learns it from the row count. ``attempts`` counts claims (deliveries started).

Claiming: PostgreSQL selects ``… FOR UPDATE SKIP LOCKED`` (concurrent workers take
disjoint rows without waiting) then updates the rows it holds; SQLite runs the same two
statements inside its ``BEGIN IMMEDIATE`` transaction, where the worker is the only
writer. Pending rows are taken oldest ``next_attempt_at`` first, through the
``(status, next_attempt_at)`` index.

The caller owns the transaction (``with engine.begin() as conn``): a batch's outcomes
are recorded in one. Times are aware UTC datetimes (SQLite stores them without offset;
they read back naive and are taken as UTC).

``last_error`` starts with a stable code: ``retry:`` (pending again), ``waiting:``
(pending, its channel down: not counted as an attempt), ``rejected:`` (permanent
failure), ``gave-up:`` (max attempts of transient failures) or ``abandoned:`` (leases
expired max attempts times).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from recompense.ledger.schema import notifications as n

State = Literal["pending", "sending", "sent", "failed"]
STATES: tuple[State, ...] = ("pending", "sending", "sent", "failed")


@dataclass(frozen=True, slots=True)
class Notification:
    """A claimed row: everything needed to send it. ``attempts`` includes this one."""

    id: str
    channel: str
    recipient: str | None
    locale: str
    payload: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Retry:
    id: str
    next_attempt_at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class Failure:
    id: str
    error: str


@dataclass(frozen=True, slots=True)
class Claimed:
    notifications: tuple[Notification, ...]
    lease_until: datetime
    abandoned: int


_COLUMNS = (n.c.id, n.c.channel, n.c.recipient, n.c.locale, n.c.payload, n.c.attempts)


def claim(
    conn: Connection,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    channels: Collection[str],
    max_attempts: int,
) -> Claimed:
    """pending (due) and expired sending → sending, leased to ``owner``; at most ``limit``."""
    expired = _candidates(
        conn, (n.c.status == "sending") & (n.c.lease_until <= now), channels, limit
    )
    dead = [row.id for row in expired if row.attempts >= max_attempts]
    abandoned = abandon(conn, dead, now=now, max_attempts=max_attempts) if dead else 0
    rows = [row for row in expired if row.attempts < max_attempts]
    if len(rows) < limit:
        due = (n.c.status == "pending") & (n.c.next_attempt_at <= now)
        rows += _candidates(conn, due, channels, limit - len(rows), oldest_first=True)
    until = now + lease
    if rows:
        conn.execute(
            update(n)
            .where(n.c.id.in_([row.id for row in rows]), n.c.status.in_(("pending", "sending")))
            .values(
                status="sending", lease_owner=owner, lease_until=until, attempts=n.c.attempts + 1
            )
        )
    claimed = tuple(
        Notification(r.id, r.channel, r.recipient, r.locale, r.payload, r.attempts + 1)
        for r in rows
    )
    return Claimed(claimed, until, abandoned)


def abandon(conn: Connection, ids: Sequence[str], *, now: datetime, max_attempts: int) -> int:
    """Expired sending → failed: every one of ``max_attempts`` claims ended in a dead lease."""
    reason = (
        f"abandoned: the lease expired on all {max_attempts} attempts "
        "(the worker crashed or hung while sending)"
    )
    result = conn.execute(
        update(n)
        .where(n.c.id.in_(ids), n.c.status == "sending", n.c.lease_until <= now)
        .values(status="failed", last_error=reason, lease_until=None)
    )
    return int(result.rowcount)


def mark_sent(conn: Connection, ids: Sequence[str], *, owner: str, now: datetime) -> int:
    """sending → sent. The owner is kept on the row as the worker that sent it."""
    if not ids:
        return 0
    result = conn.execute(
        update(n)
        .where(n.c.id.in_(ids), *_leased_by(owner))
        .values(status="sent", sent_at=now, lease_until=None, last_error=None)
    )
    return int(result.rowcount)


def mark_retry(conn: Connection, retries: Sequence[Retry], *, owner: str) -> int:
    """sending → pending, due again at ``next_attempt_at``, with the error recorded."""
    if not retries:
        return 0
    statement = (
        update(n)
        .where(n.c.id == bindparam("b_id"), *_leased_by(owner))
        .values(
            status="pending",
            next_attempt_at=bindparam("b_next"),
            last_error=bindparam("b_error"),
            lease_owner=None,
            lease_until=None,
        )
    )
    params = [{"b_id": r.id, "b_next": r.next_attempt_at, "b_error": r.error} for r in retries]
    return int(conn.execute(statement, params).rowcount)


def mark_failed(conn: Connection, failures: Sequence[Failure], *, owner: str) -> int:
    """sending → failed, with the reason; never retried automatically (see ``requeue``)."""
    if not failures:
        return 0
    statement = (
        update(n)
        .where(n.c.id == bindparam("b_id"), *_leased_by(owner))
        .values(status="failed", last_error=bindparam("b_error"), lease_until=None)
    )
    params = [{"b_id": f.id, "b_error": f.error} for f in failures]
    return int(conn.execute(statement, params).rowcount)


def release(conn: Connection, ids: Sequence[str], *, owner: str, now: datetime) -> int:
    """sending → pending, not tried (the lease ran short): the claim's attempt is undone."""
    if not ids:
        return 0
    result = conn.execute(
        update(n)
        .where(n.c.id.in_(ids), *_leased_by(owner))
        .values(
            status="pending",
            next_attempt_at=now,
            attempts=n.c.attempts - 1,
            lease_owner=None,
            lease_until=None,
        )
    )
    return int(result.rowcount)


def defer(conn: Connection, deferrals: Sequence[Retry], *, owner: str) -> int:
    """sending → pending, due at ``next_attempt_at``, the claim's attempt undone: the
    channel was down, so nothing about the notification was learnt (see breaker.py)."""
    if not deferrals:
        return 0
    statement = (
        update(n)
        .where(n.c.id == bindparam("b_id"), *_leased_by(owner))
        .values(
            status="pending",
            next_attempt_at=bindparam("b_next"),
            last_error=bindparam("b_error"),
            attempts=n.c.attempts - 1,
            lease_owner=None,
            lease_until=None,
        )
    )
    params = [{"b_id": r.id, "b_next": r.next_attempt_at, "b_error": r.error} for r in deferrals]
    return int(conn.execute(statement, params).rowcount)


def requeue(
    conn: Connection,
    *,
    now: datetime,
    include_rejected: bool = False,
    program_id: str | None = None,
) -> int:
    """failed → pending with a fresh attempt budget (operator action, after an outage).

    By default only rows that failed for transient reasons (``gave-up``, ``abandoned``);
    ``include_rejected`` also retries permanent rejections (e.g. after fixing a template).
    """
    where: list[ColumnElement[bool]] = [n.c.status == "failed"]
    if not include_rejected:
        where.append(n.c.last_error.like("gave-up:%") | n.c.last_error.like("abandoned:%"))
    if program_id is not None:
        where.append(n.c.program_id == program_id)
    result = conn.execute(
        update(n)
        .where(*where)
        .values(
            status="pending", attempts=0, next_attempt_at=now, lease_owner=None, lease_until=None
        )
    )
    return int(result.rowcount)


def counts(conn: Connection, *, channels: Collection[str] | None = None) -> dict[State, int]:
    """Rows per state (every state present, zero if none)."""
    query = select(n.c.status, func.count()).group_by(n.c.status)
    if channels is not None:
        query = query.where(n.c.channel.in_(list(channels)))
    found = {status: int(count) for status, count in conn.execute(query)}
    return {state: found.get(state, 0) for state in STATES}


def next_wakeup(conn: Connection, *, channels: Collection[str]) -> datetime | None:
    """When the earliest pending row falls due or the earliest lease expires, if any."""
    pending = select(func.min(n.c.next_attempt_at)).where(
        n.c.status == "pending", n.c.channel.in_(list(channels))
    )
    leased = select(func.min(n.c.lease_until)).where(
        n.c.status == "sending", n.c.channel.in_(list(channels))
    )
    times = [conn.execute(q).scalar_one_or_none() for q in (pending, leased)]
    aware = [as_utc(t) for t in times if t is not None]
    return min(aware) if aware else None


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _leased_by(owner: str) -> tuple[ColumnElement[bool], ...]:
    return (n.c.status == "sending", n.c.lease_owner == owner)


def _candidates(
    conn: Connection,
    where: ColumnElement[bool],
    channels: Collection[str],
    limit: int,
    *,
    oldest_first: bool = False,
) -> list[Any]:
    query = select(*_COLUMNS).where(where)
    if set(channels) != {"email", "push"}:
        query = query.where(n.c.channel.in_(list(channels)))
    if oldest_first:
        query = query.order_by(n.c.next_attempt_at)
    query = query.limit(limit).with_for_update(skip_locked=True)
    return list(conn.execute(query))
