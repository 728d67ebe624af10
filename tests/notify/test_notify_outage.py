"""Outages of the mail relay and the push gateway (issue 20, defect 5): the breaker.

Real peers switched down (connections refused, open sessions cut) and up again on the
same port, real worker processes, one of them killed mid-outage. What must hold: no
attempt is used while a channel is down, nothing is given up, everything is delivered
once the peer is back, and the other channel goes on meanwhile.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from notify_support import HttpSink, SmtpSink, insert_rows, outbox_rows, table, worker_process

from recompense.notify import drain
from recompense.notify.breaker import Breaker, probe_delay
from recompense.notify.dispatch import Dispatcher
from recompense.notify.metrics import REGISTRY
from recompense.notify.outbox import Notification


def ids(rows, channel):
    return {row["id"] for row in rows if row["channel"] == channel}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout:g} s")


# -- the breaker itself --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(
    failures=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.01, max_value=100),
    factor=st.floats(min_value=1, max_value=1000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_probe_delays_are_jittered_between_half_and_the_capped_ceiling(
    failures, base, factor, seed
):
    cap = base * factor
    delay = probe_delay(failures, base=base, cap=cap, rng=random.Random(seed))
    ceiling = min(cap, base * 2.0 ** (failures - 1))
    assert ceiling / 2 <= delay <= ceiling <= cap


# A batch, as the breaker sees it after the sends: (delivered: a send of the channel went
# through, failed: the notifications whose sends failed with a channel-down answer,
# answers: the peer answers a probe made right after, in_time: the lease leaves time for
# that probe).
FAILED = st.frozensets(st.sampled_from("abc"))
BATCHES = st.tuples(st.just("batch"), st.booleans(), FAILED, st.booleans(), st.booleans())
EVENTS = st.lists(
    st.one_of(st.sampled_from(["trip", "probe-fails", "probe-ok", "delivered", "wait"]), BATCHES)
)


class Model:
    """What the breaker should be after each event (breaker.py's diagram and rule)."""

    def __init__(self) -> None:
        self.open = self.half_open = self.took_last = False
        self.failures = 0
        self.singled_out: set[str] = set()

    def trip(self) -> bool:
        if self.open:
            return False
        self.open, self.half_open, self.took_last = True, False, False
        self.failures += 1
        return True

    def batch(self, delivered, failed, answers, in_time):
        """(counted, opened, probed) for one batch claimed while closed."""
        trial, self.half_open = self.half_open, False
        took_before, self.took_last = self.took_last, delivered
        if delivered:
            self.failures = 0
        if not failed:
            return False, False, None
        if delivered or took_before or failed <= self.singled_out:  # 1, 2: ask the peer now
            if not in_time:
                return False, self.trip(), None
            if not answers:
                return False, self.trip(), "down"
            self.singled_out |= failed
            return True, False, "up"
        return trial, self.trip(), None  # rule 3: counted if it was the trial


def apply(breaker, model, clock, event):
    """Play ``event`` on both; the breaker's verdict for a batch (None otherwise)."""
    was_open = breaker.is_open
    if isinstance(event, tuple):
        if was_open:
            return None  # the worker claims no row of an open channel
        _, delivered, failed, answers, in_time = event
        probes = []

        def probe():
            probes.append(1)
            return None if answers else "refused"

        verdict = breaker.settle(
            trial=breaker.claim(),
            delivered=delivered,
            down="HTTP 503" if failed else None,
            failed=sorted(failed),
            probe=probe if in_time else None,
        )
        counted, opened, probed = model.batch(delivered, failed, answers, in_time)
        assert (verdict.counted, verdict.opened, verdict.probed) == (counted, opened, probed)
        assert len(probes) == (probed is not None)  # a probe only when the rule needs one
        assert (verdict.why is not None) == counted
        return verdict
    if event == "trip":
        assert breaker.trip("refused") == model.trip() == (not was_open)
    elif event == "probe-fails" and was_open:
        breaker.probe_failed("still refused")
        model.failures += 1
    elif event == "probe-ok" and was_open:
        breaker.close()  # not a delivery: the count stays (a flapping relay backs off)
        model.open, model.half_open = False, True
    elif event == "delivered":
        breaker.delivered()
        model.failures = 0
    elif event == "wait":
        clock.now += 7.5
    return None


@given(events=EVENTS, seed=st.integers(min_value=0, max_value=2**32))
def test_the_breaker_follows_its_state_machine(events, seed):
    clock = Clock()
    breaker = Breaker("email", base=5, cap=60, clock=clock, rng=random.Random(seed))
    model = Model()
    for event in events:
        apply(breaker, model, clock, event)
        state = breaker.state()
        assert state.failures == model.failures
        assert breaker.is_open == model.open
        assert breaker.half_open == model.half_open
        expected = "open" if model.open else "half-open" if model.half_open else "closed"
        assert state.state == expected
        if breaker.is_open:
            assert state.reason in ("refused", "still refused", "HTTP 503")
            assert 0 <= (state.probe_in or 0) <= 60
            assert breaker.probe_due() == (clock.now >= breaker.probe_at)
        else:
            assert state.probe_in is None
            assert not breaker.probe_due()


@given(events=EVENTS, seed=st.integers(min_value=0, max_value=2**32))
def test_an_outage_never_counts_an_attempt(events, seed):
    """Probes failing (the peer down): whatever the sends did, no failure is counted."""
    unanswered = [
        ("batch", e[1], e[2], False, e[4]) if isinstance(e, tuple) else e
        for e in events
        if e != "probe-ok"
    ]
    clock = Clock()
    breaker = Breaker("push", base=5, cap=60, clock=clock, rng=random.Random(seed))
    model = Model()
    for event in unanswered:
        verdict = apply(breaker, model, clock, event)
        assert verdict is None or not verdict.counted


@given(events=EVENTS, seed=st.integers(min_value=0, max_value=2**32))
def test_without_deliveries_at_most_one_batch_is_counted_per_answered_probe(events, seed):
    """A peer that answers probes but fails every send (or only poison rows are left):
    each answered probe lets one batch's failures count, never more."""
    clock = Clock()
    breaker = Breaker("push", base=5, cap=60, clock=clock, rng=random.Random(seed))
    model = Model()
    answered = counted = 0
    for event in events:
        if isinstance(event, tuple):
            event = ("batch", False, *event[2:])
        answered += event == "probe-ok" and breaker.is_open
        verdict = apply(breaker, model, clock, event)
        counted += verdict is not None and verdict.counted
        assert counted <= answered


@given(
    rounds=st.integers(min_value=1, max_value=20),
    good=st.lists(st.booleans(), min_size=20, max_size=20),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_poison_notification_is_counted_every_time_the_peer_is_shown_up(rounds, good, seed):
    """A notification the peer always answers "down" while it answers probes: tried
    again and again, with or without good notifications in its batch, it is counted on
    every try but the very first if that one was alone (nothing yet shows the peer up):
    it will use up its attempts."""
    clock = Clock()
    breaker = Breaker("push", base=5, cap=60, clock=clock, rng=random.Random(seed))
    model = Model()
    counted = 0
    for others_went_through in good[:rounds]:
        if breaker.is_open:
            clock.now = breaker.probe_at
            assert breaker.probe_due()
            apply(breaker, model, clock, "probe-ok")
        poison = frozenset("p")
        verdict = apply(breaker, model, clock, ("batch", others_went_through, poison, True, True))
        counted += verdict.counted
    assert counted == rounds - (not good[0])  # the first try, alone, is the channel's


def test_retry_after_is_the_earliest_probe():
    clock = Clock()
    breaker = Breaker("push", base=1, cap=60, clock=clock)
    breaker.trip("HTTP 503", retry_after=45)
    assert breaker.probe_at - clock.now >= 45
    clock.now += 44
    assert not breaker.probe_due()
    clock.now += 16
    assert breaker.probe_due()


# -- senders: what opens the breaker --------------------------------------------------


def batch_of(rows):
    return [
        Notification(r["id"], r["channel"], r["recipient"], r["locale"], r["payload"], 1)
        for r in rows
    ]


def test_smtp_421_takes_the_channel_down_and_a_probe_finds_it_back(settings):
    closing = True

    def rcpt(address):
        return "421 4.3.2 Service not available, closing channel" if closing else None

    with SmtpSink(rcpt_reply=rcpt) as sink:
        s = settings.replace(smtp_port=sink.port, threads=1)
        rows = outbox_rows([1, 2, 3], channels=("email",))
        with Dispatcher(s) as dispatcher:
            outcomes = dispatcher.send_batch(batch_of(rows), send_by=time.monotonic() + 30)
            assert dispatcher.probe("email") is None  # the relay answers NOOP: it is up
            closing = False
            again = dispatcher.send_batch(batch_of(rows), send_by=time.monotonic() + 30)
    assert [o.result for o in outcomes] == ["deferred"] * 3
    assert "SMTP 421 4.3.2 Service not available" in (outcomes[0].reason or "")
    assert [o.result for o in again] == ["sent"] * 3
    assert sink.noops == 1


def test_probes_of_a_relay_that_is_down_say_why(settings):
    sink, gateway = SmtpSink(), HttpSink()  # nothing listens on their ports
    gateway.down()
    with Dispatcher(settings.replace(smtp_port=sink.port, push_url=gateway.url)) as dispatcher:
        assert "ConnectionRefusedError" in (dispatcher.probe("email") or "")
        assert "ConnectError" in (dispatcher.probe("push") or "")
        with (
            HttpSink(head_status=503) as unavailable,
            Dispatcher(settings.replace(push_url=unavailable.url)) as other,
        ):
            assert "HTTP 503 to a probe" in (other.probe("push") or "")
        with sink:
            assert dispatcher.probe("email") is None
        with (
            HttpSink() as up,  # answers HEAD with 405 (method not allowed): reachable
            Dispatcher(settings.replace(push_url=up.url)) as other,
        ):
            assert other.probe("push") is None


# -- the worker during an outage ------------------------------------------------------


def test_both_channels_down_burns_no_attempts_and_everything_goes_once_back(db_url, settings):
    smtp, gateway = SmtpSink(), HttpSink()  # ports chosen, both down from the start
    gateway.down()
    s = settings.replace(smtp_port=smtp.port, push_url=gateway.url, max_attempts=1)
    rows = outbox_rows(range(1, 51))
    insert_rows(db_url, rows)
    probes_before = {
        c: sample("recompense_notify_channel_probes_total", channel=c, result="down")
        for c in ("email", "push")
    }
    trips_before = sample("recompense_notify_channel_trips_total", channel="email")
    deferred_before = sample("recompense_notify_deferred_total", channel="email")
    results = []
    runner = threading.Thread(
        target=lambda: results.append(
            drain(db_url, s, once=False, stop_when_idle=True, max_seconds=60)
        )
    )
    runner.start()
    try:
        # Several failed probes on each channel: the outage outlasts what max_attempts=1
        # allowed before the breaker (one refused claim and every row gave up).
        wait_for(
            lambda: all(
                sample("recompense_notify_channel_probes_total", channel=c, result="down")
                - probes_before[c]
                >= 3
                for c in ("email", "push")
            ),
            what="three failed probes per channel",
        )
        assert sample("recompense_notify_channel_open", channel="email") == 1
        assert sample("recompense_notify_channel_open", channel="push") == 1
        stored = table(db_url)
        assert {r["status"] for r in stored.values()} == {"pending"}
        assert {r["attempts"] for r in stored.values()} == {0}
        assert all(r["last_error"].startswith("waiting: channel ") for r in stored.values())
        smtp.start()
        gateway.start()
    finally:
        runner.join(timeout=60)
        smtp.stop()
        gateway.stop()

    [result] = results
    assert (result.sent, result.failed, result.pending_left) == (100, 0, 0)
    assert result.channels_down == {}
    assert result.deferred >= 100
    stored = table(db_url)
    assert {r["status"] for r in stored.values()} == {"sent"}
    assert {r["attempts"] for r in stored.values()} == {1}
    assert smtp.keys() + gateway.keys() == dict.fromkeys(stored, 1)
    assert sample("recompense_notify_channel_open", channel="email") == 0
    assert sample("recompense_notify_channel_trips_total", channel="email") == trips_before + 1
    assert sample("recompense_notify_deferred_total", channel="email") - deferred_before >= 50


def test_a_gateway_answering_503_waits_for_it_without_using_attempts(db_url, settings, smtp):
    """Unavailable, the gateway answers 503 to everything, probes (HEAD) included. (One
    that answers probes but 503s every push is the next test.)"""
    unavailable = threading.Event()
    unavailable.set()
    answered: list[str] = []

    def respond(push):
        if unavailable.is_set():
            return 503, {"Retry-After": "0"}, b"upstream unavailable"
        answered.append(push.key)
        return 200, {}, b"{}"

    rows = outbox_rows(range(1, 11))
    insert_rows(db_url, rows)
    with HttpSink(respond=respond, head_status=503) as gateway:
        s = settings.replace(push_url=gateway.url, max_attempts=1)
        results = []
        runner = threading.Thread(
            target=lambda: results.append(
                drain(db_url, s, once=False, stop_when_idle=True, max_seconds=60)
            )
        )
        runner.start()
        wait_for(
            lambda: all(table(db_url)[i]["status"] == "sent" for i in ids(rows, "email")),
            what="email sent",
        )
        wait_for(lambda: gateway.pushes and gateway.heads >= 3, what="a 503 and three probes")
        unavailable.clear()  # pushes first: a probe answered now means pushes go through
        gateway.head_status = 405
        runner.join(timeout=60)

    [result] = results
    assert (result.failed, result.pending_left) == (0, 0)
    assert {r["attempts"] for r in table(db_url).values()} == {1}
    assert sorted(answered) == sorted(ids(rows, "push"))  # each answered 200 exactly once


def test_real_workers_ride_out_a_relay_outage_with_one_killed_midway(db_url, smtp, gateway):
    """2 worker processes, max 2 attempts, the relay down, one worker SIGKILLed."""
    rows = outbox_rows(range(1, 201))
    insert_rows(db_url, rows)
    smtp.down()
    env = {
        "RECOMPENSE_NOTIFY_MAX_ATTEMPTS": "2",
        "RECOMPENSE_NOTIFY_PROBE_BASE": "0.2",
        "RECOMPENSE_NOTIFY_PROBE_CAP": "0.5",
        "RECOMPENSE_NOTIFY_LEASE_SECONDS": "4",
        "RECOMPENSE_SMTP_TIMEOUT": "2",
        "RECOMPENSE_PUSH_TIMEOUT": "2",
    }
    args = ("--until-done", "--batch", "20", "--max-seconds", "120")
    doomed = worker_process(db_url, smtp, gateway, *args, "--worker-id", "doomed", env=env)
    survivor = worker_process(db_url, smtp, gateway, *args, "--worker-id", "survivor", env=env)
    try:
        pushes, emails = ids(rows, "push"), ids(rows, "email")
        wait_for(lambda: gateway.keys().keys() == pushes, what="every push delivered")
        stored = table(db_url)
        assert all(stored[i]["status"] in ("pending", "sending") for i in emails)
        assert any((stored[i]["last_error"] or "").startswith("waiting:") for i in emails)
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate(timeout=30)
        before_kill = set(gateway.keys())
        time.sleep(1)  # the survivor probes a few more times while the relay is down
        smtp.up()
        out, err = survivor.communicate(timeout=120)
    finally:
        for process in (doomed, survivor):
            if process.poll() is None:
                process.kill()
                process.communicate()

    assert survivor.returncode == 0, err
    result = json.loads(out)
    assert (result["failed"], result["pending_left"], result["channels_down"]) == (0, 0, {})
    assert "email channel down: cannot open an SMTP session" in err
    assert "email channel back up after" in err
    stored = table(db_url)
    assert {r["status"] for r in stored.values()} == {"sent"}
    assert max(r["attempts"] for r in stored.values()) <= 2
    received = smtp.keys() + gateway.keys()
    assert received.keys() == stored.keys()  # nothing lost
    assert smtp.keys() == dict.fromkeys(emails, 1)  # the relay got each email once
    twice = {key for key, n in received.items() if n > 1}
    # Only pushes the killed worker had sent but not yet recorded: resent after its lease,
    # under the same Idempotency-Key, for the gateway to drop.
    assert twice <= before_kill
    assert max(received.values()) <= 2


@pytest.mark.parametrize("channel", ["email", "push"])
def test_a_once_run_during_an_outage_says_so_and_leaves_the_rows_untouched(
    db_url, settings, channel
):
    from typer.testing import CliRunner

    from recompense.cli.main import app

    sink, other = (SmtpSink(), HttpSink()) if channel == "email" else (HttpSink(), SmtpSink())
    with other:
        rows = outbox_rows(range(1, 6))
        insert_rows(db_url, rows)
        smtp_port = sink.port if channel == "email" else other.port
        push_url = sink.url if channel == "push" else other.url
        env = {"RECOMPENSE_SMTP_PORT": str(smtp_port), "RECOMPENSE_PUSH_URL": push_url}
        if channel == "push":
            sink.stop()  # bound at creation: close it so its port refuses
        result = CliRunner().invoke(
            app, ["notify", "--db", db_url, "--json"], env=env, catch_exceptions=False
        )

    assert result.exit_code == 3, result.output  # infrastructure unavailable: run again later
    summary = json.loads(result.stdout)
    assert (summary["failed"], summary["sent"], summary["deferred"]) == (0, 5, 5)
    assert list(summary["channels_down"]) == [channel]
    assert f"warning: {channel} channel down:" in result.stderr
    waiting = [table(db_url)[i] for i in ids(rows, channel)]
    assert {(r["status"], r["attempts"]) for r in waiting} == {("pending", 0)}
