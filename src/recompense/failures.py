"""What the infrastructure's own exceptions mean, said in recompense's words.

The database driver and the operating system raise their own exceptions; at every
boundary (the CLI, the web service, the notification worker) :func:`classify` turns the
ones that mean "the infrastructure is unavailable" into an
:class:`~recompense.errors.UnavailableError` whose message names what failed (the path,
the database host) and never echoes SQL parameters. Anything it does not recognise is
left alone: a bug, which keeps its traceback.

Database errors count as "unavailable" when the driver calls them operational or
interface errors (PEP 249: the connection, not the statement), when SQLAlchemy found the
connection dead, or when their SQLSTATE is in :data:`TRANSIENT_SQLSTATES`; SQLAlchemy's
wrapping is seen through, and so is a driver error that arrives unwrapped (a raw
``COPY``). They are *transient* — worth a bounded retry inside the same command — when
the SQLSTATE says so, when the connection was lost, when SQLite was busy, or when
psycopg reports a failure of the link itself (refused, timed out, reset, no reply)
rather than a server that refused the login.
"""

from __future__ import annotations

import errno
from typing import Any

from recompense.errors import DatabaseUnavailable, StorageError, UnavailableError

# A disk that cannot take what it is given: someone has to act (free space, remount).
_STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "input/output error (a failing disk)",
    errno.EFBIG: "file too large for the file system or the process's limit",
}

# SQLSTATE classes and codes that a retry can cure by itself.
TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
    "57P01",  # admin_shutdown (server restart)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up)
    "57014",  # query_canceled (statement_timeout)
    "08000",  # connection_exception
    "08003",  # connection_does_not_exist
    "08006",  # connection_failure
    "08001",  # sqlclient_unable_to_establish_sqlconnection
    "08004",  # sqlserver_rejected_establishment_of_sqlconnection
}


def classify(exc: BaseException) -> UnavailableError | None:
    """The :class:`UnavailableError` that ``exc`` means, or None when it is not one."""
    if isinstance(exc, UnavailableError):
        return exc
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        where = f" writing {exc.filename}" if exc.filename else ""
        return StorageError(
            f"disk error{where}: {_STORAGE_ERRNOS[exc.errno]}. Nothing half-written was "
            "kept; free space or make the folder writable, then run the same command again."
        )
    database = _database_error(exc)
    if database is not None:
        return database
    return None


def _database_error(exc: BaseException) -> DatabaseUnavailable | None:
    orig = _driver_error(exc)
    if orig is None:
        return None
    code = sqlstate(exc)
    lost = bool(getattr(exc, "connection_invalidated", False))
    operational = _is_dbapi(orig, "OperationalError", "InterfaceError")
    if not (lost or operational or (code is not None and code in TRANSIENT_SQLSTATES)):
        return None
    error = DatabaseUnavailable(
        f"the database is unavailable: {driver_message(exc)}. What was committed stays "
        "committed; run the same command again to resume."
    )
    error.transient = (
        lost
        or code in TRANSIENT_SQLSTATES
        or _sqlite_busy(exc)
        or (code is None and _link_failure(orig))
    )
    error.sqlstate = code  # type: ignore[attr-defined]
    return error


def _driver_error(exc: BaseException) -> BaseException | None:
    """The DB-API error behind ``exc``: SQLAlchemy's ``orig``, or ``exc`` itself when a
    driver error arrives unwrapped (psycopg and sqlite3 both follow PEP 249)."""
    try:
        from sqlalchemy import exc as sa
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    if isinstance(exc, sa.DBAPIError):
        return exc.orig if isinstance(exc.orig, BaseException) else exc
    if _is_dbapi(exc, "Error") and type(exc).__module__.split(".")[0] in _DRIVERS:
        return exc
    return None


_DRIVERS = {"psycopg", "sqlite3", "_sqlite3"}

# A server that answered and said no to the login: someone has to fix the URL or the
# server's configuration; trying again by itself will not help.
_LOGIN_REFUSED = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "permission denied",
    "ssl is not enabled",
)


def _link_failure(orig: BaseException) -> bool:
    """A psycopg error without SQLSTATE is the link's, not a statement's: refused, timed
    out, reset, closed, no reply. Transient (a restart, a failover, a stalled proxy) unless
    the server answered and refused the login."""
    if not type(orig).__module__.startswith("psycopg"):
        return False
    text = str(orig).lower()
    return not any(phrase in text for phrase in _LOGIN_REFUSED)


def _is_dbapi(exc: BaseException, *names: str) -> bool:
    return any(klass.__name__ in names for klass in type(exc).__mro__)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error (PostgreSQL), if it has one."""
    orig: Any = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code else None


def driver_message(exc: BaseException) -> str:
    """The driver's own first line, without SQLAlchemy's statement and parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def _sqlite_busy(exc: BaseException) -> bool:
    return "database is locked" in str(getattr(exc, "orig", exc))
