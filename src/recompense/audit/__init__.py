"""The audit trail: every operations action, append-only and hash-chained.

Event ``n`` stores ``hash_n = SHA-256(hash_{n-1} ‖ "\\n" ‖ canonical JSON of (seq, at,
actor, action, subject, details))``, with ``hash_0`` = 64 zeros. ``seq`` counts 1, 2, …
without gaps. So:

- editing any field of any event changes its hash, and the next event no longer links;
- deleting or inserting an event in the middle breaks ``seq`` and the links;
- truncating the tail is caught against a head hash kept elsewhere (the auditor's last
  export: ``recompense audit verify --expect-head HASH``).

The database refuses UPDATE, DELETE and TRUNCATE on ``audit_events`` (triggers,
migration 0005); the chain catches whoever can drop a trigger.

:func:`record` appends inside the caller's transaction, so an action and its event commit
or roll back together. Appends are serialized: PostgreSQL takes a transaction-scoped
advisory lock; SQLite transactions here are ``BEGIN IMMEDIATE`` (one writer at a time).

Actors are ``role:name`` strings (``ops:alice``, ``auditor:eve``); a CLI command run
without ``--as`` records ``cli:<login>@<host>``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from collections.abc import Generator, Iterator, Mapping
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from recompense.errors import InputError
from recompense.ledger.schema import audit_events

GENESIS = "0" * 64
ADVISORY_LOCK = 0x7265636F6D70  # "recomp": one key for the audit chain's head
PAGE = 10_000

__all__ = [
    "AuditEvent",
    "Verification",
    "actor_for",
    "cli_actor",
    "event_hash",
    "events",
    "export",
    "record",
    "search",
    "verify",
]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class Verification:
    events: int
    head: str  # the last event's hash (GENESIS when empty)
    ok: bool
    problem: str  # the first break, with its seq; "" when ok


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event in ``conn``'s transaction; return it (with its hash)."""
    if not actor or not action or not subject:
        raise InputError("an audit event needs an actor, an action and a subject")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})")
    last = conn.execute(
        select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    when = (at or datetime.now(UTC)).astimezone(UTC)
    body = dict(details or {})
    digest = event_hash(prev, seq, when, actor, action, subject, body)
    conn.execute(
        audit_events.insert().values(
            seq=seq, at=when, actor=actor[:200], action=action, subject=subject[:200],
            details=_canonical(body), prev_hash=prev, hash=digest,
        )
    )  # fmt: skip
    return AuditEvent(seq, when, actor[:200], action, subject[:200], body, prev, digest)


def event_hash(
    prev: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
) -> str:
    """SHA-256 over the previous hash and this event's canonical contents."""
    body = _canonical(
        {
            "seq": seq,
            "at": _iso(at),
            "actor": actor[:200],
            "action": action,
            "subject": subject[:200],
            "details": dict(details),
        }
    )
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def events(
    engine: Engine,
    *,
    action: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    after_seq: int = 0,
    limit: int | None = None,
) -> Generator[AuditEvent, None, None]:
    """Events in chain order, optionally filtered (for the console and exports)."""
    query = select(audit_events).where(audit_events.c.seq > after_seq).order_by(audit_events.c.seq)
    if action:
        query = query.where(audit_events.c.action == action)
    if subject:
        query = query.where(audit_events.c.subject == subject)
    if actor:
        query = query.where(audit_events.c.actor == actor)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        result = conn.execute(query.execution_options(yield_per=PAGE))
        try:
            for row in result:
                yield _event(row)
        finally:
            result.close()  # a reader that stops early must not leave the cursor open


def search(
    engine: Engine,
    *,
    action: str = "",
    subject: str = "",
    actor: str = "",
    before_seq: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """The newest events first (for the console): each filter matches as a prefix
    (``loan.`` finds every loan decision, ``user:42`` that user's reads), ``before_seq``
    pages back through older events."""
    c = audit_events.c
    query = select(audit_events).order_by(c.seq.desc()).limit(limit)
    for column, prefix in ((c.action, action), (c.subject, subject), (c.actor, actor)):
        if prefix:
            query = query.where(column.startswith(prefix, autoescape=True))
    if before_seq is not None:
        query = query.where(c.seq < before_seq)
    with engine.connect() as conn:
        return [_event(row) for row in conn.execute(query)]


def verify(engine: Engine, *, expect_head: str | None = None) -> Verification:
    """Recompute the whole chain; the first break is named with its seq and why."""
    with closing(events(engine)) as chain:
        return _check(chain, engine, expect_head)


def _check(chain: Iterator[AuditEvent], engine: Engine, expect_head: str | None) -> Verification:
    prev, count = GENESIS, 0
    for event in chain:
        count += 1
        if event.seq != count:
            return Verification(
                count - 1, prev, False, f"seq {count} is missing (found {event.seq})"
            )
        if event.prev_hash != prev:
            return Verification(
                count - 1, prev, False, f"seq {event.seq} does not link to seq {event.seq - 1}"
            )
        expected = event_hash(
            prev, event.seq, event.at, event.actor, event.action, event.subject, event.details
        )
        if expected != event.hash:
            return Verification(
                count - 1, prev, False, f"seq {event.seq} was changed after it was written"
            )
        prev = event.hash
    if expect_head is not None and expect_head not in (prev,) and not _seen(engine, expect_head):
        return Verification(
            count,
            prev,
            False,
            f"the expected head {expect_head[:16]}… is not in the chain "
            "(events after it were removed, or it is from another database)",
        )
    return Verification(count, prev, True, "")


def export(engine: Engine, out: Path) -> Verification:
    """Write every event as JSON Lines, then a last line with the head; verify first."""
    from recompense.atomic import disk_error, temp_sibling

    result = verify(engine)
    tmp = temp_sibling(out)
    try:
        if out.exists():
            raise InputError(f"--out {out}: already exists")
        with tmp.open("w", encoding="utf-8") as f:
            for event in events(engine):
                f.write(_canonical(event.as_dict()) + "\n")
            f.write(_canonical({"head": result.head, "events": result.events, "ok": result.ok}))
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)
    except OSError as exc:  # a full or read-only disk: exit 3 (StorageError); else exit 2
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise disk_error(exc, out) or InputError(
            f"--out {out}: cannot write: {exc.strerror or exc}"
        ) from exc
    except BaseException:  # the database failed mid-export, or Ctrl-C: no stray temporary
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return result


def cli_actor(given: str | None) -> str:
    """``--as role:name`` when given, else who runs the command on which machine."""
    if given:
        role, sep, name = given.partition(":")
        if not sep or not role or not name:
            raise InputError(f"--as: expected role:name (e.g. ops:alice), got {given!r}")
        if len(given) > 200 or not given.isprintable():
            raise InputError(f"--as: at most 200 printable characters, got {given[:60]!r}")
        return given
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user name in a container
        login = "unknown"
    return f"cli:{login}@{socket.gethostname()}"


def actor_for(role: str, name: str) -> str:
    """``role:name`` for a signed-in principal (a name that already says ``role:`` is kept)."""
    return name if name.startswith(f"{role}:") else f"{role}:{name}"


def _seen(engine: Engine, digest: str) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(select(audit_events.c.seq).where(audit_events.c.hash == digest)).first()
            is not None
        )


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        row.seq, _aware(row.at), row.actor, row.action, row.subject, json.loads(row.details),
        row.prev_hash, row.hash,
    )  # fmt: skip


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _iso(at: datetime) -> str:
    return _aware(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite returns naive UTC
