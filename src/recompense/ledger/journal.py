"""Posting balanced journal entries, and the ledger's accounts.

Sign convention: a posting's ``amount_cents`` adds to its account's balance (balance =
sum of postings). The external treasury goes negative as money leaves the exchange;
every other account must stay ≥ 0 (checked by ``reconcile``)::

    fund      treasury −X      → programme fund +X        (once per programme)
    issue     programme fund −Σ → voucher liability +Σ (one entry per batch; its
              vouchers, each naming the entry, are the liability's subsidiary ledger)
    redeem    voucher liability −a → user's reward wallet +a
    expire    voucher liability −a → programme fund +a       (clawback)
    revoke    voucher liability −a → programme fund +a
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from recompense.ledger import bulk
from recompense.ledger.errors import UnbalancedEntryError
from recompense.ledger.schema import journal_entries, ledger_accounts, postings


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    amount_cents: int
    currency: str
    voucher_id: str | None = None


def treasury_code(currency: str) -> str:
    return f"external:treasury:{currency}"


def fund_code(program_id: str) -> str:
    return f"program:{program_id}:fund"


def liability_code(program_id: str) -> str:
    return f"program:{program_id}:voucher-liability"


def reserve_code(program_id: str) -> str:
    """The programme's amendment reserve: funded once, drawn by each amendment's fund."""
    return f"program:{program_id}:amendment-reserve"


def wallet_code(user_id: int, currency: str) -> str:
    return f"user:{user_id}:rewards:{currency}"


def ensure_account(
    conn: Connection,
    code: str,
    kind: str,
    currency: str,
    now: datetime,
    *,
    program_id: str | None = None,
    user_id: int | None = None,
) -> int:
    """The id of the account ``code``, creating it if needed (race-safe: ON CONFLICT)."""
    found = conn.execute(select(ledger_accounts.c.id).where(ledger_accounts.c.code == code))
    account_id = found.scalar_one_or_none()
    if account_id is not None:
        return int(account_id)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = {
        "code": code,
        "kind": kind,
        "currency": currency,
        "program_id": program_id,
        "user_id": user_id,
        "created_at": now,
    }
    conn.execute(insert(ledger_accounts).values(**values).on_conflict_do_nothing())
    again = conn.execute(select(ledger_accounts.c.id).where(ledger_accounts.c.code == code))
    return int(again.scalar_one())


def check_balanced(lines: Iterable[Posting]) -> None:
    """Raise :class:`UnbalancedEntryError` unless the lines sum to zero per currency."""
    totals: dict[str, int] = defaultdict(int)
    count = 0
    for line in lines:
        if line.amount_cents == 0:
            raise UnbalancedEntryError("a posting of zero is not allowed")
        totals[line.currency] += line.amount_cents
        count += 1
    if count < 2:
        raise UnbalancedEntryError(f"an entry needs at least two postings, got {count}")
    off = {currency: total for currency, total in totals.items() if total}
    if off:
        raise UnbalancedEntryError(f"postings do not sum to zero: {off}")


def post(
    conn: Connection,
    *,
    program_id: str,
    kind: str,
    idempotency_key: str,
    lines: Sequence[Posting],
    now: datetime,
    memo: str = "",
    reverses_id: str | None = None,
) -> str:
    """Write one balanced entry: postings first, then the entry row that closes it.

    The database re-checks the balance when the entry row arrives and refuses postings
    for an entry that already exists (see the first migration).
    """
    entry_id = open_entry(conn, lines)
    close_entry(
        conn,
        entry_id,
        program_id=program_id,
        kind=kind,
        idempotency_key=idempotency_key,
        now=now,
        memo=memo,
        reverses_id=reverses_id,
    )
    return entry_id


def open_entry(conn: Connection, lines: Sequence[Posting], *, entry_id: str | None = None) -> str:
    """Write a balanced entry's postings; the entry stays open until :func:`close_entry`.

    Between the two, in the same transaction, an ``issue`` entry takes its vouchers (the
    subsidiary ledger of the liability line, see ``docs/ledger.md``). Postings of an
    entry that is never closed cannot commit (deferred foreign key).
    """
    check_balanced(lines)
    entry_id = entry_id or str(uuid.uuid4())
    rows = [
        (entry_id, line.account_id, line.currency, line.amount_cents, line.voucher_id)
        for line in lines
    ]
    bulk.insert_rows(conn, postings, POSTING_COLUMNS, rows)
    return entry_id


def close_entry(
    conn: Connection,
    entry_id: str,
    *,
    program_id: str,
    kind: str,
    idempotency_key: str,
    now: datetime,
    memo: str = "",
    reverses_id: str | None = None,
) -> None:
    """Write the entry row: the database checks the balance (and an issue entry's vouchers)."""
    conn.execute(
        journal_entries.insert().values(
            id=entry_id,
            program_id=program_id,
            kind=kind,
            idempotency_key=idempotency_key,
            reverses_id=reverses_id,
            memo=memo,
            created_at=now,
        )
    )


POSTING_COLUMNS = ("entry_id", "account_id", "currency", "amount_cents", "voucher_id")


def entry_exists(conn: Connection, idempotency_key: str) -> bool:
    query = select(journal_entries.c.id).where(journal_entries.c.idempotency_key == idempotency_key)
    return conn.execute(query).first() is not None


def balances(conn: Connection) -> dict[str, Any]:
    """Balance per account code (used by reconcile and status)."""
    from sqlalchemy import func

    query = (
        select(ledger_accounts.c.code, ledger_accounts.c.kind, func.sum(postings.c.amount_cents))
        .select_from(ledger_accounts.join(postings, postings.c.account_id == ledger_accounts.c.id))
        .group_by(ledger_accounts.c.code, ledger_accounts.c.kind)
    )
    return {code: (kind, int(total or 0)) for code, kind, total in conn.execute(query)}
