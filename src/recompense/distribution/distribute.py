"""Issue one voucher per eligible user, exactly once, in batches that commit atomically.

Each batch is one transaction holding, for the users of a contiguous slice of the run's
allocations (sorted by user id): their vouchers, one balanced journal entry (programme
fund → voucher liability, one line per voucher) and their notification rows (the
transactional outbox). So a batch is either entirely there or entirely absent.

Exactly once, whatever happens:

- ``UNIQUE (program_id, user_id)`` on vouchers, and deterministic voucher and
  notification ids (UUIDv5 of programme and user), so a retry cannot create a twin;
- each batch first locks the programme row (``SELECT … FOR UPDATE`` on PostgreSQL, a
  ``BEGIN IMMEDIATE`` write transaction on SQLite), then inserts only the users of its
  slice that have no voucher yet — concurrent distributors serialise per batch and the
  second finds nothing to do;
- the programme remembers the run fingerprint (SHA-256 of the manifest): the same run
  again finishes what is missing and changes nothing else; a different run is refused.

Kill it at any point and run it again: committed batches stay, the interrupted one rolled
back, and the re-run completes the rest — the same result as one clean run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from recompense.faults import checkpoint
from recompense.ledger import bulk
from recompense.ledger.db import connect, require_schema
from recompense.ledger.errors import LedgerError, RunMismatchError
from recompense.ledger.journal import (
    Posting,
    ensure_account,
    entry_exists,
    fund_code,
    liability_code,
    post,
    treasury_code,
)
from recompense.ledger.schema import notifications, programs, vouchers
from recompense.runs import read_allocations, read_manifest, read_recipients, run_fingerprint

NAMESPACE = uuid.UUID("6f1c1d1e-6a53-4a8c-9d1f-7c1a2b3c4d5e")
DEFAULT_BATCH = 5_000
Progress = Callable[[int, int], None]
Clock = Callable[[], datetime]

VOUCHER_COLUMNS = (
    "id",
    "program_id",
    "user_id",
    "amount_cents",
    "currency",
    "status",
    "issued_at",
    "expires_at",
    "issue_entry_id",
)
NOTIFICATION_COLUMNS = (
    "id",
    "program_id",
    "voucher_id",
    "user_id",
    "channel",
    "recipient",
    "locale",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class Programme:
    id: str
    name: str
    currency: str
    fingerprint: str
    validity: timedelta


@dataclass(frozen=True, slots=True)
class DistributionResult:
    program_id: str
    issued_now: int
    already_issued: int
    total: int
    amount_issued_now_cents: int


def voucher_id(program_id: str, user_id: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"voucher:{program_id}:{user_id}"))


def notification_id(voucher: str, channel: str) -> str:
    """The idempotency key of a notification: stable across retries and re-runs."""
    return str(uuid.uuid5(NAMESPACE, f"notification:{voucher}:{channel}:voucher-issued"))


def distribute(
    run: Path,
    url: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    on_progress: Progress | None = None,
    now: Clock = lambda: datetime.now(UTC),
) -> DistributionResult:
    """Issue the run's vouchers into the ledger at ``url``; safe to repeat and to race."""
    manifest = read_manifest(run)
    allocations = read_allocations(run)
    contacts = _contacts(read_recipients(run))
    programme = _programme(manifest, run_fingerprint(run))
    engine = connect(url)
    require_schema(engine)
    _register(engine, programme, manifest, run, now())
    user_ids = allocations["user_id"].to_pylist()
    amounts = allocations["amount_cents"].to_pylist()
    total, issued_now, amount_now = len(user_ids), 0, 0
    done = 0
    for start in range(0, total, batch_size):
        users = user_ids[start : start + batch_size]
        cents = amounts[start : start + batch_size]
        added, added_cents = _issue_batch(engine, programme, users, cents, contacts, now())
        issued_now += added
        amount_now += added_cents
        done += len(users)
        checkpoint("between-batches")
        if on_progress:
            on_progress(done, total)
    _mark_complete(engine, programme, total, now())
    return DistributionResult(programme.id, issued_now, total - issued_now, total, amount_now)


def _programme(manifest: dict[str, Any], fingerprint: str) -> Programme:
    try:
        settings = manifest["policy"]["parameters"]["distribution"]
        return Programme(
            id=manifest["program"]["id"],
            name=manifest["program"]["name"],
            currency=manifest["program"]["currency"],
            fingerprint=fingerprint,
            validity=timedelta(days=int(settings["voucher_validity_days"])),
        )
    except KeyError as exc:
        raise LedgerError(f"manifest.json: missing key {exc}; re-run the programme") from exc


def _register(
    engine: Engine, programme: Programme, manifest: dict[str, Any], run: Path, now: datetime
) -> None:
    """Create the programme (once), check the run, fund the programme (once)."""
    settings = manifest["policy"]["parameters"]["distribution"]
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.begin() as conn:
        # Two distributors may start together: the second insert is a no-op, then both
        # take the programme row's lock in turn.
        conn.execute(
            insert(programs)
            .values(
                id=programme.id,
                name=programme.name,
                currency=programme.currency,
                run_fingerprint=programme.fingerprint,
                run_path=str(run.resolve()),
                announced_at=datetime.fromisoformat(manifest["program"]["announced_at"]),
                start_within_hours=settings["start_within_hours"],
                complete_within_hours=settings["complete_within_hours"],
                voucher_validity_days=settings["voucher_validity_days"],
                vouchers_total=manifest["counts"]["eligible"],
                amount_total_cents=manifest["allocated_cents"],
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = _lock_programme(conn, programme.id)
        if row.run_fingerprint != programme.fingerprint:
            raise RunMismatchError(
                f"programme {programme.id} is already bound to run "
                f"{row.run_fingerprint[:12]}… ({row.run_path}); refusing to distribute run "
                f"{programme.fingerprint[:12]}… ({run}). "
                "Corrections are revocations, not a second run."
            )
        _fund(conn, programme, manifest["allocated_cents"], now)


def _fund(conn: Connection, programme: Programme, amount: int, now: datetime) -> None:
    key = f"fund:{programme.id}"
    if amount == 0 or entry_exists(conn, key):
        return
    currency = programme.currency
    treasury = ensure_account(conn, treasury_code(currency), "external", currency, now)
    fund = ensure_account(
        conn, fund_code(programme.id), "fund", currency, now, program_id=programme.id
    )
    ensure_account(
        conn, liability_code(programme.id), "liability", currency, now, program_id=programme.id
    )
    lines = [Posting(treasury, -amount, currency), Posting(fund, amount, currency)]
    post(conn, program_id=programme.id, kind="fund", idempotency_key=key, lines=lines, now=now)


def _issue_batch(
    engine: Engine,
    programme: Programme,
    users: list[int],
    cents: list[int],
    contacts: dict[int, tuple[str | None, str]],
    now: datetime,
) -> tuple[int, int]:
    """Issue the missing vouchers of one slice in one transaction; (count, cents) added."""
    with engine.begin() as conn:
        _lock_programme(conn, programme.id)
        have = _existing_users(conn, programme.id, users[0], users[-1])
        todo = [(u, c) for u, c in zip(users, cents, strict=True) if u not in have]
        if not todo:
            return 0, 0
        entry = _issue_entry(conn, programme, todo, now)
        expires = now + programme.validity
        rows = [
            (
                voucher_id(programme.id, u),
                programme.id,
                u,
                c,
                programme.currency,
                "issued",
                now,
                expires,
                entry,
            )
            for u, c in todo
        ]
        bulk.insert_rows(conn, vouchers, VOUCHER_COLUMNS, rows)
        checkpoint("mid-batch")
        outbox = _outbox_rows(programme, todo, contacts, expires, now)
        bulk.insert_rows(conn, notifications, NOTIFICATION_COLUMNS, outbox)
        conn.execute(
            update(programs)
            .where(programs.c.id == programme.id, programs.c.started_at.is_(None))
            .values(started_at=now)
        )
        checkpoint("before-commit")
    checkpoint("after-commit")
    return len(todo), sum(c for _, c in todo)


def _issue_entry(
    conn: Connection, programme: Programme, todo: list[tuple[int, int]], now: datetime
) -> str:
    """One entry for the batch: the fund pays the total, the liability gets a line per voucher."""
    currency = programme.currency
    fund = ensure_account(conn, fund_code(programme.id), "fund", currency, now)
    liability = ensure_account(conn, liability_code(programme.id), "liability", currency, now)
    lines = [Posting(fund, -sum(c for _, c in todo), currency)]
    lines += [Posting(liability, c, currency, voucher_id(programme.id, u)) for u, c in todo]
    first, last = todo[0][0], todo[-1][0]
    key = f"issue:{programme.id}:{first}-{last}:{len(todo)}"
    return post(
        conn, program_id=programme.id, kind="issue", idempotency_key=key, lines=lines, now=now
    )


def _outbox_rows(
    programme: Programme,
    todo: list[tuple[int, int]],
    contacts: dict[int, tuple[str | None, str]],
    expires: datetime,
    now: datetime,
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for user, amount in todo:
        voucher = voucher_id(programme.id, user)
        email, locale = contacts.get(user, (None, "en"))
        payload = json.dumps(
            {
                "program_id": programme.id,
                "program_name": programme.name,
                "voucher_id": voucher,
                "user_id": user,
                "amount_cents": amount,
                "currency": programme.currency,
                "expires_at": expires.isoformat(),
            },
            separators=(",", ":"),
        )
        channels = [("push", None)] + ([("email", email)] if email else [])
        for channel, recipient in channels:
            rows.append(
                (
                    notification_id(voucher, channel),
                    programme.id,
                    voucher,
                    user,
                    channel,
                    recipient,
                    locale,
                    payload,
                    "pending",
                    0,
                    now,
                    now,
                )
            )
    return rows


def _lock_programme(conn: Connection, program_id: str) -> Any:
    query = select(programs).where(programs.c.id == program_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def _existing_users(conn: Connection, program_id: str, first: int, last: int) -> set[int]:
    query = select(vouchers.c.user_id).where(
        vouchers.c.program_id == program_id, vouchers.c.user_id.between(first, last)
    )
    return {int(u) for (u,) in conn.execute(query)}


def _mark_complete(engine: Engine, programme: Programme, total: int, now: datetime) -> None:
    with engine.begin() as conn:
        count = conn.execute(
            select(func.count()).select_from(vouchers).where(vouchers.c.program_id == programme.id)
        ).scalar_one()
        if count == total:
            conn.execute(
                update(programs)
                .where(programs.c.id == programme.id, programs.c.completed_at.is_(None))
                .values(completed_at=now)
            )


def _contacts(recipients: pa.Table) -> dict[int, tuple[str | None, str]]:
    return {
        row["user_id"]: (row["email"] or None, row["locale"] or "en")
        for row in recipients.to_pylist()
    }
