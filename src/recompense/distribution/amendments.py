"""Amendments in the ledger: the chain of runs of one programme, and the reserve.

An amendment run (``recompense amend``) is distributed like a base run — two officers'
approvals, batches, vouchers exactly once, the outbox — under its own programme row
(``<programme>~a<n>``) that names its base programme, its sequence and the fingerprint
of the run it amends. Registration, in the one transaction ``distribute`` opens, also:

- checks that the amendment is the next link: the run it amends is the chain's head
  (the base, or the amendment with the highest sequence), so two amendments built from
  the same head cannot both be paid — the second is refused before any money moves
  (``UNIQUE (base_program_id, amendment_seq)`` backs this in the database);
- marks its case decisions applied (:func:`recompense.cases.decisions.mark_applied`),
  refusing if another amendment paid one of them;
- funds it from the programme's **amendment reserve**: an account funded once from the
  treasury with the policy's ``amendments.reserve_usd``, from which each amendment's
  fund draws exactly its top-ups. A draw beyond the reserve's balance is refused, so
  the reserve is never overdrawn — ``reconcile`` checks no fund is negative.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, or_, select

from recompense.cases.decisions import mark_applied
from recompense.ledger.errors import LedgerError, RunMismatchError
from recompense.ledger.journal import (
    Posting,
    ensure_account,
    entry_exists,
    post,
    reserve_code,
    treasury_code,
)
from recompense.ledger.schema import postings, programs
from recompense.money import format_usd
from recompense.runs.folder import is_amendment


def payable_count(manifest: dict[str, Any]) -> int:
    """Vouchers the run issues: its eligible users, or an amendment's top-ups."""
    if is_amendment(manifest):
        return int(manifest["amendment"]["topups"])
    return int(manifest["counts"]["eligible"])


def chain_columns(manifest: dict[str, Any]) -> dict[str, Any]:
    """The ``programs`` columns that place an amendment in its chain (none for a base)."""
    if not is_amendment(manifest):
        return {}
    amendment = manifest["amendment"]
    return {
        "base_program_id": str(manifest["program"]["id"]),
        "amendment_seq": int(amendment["sequence"]),
        "previous_fingerprint": str(amendment["previous_fingerprint"]),
    }


def check_chain(conn: Connection, manifest: dict[str, Any], fingerprint: str, run: Path) -> None:
    """Refuse an amendment that is not the next link of its programme's chain.

    A resumed distribution finds its own row and passes. Takes the base programme's row
    lock first (PostgreSQL), so two amendments registering at once serialise here.
    """
    amendment = manifest["amendment"]
    base_id = str(manifest["program"]["id"])
    own_id = str(amendment["ledger_program_id"])
    p = programs.c
    base = select(p.id).where(p.id == base_id)
    if conn.dialect.name == "postgresql":
        base = base.with_for_update()
    if conn.execute(base).first() is None:
        raise RunMismatchError(
            f"amendment {own_id} ({run}): its programme {base_id} is not in this ledger; "
            "distribute the base run first"
        )
    rows = conn.execute(
        select(p.id, p.run_fingerprint, p.run_path, p.amendment_seq).where(
            or_(p.id == base_id, p.base_program_id == base_id)
        )
    ).fetchall()
    if any(r.id == own_id and r.run_fingerprint == fingerprint for r in rows):
        return  # this amendment, registered before: resuming
    head = max(rows, key=lambda r: r.amendment_seq or 0)
    sequence = int(amendment["sequence"])
    if head.run_fingerprint != amendment["previous_fingerprint"] or sequence != (
        (head.amendment_seq or 0) + 1
    ):
        raise RunMismatchError(
            f"amendment {own_id} ({run}) amends run {amendment['previous_fingerprint'][:12]}…, "
            f"but the latest distributed run of {base_id} is {head.id} "
            f"({head.run_fingerprint[:12]}…, {head.run_path}); build a new amendment from it "
            f"with: recompense amend --run {head.run_path}"
        )


def apply(conn: Connection, manifest: dict[str, Any], amendment_id: str, now: datetime) -> None:
    """Mark the amendment's case decisions paid by it (refused if one was paid before)."""
    ids = [str(d["id"]) for d in manifest["amendment"]["decisions"]]
    mark_applied(conn, ids, amendment_id, now)


def fund(
    conn: Connection,
    manifest: dict[str, Any],
    amendment_id: str,
    amount: int,
    fund_account: int,
    now: datetime,
) -> None:
    """Fund the reserve (once per programme), then this amendment from it (once)."""
    base_id = str(manifest["program"]["id"])
    currency = str(manifest["program"]["currency"])
    settings = manifest["policy"]["parameters"].get("amendments") or {}
    reserve_cents = int(settings.get("reserve_cents", 0))
    reserve = ensure_account(conn, reserve_code(base_id), "fund", currency, now, program_id=base_id)
    key = f"reserve:{base_id}"
    if reserve_cents > 0 and not entry_exists(conn, key):
        treasury = ensure_account(conn, treasury_code(currency), "external", currency, now)
        lines = [
            Posting(treasury, -reserve_cents, currency),
            Posting(reserve, reserve_cents, currency),
        ]
        post(conn, program_id=base_id, kind="fund", idempotency_key=key, lines=lines, now=now)
    key = f"fund:{amendment_id}"
    if amount == 0 or entry_exists(conn, key):
        return
    left = reserve_balance(conn, reserve)
    if amount > left:
        raise LedgerError(
            f"amendment {amendment_id} pays {format_usd(amount)} but the amendment reserve of "
            f"{base_id} holds {format_usd(left)}; nothing was issued"
        )
    lines = [Posting(reserve, -amount, currency), Posting(fund_account, amount, currency)]
    post(conn, program_id=amendment_id, kind="fund", idempotency_key=key, lines=lines, now=now)


def reserve_balance(conn: Connection, account: int) -> int:
    total = conn.execute(
        select(func.coalesce(func.sum(postings.c.amount_cents), 0)).where(
            postings.c.account_id == account
        )
    ).scalar_one()
    return int(total)
