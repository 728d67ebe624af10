"""Voucher state transitions: redeem, expire, revoke. One function per transition.

States: ``issued`` → ``redeemed`` | ``expired`` | ``revoked`` (all final). Each
transition is a conditional update (``… WHERE status = 'issued'``) and its journal entry
in the same transaction, so of any number of concurrent attempts exactly one changes the
voucher and posts; the others see it already closed. Redemption is idempotent for its
owner (a double click returns the first result) and answers "not found" for anyone else,
so voucher ids cannot be probed.

Operations' transitions are audit events in the same transaction (:mod:`recompense.audit`):
``voucher.revoke`` per revocation, ``voucher.expire`` per batch of expiries, and
``voucher.redeem`` when staff redeem for a user (``actor`` given: the CLI). A user's own
redemption in the Rewards Hub is the user's act, kept in the journal, not an operations
event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from recompense import audit
from recompense.ledger.errors import VoucherError, VoucherNotFound
from recompense.ledger.journal import (
    Posting,
    ensure_account,
    fund_code,
    liability_code,
    post,
    wallet_code,
)
from recompense.ledger.schema import vouchers


@dataclass(frozen=True, slots=True)
class Redemption:
    voucher_id: str
    user_id: int
    amount_cents: int
    currency: str
    redeemed_at: datetime
    entry_id: str
    already: bool  # True when this call found it redeemed by an earlier call


@dataclass(frozen=True, slots=True)
class ExpiryResult:
    expired: int
    clawed_back_cents: int


def redeem(
    engine: Engine,
    voucher_id: str,
    user_id: int,
    *,
    now: datetime | None = None,
    actor: str | None = None,
) -> Redemption:
    """Credit the voucher to its owner's reward wallet, exactly once, never after expiry.

    ``actor``: the staff member redeeming for the user (recorded as ``voucher.redeem``);
    None when the owner redeems for themself.
    """
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        voucher = _voucher(conn, voucher_id, user_id)
        if voucher.status == "redeemed":
            return _redemption(voucher, already=True)
        if voucher.status != "issued":
            raise VoucherError(
                f"voucher {voucher_id} is {voucher.status}; it can no longer be redeemed"
            )
        if _aware(voucher.expires_at) <= now:
            raise VoucherError(
                f"voucher {voucher_id} expired at {_aware(voucher.expires_at).isoformat()}"
            )
        entry = _close(conn, voucher, "redeemed", now)
        if entry is None:  # another request won the race inside our transaction window
            return _redemption(_voucher(conn, voucher_id, user_id), already=True)
        if actor is not None:
            _record(conn, actor, "voucher.redeem", voucher, now, entry=entry)
    return Redemption(
        voucher_id, user_id, voucher.amount_cents, voucher.currency, now, entry, False
    )


def expire_due(
    engine: Engine,
    program_id: str,
    *,
    now: datetime | None = None,
    batch: int = 5_000,
    actor: str | None = None,
) -> ExpiryResult:
    """Expire every issued voucher past its expiry: the amount goes back to the fund.

    One transaction per ``batch`` vouchers, each with one ``voucher.expire`` audit event
    (count, cents, first and last user) by ``actor`` (default :func:`audit.cli_actor`).
    """
    now = now or datetime.now(UTC)
    actor = actor or audit.cli_actor(None)
    count = cents = 0
    while True:
        with engine.begin() as conn:
            due = conn.execute(
                select(vouchers)
                .where(
                    vouchers.c.program_id == program_id,
                    vouchers.c.status == "issued",
                    vouchers.c.expires_at <= now,
                )
                .order_by(vouchers.c.user_id)
                .limit(batch)
            ).fetchall()
            closed = []
            for voucher in due:
                if _close(conn, voucher, "expired", now) is not None:
                    closed.append(voucher)
            if closed:
                audit.record(
                    conn,
                    actor=actor,
                    action="voucher.expire",
                    subject=f"program:{program_id}",
                    details={
                        "vouchers": len(closed),
                        "amount_cents": sum(v.amount_cents for v in closed),
                        "first_user_id": closed[0].user_id,
                        "last_user_id": closed[-1].user_id,
                    },
                    at=now,
                )
            count += len(closed)
            cents += sum(v.amount_cents for v in closed)
        if len(due) < batch:
            return ExpiryResult(count, cents)


def revoke(
    engine: Engine,
    voucher_id: str,
    *,
    reason: str,
    now: datetime | None = None,
    actor: str | None = None,
) -> str:
    """Revoke an issued voucher (operations' correction); returns the journal entry id.

    Recorded as ``voucher.revoke`` by ``actor`` (default :func:`audit.cli_actor`).
    """
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        voucher = conn.execute(select(vouchers).where(vouchers.c.id == voucher_id)).first()
        if voucher is None:
            raise VoucherNotFound(f"voucher {voucher_id} not found")
        entry = _close(conn, voucher, "revoked", now, memo=reason)
        if entry is None:
            raise VoucherError(
                f"voucher {voucher_id} is {voucher.status}; only issued vouchers can be revoked"
            )
        who = actor or audit.cli_actor(None)
        _record(conn, who, "voucher.revoke", voucher, now, entry=entry, reason=reason)
        return entry


def credit_issued(conn: Connection, program_id: str, issue_entry_id: str, now: datetime) -> int:
    """Redeem, into their owners' reward wallets, the vouchers one issue entry just made:
    a direct credit (``distribution.method = "credit"``), in the caller's transaction.

    Each voucher gets its own ``redeem:<voucher>`` entry, exactly as when its owner
    redeems it, so the books and ``reconcile`` read a credit as an immediate redemption.
    Returns how many were credited.
    """
    issued = conn.execute(
        select(vouchers)
        .where(
            vouchers.c.program_id == program_id,
            vouchers.c.issue_entry_id == issue_entry_id,
            vouchers.c.status == "issued",
        )
        .order_by(vouchers.c.user_id)
    ).fetchall()
    return sum(1 for voucher in issued if _close(conn, voucher, "redeemed", now) is not None)


def _close(conn: Connection, voucher: Any, state: str, now: datetime, memo: str = "") -> str | None:
    """Move an issued voucher to ``state`` and post its entry; None if it was not issued."""
    changed = conn.execute(
        update(vouchers)
        .where(vouchers.c.id == voucher.id, vouchers.c.status == "issued")
        .values(status=state, closed_at=now, close_entry_id="pending")
    )
    if changed.rowcount != 1:
        return None
    currency, program = voucher.currency, voucher.program_id
    liability = ensure_account(
        conn, liability_code(program), "liability", currency, now, program_id=program
    )
    if state == "redeemed":
        target = ensure_account(
            conn,
            wallet_code(voucher.user_id, currency),
            "wallet",
            currency,
            now,
            user_id=voucher.user_id,
        )
    else:
        target = ensure_account(conn, fund_code(program), "fund", currency, now, program_id=program)
    kind = {"redeemed": "redeem", "expired": "expire", "revoked": "revoke"}[state]
    lines = [
        Posting(liability, -voucher.amount_cents, currency, voucher.id),
        Posting(target, voucher.amount_cents, currency, voucher.id),
    ]
    entry = post(
        conn,
        program_id=program,
        kind=kind,
        idempotency_key=f"{kind}:{voucher.id}",
        lines=lines,
        now=now,
        memo=memo,
    )
    conn.execute(update(vouchers).where(vouchers.c.id == voucher.id).values(close_entry_id=entry))
    return entry


def _record(
    conn: Connection, actor: str, action: str, voucher: Any, now: datetime, **details: str
) -> None:
    audit.record(
        conn,
        actor=actor,
        action=action,
        subject=f"voucher:{voucher.id}",
        details={
            "program_id": voucher.program_id,
            "user_id": voucher.user_id,
            "amount_cents": voucher.amount_cents,
            "currency": voucher.currency,
            **details,
        },
        at=now,
    )


def _voucher(conn: Connection, voucher_id: str, user_id: int) -> Any:
    query = select(vouchers).where(vouchers.c.id == voucher_id, vouchers.c.user_id == user_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    voucher = conn.execute(query).first()
    if voucher is None:
        raise VoucherNotFound(f"voucher {voucher_id} not found")
    return voucher


def _redemption(voucher: Any, *, already: bool) -> Redemption:
    return Redemption(
        voucher.id,
        voucher.user_id,
        voucher.amount_cents,
        voucher.currency,
        _aware(voucher.closed_at),
        voucher.close_entry_id,
        already,
    )


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything in the ledger is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
