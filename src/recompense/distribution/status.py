"""Where a programme's distribution stands, against the promises in the announcement.

The Together Initiative promised to *start* distributing within 24 hours of the
announcement and to *complete* it within 96 hours; both deadlines come from the policy
file via the programme row. A promise is ``kept``, ``missed``, or ``open`` (not yet due).

Every time here is UTC, whatever the database session's time zone (``PGTZ``, the
server's ``TimeZone``): PostgreSQL hands ``timestamptz`` values back in the session's zone
(``+13:45`` under ``PGTZ=Pacific/Chatham``), the same instant in another notation, and an
operator comparing deadlines across commands must not have to convert.

A read only: a transient database failure is retried (:mod:`recompense.ledger.retry`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from recompense.ledger.db import connect, require_schema
from recompense.ledger.errors import LedgerError
from recompense.ledger.retry import Announce, retrying
from recompense.ledger.schema import notifications, programs, vouchers


@dataclass(frozen=True, slots=True)
class Promise:
    deadline: datetime
    done_at: datetime | None
    state: str  # kept | missed | open


@dataclass(frozen=True, slots=True)
class Status:
    program_id: str
    name: str
    currency: str
    vouchers_total: int
    amount_total_cents: int
    issued: int
    amount_issued_cents: int
    by_state: dict[str, int]
    amount_by_state_cents: dict[str, int]
    notifications: dict[str, dict[str, int]]  # channel -> status -> count
    start: Promise
    complete: Promise

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(
    program_id: str, url: str, *, now: datetime | None = None, on_retry: Announce | None = None
) -> Status:
    """Where ``program_id`` stands in the ledger at ``url``; times in UTC."""
    return retrying(
        lambda: _status(program_id, url, now or datetime.now(UTC)),
        what="reading the programme's status",
        on_retry=on_retry,
    )


def _status(program_id: str, url: str, now: datetime) -> Status:
    engine = connect(url)
    require_schema(engine)
    with engine.connect() as conn:
        row = conn.execute(select(programs).where(programs.c.id == program_id)).first()
        if row is None:
            raise LedgerError(
                f"programme {program_id!r} has not been distributed into this database"
            )
        counts = conn.execute(
            select(vouchers.c.status, func.count(), func.sum(vouchers.c.amount_cents))
            .where(vouchers.c.program_id == program_id)
            .group_by(vouchers.c.status)
        ).fetchall()
        outbox = conn.execute(
            select(notifications.c.channel, notifications.c.status, func.count())
            .where(notifications.c.program_id == program_id)
            .group_by(notifications.c.channel, notifications.c.status)
        ).fetchall()
    by_state = {state: int(n) for state, n, _ in counts}
    amounts = {state: int(total or 0) for state, _, total in counts}
    channels: dict[str, dict[str, int]] = {}
    for channel, state, n in outbox:
        channels.setdefault(channel, {})[state] = int(n)
    announced = _aware(row.announced_at)
    return Status(
        program_id=row.id,
        name=row.name,
        currency=row.currency,
        vouchers_total=row.vouchers_total,
        amount_total_cents=row.amount_total_cents,
        issued=sum(by_state.values()),
        amount_issued_cents=sum(amounts.values()),
        by_state=by_state,
        amount_by_state_cents=amounts,
        notifications=channels,
        start=_promise(announced + timedelta(hours=row.start_within_hours), row.started_at, now),
        complete=_promise(
            announced + timedelta(hours=row.complete_within_hours), row.completed_at, now
        ),
    )


def _promise(deadline: datetime, done: datetime | None, now: datetime) -> Promise:
    done_at = _aware(done) if done else None
    if done_at is not None:
        return Promise(deadline, done_at, "kept" if done_at <= deadline else "missed")
    return Promise(deadline, None, "missed" if now > deadline else "open")


def _aware(value: datetime) -> datetime:
    """``value`` in UTC: naive values (SQLite) are stored as UTC; aware ones are converted."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
