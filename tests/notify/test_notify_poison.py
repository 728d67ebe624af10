"""A notification the peer always answers with "channel down" (issue 20, follow-up).

A push gateway that answers 503 to one payload, a relay that 421s one message: before,
the breaker put such a row back without counting an attempt every time, so it never gave
up, paused its channel again and again, and ``notify --until-done`` never finished. Now
the breaker counts the failure against the notification when the peer is shown up
around it (others went through and it answers a probe right after, or it had answered
one just before): the row gives up after ``max_attempts``, the others are delivered,
the worker finishes — and an outage, where the probes fail, still uses no attempt.

Real peers: aiosmtpd and an HTTP gateway on loopback, a real worker process.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

from notify_support import HttpSink, SmtpSink, insert_rows, outbox_rows, table, worker_process

from recompense.notify import drain

RELAY_CLOSING = "421 4.3.2 Service not available, closing channel"


def wait_for(condition, timeout=60.0, what="condition"):
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError(f"{what} not reached in {timeout:g} s")


def row_of(rows, user, channel):
    return next(r["id"] for r in rows if r["user_id"] == user and r["channel"] == channel)


class Poisoned:
    """Sinks that answer "down" for some users only: SMTP 421 at RCPT, HTTP 503; both
    answer probes (NOOP; HEAD gets 405). Counts the tries of each poisoned row."""

    def __init__(self, email_users=(), push_users=()):
        self.email_users = {f"user{u}@example.com" for u in email_users}
        self.push_users = set(push_users)
        self.tries: dict[str, int] = {}
        self._lock = threading.Lock()
        self.smtp = SmtpSink(rcpt_reply=self._rcpt)
        self.gateway = HttpSink(respond=self._respond)

    def _count(self, key):
        with self._lock:
            self.tries[key] = self.tries.get(key, 0) + 1

    def _rcpt(self, address):
        if address in self.email_users:
            self._count(address)
            return RELAY_CLOSING
        return None

    def _respond(self, push):
        if push.body["user_id"] in self.push_users:
            self._count(push.key)
            return 503, {}, b"upstream refused this payload"
        return 200, {}, b'{"ok":true}'

    def delivered(self):
        """Keys the peers took (a 503'd push reached the gateway but was not taken)."""
        pushes = [p.key for p in self.gateway.pushes if p.body["user_id"] not in self.push_users]
        return self.smtp.keys() + Counter(pushes)

    def __enter__(self):
        self.smtp.start()
        self.gateway.start()
        return self

    def __exit__(self, *exc):
        self.smtp.stop()
        self.gateway.stop()


def test_a_poison_row_among_good_ones_gives_up_and_the_rest_are_delivered(db_url, settings):
    rows = outbox_rows(range(1, 41))
    insert_rows(db_url, rows)
    with Poisoned(email_users=[17], push_users=[6, 29]) as peers:
        s = settings.replace(
            smtp_port=peers.smtp.port,
            push_url=peers.gateway.url,
            max_attempts=3,
            batch=10,
        )
        result = drain(db_url, s, once=False, stop_when_idle=True, max_seconds=300)

    poison = {row_of(rows, 17, "email"), row_of(rows, 6, "push"), row_of(rows, 29, "push")}
    assert result.pending_left == 0
    assert result.channels_down == {}  # it finished by itself
    assert (result.sent, result.failed) == (77, 3)
    stored = table(db_url)
    for row_id in poison:
        row = stored[row_id]
        assert (row["status"], row["attempts"]) == ("failed", 3), row
        assert row["last_error"].startswith("gave-up: after 3 attempts; last error: ")
        assert "(counted as an attempt: " in row["last_error"]
    good = stored.keys() - poison
    assert {(stored[i]["status"], stored[i]["attempts"]) for i in good} == {("sent", 1)}
    assert peers.delivered() == dict.fromkeys(good, 1)  # each good one taken exactly once
    assert min(peers.tries.values()) >= 3
    assert len(peers.tries) == 3


def test_poison_rows_alone_in_their_channel_give_up_too(db_url, settings):
    """Nothing of the channel ever goes through: only the trial after each answered
    probe counts, one batch per probe round."""
    rows = outbox_rows([4, 9])
    insert_rows(db_url, rows)
    with Poisoned(email_users=[4, 9], push_users=[4, 9]) as peers:
        s = settings.replace(smtp_port=peers.smtp.port, push_url=peers.gateway.url, max_attempts=2)
        result = drain(db_url, s, once=False, stop_when_idle=True, max_seconds=300)

    assert (result.sent, result.failed, result.pending_left) == (0, 4, 0)
    assert result.probes >= 2  # the trials came after answered probes
    for row in table(db_url).values():
        assert (row["status"], row["attempts"]) == ("failed", 2)
        assert (
            "(counted as an attempt: the channel had answered a probe just before"
            in (row["last_error"])
        )


def test_a_peer_answering_probes_but_failing_every_send_costs_one_batch_per_probe(
    db_url, settings, smtp
):
    """The price of the rule: a gateway that answers HEAD but 503s every push (its
    upstream down) is indistinguishable from poison rows. Each answered probe lets one
    batch's failing sends count — at most one per sender thread — and no more."""
    rows = outbox_rows(range(1, 21))
    insert_rows(db_url, rows)
    stop = threading.Event()
    with HttpSink(respond=lambda push: (503, {}, b"upstream down")) as gateway:
        s = settings.replace(push_url=gateway.url, threads=2, max_attempts=100)
        results = []
        runner = threading.Thread(
            target=lambda: results.append(
                drain(db_url, s, once=False, stop_when_idle=True, max_seconds=300, stop=stop)
            )
        )
        runner.start()
        try:
            wait_for(lambda: gateway.heads >= 4, what="four answered probes")
        finally:
            stop.set()
            runner.join(timeout=60)
        answered = gateway.heads

    [result] = results
    stored = table(db_url)
    pushes = [stored[r["id"]] for r in rows if r["channel"] == "push"]
    used = sum(r["attempts"] for r in pushes)
    assert 1 <= used <= s.threads * answered
    assert {r["status"] for r in pushes} == {"pending"}
    counted = [e for e in (r["last_error"] for r in pushes) if "(counted as an attempt: " in e]
    assert counted  # only ever the trial after an answered probe: nothing went through
    assert all(
        "(counted as an attempt: the channel had answered a probe just" in e for e in counted
    )
    assert result.retried == used
    assert smtp.keys() == dict.fromkeys((r["id"] for r in rows if r["channel"] == "email"), 1)


def test_a_gateway_going_down_mid_batch_uses_no_attempt(db_url, settings, smtp):
    """Pushes went through, then the gateway went down (503 to everything): the probe
    made right after the batch is not answered, so the failure is the channel's."""
    rows = outbox_rows(range(1, 13))
    insert_rows(db_url, rows)
    lock = threading.Lock()
    state = {"phase": "up"}  # then "down", then "back"
    answered: list[str] = []

    def respond(push):
        with lock:
            if state["phase"] == "up" and len(answered) == 4:
                state["phase"] = "down"
                gateway.head_status = 503  # before this push's answer: the probe sees it
            if state["phase"] == "down":
                return 503, {}, b"unavailable"
            answered.append(push.key)
            return 200, {}, b"{}"

    gateway = HttpSink(respond=respond)
    with gateway:
        s = settings.replace(push_url=gateway.url, threads=1, max_attempts=1)
        results = []
        runner = threading.Thread(
            target=lambda: results.append(
                drain(db_url, s, once=False, stop_when_idle=True, max_seconds=300)
            )
        )
        runner.start()
        try:
            wait_for(lambda: gateway.heads >= 3, what="three probes while down")
            with lock:
                state["phase"] = "back"  # pushes first: an answered probe means they go
            gateway.head_status = 405
        finally:
            runner.join(timeout=120)

    [result] = results
    assert (result.failed, result.pending_left) == (0, 0)
    stored = table(db_url)
    assert {(r["status"], r["attempts"]) for r in stored.values()} == {("sent", 1)}
    assert sorted(answered) == sorted(r["id"] for r in rows if r["channel"] == "push")
    assert result.probes >= 3


def test_notify_until_done_finishes_with_a_poison_row(db_url, smtp):
    """The hang, end to end: ``recompense notify --until-done`` exits 0 (nothing waits:
    no "channel still down" exit 3), the row given up; the push channel holds nothing
    else, so only the trials after answered probes count it, each saying so on stderr."""
    rows = outbox_rows(range(1, 6), channels=("email",)) + outbox_rows([3], channels=("push",))
    insert_rows(db_url, rows)
    poison = row_of(rows, 3, "push")
    env = {
        "RECOMPENSE_NOTIFY_MAX_ATTEMPTS": "2",
        "RECOMPENSE_NOTIFY_PROBE_BASE": "0.05",
        "RECOMPENSE_NOTIFY_PROBE_CAP": "0.2",
    }
    with HttpSink(respond=lambda push: (503, {}, b"no")) as gateway:
        worker = worker_process(db_url, smtp, gateway, "--until-done", env=env)
        try:
            out, err = worker.communicate(timeout=300)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()

    assert worker.returncode == 0, err
    summary = json.loads(out)
    assert (summary["sent"], summary["failed"], summary["pending_left"]) == (5, 1, 0)
    assert summary["channels_down"] == {}
    assert table(db_url)[poison]["last_error"].startswith("gave-up: after 2 attempts")
    assert "warning: push channel down: push gateway answered HTTP 503" in err
    assert err.count("push channel failed right after a probe was answered") == 2
    assert "the notifications that failed used an attempt" in err
    assert "Traceback" not in err
