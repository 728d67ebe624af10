"""Structured logs: one JSON object per line, the request id on each, no secrets.

A line reads::

    {"ts": "2026-12-08T09:14:03.512Z", "level": "info", "logger": "recompense.web.access",
     "message": "GET /api/users/{user_id}/vouchers 200", "request_id": "4f0c…",
     "method": "GET", "route": "/api/users/{user_id}/vouchers", "status": 200, …}

**The request id** lives in :data:`REQUEST_ID`, a context variable the web service sets
for each request (:mod:`recompense.web.telemetry`). Context variables follow the work:
FastAPI runs synchronous routes and dependencies in a thread pool through anyio, which
copies the context into the worker thread, so a line logged there — a database error
included (:func:`log_database_errors`) — carries the id of the request it serves.

**What is never logged** (:class:`RedactSecrets`, a filter on the handler, so it sees
every line of every logger): bearer tokens and JWTs, ``token=`` and ``code=`` query
parameters (sign-in links), email addresses, the loan fund's encrypted values, and any
extra field named like a secret or a loan field. Exceptions are written as their type
and where they were raised (file, line, function), never their message: a database
error's message quotes the statement's parameters (an email address, a loan amount), so
only its SQLSTATE and primary message are kept, and that through the same filter. The
uploads page already logged failures this way (``docs/web.md``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

REQUEST_ID: ContextVar[str | None] = ContextVar("recompense_request_id", default=None)

REDACTED = "[redacted]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a JWT anywhere (sign-in links, headers, a pasted token)
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted-token]"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"'\\,;]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)([?&;\s\"']token=)(?!\[redacted)[^&\s\"'\\]+"), r"\1" + REDACTED),
    # one-time sign-in codes in a query string (/login?code=…; recompense.web.sessions)
    (re.compile(r"(?i)([?&]code=)(?!\[redacted)[^&\s\"'\\]+"), r"\1" + REDACTED),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
    # the loan fund's ciphertexts (recompense.loans.crypto): v1:KEY_ID:NONCE:CIPHERTEXT
    (re.compile(r"\bv1:[A-Za-z0-9_.-]{1,32}:[A-Za-z0-9_=-]{8,}:[A-Za-z0-9_=-]+"), REDACTED),
)
# Extra fields whose value is dropped whatever it looks like: secrets and the loan
# application's fields (recompense.web.routes.loans.ApplicationIn and the stored columns).
SECRET_KEYS = re.compile(
    r"(?i)(token|secret|password|authorization|cookie|email|recipient|key$|"
    r"financial_statements|stated_losses|notes|amount|principal|interest|fees|apr|reason)"
)
# The record's own attributes (and uvicorn's coloured copy of the message): not extras.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# What every pattern above needs in the text: one search decides, for the great majority
# of strings (paths, routes, methods), that there is nothing to replace.
_MAYBE = re.compile(r"@|eyJ|(?i:token=|code=|bearer)|\bv1:")
_SECRET_KEY: dict[str, bool] = {}  # extra field name → whether its value is dropped
# Extra fields whose values the service makes itself from constrained sources (a
# method from a fixed set, a route template, a number, the peer's address, the request
# id checked against its pattern): not searched. Everything else is.
SAFE_KEYS = frozenset(
    {"method", "route", "status", "duration_ms", "client", "request_id", "error", "database"}
)


def redact(text: str) -> str:
    """``text`` with tokens, email addresses and loan ciphertexts replaced."""
    if _MAYBE.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _secret_key(key: str) -> bool:
    found = _SECRET_KEY.get(key)
    if found is None:
        found = _SECRET_KEY[key] = SECRET_KEYS.search(key) is not None
    return found


class RedactSecrets(logging.Filter):
    """Rewrite each record in place so that nothing secret reaches any formatter.

    Attached to the handler (not a logger), so records propagated from every logger
    pass through it. The message is rendered with its arguments first (a token passed
    as an argument is caught too); an exception becomes its safe summary.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.error = describe_exception(record.exc_info[1])
            record.exc_info = None
            record.exc_text = None
        fields = record.__dict__
        for key in fields.keys() - _STANDARD - SAFE_KEYS:
            if _secret_key(key):
                fields[key] = REDACTED
            elif isinstance(fields[key], str):
                fields[key] = redact(fields[key])
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ms), level, logger, message, request id,
    then the record's extra fields (``log.info("…", extra={"route": …})``)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        fields = record.__dict__
        for key in fields.keys() - _STANDARD:
            line.setdefault(key, fields[key])
        if record.exc_info and record.exc_info[1] is not None:  # no RedactSecrets in front
            line["error"] = describe_exception(record.exc_info[1])
        return json.dumps(line, default=str, ensure_ascii=False)


def describe_exception(error: BaseException) -> dict[str, Any]:
    """Type, where it happened (recompense's frames, innermost last, and the frame that
    raised it), and for a database error its SQLSTATE and primary message — never the
    exception's own text."""
    found: dict[str, Any] = {"type": f"{type(error).__module__}.{type(error).__qualname__}"}
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "/recompense/" in f.filename][-8:]
    found["where"] = [f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in ours]
    if frames:
        last = frames[-1]
        found["raised_in"] = f"{_short(last.filename)}:{last.lineno} in {last.name}"
    database = _database_error(error)
    if database:
        found["database"] = database
    cause = error.__cause__ or error.__context__
    if cause is not None and cause is not error:
        found["cause"] = f"{type(cause).__module__}.{type(cause).__qualname__}"
    return found


def log_database_errors() -> None:
    """Log every database error of this process's SQLAlchemy engines once, with the
    request id of the work it interrupted (``recompense.db``, level warning): the
    statement's first words and the error's SQLSTATE, never its parameters."""
    if not event.contains(Engine, "handle_error", _on_database_error):
        event.listen(Engine, "handle_error", _on_database_error)


_db_log = logging.getLogger("recompense.db")


def _on_database_error(context: ExceptionContext) -> None:
    statement = (context.statement or "").strip().split(None, 3)
    _db_log.warning(
        "database error",
        extra={
            "statement": " ".join(statement[:3]),
            "database": _database_error(context.original_exception) or {},
            "dialect": context.dialect.name if context.dialect else None,
        },
    )


def _database_error(error: BaseException) -> dict[str, Any] | None:
    original = getattr(error, "orig", None) or error
    diag = getattr(original, "diag", None)  # psycopg
    if diag is not None:
        return {
            "sqlstate": getattr(original, "sqlstate", None),
            "message": redact(str(diag.message_primary or "")),
        }
    if type(original).__module__ == "sqlite3":
        return {"sqlstate": None, "message": redact(str(original))}  # no values in these
    return None


# The last second formatted, as one (second, text) pair read and replaced atomically:
# lines come many a second, from several threads.
_last_second: list[tuple[int, str]] = [(-1, "")]


def _utc(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    known, text = _last_second[0]
    if known != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second[0] = (seconds, text)
    return f"{text}.{millis:03d}Z"


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def json_handler(stream: Any, level: int = logging.DEBUG) -> logging.Handler:
    """A handler writing JSON lines to ``stream`` through :class:`RedactSecrets` (what
    :func:`logging_config` configures, for a program or a test that adds it by hand)."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(level)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter())
    return handler


def logging_config(level: str = "info", *, json_lines: bool = True) -> dict[str, Any]:
    """The :func:`logging.config.dictConfig` of ``recompense serve`` (and its workers):
    uvicorn's and recompense's loggers to stderr through :class:`RedactSecrets`, as JSON
    lines (or uvicorn's plain text with ``json_lines=False``)."""
    name = level.upper()
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    handler = {"handlers": ["stderr"], "level": name, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": f"{__name__}.RedactSecrets"}},
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"uvicorn": handler, "recompense": handler},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }
