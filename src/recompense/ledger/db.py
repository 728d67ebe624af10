"""Connecting to the ledger database and migrating it.

``--db URL`` everywhere: ``sqlite:///recompense.db`` (the embedded default) or
``postgresql+psycopg://…`` (production; a plain ``postgresql://`` URL is taken to mean
psycopg 3). SQLite runs in WAL mode with foreign keys on, ``synchronous=FULL`` (money:
a committed voucher survives a power cut) and ``BEGIN IMMEDIATE`` transactions, so
writers queue instead of failing halfway; PostgreSQL uses READ COMMITTED with explicit
row locks where order matters.

Every wait on the database is bounded (:mod:`~recompense.ledger.limits`, ``RECOMPENSE_DB_*``;
``docs/operations.md``, "When the database fails"), because an operator at 3 a.m. must
get an answer, and a session whose client vanished must not keep the programme's lock:

- the client: libpq's ``connect_timeout``, TCP keepalives and ``tcp_user_timeout``
  (a dead peer or an unacknowledged send), and a *reply deadline* on every round trip
  (:func:`_bounded_connection_class`): a link that stalls with its sockets open — a hung
  proxy or pooler, which TCP itself sees as healthy — is closed after
  ``statement_timeout + connect_timeout`` seconds without an answer;
- the server, for this session (sent in the startup packet's ``options``, before any
  ``options`` of the URL so the URL can override them): ``statement_timeout``,
  ``lock_timeout``, ``idle_in_transaction_session_timeout`` (what frees the programme
  row's lock when the client disappeared mid-transaction) and the server side's own
  keepalives and ``tcp_user_timeout``.

A server that refuses, cannot be reached or stops answering is
:class:`~recompense.errors.DatabaseUnavailable` (exit code 3); a URL that cannot be
parsed or a schema that is not migrated is :class:`~recompense.ledger.errors.LedgerError`
(exit code 2).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from recompense.errors import DatabaseUnavailable, RecompenseError
from recompense.failures import classify, driver_message, sqlstate
from recompense.ledger.errors import LedgerError
from recompense.ledger.limits import DatabaseSettings, settings

DEFAULT_URL = "sqlite:///recompense.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@cache
def connect(url: str = DEFAULT_URL) -> Engine:
    """A pooled engine for ``url`` (cached per process), every wait bounded by
    :func:`settings`."""
    return open_engine(url, settings())


def open_engine(url: str, limits: DatabaseSettings) -> Engine:
    """A new pooled engine for ``url`` under ``limits`` (:func:`connect` caches one)."""
    url = normalize_url(url)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": limits.sqlite_busy_timeout})
            _sqlite_pragmas(engine, limits)
        else:
            engine = create_engine(
                url, pool_pre_ping=True, connect_args=_postgres_args(url, limits)
            )
            _bound_replies(engine, limits)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise LedgerError(f"--db {_hidden(url)}: cannot use this database URL: {exc}") from exc
    return engine


@cache
def connect_reads(url: str = DEFAULT_URL) -> Engine:
    """A pooled engine for one-statement reads (cached per process; the web service's).

    On PostgreSQL each checkout of :func:`connect`'s engine pings the server and each
    return rolls back: two round trips around a one-query read. This engine reads in
    autocommit with no pre-ping; a dropped connection fails the request it was serving,
    the pool is invalidated and the next request reconnects. Writes keep using
    :func:`connect`, in transactions. SQLite has no round trips to save: the same engine.
    The same limits as :func:`connect`'s apply.
    """
    if not normalize_url(url).startswith("postgresql"):
        return connect(url)
    limits = settings()
    try:
        engine = create_engine(
            normalize_url(url),
            isolation_level="AUTOCOMMIT",
            pool_size=16,
            max_overflow=24,
            connect_args=_postgres_args(normalize_url(url), limits),
        )
        _bound_replies(engine, limits)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise LedgerError(f"--db {_hidden(url)}: cannot use this database URL: {exc}") from exc
    return engine


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
    except DBAPIError as exc:
        error = unavailable(engine, exc, "cannot migrate")
        if error is None:
            raise
        raise error from exc
    return current_revision(engine)


def current_revision(engine: Engine) -> str:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() or "none"


def require_schema(engine: Engine) -> None:
    """Refuse to work on a database that has not been migrated, with the fix in the message.

    The first round trip of most commands: a server that refuses or does not answer is
    :class:`~recompense.errors.DatabaseUnavailable` (exit 3) naming ``--db``.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        at = current_revision(engine)
    except DBAPIError as exc:
        error = unavailable(engine, exc, "cannot connect")
        if error is None:
            raise
        raise error from exc
    if at != head:
        raise LedgerError(
            f"--db {shown(engine)}: schema is at revision {at}, the code needs {head}; "
            f"run `recompense db upgrade --db URL` first"
        )


def unavailable(engine: Engine, exc: DBAPIError, doing: str) -> RecompenseError | None:
    """What a driver error at ``doing`` means for the operator, naming ``--db``.

    The server refused, could not be reached, or stopped answering:
    :class:`~recompense.errors.DatabaseUnavailable` (exit 3; ``transient`` as
    :func:`~recompense.failures.classify` says). A SQLite file that cannot be opened is
    the operator's path: :class:`LedgerError` (exit 2). Anything else is not ours to
    translate: ``None``.
    """
    failure = classify(exc)
    if engine.dialect.name == "sqlite" and "unable to open" in str(exc.orig):
        return LedgerError(f"--db {shown(engine)}: {doing}: {exc.orig}")
    if isinstance(failure, DatabaseUnavailable):
        error = DatabaseUnavailable(
            f"--db {shown(engine)}: {doing}: {driver_message(exc).rstrip('.')}; {hint(exc)}. "
            "Nothing was changed by this step; run the same command again once it is fixed."
        )
        error.transient = failure.transient
        return error
    return None


def hint(exc: BaseException) -> str:
    """What the operator can check for a database failure, naming the setting at play."""
    code, text = sqlstate(exc), driver_message(exc).lower()
    limits = settings()
    if code == "55P03":
        return (
            f"another session held a lock longer than RECOMPENSE_DB_LOCK_TIMEOUT "
            f"({limits.lock_timeout:g} s): another distributor, or a session whose client "
            "vanished, which the server ends after RECOMPENSE_DB_IDLE_IN_TRANSACTION_TIMEOUT "
            f"({limits.idle_in_transaction_timeout:g} s)"
        )
    if code == "57014":
        return (
            "a statement ran longer than RECOMPENSE_DB_STATEMENT_TIMEOUT "
            f"({limits.statement_timeout:g} s); if the server is only slow, raise it"
        )
    if "stalled" in text or "timeout expired" in text:
        return (
            "the server, or a proxy or pooler on the way, stopped answering; check the "
            "server and the network path"
        )
    if "authentication" in text or "does not exist" in text or "pg_hba" in text:
        return "the server refused the login; check the user, password and database in --db"
    return "check that the server is up and reachable from here"


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()


def shown(engine: Engine) -> str:
    """The engine's URL as it may be printed: without its password."""
    return engine.url.render_as_string(hide_password=True)


def _hidden(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _postgres_args(url: str, limits: DatabaseSettings) -> dict[str, Any]:
    """psycopg connection arguments: the client's limits, and the server's in ``options``.

    Anything the URL sets itself (``?connect_timeout=…``, ``?options=-c…``) wins.
    """
    query = make_url(url).query
    client: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(limits.connect_timeout)),
        "keepalives": 1,
        "keepalives_idle": limits.keepalives_idle,
        "keepalives_interval": limits.keepalives_interval,
        "keepalives_count": limits.keepalives_count,
        "tcp_user_timeout": _ms(limits.tcp_user_timeout),
    }
    args = {key: value for key, value in client.items() if key not in query}
    server = {
        "statement_timeout": _ms(limits.statement_timeout),
        "lock_timeout": _ms(limits.lock_timeout),
        "idle_in_transaction_session_timeout": _ms(limits.idle_in_transaction_timeout),
        "tcp_keepalives_idle": limits.keepalives_idle,
        "tcp_keepalives_interval": limits.keepalives_interval,
        "tcp_keepalives_count": limits.keepalives_count,
        "tcp_user_timeout": _ms(limits.tcp_user_timeout),
    }
    theirs = query.get("options", ())
    theirs = (theirs,) if isinstance(theirs, str) else tuple(theirs)
    args["options"] = " ".join([*(f"-c {key}={value}" for key, value in server.items()), *theirs])
    return args


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _bound_replies(engine: Engine, limits: DatabaseSettings) -> None:
    """Open this engine's connections with a reply deadline (:func:`_bounded_connection_class`)."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = _bounded_connection_class().connect(*cargs, **cparams)
        connection.reply_timeout = limits.reply_timeout
        return connection


@cache
def _bounded_connection_class() -> type[Any]:
    import psycopg
    from psycopg import errors

    wait_timeout: type[BaseException] = getattr(errors, "_WaitTimeout")  # noqa: B009

    class BoundedConnection(psycopg.Connection[Any]):
        """A psycopg connection that gives up on a reply after ``reply_timeout`` seconds.

        psycopg waits for the server without a limit; a proxy or pooler that hangs with
        its sockets open (TCP's keepalives and ``tcp_user_timeout`` see nothing wrong)
        would hang the command forever. Every round trip — statement, COPY, commit —
        goes through :meth:`wait`; past the deadline the connection is closed (its state
        is unknown) and the error is a lost connection, which the pool discards and
        :func:`~recompense.failures.classify` calls transient.
        """

        reply_timeout: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            limit = self.reply_timeout if timeout is None else timeout
            try:
                return super().wait(gen, interval=interval, timeout=limit)
            except wait_timeout as exc:
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"no reply from the database server within {limit:g} s (the connection "
                    "stalled); the connection was closed"
                ) from exc

    return BoundedConnection


def _sqlite_pragmas(engine: Engine, limits: DatabaseSettings) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "synchronous=FULL",
            f"busy_timeout={_ms(limits.sqlite_busy_timeout)}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
