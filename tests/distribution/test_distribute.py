"""Distribution: every eligible user paid exactly once, whatever happens, on every database."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from builders import approve_twice
from recompense.distribution.distribute import distribute, voucher_id
from recompense.distribution.reconcile import reconcile
from recompense.distribution.status import status
from recompense.ledger.db import connect
from recompense.ledger.errors import RunMismatchError
from recompense.ledger.schema import journal_entries, notifications, vouchers
from recompense.runs import read_allocations

BATCH = 100


def snapshot(url):
    """What a clean run leaves: vouchers (id, user, amount, state) and the entry count."""
    with connect(url).connect() as conn:
        rows = conn.execute(
            select(vouchers.c.id, vouchers.c.user_id, vouchers.c.amount_cents, vouchers.c.status)
        ).fetchall()
        entries = conn.execute(select(func.count()).select_from(journal_entries)).scalar_one()
        outbox = conn.execute(select(func.count()).select_from(notifications)).scalar_one()
    return sorted(map(tuple, rows)), entries, outbox


def assert_books(run, url):
    failed = [c for c in reconcile(run, url) if not c.passed]
    assert not failed, failed


def test_a_clean_distribution_pays_every_allocation_once(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    result = distribute(small_run, ledger_url, batch_size=BATCH)
    allocations = read_allocations(small_run)
    assert result.issued_now == result.total == allocations.num_rows > 300
    assert result.amount_issued_now_cents == 15_000_000
    assert_books(small_run, ledger_url)
    vouchers_, entries, outbox = snapshot(ledger_url)
    assert entries == 1 + -(-allocations.num_rows // BATCH)  # funding + one per batch
    assert {v[0] for v in vouchers_} == {
        voucher_id("together-2025-10", u) for u in allocations["user_id"].to_pylist()
    }
    assert outbox >= len(vouchers_)  # push for all, email for those with an address


def test_running_it_again_changes_nothing(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=BATCH)
    before = snapshot(ledger_url)
    again = distribute(small_run, ledger_url, batch_size=7)  # even with other batches
    assert again.issued_now == 0
    assert again.already_issued == again.total
    assert snapshot(ledger_url) == before


def test_a_different_run_for_the_same_programme_is_refused(small_run, other_run, ledger_url):
    approve_twice(small_run, ledger_url)
    approve_twice(other_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=BATCH)
    before = snapshot(ledger_url)
    with pytest.raises(RunMismatchError, match="is already bound to run"):
        distribute(other_run, ledger_url)
    assert snapshot(ledger_url) == before


def test_a_poisoned_batch_commits_nothing(small_run, ledger_url, monkeypatch):
    from recompense.distribution import distribute as module

    original = module.prepare
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        batch = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # the third batch gets one invalid row: a channel that isn't
            row = batch.outbox[5][0]
            batch.outbox[5][0] = (*row[:4], "fax", *row[5:])
        return batch

    monkeypatch.setattr(module, "prepare", poisoned)
    approve_twice(small_run, ledger_url)
    with pytest.raises(IntegrityError, match=r"ck_notifications_channel|CHECK constraint"):
        distribute(small_run, ledger_url, batch_size=BATCH)
    vouchers_, entries, _ = snapshot(ledger_url)
    assert len(vouchers_) == 2 * BATCH
    assert entries == 1 + 2  # batches 1–2 only, nothing of 3
    monkeypatch.setattr(module, "prepare", original)
    distribute(small_run, ledger_url, batch_size=BATCH)
    assert_books(small_run, ledger_url)


KILL_POINTS = ("mid-batch", "before-commit", "after-commit", "between-batches")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_minus_nine_at_seeded_points_then_resume_equals_a_clean_run(
    small_run, ledger_url, tmp_path, seed
):
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    from recompense.ledger.db import upgrade

    upgrade(clean)
    approve_twice(small_run, clean)
    distribute(small_run, clean, batch_size=BATCH)
    approve_twice(small_run, ledger_url)
    rng = random.Random(seed)
    for _ in range(3):
        point, nth = rng.choice(KILL_POINTS), rng.randint(1, 2)  # early: work always remains
        result = cli(
            "distribute",
            "--run",
            str(small_run),
            "--db",
            ledger_url,
            "--batch-size",
            str(BATCH),
            env={"RECOMPENSE_KILL_AT": f"{point}@{nth}"},
        )
        assert result.returncode == -9, (point, nth, result.stderr[-2000:])
    cli(
        "distribute",
        "--run",
        str(small_run),
        "--db",
        ledger_url,
        "--batch-size",
        str(BATCH),
        check=True,
    )
    assert_books(small_run, ledger_url)
    assert snapshot(ledger_url)[0] == [(*v[:3], "issued") for v in snapshot(clean)[0]]
    assert snapshot(ledger_url)[1:] == snapshot(clean)[1:]


def test_two_distributors_at_once_never_double_issue(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    command = [
        sys.executable,
        "-m",
        "recompense.cli",
        "distribute",
        "--run",
        str(small_run),
        "--db",
        ledger_url,
        "--batch-size",
        "50",
    ]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert_books(small_run, ledger_url)
    with connect(ledger_url).connect() as conn:
        dupes = conn.execute(
            text("SELECT user_id FROM vouchers GROUP BY user_id HAVING COUNT(*) > 1")
        ).fetchall()
        issued = conn.execute(select(func.count(), func.sum(vouchers.c.amount_cents))).one()
        owed = conn.execute(
            text(
                "SELECT SUM(p.amount_cents) FROM postings p "
                "JOIN journal_entries e ON e.id = p.entry_id AND e.kind = 'issue' "
                "JOIN ledger_accounts a ON a.id = p.account_id AND a.kind = 'liability'"
            )
        ).scalar_one()
    allocations = read_allocations(small_run)
    assert dupes == []
    assert issued[0] == allocations.num_rows
    assert owed == issued[1] == sum(allocations["amount_cents"].to_pylist())


def test_status_reports_progress_and_the_promises(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=BATCH)
    state = status("together-2025-10", ledger_url)
    assert state.issued == state.vouchers_total
    assert state.amount_issued_cents == 15_000_000
    assert state.by_state == {"issued": state.issued}
    assert state.notifications["push"] == {"pending": state.issued}
    # Replaying the 2025 programme today: both promises were due in October 2025.
    assert state.start.state == "missed"
    assert state.start.deadline.isoformat().startswith("2025-10-15T15:17")


def cli(*args, env=None, check=False):
    result = subprocess.run(
        [sys.executable, "-m", "recompense.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def test_concurrent_redemptions_of_one_voucher_credit_once(small_run, ledger_url):
    from recompense.ledger.journal import balances, wallet_code
    from recompense.ledger.vouchers import redeem

    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=BATCH)
    allocations = read_allocations(small_run)
    user, amount = allocations["user_id"][0].as_py(), allocations["amount_cents"][0].as_py()
    engine = connect(ledger_url)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(
                lambda _: redeem(engine, voucher_id("together-2025-10", user), user), range(100)
            )
        )
    assert sum(not r.already for r in results) == 1
    assert {r.entry_id for r in results} == {results[0].entry_id}
    with engine.connect() as conn:
        assert balances(conn)[wallet_code(user, "USDC")] == ("wallet", amount)
    assert_books(small_run, ledger_url)


def test_reconcile_finds_a_voucher_without_its_app_notification(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=BATCH)
    with connect(ledger_url).begin() as conn:
        victim = conn.execute(select(func.min(vouchers.c.id))).scalar_one()
        conn.execute(
            notifications.delete().where(
                notifications.c.voucher_id == victim, notifications.c.channel == "push"
            )
        )
    checks = {c.name: c for c in reconcile(small_run, ledger_url)}
    outbox = checks["a notification per voucher"]
    assert not outbox.passed
    assert outbox.detail.startswith("1 vouchers without")
    assert all(c.passed for name, c in checks.items() if name != "a notification per voucher")
