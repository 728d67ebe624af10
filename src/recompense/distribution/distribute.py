"""Issue one voucher per eligible user, exactly once, in batches that commit atomically.

Each batch is one transaction holding, for the users of a contiguous slice of the run's
allocations (sorted by user id): their vouchers, one balanced journal entry (programme
fund −Σ → voucher liability +Σ; the vouchers naming the entry are the liability's
subsidiary ledger, tied to the line by the database) and their notification rows (the
transactional outbox). So a batch is either entirely there or entirely absent.

Direct credits (``distribution.method = "credit"`` in the policy, the de-peg
compensation's way): the same batch also redeems each of its vouchers into its owner's
reward wallet (:func:`recompense.ledger.vouchers.credit_issued`: one ``redeem`` entry per
voucher, as a user's own redemption posts), so the money is in the wallet when the batch
commits and the notification says "credited", not "redeem before it expires".

Exactly once, whatever happens:

- ``UNIQUE (program_id, user_id)`` on vouchers, and deterministic voucher and
  notification ids (of programme and user, :mod:`.rows`), so a retry cannot create a twin;
- each batch first locks the programme row (``SELECT … FOR UPDATE`` on PostgreSQL, a
  ``BEGIN IMMEDIATE`` write transaction on SQLite), then inserts only the users of its
  slice that have no voucher yet — concurrent distributors serialise per batch and the
  second finds nothing to do;
- the programme remembers the run fingerprint (SHA-256 of the manifest): the same run
  again finishes what is missing and changes nothing else; a different run is refused.

Sign-off: the transaction that registers the programme first requires two officers'
approvals of the run's current fingerprint (:mod:`.approvals`; no bypass), and records
the audit event ``run.distribute`` (who, which run, its approvers); the transaction that
marks the programme complete records ``distribution.complete``.

Kill it at any point and run it again: committed batches stay, the interrupted one rolled
back, and the re-run completes the rest — the same result as one clean run.

When the database fails (``docs/operations.md``, "When the database fails"): every
transaction here is idempotent, so a transient failure — a dropped connection, a lock
or statement timeout, a server restart, a commit whose reply was lost — is retried with
backoff a bounded number of times (:mod:`recompense.ledger.retry`), each retry announced
through ``on_retry``. After the last, :class:`~recompense.errors.DatabaseUnavailable`
says what this call committed ("k of n batches, X vouchers, $Y") and that running it
again resumes exactly. ``stop`` (set by the CLI on SIGTERM/SIGINT) is looked at between
batches: the batch in flight finishes, the result says ``stopped``.

Speed: batch k+1's rows are built in a helper thread while batch k is in the database
(:func:`_ahead`); on PostgreSQL they go in by binary ``COPY``. The writer gets the GIL
back quickly after each round trip only with a short switch interval
(:mod:`recompense.gil`); that is process-wide state, so this library call leaves it alone
and the process's entry point sets it (``recompense distribute``, the benchmark).
Measured figures: ``docs/benchmarks.md``, "Distribution".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from recompense import audit
from recompense.distribution import amendments
from recompense.distribution.amendments import payable_count
from recompense.distribution.approvals import require_approvals
from recompense.distribution.progress import DistributionResult, Tally
from recompense.distribution.rows import (
    NAMESPACE,
    Contacts,
    Prepared,
    Programme,
    notification_id,
    prepare,
    voucher_id,
)
from recompense.errors import DatabaseUnavailable
from recompense.failures import classify
from recompense.faults import checkpoint
from recompense.ledger import bulk
from recompense.ledger.db import connect, require_schema, shown
from recompense.ledger.errors import LedgerError, RunMismatchError
from recompense.ledger.journal import (
    Posting,
    close_entry,
    ensure_account,
    entry_exists,
    fund_code,
    liability_code,
    open_entry,
    post,
    treasury_code,
)
from recompense.ledger.limits import settings
from recompense.ledger.retry import Announce, StopRequested, retrying
from recompense.ledger.schema import notifications, programs, vouchers
from recompense.ledger.vouchers import credit_issued
from recompense.runs import (
    is_amendment,
    ledger_program_id,
    read_manifest,
    read_payable,
    read_recipients,
    run_fingerprint,
)

__all__ = [
    "NAMESPACE",
    "DistributionResult",
    "Programme",
    "distribute",
    "notification_id",
    "voucher_id",
]

DEFAULT_BATCH = 20_000
T = TypeVar("T")
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
class Accounts:
    """The programme's fund and voucher-liability account ids: an issue entry's two lines.

    One line per side, not one per voucher: the vouchers naming the entry are the
    liability's subsidiary ledger, and the database ties them to the line when the
    entry row arrives (``docs/ledger.md``, "The voucher subsidiary ledger").
    """

    fund: int
    liability: int


def distribute(
    run: Path,
    url: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    on_progress: Progress | None = None,
    now: Clock = lambda: datetime.now(UTC),
    actor: str | None = None,
    on_retry: Announce | None = None,
    stop: threading.Event | None = None,
) -> DistributionResult:
    """Issue the run's vouchers into the ledger at ``url``; safe to repeat and to race.

    Refused (:class:`~recompense.ledger.errors.UnapprovedRunError`) unless two officers
    approved the run as it is now. ``actor`` (``role:name``; default: who runs this
    process, :func:`recompense.audit.cli_actor`) is recorded in the audit trail.
    Transient database failures are retried (announced through ``on_retry``); past the
    retries, :class:`~recompense.errors.DatabaseUnavailable` names what was committed.
    """
    actor = actor or audit.cli_actor(None)
    manifest = read_manifest(run)
    user_ids, amounts = read_payable(run)
    contacts = _contacts(read_recipients(run))
    programme = _programme(manifest, run_fingerprint(run))
    engine = connect(url)
    total = len(user_ids)
    slices = [(start, start + batch_size) for start in range(0, total, batch_size)]
    tally = Tally(programme.id, total, len(slices))

    def again(what: str, work: Callable[[], T]) -> T:
        return retrying(work, what=what, on_retry=on_retry, stop=stop)

    def build(bounds: tuple[int, int]) -> Prepared:
        first, last = bounds
        users, cents = user_ids[first:last], amounts[first:last]
        batch = prepare(programme, users, cents, contacts, now(), sqlite_times=sqlite_times)
        return batch if sqlite_times else _encoded(batch)

    sqlite_times = engine.dialect.name == "sqlite"
    try:
        again(tally.start("check"), lambda: require_schema(engine))
        accounts = again(
            tally.start("register"),
            lambda: _register(engine, programme, manifest, run, now(), actor, sum(amounts)),
        )
        for (start, end), batch in zip(slices, _ahead(build, slices), strict=True):
            if stop is not None and stop.is_set():
                return tally.result(stopped=True)
            added, cents = again(
                tally.start("issue", batch.users[0], batch.users[-1]),
                partial(_issue_batch, engine, programme, accounts, batch),
            )
            tally.committed(min(total, end) - start, added, cents)
            checkpoint("between-batches")
            if on_progress:
                on_progress(min(total, end), total)
        again(
            tally.start("complete"),
            lambda: _mark_complete(engine, programme, total, now(), actor, tally.issued),
        )
    except StopRequested:
        return tally.result(stopped=True)
    except Exception as exc:
        failure = classify(exc)
        if not isinstance(failure, DatabaseUnavailable):
            raise
        raise tally.gave_up(shown(engine), failure, exc, settings().retries) from exc
    return tally.result(stopped=False)


def _programme(manifest: dict[str, Any], fingerprint: str) -> Programme:
    try:
        settings = manifest["policy"]["parameters"]["distribution"]
        name = manifest["program"]["name"]
        if is_amendment(manifest):
            name = f"{name} (amendment {manifest['amendment']['sequence']})"
        return Programme(
            id=ledger_program_id(manifest),
            name=name,
            currency=manifest["program"]["currency"],
            fingerprint=fingerprint,
            validity=timedelta(days=int(settings["voucher_validity_days"])),
            method=str(settings.get("method", "voucher")),  # older runs: vouchers
        )
    except KeyError as exc:
        raise LedgerError(f"manifest.json: missing key {exc}; re-run the programme") from exc


def _register(
    engine: Engine,
    programme: Programme,
    manifest: dict[str, Any],
    run: Path,
    now: datetime,
    actor: str,
    payable_cents: int,
) -> Accounts:
    """Create the programme (once), check the run and its approvals, fund the programme
    (once), and record the audit event — all in one transaction.

    An amendment is registered as its own programme row naming its base, only as the
    next link of the base programme's chain (:mod:`.amendments`); the same transaction
    marks its case decisions applied and funds it from the amendment reserve.

    Returns the programme's fund and liability accounts (created here if needed).
    """
    settings = manifest["policy"]["parameters"]["distribution"]
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    amendment = manifest.get("amendment") if is_amendment(manifest) else None
    with engine.begin() as conn:
        if amendment is not None:
            amendments.check_chain(conn, manifest, programme.fingerprint, run)
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
                vouchers_total=payable_count(manifest),
                amount_total_cents=payable_cents,
                created_at=now,
                **amendments.chain_columns(manifest),
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = _lock_programme(conn, programme.id)
        if row.run_fingerprint != programme.fingerprint:
            raise RunMismatchError(
                f"programme {programme.id} is already bound to run "
                f"{row.run_fingerprint[:12]}… ({row.run_path}); refusing to distribute run "
                f"{programme.fingerprint[:12]}… ({run}). "
                "Corrections are revocations or amendments (recompense amend), not a second run."
            )
        approvals = require_approvals(conn, programme.id, programme.fingerprint, run)
        currency = programme.currency
        accounts = Accounts(
            fund=ensure_account(
                conn, fund_code(programme.id), "fund", currency, now, program_id=programme.id
            ),
            liability=ensure_account(
                conn,
                liability_code(programme.id),
                "liability",
                currency,
                now,
                program_id=programme.id,
            ),
        )
        if amendment is None:
            _fund(conn, programme, payable_cents, accounts.fund, now)
        else:
            amendments.apply(conn, manifest, programme.id, now)
            amendments.fund(conn, manifest, programme.id, payable_cents, accounts.fund, now)
        details: dict[str, Any] = {
            "program_id": programme.id,
            "run_path": str(run.resolve()),
            "vouchers_total": payable_count(manifest),
            "amount_total_cents": payable_cents,
            "approvers": [a.approver for a in approvals],
        }
        if amendment is not None:
            details["amends"] = amendment["previous_fingerprint"]
            details["decisions"] = len(amendment["decisions"])
        audit.record(
            conn,
            actor=actor,
            action="run.distribute",
            subject=f"run:{programme.fingerprint}",
            details=details,
            at=now,
        )  # last: the chain's lock is held for the rest of this transaction only
        return accounts


def _fund(conn: Connection, programme: Programme, amount: int, fund: int, now: datetime) -> None:
    key = f"fund:{programme.id}"
    if amount == 0 or entry_exists(conn, key):
        return
    currency = programme.currency
    treasury = ensure_account(conn, treasury_code(currency), "external", currency, now)
    lines = [Posting(treasury, -amount, currency), Posting(fund, amount, currency)]
    post(conn, program_id=programme.id, kind="fund", idempotency_key=key, lines=lines, now=now)


def _ahead(
    build: Callable[[tuple[int, int]], Prepared], slices: list[tuple[int, int]]
) -> Iterator[Prepared]:
    """Yield the prepared batches in order, building batch k+1 in a thread meanwhile.

    While batch k is in the database the main thread mostly waits on the socket (the
    GIL is free), so the rows of the next batch cost no wall time. The database work
    itself stays strictly sequential, in slice order.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="distribute-prepare") as pool:
        pending: Future[Prepared] | None = pool.submit(build, slices[0]) if slices else None
        for index in range(len(slices)):
            assert pending is not None
            batch = pending.result()
            pending = pool.submit(build, slices[index + 1]) if index + 1 < len(slices) else None
            yield batch


def _issue_batch(
    engine: Engine, programme: Programme, accounts: Accounts, batch: Prepared
) -> tuple[int, int]:
    """Issue the missing vouchers of one slice in one transaction; (count, cents) added.

    Order inside the transaction (the database checks it): the issue entry's two
    postings, the vouchers naming the entry, the entry row (its trigger ties the
    liability line to the vouchers' sum), then the outbox rows. Few round trips: while
    the main thread waits on one, the preparing thread may hold the GIL for up to the
    interpreter's switch interval (0.5 ms here, 5 ms by default), so each one costs more
    than the network.
    """
    with engine.begin() as conn:
        row = _lock_programme(conn, programme.id)
        have = _existing_users(conn, programme.id, batch.users[0], batch.users[-1])
        todo = batch.without(have) if have else batch
        if not todo.users:
            return 0, 0
        amount = sum(todo.cents)
        currency = programme.currency
        lines = [
            Posting(accounts.fund, -amount, currency),
            Posting(accounts.liability, amount, currency),
        ]
        entry = open_entry(conn, lines, entry_id=todo.entry_id)
        if conn.dialect.name == "postgresql":
            todo = _encoded(todo)  # already, unless some users were dropped
            bulk.copy_data(conn, vouchers, VOUCHER_COLUMNS, todo.voucher_data or b"")
        else:
            bulk.insert_tuples(conn, vouchers, VOUCHER_COLUMNS, todo.vouchers)
        checkpoint("mid-batch")
        first, last = todo.users[0], todo.users[-1]
        close_entry(
            conn,
            entry,
            program_id=programme.id,
            kind="issue",
            idempotency_key=f"issue:{programme.id}:{first}-{last}:{len(todo.users)}",
            now=todo.now,
        )
        if programme.method == "credit":  # paid straight into the wallets, same commit
            credit_issued(conn, programme.id, entry, todo.now)
        if todo.outbox_data is not None:
            bulk.copy_data(conn, notifications, NOTIFICATION_COLUMNS, todo.outbox_data)
        else:
            bulk.insert_tuples(conn, notifications, NOTIFICATION_COLUMNS, todo.outbox_rows())
        if row.started_at is None:
            conn.execute(
                update(programs).where(programs.c.id == programme.id).values(started_at=todo.now)
            )
        checkpoint("before-commit")
    checkpoint("after-commit")
    return len(todo.users), amount


def _encoded(batch: Prepared) -> Prepared:
    """The batch with its rows in binary COPY format (PostgreSQL), if not already."""
    if batch.voucher_data is not None and batch.outbox_data is not None:
        return batch
    return replace(
        batch,
        voucher_data=bulk.binary_copy_data(vouchers, VOUCHER_COLUMNS, batch.vouchers),
        outbox_data=bulk.binary_copy_data(notifications, NOTIFICATION_COLUMNS, batch.outbox_rows()),
    )


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


def _mark_complete(
    engine: Engine, programme: Programme, total: int, now: datetime, actor: str, issued_now: int
) -> None:
    with engine.begin() as conn:
        count = conn.execute(
            select(func.count()).select_from(vouchers).where(vouchers.c.program_id == programme.id)
        ).scalar_one()
        if count != total:
            return
        done = conn.execute(
            update(programs)
            .where(programs.c.id == programme.id, programs.c.completed_at.is_(None))
            .values(completed_at=now)
        )
        if done.rowcount == 1:  # this call completed it (a re-run finds it completed)
            audit.record(
                conn,
                actor=actor,
                action="distribution.complete",
                subject=f"program:{programme.id}",
                details={
                    "fingerprint": programme.fingerprint,
                    "vouchers": total,
                    "issued_by_this_call": issued_now,
                },
                at=now,
            )


def _contacts(recipients: pa.Table) -> Contacts:
    emails = recipients["email"].to_pylist()
    locales = recipients["locale"].to_pylist()
    return {
        user: (email or None, locale or "en")
        for user, email, locale in zip(
            recipients["user_id"].to_pylist(), emails, locales, strict=True
        )
    }
