"""The outbox state machine on SQLite and PostgreSQL: each transition, and who may apply it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from notify_support import NOW, insert_rows, outbox_rows, table
from sqlalchemy import update

from recompense.ledger.db import connect
from recompense.ledger.schema import notifications
from recompense.notify import outbox

LEASE = timedelta(minutes=5)
LATER = NOW + timedelta(hours=1)


def claim(url, owner, *, now=LATER, limit=100, channels=("email", "push"), max_attempts=8):
    with connect(url).begin() as conn:
        return outbox.claim(
            conn,
            owner=owner,
            now=now,
            lease=LEASE,
            limit=limit,
            channels=channels,
            max_attempts=max_attempts,
        )


def set_rows(url, ids, **values):
    with connect(url).begin() as conn:
        conn.execute(update(notifications).where(notifications.c.id.in_(ids)).values(**values))


def as_utc(moment):
    return outbox.as_utc(moment) if moment is not None else None


def test_claim_takes_due_pending_rows_oldest_first_and_leases_them(db_url):
    rows = outbox_rows(range(1, 6), channels=("push",))
    for i, row in enumerate(rows):
        row["next_attempt_at"] = NOW + timedelta(minutes=10 * (5 - i))  # last row is oldest
    insert_rows(db_url, rows)
    set_rows(db_url, [rows[0]["id"]], next_attempt_at=LATER + timedelta(days=1))  # not due

    claimed = claim(db_url, "w1", limit=3)

    ids = [n.id for n in claimed.notifications]
    assert ids == [rows[4]["id"], rows[3]["id"], rows[2]["id"]]
    assert claimed.lease_until == LATER + LEASE
    stored = table(db_url)
    for row_id in ids:
        assert stored[row_id]["status"] == "sending"
        assert stored[row_id]["lease_owner"] == "w1"
        assert as_utc(stored[row_id]["lease_until"]) == LATER + LEASE
        assert stored[row_id]["attempts"] == 1
    assert [n.attempts for n in claimed.notifications] == [1, 1, 1]
    assert [n.id for n in claim(db_url, "w2").notifications] == [rows[1]["id"]]


def test_claim_only_takes_the_workers_channels(db_url):
    insert_rows(db_url, outbox_rows(range(1, 4)))
    claimed = claim(db_url, "w1", channels=("email",))
    assert {n.channel for n in claimed.notifications} == {"email"}
    assert len(claimed.notifications) == 3


def test_outcomes_apply_only_for_the_lease_owner(db_url):
    rows = outbox_rows(range(1, 5), channels=("email",))
    insert_rows(db_url, rows)
    a, b, c, d = (row["id"] for row in rows)
    claim(db_url, "w1")
    engine = connect(db_url)

    with engine.begin() as conn:
        assert outbox.mark_sent(conn, [a], owner="intruder", now=LATER) == 0
        assert outbox.mark_sent(conn, [a], owner="w1", now=LATER) == 1
        assert outbox.mark_sent(conn, [a], owner="w1", now=LATER) == 0  # already sent
        retry = outbox.Retry(b, LATER + timedelta(seconds=30), "retry: SMTP 451 try later")
        assert outbox.mark_retry(conn, [retry], owner="intruder") == 0
        assert outbox.mark_retry(conn, [retry], owner="w1") == 1
        failure = outbox.Failure(c, "rejected: SMTP 550 no such user")
        assert outbox.mark_failed(conn, [failure], owner="w1") == 1
        assert outbox.release(conn, [d], owner="w1", now=LATER) == 1

    s = table(db_url)
    assert (s[a]["status"], as_utc(s[a]["sent_at"]), s[a]["lease_owner"]) == ("sent", LATER, "w1")
    assert (s[b]["status"], s[b]["attempts"], s[b]["lease_owner"]) == ("pending", 1, None)
    assert as_utc(s[b]["next_attempt_at"]) == LATER + timedelta(seconds=30)
    assert s[b]["last_error"] == "retry: SMTP 451 try later"
    assert (s[c]["status"], s[c]["last_error"]) == ("failed", "rejected: SMTP 550 no such user")
    assert (s[d]["status"], s[d]["attempts"]) == ("pending", 0)  # released: not an attempt
    with engine.begin() as conn:
        assert outbox.counts(conn) == {"pending": 2, "sending": 0, "sent": 1, "failed": 1}


def test_an_expired_lease_is_claimed_again_by_another_worker(db_url):
    rows = outbox_rows([1], channels=("email",))
    insert_rows(db_url, rows)
    claim(db_url, "dead-worker")

    assert claim(db_url, "w2", now=LATER + LEASE - timedelta(seconds=1)).notifications == ()
    again = claim(db_url, "w2", now=LATER + LEASE)

    assert [(n.id, n.attempts) for n in again.notifications] == [(rows[0]["id"], 2)]
    with connect(db_url).begin() as conn:  # the dead worker's late outcome is refused
        assert outbox.mark_sent(conn, [rows[0]["id"]], owner="dead-worker", now=LATER) == 0
    assert table(db_url)[rows[0]["id"]]["lease_owner"] == "w2"


def test_rows_whose_leases_keep_expiring_are_abandoned_after_max_attempts(db_url):
    rows = outbox_rows([1, 2], channels=("email",))
    insert_rows(db_url, rows)
    set_rows(db_url, [rows[0]["id"]], status="sending", attempts=3, lease_owner="x",
             lease_until=NOW)  # fmt: skip
    set_rows(db_url, [rows[1]["id"]], status="sending", attempts=2, lease_owner="x",
             lease_until=NOW)  # fmt: skip

    claimed = claim(db_url, "w1", max_attempts=3)

    assert claimed.abandoned == 1
    assert [n.id for n in claimed.notifications] == [rows[1]["id"]]
    stored = table(db_url)[rows[0]["id"]]
    assert stored["status"] == "failed"
    assert stored["last_error"].startswith("abandoned:")


def test_requeue_retries_transient_failures_only_unless_asked(db_url):
    rows = outbox_rows([1, 2, 3], channels=("email",))
    insert_rows(db_url, rows)
    a, b, c = (row["id"] for row in rows)
    set_rows(db_url, [a], status="failed", attempts=8, last_error="gave-up: after 8 attempts")
    set_rows(db_url, [b], status="failed", attempts=1, last_error="rejected: SMTP 550")
    set_rows(db_url, [c], status="failed", attempts=8, last_error="abandoned: leases")
    engine = connect(db_url)

    with engine.begin() as conn:
        assert outbox.requeue(conn, now=LATER) == 2
    s = table(db_url)
    assert [(s[x]["status"], s[x]["attempts"]) for x in (a, b, c)] == [
        ("pending", 0),
        ("failed", 1),
        ("pending", 0),
    ]
    with engine.begin() as conn:
        assert outbox.requeue(conn, now=LATER, include_rejected=True) == 1


def test_concurrent_claims_are_disjoint(db_url):
    """PostgreSQL skips the rows another claim holds; SQLite makes the second claim wait."""
    rows = outbox_rows(range(1, 21), channels=("email",))
    insert_rows(db_url, rows)
    engine = connect(db_url)
    second: list[str] = []
    started = threading.Event()

    def other_worker() -> None:
        started.set()
        second.extend(n.id for n in claim(db_url, "w2", limit=15).notifications)

    with engine.begin() as conn:  # w1's claim transaction stays open while w2 claims
        first = outbox.claim(conn, owner="w1", now=LATER, lease=LEASE, limit=15,
                             channels=("email",), max_attempts=8)  # fmt: skip
        thread = threading.Thread(target=other_worker)
        thread.start()
        started.wait()
        thread.join(timeout=0.5 if db_url.startswith("postgresql") else 0.2)
        if db_url.startswith("postgresql"):
            assert not thread.is_alive(), "SKIP LOCKED: the second claim must not wait"
    thread.join()

    first_ids = {n.id for n in first.notifications}
    assert len(first_ids) == 15
    assert len(second) == 5
    assert first_ids.isdisjoint(second)
    owners = {row["lease_owner"] for row in table(db_url).values()}
    assert owners == {"w1", "w2"}


def test_next_wakeup_is_the_earliest_due_time_or_lease_expiry(db_url):
    rows = outbox_rows([1, 2], channels=("email",))
    insert_rows(db_url, rows)
    engine = connect(db_url)
    set_rows(db_url, [rows[0]["id"]], next_attempt_at=datetime(2030, 1, 1, tzinfo=UTC))
    set_rows(db_url, [rows[1]["id"]], status="sending", lease_owner="w",
             lease_until=datetime(2029, 1, 1, tzinfo=UTC))  # fmt: skip
    with engine.begin() as conn:
        assert outbox.next_wakeup(conn, channels=("email",)) == datetime(2029, 1, 1, tzinfo=UTC)
        assert outbox.next_wakeup(conn, channels=("push",)) is None
