"""Connecting to the ledger database and migrating it.

``--db URL`` everywhere: ``sqlite:///recompense.db`` (the embedded default) or
``postgresql+psycopg://…`` (production; a plain ``postgresql://`` URL is taken to mean
psycopg 3). SQLite runs in WAL mode with foreign keys on, ``synchronous=FULL`` (money:
a committed voucher survives a power cut) and ``BEGIN IMMEDIATE`` transactions, so
writers queue instead of failing halfway; PostgreSQL uses READ COMMITTED with explicit
row locks where order matters.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from recompense.ledger.errors import LedgerError

DEFAULT_URL = "sqlite:///recompense.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@cache
def connect(url: str = DEFAULT_URL) -> Engine:
    """A pooled engine for ``url`` (cached per process)."""
    url = normalize_url(url)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 60})
            _sqlite_pragmas(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise LedgerError(f"--db {url}: cannot use this database URL: {exc}") from exc
    return engine


@cache
def connect_reads(url: str = DEFAULT_URL) -> Engine:
    """A pooled engine for one-statement reads (cached per process; the web service's).

    On PostgreSQL each checkout of :func:`connect`'s engine pings the server and each
    return rolls back: two round trips around a one-query read. This engine reads in
    autocommit with no pre-ping; a dropped connection fails the request it was serving,
    the pool is invalidated and the next request reconnects. Writes keep using
    :func:`connect`, in transactions. SQLite has no round trips to save: the same engine.
    """
    if not normalize_url(url).startswith("postgresql"):
        return connect(url)
    try:
        return create_engine(
            normalize_url(url), isolation_level="AUTOCOMMIT", pool_size=16, max_overflow=24
        )
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise LedgerError(f"--db {url}: cannot use this database URL: {exc}") from exc


def upgrade(url: str = DEFAULT_URL) -> str:
    """Apply every migration; return the revision the database is at."""
    from alembic import command
    from alembic.config import Config

    engine = connect(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise LedgerError(
            f"--db {engine.url.render_as_string()}: cannot migrate: {exc.orig}"
        ) from exc
    return current_revision(engine)


def current_revision(engine: Engine) -> str:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() or "none"


def require_schema(engine: Engine) -> None:
    """Refuse to work on a database that has not been migrated, with the fix in the message."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        at = current_revision(engine)
    except OperationalError as exc:
        raise LedgerError(f"--db {_shown(engine)}: cannot connect: {exc.orig}") from exc
    if at != head:
        raise LedgerError(
            f"--db {_shown(engine)}: schema is at revision {at}, the code needs {head}; "
            f"run `recompense db upgrade --db URL` first"
        )


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "synchronous=FULL",
            "busy_timeout=60000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
