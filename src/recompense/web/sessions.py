"""Browser sessions: a one-time sign-in code, exchanged by POST for a server-side session.

Why not the JWT in a cookie: it stayed valid until it expired (8 h) whatever sign-out
did, and the sign-in link that carried it (``/login?token=…``, a GET) left it in the
browser's history and in proxies' logs, and signed in whoever opened it. Now:

1. A **sign-in code** is issued to a verified caller: by ``recompense token --link``
   (local development) or ``POST /api/sign-in-codes`` with ``Authorization: Bearer
   <JWT>`` (the identity provider, or the exchange's app, trading a user's JWT for a
   browser sign-in). 32 random bytes, valid :data:`CODE_TTL_S` (5 minutes), once; the
   link is ``/login?code=…`` and carries no token.
2. ``GET /login?code=…`` shows whom the code signs in, and a form. Only the form's POST
   exchanges the code, in one conditional ``UPDATE … WHERE signed_in_at IS NULL``: one
   session per code whatever the races (the routes, :mod:`recompense.web.routes.session`,
   also bind the form to a cookie another site cannot send).
3. The **session id** (32 random bytes) lives in an HttpOnly, SameSite=Lax cookie. A
   session ends at the configured lifetime after sign-in or idle time after its last
   request (``RECOMPENSE_SESSION_LIFETIME_S``, ``RECOMPENSE_SESSION_IDLE_S``), or when
   sign-out revokes it: the cookie replayed after that is refused.

The table ``web_sessions`` (migration 0007) keeps SHA-256 digests of codes and session
ids, never the values: a copy of it signs no one in. One row per sign-in: a code until
it is exchanged (``signed_in_at`` set), then a session. ``expires_at`` is the code's
expiry, then the session's; rows a day past it are deleted when codes are issued. The
last request's time is written at most every :data:`TOUCH_S` seconds (a page view is
not a write), so the idle timeout is kept to within that.

Times are UTC. Functions take ``now`` so that tests can move the clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    delete,
    insert,
    select,
    update,
)

from recompense.db.web import MAX_LOCALE, MAX_SUBJECT, web_sessions
from recompense.web.queries import aware

CODE_TTL_S = 300
TOUCH_S = 60
PURGE_AFTER = timedelta(days=1)
MAX_SECRET_CHARS = 128  # a code or session id as sent; ours are 43 characters


class SessionError(ValueError):
    """Claims that cannot be kept in a session (a subject or locale too long, or a NUL)."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Whom a code or a session signs in: the claims of the token it was issued for."""

    subject: str
    role: str
    user_id: int | None
    locale: str | None


@dataclass(frozen=True, slots=True)
class SignInCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the cookie's value
    holder: Holder
    expires_at: datetime


def issue_code(engine: Engine, holder: Holder, *, now: datetime | None = None) -> SignInCode:
    """A new sign-in code for ``holder``, valid :data:`CODE_TTL_S` seconds, once."""
    if len(holder.subject) > MAX_SUBJECT:
        raise SessionError(f"the subject is longer than {MAX_SUBJECT} characters")
    if holder.locale is not None and len(holder.locale) > MAX_LOCALE:
        raise SessionError(f"the locale is longer than {MAX_LOCALE} characters")
    if "\x00" in holder.subject + (holder.locale or ""):
        raise SessionError("the subject or locale holds a NUL character")
    now = now or datetime.now(UTC)
    code = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=CODE_TTL_S)
    with engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now - PURGE_AFTER))
        conn.execute(
            insert(web_sessions).values(
                code_hash=digest(code),
                subject=holder.subject,
                role=holder.role,
                user_id=holder.user_id,
                locale=holder.locale,
                created_at=now,
                expires_at=expires,
            )
        )
    return SignInCode(code, expires)


def pending(engine: Engine, code: str, *, now: datetime | None = None) -> Holder | None:
    """Whom ``code`` would sign in, if it is still good (it stays unused)."""
    if not _plausible(code):
        return None
    now = now or datetime.now(UTC)
    s = web_sessions.c
    with engine.connect() as conn:
        row = conn.execute(
            select(s.subject, s.role, s.user_id, s.locale).where(
                s.code_hash == digest(code), _unused_code(now)
            )
        ).first()
    return None if row is None else Holder(row[0], row[1], row[2], row[3])


def exchange(
    engine: Engine, code: str, *, lifetime_s: int, now: datetime | None = None
) -> Session | None:
    """Spend ``code`` on a new session lasting at most ``lifetime_s``; None if the code is
    unknown, expired or spent (by this call's rival too: one conditional update wins)."""
    if not _plausible(code):
        return None
    now = now or datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=lifetime_s)
    s = web_sessions.c
    with engine.begin() as conn:
        spent = conn.execute(
            update(web_sessions)
            .where(s.code_hash == digest(code), _unused_code(now))
            .values(
                session_hash=digest(session_id),
                signed_in_at=now,
                last_seen_at=now,
                expires_at=expires,
            )
        )
        if spent.rowcount != 1:
            return None
        row = conn.execute(
            select(s.subject, s.role, s.user_id, s.locale).where(
                s.session_hash == digest(session_id)
            )
        ).one()
    return Session(session_id, Holder(row[0], row[1], row[2], row[3]), expires)


def holder_of(
    engine: Engine,
    reads: Engine,
    session_id: str,
    *,
    idle_s: int,
    now: datetime | None = None,
) -> Holder | None:
    """The holder of a live session (not revoked, expired or idle too long), else None.

    Reads on ``reads``; records the request's time on ``engine`` when the recorded one is
    more than :data:`TOUCH_S` old (or a tenth of ``idle_s``, if that is shorter).
    """
    if not _plausible(session_id):
        return None
    now = now or datetime.now(UTC)
    s = web_sessions.c
    hashed = digest(session_id)
    with reads.connect() as conn:
        row = conn.execute(
            select(s.subject, s.role, s.user_id, s.locale, s.expires_at, s.last_seen_at).where(
                s.session_hash == hashed, s.revoked_at.is_(None)
            )
        ).first()
    if row is None or aware(row[4]) <= now:
        return None
    seen = aware(row[5]) if row[5] is not None else now
    if now - seen >= timedelta(seconds=idle_s):
        return None
    if now - seen >= timedelta(seconds=min(TOUCH_S, max(1, idle_s // 10))):
        with engine.begin() as conn:
            conn.execute(
                update(web_sessions)
                .where(s.session_hash == hashed, s.revoked_at.is_(None))
                .values(last_seen_at=now)
            )
    return Holder(row[0], row[1], row[2], row[3])


def revoke(engine: Engine, session_id: str, *, now: datetime | None = None) -> bool:
    """End a session now (sign-out); False if it was not a live one."""
    if not _plausible(session_id):
        return False
    s = web_sessions.c
    with engine.begin() as conn:
        done = conn.execute(
            update(web_sessions)
            .where(s.session_hash == digest(session_id), s.revoked_at.is_(None))
            .values(revoked_at=now or datetime.now(UTC))
        )
    return done.rowcount == 1


def digest(value: str) -> str:
    """What the table keeps of a code or a session id: SHA-256, hex. Both are 256 random
    bits, so a plain hash is enough (nothing to guess from, no salt needed)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _unused_code(now: datetime) -> ColumnElement[bool]:
    s = web_sessions.c
    return and_(s.signed_in_at.is_(None), s.revoked_at.is_(None), s.expires_at > now)


def _plausible(value: str) -> bool:
    return 0 < len(value) <= MAX_SECRET_CHARS
