"""How long anything may wait on the ledger database, and how often to retry.

One :class:`DatabaseSettings` per process, read from ``RECOMPENSE_DB_*`` environment
variables the first time a command connects (:func:`settings`); a malformed value is a
:class:`~recompense.ledger.errors.LedgerError` naming the variable (exit 2). Seconds
throughout; ``0`` turns a timeout off (not recommended). :mod:`recompense.ledger.db`
applies them to every connection, :mod:`recompense.ledger.retry` to every retry.

The defaults were measured (``docs/operations.md``, "When the database fails"): the
slowest single round trip at 1,000,000 vouchers was 1.5 s for a 20,000-voucher batch and
3.8 s for a ``reconcile`` check, so a minute per statement is generous; a batch holds the
programme lock for about a second, so 10 s of lock wait means an abandoned or stuck
session; no live recompense process sits idle inside a transaction for 30 s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from recompense.ledger.errors import LedgerError

ENV_PREFIX = "RECOMPENSE_DB_"


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Each field is ``RECOMPENSE_DB_<FIELD>`` (upper case), e.g.
    ``RECOMPENSE_DB_LOCK_TIMEOUT=5``."""

    connect_timeout: float = 10.0  # libpq connect_timeout (whole seconds, at least 2)
    statement_timeout: float = 60.0  # server: one statement's run time (slowest at 1M: 3.8 s)
    lock_timeout: float = 10.0  # server: waiting for one lock (the programme row's…)
    idle_in_transaction_timeout: float = 30.0  # server: ends a session idle mid-transaction
    keepalives_idle: int = 10  # both ends: seconds of silence before the first probe
    keepalives_interval: int = 5  # both ends: seconds between probes
    keepalives_count: int = 3  # both ends: unanswered probes before the link is dead
    tcp_user_timeout: float = 30.0  # both ends: unacknowledged data before the link is dead
    sqlite_busy_timeout: float = 60.0  # SQLite: waiting for another writer
    retries: int = 5  # transient failures retried inside one command, after the first try
    retry_delay: float = 1.0  # first backoff; doubles each retry, with jitter
    retry_delay_max: float = 30.0  # longest backoff

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabaseSettings:
        """The defaults, overridden by ``RECOMPENSE_DB_*`` variables (exit 2 if malformed)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for item in fields(cls):
            name = ENV_PREFIX + item.name.upper()
            if name in env:
                values[item.name] = _parse(name, env[name], item.type == "int")
        return cls(**values)

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            name = ENV_PREFIX + item.name.upper()
            low, high = _RANGES.get(item.name, (0, 86_400))
            if not low <= value <= high:
                raise LedgerError(f"{name}={value!r}: must be between {low} and {high}")

    @property
    def reply_timeout(self) -> float | None:
        """How long the client waits for any answer: the server's own limit plus a margin
        for the round trip. ``None`` (no limit) when ``statement_timeout`` is off."""
        if not self.statement_timeout:
            return None
        return self.statement_timeout + max(self.connect_timeout, 2.0)


_RANGES: dict[str, tuple[float, float]] = {
    "connect_timeout": (1, 3600),
    "keepalives_idle": (1, 7200),
    "keepalives_interval": (1, 3600),
    "keepalives_count": (1, 100),
    "retries": (0, 100),
    "retry_delay": (0.001, 3600),
    "retry_delay_max": (0.001, 3600),
}


@cache
def settings() -> DatabaseSettings:
    """This process's :class:`DatabaseSettings` (read from the environment once)."""
    return DatabaseSettings.from_env()


def _parse(name: str, raw: str, integer: bool) -> float | int:
    text = raw.strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number of seconds"
        raise LedgerError(f"{name}={raw!r}: not {kind}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise LedgerError(f"{name}={raw!r}: not a number of seconds")
    return value
