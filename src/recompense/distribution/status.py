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

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from recompense.ledger.db import connect, require_schema
from recompense.ledger.errors import LedgerError
from recompense.ledger.journal import reserve_code
from recompense.ledger.retry import Announce, retrying
from recompense.ledger.schema import ledger_accounts, notifications, postings, programs, vouchers


@dataclass(frozen=True, slots=True)
class Promise:
    deadline: datetime
    done_at: datetime | None
    state: str  # kept | missed | open


@dataclass(frozen=True, slots=True)
class Amendment:
    """One amendment of the programme: its top-ups, issued so far."""

    program_id: str
    sequence: int
    vouchers_total: int
    amount_total_cents: int
    issued: int
    amount_issued_cents: int
    completed_at: datetime | None


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
    # Amendment runs of this programme (``recompense amend``), in sequence, and the
    # programme's totals over the base run and every amendment.
    amendments: list[Amendment] = field(default_factory=list)
    reserve_cents: int = 0  # the amendment reserve as funded (0: never drawn on yet)
    reserve_left_cents: int = 0
    # How the programme pays (its run's distribution.method): "voucher" or "credit";
    # "voucher" too when its run folder cannot be read here (status reads the ledger).
    method: str = "voucher"

    @property
    def programme_issued_cents(self) -> int:
        return self.amount_issued_cents + sum(a.amount_issued_cents for a in self.amendments)

    @property
    def programme_total_cents(self) -> int:
        return self.amount_total_cents + sum(a.amount_total_cents for a in self.amendments)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["programme_issued_cents"] = self.programme_issued_cents
        data["programme_total_cents"] = self.programme_total_cents
        return data


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
        amendments = _amendments(conn, program_id)
        reserve, left = _reserve(conn, program_id)
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
        amendments=amendments,
        reserve_cents=reserve,
        reserve_left_cents=left,
        method=_method(row.run_path),
    )


def _method(run_path: str) -> str:
    """The distribution method the programme's run folder names, if it can be read."""
    from pathlib import Path

    from recompense.runs.errors import RunFolderError
    from recompense.runs.folder import read_manifest

    try:
        settings = read_manifest(Path(run_path))["policy"]["parameters"]["distribution"]
        return str(settings.get("method", "voucher"))
    except (RunFolderError, KeyError, TypeError, AttributeError):
        return "voucher"


def _amendments(conn: Connection, program_id: str) -> list[Amendment]:
    p, v = programs.c, vouchers.c
    rows = conn.execute(
        select(
            p.id,
            p.amendment_seq,
            p.vouchers_total,
            p.amount_total_cents,
            p.completed_at,
            select(func.count()).where(v.program_id == p.id).scalar_subquery(),
            select(func.coalesce(func.sum(v.amount_cents), 0))
            .where(v.program_id == p.id)
            .scalar_subquery(),
        )
        .where(p.base_program_id == program_id)
        .order_by(p.amendment_seq)
    ).fetchall()
    return [
        Amendment(
            program_id=str(r[0]),
            sequence=int(r[1]),
            vouchers_total=int(r[2]),
            amount_total_cents=int(r[3]),
            issued=int(r[5]),
            amount_issued_cents=int(r[6]),
            completed_at=_aware(r[4]) if r[4] else None,
        )
        for r in rows
    ]


def _reserve(conn: Connection, program_id: str) -> tuple[int, int]:
    """(funded, left) of the programme's amendment reserve account, in cents."""
    accounts, lines = ledger_accounts.c, postings.c
    account = conn.execute(
        select(accounts.id).where(accounts.code == reserve_code(program_id))
    ).scalar_one_or_none()
    if account is None:
        return 0, 0
    funded = conn.execute(
        select(func.coalesce(func.sum(lines.amount_cents), 0)).where(
            lines.account_id == account, lines.amount_cents > 0
        )
    ).scalar_one()
    left = conn.execute(
        select(func.coalesce(func.sum(lines.amount_cents), 0)).where(lines.account_id == account)
    ).scalar_one()
    return int(funded), int(left)


def _promise(deadline: datetime, done: datetime | None, now: datetime) -> Promise:
    done_at = _aware(done) if done else None
    if done_at is not None:
        return Promise(deadline, done_at, "kept" if done_at <= deadline else "missed")
    return Promise(deadline, None, "missed" if now > deadline else "open")


def _aware(value: datetime) -> datetime:
    """``value`` in UTC: naive values (SQLite) are stored as UTC; aware ones are converted."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
