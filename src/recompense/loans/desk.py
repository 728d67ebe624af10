"""The loan desk: database, policy and keys, and the unit of work every action runs in.

A unit of work is one transaction. On PostgreSQL it starts by telling the database who
is acting (``recompense.actor_role`` / ``recompense.actor_id``, transaction-local), which
the row-level security policies of the loans migration read; on SQLite it is
``BEGIN IMMEDIATE`` (one writer at a time), which is also the fund lock there.

Visibility is checked here first (:func:`visible_application`): the application layer
answers "not found" to anyone who may not see a record, and PostgreSQL would hide the row
anyway when the desk connects as the non-owner application role.

Every recorded event (a decision: create, submit, approve, reject, withdraw, undo
approval, disburse, repay, write off) and every logged read is also an event of the
hash-chained audit trail (:mod:`recompense.audit`: ``loan.<action>``, ``loan.read``), in
the same transaction; the audit event carries no reason text of a decision (that is
encrypted in ``loan_events``). A refused attempt to read an application is logged too
(:func:`log_refusal`: ``show refused`` in the access log, ``loan.read.refused``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, text
from sqlalchemy.exc import DBAPIError

from recompense import audit
from recompense.ledger.db import connect, require_schema
from recompense.loans.actors import Actor
from recompense.loans.crypto import KEYS_ENV, Keyring
from recompense.loans.errors import LoanError, LoanKeyError, LoanNotFound
from recompense.loans.policy import LoanPolicy, load_loan_policy
from recompense.loans.schema import loan_access_log, loan_applications, loan_events

SENSITIVE = ("financial_statements", "stated_losses", "notes")


@dataclass(frozen=True, slots=True)
class Desk:
    """``keyring`` may be None for a desk that only lists and counts (nothing decrypted)."""

    url: str
    policy: LoanPolicy
    keyring: Keyring | None

    @property
    def engine(self) -> Engine:
        return connect(self.url)

    @property
    def keys(self) -> Keyring:
        if self.keyring is None:
            raise LoanKeyError(f"{KEYS_ENV} is not set: the loan desk cannot encrypt or decrypt")
        return self.keyring

    def seal(self, table: str, column: str, record_id: str, plaintext: str) -> str:
        return self.keys.encrypt(plaintext, f"{table}:{column}:{record_id}")

    def unseal(self, table: str, column: str, record_id: str, stored: str) -> str:
        return self.keys.decrypt(stored, f"{table}:{column}:{record_id}")


def open_desk(url: str, policy_path: Path, keyring: Keyring | None = None) -> Desk:
    """A desk on a migrated database, with the policy file and keys (default: from env)."""
    policy = load_loan_policy(policy_path)
    desk = Desk(url, policy, keyring or Keyring.from_env())
    require_schema(desk.engine)
    return desk


def is_plain(text: str) -> bool:
    """No control characters (PostgreSQL refuses NUL in text; logs should not hide lines)."""
    return not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text)


def check_text(label: str, text: str) -> str:
    if not is_plain(text):
        raise LoanError(f"{label}: control characters are not allowed")  # not echoed
    return text


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive timestamps; they were written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@contextmanager
def unit(desk: Desk, actor: Actor) -> Iterator[Connection]:
    """One transaction acting as ``actor`` (RLS settings on PostgreSQL)."""
    try:
        with desk.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text(
                        "SELECT set_config('recompense.actor_role', :role, true), "
                        "set_config('recompense.actor_id', :id, true)"
                    ),
                    {"role": actor.role, "id": actor.id},
                )
            yield conn
    except DBAPIError as exc:
        if "row-level security" in str(exc.orig):
            raise LoanNotFound(f"{actor}: not allowed by row-level security") from exc
        raise


def visible_application(
    conn: Connection, actor: Actor, application_id: str, *, lock: bool = False
) -> Row[Any]:
    """The application row if ``actor`` may see it; :class:`LoanNotFound` otherwise."""
    if not is_plain(application_id):
        raise LoanNotFound(f"loan application {application_id!r} not found")
    query = select(loan_applications).where(loan_applications.c.id == application_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None or not actor.can_see(row.account_manager_id):
        raise LoanNotFound(f"loan application {application_id!r} not found")
    return row


def record_event(
    conn: Connection,
    desk: Desk,
    actor: Actor,
    row: Row[Any],
    action: str,
    to_state: str,
    reason: str,
    now: datetime,
    *,
    amount_cents: int | None = None,
    entry_id: str | None = None,
) -> None:
    """Append who did what, when and why (the reason is encrypted: it may be sensitive)."""
    conn.execute(
        loan_events.insert().values(
            application_id=row.id,
            action=action,
            from_state=row.state if action != "create" else None,
            to_state=to_state,
            actor_role=actor.role,
            actor_id=actor.id,
            at=now,
            amount_cents=amount_cents,
            entry_id=entry_id,
            reason_enc=desk.seal("loan_events", "reason", row.id, reason),
        )
    )
    audit.record(
        conn,
        actor=str(actor),
        action=f"loan.{action}",
        subject=f"loan:{row.id}",
        details={
            "from_state": row.state if action != "create" else None,
            "to_state": to_state,
            "borrower_id": row.borrower_id,
            "amount_cents": row.amount_cents if amount_cents is None else amount_cents,
            "entry_id": entry_id,
        },
        at=now,
    )


def log_access(
    conn: Connection,
    actor: Actor,
    application_ids: list[str],
    action: str,
    reason: str,
    now: datetime,
) -> None:
    """Append one access-log row per application read (who, when, which, why)."""
    if not reason.strip():
        raise LoanError(
            "a reason is required to read a loan application (it is logged)",
            code="reason_required",
        )
    check_text("reason", reason)
    if application_ids:
        conn.execute(
            loan_access_log.insert(),
            [
                {
                    "at": now,
                    "actor_role": actor.role,
                    "actor_id": actor.id,
                    "application_id": app_id,
                    "action": action,
                    "reason": reason,
                }
                for app_id in application_ids
            ],
        )
        audit.record(
            conn,
            actor=str(actor),
            action="loan.read",
            subject=f"loan:{application_ids[0]}" if action == "show" else "loans",
            details={
                "what": action,
                "applications": len(application_ids),
                "ids": application_ids[:20],
                "reason": reason,
            },
            at=now,
        )


def log_refusal(
    conn: Connection,
    actor: Actor,
    application_id: str,
    action: str,
    why: str,
    reason: str,
    now: datetime,
) -> None:
    """Append a refused attempt to read an application to the access log (who, when,
    which, ``<action> refused``, and why it was refused, with the reason the reader gave
    if any) and to the audit trail (``loan.read.refused``).

    An id or a reason the database could not store (control characters) is left out:
    a refusal is never turned into an error by its own record.
    """
    given = reason.strip() if is_plain(reason) else ""
    if not is_plain(application_id) or not application_id:
        return
    text = f"refused: {why}" + (f"; reason given: {given}" if given else "")
    conn.execute(
        loan_access_log.insert().values(
            at=now,
            actor_role=actor.role,
            actor_id=actor.id,
            application_id=application_id[:36],
            action=f"{action} refused",
            reason=text,
        )
    )
    audit.record(
        conn,
        actor=str(actor),
        action="loan.read.refused",
        subject=f"loan:{application_id[:36]}",
        details={"what": action, "why": why, "reason": given},
        at=now,
    )
