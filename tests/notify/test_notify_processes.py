"""Real worker processes (``recompense notify``): concurrency, crashes, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from notify_support import insert_rows, outbox_rows, table

from recompense.notify import drain


def worker(url, smtp, gateway, *args, env=None, **kwargs) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "RECOMPENSE_SMTP_PORT": str(smtp.port),
        "RECOMPENSE_PUSH_URL": gateway.url,
        "RECOMPENSE_NOTIFY_BACKOFF_BASE": "0.05",
        "RECOMPENSE_NOTIFY_BACKOFF_CAP": "0.2",
        "RECOMPENSE_NOTIFY_POLL_SECONDS": "0.05",
        **(env or {}),
    }
    command = [sys.executable, "-m", "recompense.cli", "notify", "--db", url, "--json", *args]
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


def test_concurrent_workers_send_each_notification_exactly_once(db_url, smtp, gateway):
    """3 workers on PostgreSQL (SKIP LOCKED), 2 on SQLite (one writer at a time)."""
    count = 3 if db_url.startswith("postgresql") else 2
    rows = outbox_rows(range(1, 1001))  # 2,000 notifications
    insert_rows(db_url, rows)
    # Paced so one worker alone would need 5 s: the others start in time to race.
    args = ("--until-done", "--batch", "50", "--rate", "400")
    processes = [worker(db_url, smtp, gateway, *args, "--worker-id", f"w{i}") for i in range(count)]
    results = [finish(p) for p in processes]

    assert sum(r["sent"] for r in results) == 2000
    assert all(r["sent"] > 0 and r["failed"] == 0 and r["lease_lost"] == 0 for r in results)
    assert results[-1]["pending_left"] == 0
    stored = table(db_url)
    assert {r["status"] for r in stored.values()} == {"sent"}
    assert Counter(r["lease_owner"] for r in stored.values()).keys() == {
        f"w{i}" for i in range(count)
    }
    received = smtp.keys() + gateway.keys()
    assert received == dict.fromkeys(stored, 1)  # every key exactly once


def test_a_crash_between_send_and_mark_loses_nothing(db_url, smtp, gateway, settings):
    rows = outbox_rows(range(1, 21))
    insert_rows(db_url, rows)
    env = {"RECOMPENSE_KILL_AT": "notify-after-send@5", "RECOMPENSE_NOTIFY_THREADS": "1"}

    crashed = worker(db_url, smtp, gateway, "--batch", "10", env=env)
    crashed.communicate(timeout=60)

    assert crashed.returncode == -9  # SIGKILL right after the 5th send, before recording it
    before = smtp.keys() + gateway.keys()
    assert sum(before.values()) == 5
    stuck = {i for i, r in table(db_url).items() if r["status"] == "sending"}
    assert set(before) <= stuck
    assert len(stuck) == 10
    # Time passes: the dead worker's lease (the default 300 s) expires.
    later = datetime.now(UTC) + timedelta(seconds=301)
    result = drain(db_url, settings, now=lambda: later)

    assert result.sent == 40
    assert result.pending_left == 0
    received = smtp.keys() + gateway.keys()
    assert set(received) == set(table(db_url))  # nothing lost
    assert {k: n for k, n in received.items() if n > 1} == dict.fromkeys(before, 2)
    assert {r["status"] for r in table(db_url).values()} == {"sent"}


def test_bad_settings_exit_2_with_the_variable_named(db_url, smtp, gateway):
    process = worker(db_url, smtp, gateway, env={"RECOMPENSE_SMTP_PORT": "twenty-five"})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert out == ""
    assert "RECOMPENSE_SMTP_PORT='twenty-five': not a valid int" in err


def test_sigterm_stops_a_looping_worker_cleanly(db_url, smtp, gateway):
    insert_rows(db_url, outbox_rows(range(1, 6)))
    process = worker(db_url, smtp, gateway, "--loop")  # would run forever
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(smtp.keys() + gateway.keys()) < 10:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)

    result = finish(process)

    assert (result["sent"], result["pending_left"]) == (10, 0)
