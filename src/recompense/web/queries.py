"""What the pages read from the ledger: a user's vouchers, credits and audit trail.

Every query is by indexed key (``vouchers.user_id``, a voucher id, an account code,
``postings.voucher_id``), so a page costs a few index lookups whatever the size of the
programme. Staff reads of a user's data are recorded in ``web_accesses`` (the audit
trail shows them), and, in the same transaction, as a ``personal_data.read`` event of the
hash-chained audit trail (:mod:`recompense.audit`); a user's own page views are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select

from recompense import audit
from recompense.db.web import web_accesses
from recompense.ledger.journal import wallet_code
from recompense.ledger.schema import (
    journal_entries,
    ledger_accounts,
    notifications,
    postings,
    programs,
    vouchers,
)


@dataclass(frozen=True, slots=True)
class Programme:
    id: str
    name: str
    currency: str
    run_fingerprint: str
    run_path: str


@dataclass(frozen=True, slots=True)
class Voucher:
    id: str
    program_id: str
    user_id: int
    amount_cents: int
    currency: str
    status: str
    issued_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    issue_entry_id: str | None = None
    close_entry_id: str | None = None


@dataclass(frozen=True, slots=True)
class Credit:
    entry_id: str
    kind: str
    program_id: str
    voucher_id: str | None
    amount_cents: int
    currency: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    program_id: str
    voucher_id: str
    channel: str
    status: str
    attempts: int
    locale: str
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Access:
    at: datetime
    subject: str
    role: str
    action: str
    target: str


def programmes(engine: Engine) -> list[Programme]:
    """The programmes in the ledger, each with its **latest** run.

    A programme's amendments (``recompense amend``) are ledger rows of their own naming
    their base; here each base programme is shown once, with the run folder of its
    chain's head: the amendment distributed last holds every user's corrected verdict
    and cumulative amount (and its commitment proves them), so pages and proofs show
    what the user has been given in all.
    """
    p = programs.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                p.id,
                p.name,
                p.currency,
                p.run_fingerprint,
                p.run_path,
                p.base_program_id,
                p.amendment_seq,
            ).order_by(p.created_at, p.id)
        ).fetchall()
    heads: dict[str, Any] = {}
    for row in rows:
        if row.base_program_id is not None:
            seq = heads.get(row.base_program_id)
            if seq is None or (seq.amendment_seq or 0) < row.amendment_seq:
                heads[row.base_program_id] = row
    found = []
    for row in rows:
        if row.base_program_id is not None:
            continue
        head = heads.get(row.id, row)
        found.append(Programme(row.id, row.name, row.currency, head.run_fingerprint, head.run_path))
    return found


def user_vouchers(engine: Engine, user_id: int) -> list[Voucher]:
    with engine.connect() as conn:
        return _user_vouchers(conn, user_id)


def vouchers_and_credits(engine: Engine, user_id: int) -> tuple[list[Voucher], list[Credit]]:
    """The user's vouchers and wallet credits, on one pooled connection (the hot path)."""
    with engine.connect() as conn:
        found = _user_vouchers(conn, user_id)
        return found, _credits(conn, user_id, {v.currency for v in found})


def voucher(engine: Engine, voucher_id: str) -> Voucher | None:
    with engine.connect() as conn:
        row = conn.execute(_VOUCHER_BY_ID, {"voucher_id": voucher_id}).first()
    return None if row is None else _voucher(row)


def credits(engine: Engine, user_id: int, currencies: set[str]) -> list[Credit]:
    """Postings into the user's reward wallets (one per currency), oldest first."""
    with engine.connect() as conn:
        return _credits(conn, user_id, currencies)


def _user_vouchers(conn: Connection, user_id: int) -> list[Voucher]:
    rows = conn.execute(_USER_VOUCHERS, {"user_id": user_id}).fetchall()
    return [_voucher(row) for row in rows]


def _credits(conn: Connection, user_id: int, currencies: set[str]) -> list[Credit]:
    codes = [wallet_code(user_id, currency) for currency in sorted(currencies)]
    if not codes:
        return []
    rows = conn.execute(_CREDITS, {"codes": codes}).fetchall()
    return [Credit(r[0], r[1], r[2], r[3], int(r[4]), r[5], aware(r[6])) for r in rows]


def voucher_entries(engine: Engine, found: list[Voucher]) -> list[Credit]:
    """The journal entries that issued and closed these vouchers, one line per voucher.

    An issue entry covers a whole batch (the vouchers are its subsidiary ledger), so the
    line shown for it is the voucher's own amount.
    """
    wanted = {v.issue_entry_id for v in found} | {v.close_entry_id for v in found}
    wanted.discard(None)
    if not wanted:
        return []
    j = journal_entries.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(j.id, j.kind, j.created_at).where(j.id.in_(sorted(wanted)))
        ).fetchall()
    entries = {r[0]: (r[1], aware(r[2])) for r in rows}
    lines = []
    for v in found:
        for entry_id in (v.issue_entry_id, v.close_entry_id):
            if entry_id is not None and entry_id in entries:
                kind, at = entries[entry_id]
                lines.append(
                    Credit(entry_id, kind, v.program_id, v.id, v.amount_cents, v.currency, at)
                )
    return sorted(lines, key=lambda line: (line.at, line.entry_id))


def user_notifications(engine: Engine, user_id: int) -> list[Notice]:
    n = notifications.c
    query = (
        select(
            n.id,
            n.program_id,
            n.voucher_id,
            n.channel,
            n.status,
            n.attempts,
            n.locale,
            n.sent_at,
            n.last_error,
            n.created_at,
        )
        .where(n.user_id == user_id)
        .order_by(n.created_at, n.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return [
        Notice(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], _maybe(r[7]), r[8], aware(r[9]))
        for r in rows
    ]


def accesses(engine: Engine, user_id: int, limit: int = 200) -> list[Access]:
    a = web_accesses.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.at, a.subject, a.role, a.action, a.target)
            .where(a.user_id == user_id)
            .order_by(a.at.desc(), a.id.desc())
            .limit(limit)
        ).fetchall()
    return [Access(aware(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def record_access(
    engine: Engine, *, subject: str, role: str, user_id: int, action: str, target: str = ""
) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(web_accesses).values(
                at=now,
                subject=subject[:200],
                role=role,
                user_id=user_id,
                action=action,
                target=target,
            )
        )
        audit.record(
            conn,
            actor=audit.actor_for(role, subject),
            action="personal_data.read",
            subject=f"user:{user_id}",
            details={"what": action, "target": target, "via": "web"},
            at=now,
        )


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything in the ledger is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _maybe(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


_VOUCHER_COLUMNS = (
    vouchers.c.id,
    vouchers.c.program_id,
    vouchers.c.user_id,
    vouchers.c.amount_cents,
    vouchers.c.currency,
    vouchers.c.status,
    vouchers.c.issued_at,
    vouchers.c.expires_at,
    vouchers.c.closed_at,
    vouchers.c.issue_entry_id,
    vouchers.c.close_entry_id,
)


# The hot path's statements, built once: SQLAlchemy then reuses their cache key and
# compiled form instead of rebuilding a select() (coercions, cache key) per request.
_USER_VOUCHERS = (
    select(*_VOUCHER_COLUMNS)
    .where(vouchers.c.user_id == bindparam("user_id"))
    .order_by(vouchers.c.issued_at, vouchers.c.id)
)
_CREDITS = (
    select(
        journal_entries.c.id,
        journal_entries.c.kind,
        journal_entries.c.program_id,
        postings.c.voucher_id,
        postings.c.amount_cents,
        postings.c.currency,
        journal_entries.c.created_at,
    )
    .select_from(
        postings.join(ledger_accounts, ledger_accounts.c.id == postings.c.account_id).join(
            journal_entries, journal_entries.c.id == postings.c.entry_id
        )
    )
    .where(ledger_accounts.c.code.in_(bindparam("codes", expanding=True)))
    .order_by(journal_entries.c.created_at, journal_entries.c.id)
)
_VOUCHER_BY_ID = select(*_VOUCHER_COLUMNS).where(vouchers.c.id == bindparam("voucher_id"))


def _voucher(row: Any) -> Voucher:
    r = tuple(row)
    return Voucher(
        r[0],
        r[1],
        int(r[2]),
        int(r[3]),
        r[4],
        r[5],
        aware(r[6]),
        aware(r[7]),
        _maybe(r[8]),
        r[9],
        None if r[10] == "pending" else r[10],
    )
