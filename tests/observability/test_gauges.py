"""The ledger's gauges straight from the collector: the loan fund, the cache, a failure.

(The vouchers, distribution and outbox gauges after a real distribution are tested
through ``/metrics`` in ``tests/web/test_metrics.py``.)
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from recompense.ledger.db import connect
from recompense.loans import Actor, NewApplication, apply, approve, register_borrower, submit
from recompense.loans.crypto import Keyring
from recompense.loans.desk import Desk
from recompense.loans.policy import load_loan_policy
from recompense.observability.gauges import LedgerCollector

POLICY = Path(__file__).resolve().parents[2] / "programs" / "loans-2025-10.toml"
T0 = datetime(2025, 10, 20, 9, 0, tzinfo=UTC)


def values(collector: LedgerCollector) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            found[s.name, tuple(sorted(s.labels.items()))] = s.value
    return found


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_loan_fund_gauges_follow_an_approval(ledger_url):
    desk = Desk(ledger_url, load_loan_policy(POLICY), Keyring({"k1": os.urandom(32)}, "k1"))
    manager, member = Actor("account_manager", "am-1"), Actor("credit_committee", "cc-1")
    register_borrower(desk, member, 1001, "institutional", "am-1")
    loan = apply(
        desk,
        manager,
        NewApplication(1001, 40_000_000, 180, "bullet", "statements", "100.00", ""),
        now=T0,
    )
    submit(desk, manager, loan, "complete", now=T0)
    clock = Clock()
    collector = LedgerCollector(connect(ledger_url), clock=clock)
    assert (
        "recompense_loan_fund_cap_cents",
        (("currency", "USDC"), ("fund", "loans-2025-10")),
    ) not in values(collector)  # no fund yet
    approve(desk, member, loan, "ok", now=T0 + timedelta(hours=1))
    clock.now += 60
    got = values(collector)
    labels = (("currency", desk.policy.fund.currency), ("fund", desk.policy.fund_id))
    assert got["recompense_loan_fund_cap_cents", labels] == 10_000_000_000  # $100M
    assert got["recompense_loan_fund_committed_cents", labels] == 40_000_000
    assert got["recompense_ledger_metrics_ok", ()] == 1


def test_figures_are_cached_for_the_ttl_and_a_failed_read_says_so(ledger_url, caplog):
    clock = Clock()
    collector = LedgerCollector(connect(ledger_url), ttl=5.0, clock=clock)
    for _ in range(10):
        values(collector)
    assert collector.reads == 1
    clock.now += 4.9
    assert abs(values(collector)["recompense_ledger_metrics_age_seconds", ()] - 4.9) < 1e-9
    assert collector.reads == 1
    clock.now += 0.2
    values(collector)
    assert collector.reads == 2

    with connect(ledger_url).begin() as conn:  # the outbox is gone: the read fails
        conn.execute(text("DROP TABLE notifications"))
    clock.now += 5
    with caplog.at_level("WARNING", logger="recompense.observability.gauges"):
        got = values(collector)
    assert got["recompense_ledger_metrics_ok", ()] == 0
    assert not [name for name, _ in got if name == "recompense_vouchers"]
    assert "reading the ledger's figures failed" in caplog.text
