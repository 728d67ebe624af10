"""The web service's tables (SQLAlchemy Core): migrations 0002 and 0007.

``web_accesses`` records who read or changed which user's data through the web service
(append-only by convention: the service only inserts; :mod:`recompense.web.queries`).
``web_sessions`` holds one row per sign-in, a one-time code until it is exchanged and
then a browser session, keeping only SHA-256 digests of the code and the session id
(:mod:`recompense.web.sessions`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Identity, Index, String, Table, Text

from recompense.db.base import BIG_ID, TS, metadata

MAX_SUBJECT, MAX_LOCALE = 200, 35  # a signed-in subject and locale, as the columns hold them

web_accesses = Table(
    "web_accesses",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column("at", TS, nullable=False),
    Column("subject", String(200), nullable=False),
    Column("role", String(30), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("action", String(60), nullable=False),
    Column("target", Text, nullable=False, server_default=""),
    Index("ix_web_accesses_user", "user_id", "at"),  # a user's trail, newest first
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", BIG_ID, Identity(), primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("session_hash", String(64), nullable=True, unique=True),
    Column("subject", String(MAX_SUBJECT), nullable=False),
    Column("role", String(30), nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("locale", String(MAX_LOCALE), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("signed_in_at", TS, nullable=True),
    Column("last_seen_at", TS, nullable=True),
    Column("revoked_at", TS, nullable=True),
    Index("ix_web_sessions_expires", "expires_at"),  # rows a day past it are purged
)
