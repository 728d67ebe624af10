"""The outbox database failing mid-drain: exit 3, one message, and a re-run resumes.

A real TCP proxy (:mod:`faults.tcp_proxy`) sits between a real ``recompense notify``
process and PostgreSQL; it cuts the worker's connection at a chosen statement and then
refuses new ones (the server gone). The worker must exit 3 (infrastructure unavailable)
with a message that says the claimed rows return to the queue when their lease expires
and that running it again resumes — never a traceback, never SQL — and a second run,
once the server is back, must deliver every notification: exactly once per idempotency
key, except the batch that was sent but not recorded, which is sent again under the
same keys for the receiver to drop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from notify_support import insert_rows, outbox_rows, table, worker_process
from sqlalchemy import make_url

from faults.tcp_proxy import Proxy

BATCH = 10
ENV = {
    "RECOMPENSE_NOTIFY_BATCH": str(BATCH),
    "RECOMPENSE_NOTIFY_THREADS": "2",
    "RECOMPENSE_NOTIFY_LEASE_SECONDS": "4",
    "RECOMPENSE_SMTP_TIMEOUT": "2",
    "RECOMPENSE_PUSH_TIMEOUT": "2",
    "RECOMPENSE_DB_CONNECT_TIMEOUT": "2",
    "RECOMPENSE_DB_STATEMENT_TIMEOUT": "5",
    "RECOMPENSE_DB_RETRIES": "0",
}


@pytest.fixture
def proxy(postgres_ledger_url: str) -> Iterator[Proxy]:
    server = make_url(postgres_ledger_url)
    with Proxy((server.host or "127.0.0.1", server.port or 5432)) as link:
        yield link


def run_worker(url, smtp, gateway):
    worker = worker_process(url, smtp, gateway, "--until-done", "--max-seconds", "120", env=ENV)
    try:
        out, err = worker.communicate(timeout=300)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    return worker.returncode, out, err


@pytest.mark.parametrize(
    ("cut_at", "nth", "in_flight"),
    [
        # the second claim's SELECT … FOR UPDATE: the first batch is recorded, nothing
        # of the second is claimed yet
        (r"FOR UPDATE", 3, False),
        # the second batch's UPDATE … sent_at: sent, its outcomes never committed
        (r"\bsent_at\b", 2, True),
    ],
    ids=["claiming", "recording"],
)
def test_the_database_cut_mid_drain_exits_3_and_a_rerun_resumes(
    postgres_ledger_url, proxy, smtp, gateway, cut_at, nth, in_flight
):
    rows = outbox_rows(range(1, 21))  # 40 rows: 4 batches of 10
    insert_rows(postgres_ledger_url, rows)
    url = proxy.url(postgres_ledger_url)
    proxy.arm("cut", cut_at, nth=nth, then=proxy.refuse)  # cut, and the server stays away

    code, out, err = run_worker(url, smtp, gateway)

    assert proxy.stats.fired, err  # the fault did happen mid-drain
    assert code == 3, err  # infrastructure unavailable, not "a check said no" (1)
    assert out == ""
    message = " ".join(err.split())
    assert "Traceback" not in err
    assert "[SQL:" not in err
    assert "[parameters:" not in err
    assert message.startswith("unavailable: --db postgresql")
    assert "failed: " in message
    assert "check that the server is up and reachable" in message
    assert "return to the queue when their lease expires (within 4 s" in message
    assert "run the same command again to resume" in message
    stored = table(postgres_ledger_url)
    sending = {i for i, r in stored.items() if r["status"] == "sending"}
    assert len(sending) == (BATCH if in_flight else 0)
    first_run = smtp.keys() + gateway.keys()
    assert sum(first_run.values()) == (2 if in_flight else 1) * BATCH

    proxy.accept()  # the server is back
    code, out, err = run_worker(url, smtp, gateway)

    assert code == 0, err
    stored = table(postgres_ledger_url)
    assert {r["status"] for r in stored.values()} == {"sent"}
    delivered = smtp.keys() + gateway.keys()
    assert delivered.keys() == stored.keys()  # nothing lost
    # Each key once, but the batch sent and not recorded: sent again after its lease,
    # under the same Message-ID / Idempotency-Key, for a deduplicating receiver to drop.
    assert {k for k, n in delivered.items() if n > 1} == sending
    assert max(delivered.values()) <= 2
    assert {r["attempts"] for i, r in stored.items() if i not in sending} == {1}
