"""The ledger's figures as Prometheus gauges, read from the database when scraped.

A custom collector (:class:`LedgerCollector`) rather than gauges set by the code that
changes the figures: vouchers are issued by ``recompense distribute``, redeemed by the
web service, expired and revoked by the CLI, and notifications sent by any number of
``recompense notify`` workers, in other processes and on other hosts. Only the database
knows the totals, so the collector asks it, with a handful of aggregate queries:

- vouchers and their amounts by programme and state (one ``GROUP BY`` over vouchers);
- each programme's planned and issued vouchers and money, when its distribution
  started and completed, and the announcement's two deadlines (the programmes table);
- the outbox's backlog (``pending``, ``sending``) and its failures by channel, and the
  age of the oldest pending notification (through the ``(status, next_attempt_at)``
  index: sent rows, the bulk of the table once delivery is done, are not read);
- each loan fund's cap and committed amount (approved-not-disbursed plus outstanding
  principal, :func:`recompense.loans.fund.committed_cents`).

**Cheap under a scrape storm.** The figures are cached for ``ttl`` seconds (default
5): any number of scrapes in that window — several Prometheus replicas, someone
reloading ``/metrics`` — cost one read; scrapes arriving while a read runs wait for it
and share its result. On PostgreSQL the read runs under ``statement_timeout`` (2 s), so
a slow database cannot pile up scrapes. A failed read is cached too, logged, and shown
as ``recompense_ledger_metrics_ok 0`` rather than as an error of the whole scrape.

Money is in integer cents of each programme's (or fund's) currency, as everywhere in
the ledger; times are Unix seconds (UTC).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from recompense.ledger.schema import notifications, programs, vouchers
from recompense.loans.fund import committed_cents
from recompense.loans.schema import loan_funds

DEFAULT_TTL_S = 5.0
STATEMENT_TIMEOUT_MS = 2000
VOUCHER_STATES = ("issued", "redeemed", "expired", "revoked")
OUTBOX_STATES = ("pending", "sending", "failed")  # sent rows are the worker's counters
CHANNELS = ("email", "push")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Programme:
    id: str
    currency: str
    vouchers_total: int
    amount_total_cents: int
    announced_at: datetime
    start_within_hours: int
    complete_within_hours: int
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Figures:
    """One read of the ledger: what the gauges show until the next."""

    programmes: tuple[Programme, ...]
    vouchers: dict[tuple[str, str], tuple[int, int]]  # (programme, state) → (count, cents)
    outbox: dict[tuple[str, str], int]  # (channel, state) → count
    oldest_pending: dict[str, datetime]  # channel → created_at of its oldest pending row
    funds: tuple[tuple[str, str, int, int], ...]  # (fund, currency, cap, committed) cents


def read_figures(conn: Connection) -> Figures:
    """The ledger's figures, from a handful of aggregate queries on ``conn``."""
    rows = conn.execute(
        select(
            programs.c.id,
            programs.c.currency,
            programs.c.vouchers_total,
            programs.c.amount_total_cents,
            programs.c.announced_at,
            programs.c.start_within_hours,
            programs.c.complete_within_hours,
            programs.c.started_at,
            programs.c.completed_at,
        ).order_by(programs.c.id)
    ).fetchall()
    voucher_rows = conn.execute(
        select(
            vouchers.c.program_id,
            vouchers.c.status,
            func.count(),
            func.coalesce(func.sum(vouchers.c.amount_cents), 0),
        ).group_by(vouchers.c.program_id, vouchers.c.status)
    ).fetchall()
    outbox_rows = conn.execute(
        select(
            notifications.c.channel,
            notifications.c.status,
            func.count(),
            func.min(notifications.c.created_at),
        )
        .where(notifications.c.status.in_(OUTBOX_STATES))
        .group_by(notifications.c.channel, notifications.c.status)
    ).fetchall()
    fund_rows = conn.execute(
        select(loan_funds.c.id, loan_funds.c.currency, loan_funds.c.cap_cents).order_by(
            loan_funds.c.id
        )
    ).fetchall()
    return Figures(
        programmes=tuple(_programme_row(row) for row in rows),
        vouchers={(p, s): (int(n), int(cents)) for p, s, n, cents in voucher_rows},
        outbox={(c, s): int(n) for c, s, n, _ in outbox_rows},
        oldest_pending={c: _aware(at) for c, s, _, at in outbox_rows if s == "pending"},
        funds=tuple(
            (fund, currency, int(cap), committed_cents(conn, fund))
            for fund, currency, cap in fund_rows
        ),
    )


class LedgerCollector(Collector):
    """Registered in a :class:`prometheus_client.CollectorRegistry`; reads on scrape."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine, self.ttl, self._clock, self._now = engine, ttl, clock, now
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._figures: Figures | None = None
        self._seconds = 0.0
        self.reads = 0  # how many times the database was read (the cache's witness)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Names only: registering the collector must not read the database."""
        yield from _families().values()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures, seconds, age = self.figures()
        families = _families()
        if figures is not None:
            _fill(families, figures, self._now())
        families["recompense_ledger_metrics_ok"].add_metric([], 1 if figures else 0)
        families["recompense_ledger_metrics_read_seconds"].add_metric([], seconds)
        families["recompense_ledger_metrics_age_seconds"].add_metric([], age)
        yield from families.values()

    def figures(self) -> tuple[Figures | None, float, float]:
        """The cached figures (read now if older than ``ttl``), the read's duration, and
        their age in seconds; ``None`` if the last read failed."""
        with self._lock:
            if self._clock() - self._read_at >= self.ttl:
                started = self._clock()
                self._figures = self._read()
                self._read_at = self._clock()
                self._seconds = self._read_at - started
            return self._figures, self._seconds, self._clock() - self._read_at

    def _read(self) -> Figures | None:
        self.reads += 1
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
                return read_figures(conn)
        except SQLAlchemyError as exc:
            log.warning("reading the ledger's figures failed", exc_info=exc)
            return None


_HELP: dict[str, tuple[str, tuple[str, ...]]] = {
    "recompense_vouchers": ("Vouchers by programme and state.", ("program", "status")),
    "recompense_vouchers_amount_cents": (
        "Voucher amounts by programme and state, in cents of the programme currency.",
        ("program", "currency", "status"),
    ),
    "recompense_distribution_vouchers_planned": (
        "Vouchers the programme's run allocates (the distribution's goal).",
        ("program",),
    ),
    "recompense_distribution_vouchers_issued": (
        "Vouchers issued so far, whatever their state since.",
        ("program",),
    ),
    "recompense_distribution_amount_planned_cents": (
        "Money the programme's run allocates, in cents.",
        ("program", "currency"),
    ),
    "recompense_distribution_amount_issued_cents": (
        "Money issued as vouchers so far, in cents.",
        ("program", "currency"),
    ),
    "recompense_distribution_started_timestamp_seconds": (
        "When the distribution's first batch committed (absent until then).",
        ("program",),
    ),
    "recompense_distribution_completed_timestamp_seconds": (
        "When the distribution's last voucher was issued (absent until then).",
        ("program",),
    ),
    "recompense_distribution_deadline_timestamp_seconds": (
        "The announcement's promises: start (24 h) and complete (96 h) deadlines.",
        ("program", "promise"),
    ),
    "recompense_outbox_notifications": (
        "Notifications not yet delivered (pending, sending) and given up (failed).",
        ("channel", "status"),
    ),
    "recompense_outbox_oldest_pending_age_seconds": (
        "Age of the oldest pending notification (0 when none is pending).",
        ("channel",),
    ),
    "recompense_loan_fund_cap_cents": ("The loan fund's hard cap, in cents.", ("fund", "currency")),
    "recompense_loan_fund_committed_cents": (
        "Approved-not-disbursed plus outstanding principal, in cents (never above the cap).",
        ("fund", "currency"),
    ),
    "recompense_ledger_metrics_ok": ("1 if the last read of the ledger's figures worked.", ()),
    "recompense_ledger_metrics_read_seconds": ("How long that read took.", ()),
    "recompense_ledger_metrics_age_seconds": ("Age of the figures shown (cached).", ()),
}


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        name: GaugeMetricFamily(name, text, labels=list(labels))
        for name, (text, labels) in _HELP.items()
    }


def _fill(families: dict[str, GaugeMetricFamily], figures: Figures, now: datetime) -> None:
    def add(name: str, labels: list[str], value: float) -> None:
        families[f"recompense_{name}"].add_metric(labels, value)

    for p in figures.programmes:
        _programme(add, p, figures)
    for channel in sorted({*CHANNELS, *(c for c, _ in figures.outbox)}):
        for state in OUTBOX_STATES:
            count = figures.outbox.get((channel, state), 0)
            add("outbox_notifications", [channel, state], count)
        oldest = figures.oldest_pending.get(channel)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        add("outbox_oldest_pending_age_seconds", [channel], age)
    for fund, currency, cap, committed in figures.funds:
        add("loan_fund_cap_cents", [fund, currency], cap)
        add("loan_fund_committed_cents", [fund, currency], committed)


def _programme(add: Callable[[str, list[str], float], None], p: Programme, f: Figures) -> None:
    issued = amount = 0
    for state in VOUCHER_STATES:
        count, cents = f.vouchers.get((p.id, state), (0, 0))
        add("vouchers", [p.id, state], count)
        add("vouchers_amount_cents", [p.id, p.currency, state], cents)
        issued, amount = issued + count, amount + cents
    add("distribution_vouchers_planned", [p.id], p.vouchers_total)
    add("distribution_vouchers_issued", [p.id], issued)
    add("distribution_amount_planned_cents", [p.id, p.currency], p.amount_total_cents)
    add("distribution_amount_issued_cents", [p.id, p.currency], amount)
    if p.started_at is not None:
        add("distribution_started_timestamp_seconds", [p.id], p.started_at.timestamp())
    if p.completed_at is not None:
        add("distribution_completed_timestamp_seconds", [p.id], p.completed_at.timestamp())
    for promise, hours in (("start", p.start_within_hours), ("complete", p.complete_within_hours)):
        deadline = p.announced_at + timedelta(hours=hours)
        add("distribution_deadline_timestamp_seconds", [p.id, promise], deadline.timestamp())


def _programme_row(row: Any) -> Programme:
    return Programme(
        id=row.id,
        currency=row.currency,
        vouchers_total=int(row.vouchers_total),
        amount_total_cents=int(row.amount_total_cents),
        announced_at=_aware(row.announced_at),
        start_within_hours=int(row.start_within_hours),
        complete_within_hours=int(row.complete_within_hours),
        started_at=_maybe(row.started_at),
        completed_at=_maybe(row.completed_at),
    )


def _aware(value: Any) -> datetime:
    found: datetime = value
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _maybe(value: Any) -> datetime | None:
    return None if value is None else _aware(value)
