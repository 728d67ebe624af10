"""How long anything may wait on the ledger database, and how often to retry.

One :class:`DatabaseSettings` per process, read from ``RECOMPENSE_DB_*`` environment
variables once (:func:`settings`: the CLI reads them when a command starts, before it
connects); a malformed value is a :class:`~recompense.ledger.errors.LedgerError` naming
the variable (exit 2). The class is declared with the others in
:mod:`recompense.settings`' style, and documented in ``docs/operations.md`` ("Settings"). Seconds
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
from functools import cache
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from recompense.ledger.errors import LedgerError
from recompense.settings import RecompenseSettings, SettingValueError

ENV_PREFIX = "RECOMPENSE_DB_"
_PROCESS = "every command that opens the ledger, `serve`, `notify`"


class DatabaseSettings(RecompenseSettings):
    """Each field is ``RECOMPENSE_DB_<FIELD>`` (upper case), e.g.
    ``RECOMPENSE_DB_LOCK_TIMEOUT=5``."""

    error: ClassVar[type[LedgerError]] = LedgerError
    env_prefix: ClassVar[str] = ENV_PREFIX
    process: ClassVar[str] = _PROCESS

    connect_timeout: float = Field(
        10.0,
        description="client: opening a connection (libpq `connect_timeout`, whole seconds, "
        "at least 2; 1-3600)",
    )
    statement_timeout: float = Field(
        60.0,
        description="server: one statement's run time (`statement_timeout`); the client "
        "waits this plus `CONNECT_TIMEOUT` for any reply. `0` turns both off",
    )
    lock_timeout: float = Field(
        10.0,
        description="server: waiting for one lock (`lock_timeout`): the programme row, the "
        "audit chain, a voucher",
    )
    idle_in_transaction_timeout: float = Field(
        30.0,
        description="server: a session idle inside a transaction is ended (frees the locks "
        "of a client that vanished)",
    )
    keepalives_idle: int = Field(
        10, description="both ends: silence before the first TCP keepalive probe (1-7200)"
    )
    keepalives_interval: int = Field(5, description="both ends: between probes (1-3600)")
    keepalives_count: int = Field(
        3, description="both ends: unanswered probes before the connection is dead (1-100)"
    )
    tcp_user_timeout: float = Field(
        30.0,
        description="both ends: data sent but not acknowledged before the connection is dead",
    )
    sqlite_busy_timeout: float = Field(
        60.0, description="SQLite only: waiting for another writer (`busy_timeout`)"
    )
    retries: int = Field(
        5,
        description="client: retries of a transient failure in one command, after the "
        "first try (0-100)",
    )
    retry_delay: float = Field(
        1.0, description="client: the first backoff; it doubles per retry, with jitter"
    )
    retry_delay_max: float = Field(30.0, description="client: the longest backoff")

    @field_validator("*", mode="before")
    @classmethod
    def _number(cls, value: Any, info: Any) -> Any:
        """Text from the environment: a whole number or a finite number of seconds."""
        if not isinstance(value, str):
            return value
        integer = cls.model_fields[info.field_name].annotation is int
        return _parse(cls.env_name(info.field_name), value, integer)

    @model_validator(mode="after")
    def _in_range(self) -> DatabaseSettings:
        for name in type(self).model_fields:
            value = getattr(self, name)
            low, high = _RANGES.get(name, (0, 86_400))
            if not low <= value <= high:
                raise SettingValueError(
                    f"{self.env_name(name)}={value!r}: must be between {low} and {high}"
                )
        return self

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
        raise SettingValueError(f"{name}={raw!r}: not {kind}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingValueError(f"{name}={raw!r}: not a number of seconds")
    return value
