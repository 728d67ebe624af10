"""One deadline per send, below the lease (issue 20, defect 6).

``smtplib``'s and httpx's timeouts apply to each network operation, so a peer slow on
every operation, or one that drips its answer, could stretch one send past the row's
lease, and another worker would send the row again. Here the peers are real servers on
loopback that are slow per operation, stall after the message's data, or drip a reply a
byte at a time; the assertions are on what was delivered and why a send was cut, never
on how long anything took.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from notify_support import HttpSink, SmtpSink, insert_rows, outbox_rows, table, worker_process

from recompense.notify import NotifySettings, TransientDeliveryError
from recompense.notify.mail import SmtpSender
from recompense.notify.push import PushSender
from recompense.notify.templates import parse_payload, render_email, render_push

ROW = outbox_rows([7], channels=("push",))[0]
VOUCHER = parse_payload(ROW["id"], "push", ROW["payload"])
EMAIL = render_email(VOUCHER, "en", "https://exchange.example/rewards-hub")
PUSH = render_push(VOUCHER, "en")


def slow_sessions(count: int, seconds: float) -> Callable[[str, int], float]:
    """The first ``count`` sessions wait ``seconds`` before every answer."""
    return lambda command, session: seconds if session <= count else 0.0


def test_a_relay_slow_on_every_operation_never_gets_a_row_sent_twice(db_url):
    """Two worker processes; each operation of the first sessions takes 1.5 s, under the
    2 s timeout, so only the whole send outlives its budget (and, before the deadline,
    the 10 s lease: the other worker claimed the row and sent it too)."""
    rows = outbox_rows(range(1, 9), channels=("email",))
    insert_rows(db_url, rows)
    env = {
        "RECOMPENSE_PUSH_URL": "",
        "RECOMPENSE_SMTP_TIMEOUT": "2",
        "RECOMPENSE_PUSH_TIMEOUT": "2",
        "RECOMPENSE_NOTIFY_LEASE_SECONDS": "10",
        "RECOMPENSE_NOTIFY_THREADS": "2",
        "RECOMPENSE_NOTIFY_MAX_ATTEMPTS": "20",
    }
    args = ("--until-done", "--batch", "4", "--max-seconds", "120")
    with SmtpSink(delay=slow_sessions(6, 1.5)) as smtp, HttpSink() as gateway:
        processes = [
            worker_process(db_url, smtp, gateway, *args, "--worker-id", f"w{i}", env=env)
            for i in range(2)
        ]
        outputs = [p.communicate(timeout=180) for p in processes]
        keys = smtp.keys()
        sessions = smtp.sessions

    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    stored = table(db_url)
    assert {r["status"] for r in stored.values()} == {"sent"}
    assert keys == dict.fromkeys(stored, 1)  # every row delivered, none twice
    assert sessions > 6  # the slow sessions were used and cut, then fast ones delivered
    cut = [r for r in stored.values() if r["attempts"] > 1]
    assert cut, "no send was cut by its deadline"


def test_a_stall_after_the_message_data_is_cut_at_the_deadline_and_retried_once():
    stall = slow_sessions(1, 30.0)  # the first session never answers the final "."
    with SmtpSink(
        delay=lambda command, session: stall(command, session) if command == "DATA" else 0
    ) as sink:
        sender = SmtpSender(NotifySettings(smtp_port=sink.port, smtp_timeout=1, lease_seconds=30))
        try:
            with pytest.raises(TransientDeliveryError) as caught:
                sender.send("n-1", "a@example.com", EMAIL)
            sender.send("n-1", "a@example.com", EMAIL)  # the retry, on a new session
        finally:
            sender.close()
        assert sink.keys() == {"n-1": 1}  # the stalled copy was never accepted
    assert not caught.value.channel_down  # the relay answered; this message timed out
    assert caught.value.reason == (
        "SMTP send deadline: 1 s (RECOMPENSE_SMTP_TIMEOUT) passed while waiting for the "
        "reply to DATA; the session was closed"
    )


@contextmanager
def dripping_server(first: bytes, drip: bytes, every: float = 0.2) -> Iterator[int]:
    """A TCP server that sends ``first`` then ``drip`` every ``every`` seconds, to each
    client, for at most 30 s: a peer whose every read succeeds, none completes."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(first)
                until = time.monotonic() + 30
                while not stop.wait(every) and time.monotonic() < until:
                    conn.sendall(drip)
            except OSError:
                pass  # the client hung up: what we want

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def test_an_smtp_greeting_dripped_line_by_line_is_cut_at_the_deadline():
    with dripping_server(b"220-relay.example ESMTP\r\n", b"220-still greeting\r\n") as port:
        sender = SmtpSender(NotifySettings(smtp_port=port, smtp_timeout=1, lease_seconds=30))
        with pytest.raises(TransientDeliveryError) as caught:
            sender.send("n-1", "a@example.com", EMAIL)
        sender.close()
    assert caught.value.channel_down  # no session could be opened: the relay is unusable
    assert caught.value.reason == (
        f"cannot open an SMTP session with 127.0.0.1:{port}: SMTP send deadline: 1 s "
        "(RECOMPENSE_SMTP_TIMEOUT) passed while waiting for the greeting; the session was "
        "closed"
    )


def test_a_push_answer_dripped_header_by_header_is_cut_at_the_deadline():
    with dripping_server(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n") as port:
        settings = NotifySettings(push_url=f"http://127.0.0.1:{port}/v1/push", push_timeout=1)
        sender = PushSender(settings)
        with pytest.raises(TransientDeliveryError) as caught:
            sender.send("n-1", "en", VOUCHER, PUSH)
        sender.close()
    assert not caught.value.channel_down  # it connected; this push timed out
    assert caught.value.reason == (
        f"cannot reach the push gateway http://127.0.0.1:{port}/v1/push: push send deadline: "
        "1 s (RECOMPENSE_PUSH_TIMEOUT) passed (ReadTimeout)"
    )


def test_a_stalled_push_gateway_is_cut_at_the_deadline_and_the_retry_delivers():
    calls: list[str] = []

    def respond(push):
        calls.append(push.key)
        if len(calls) == 1:
            time.sleep(3)  # answers after the 1 s budget: the worker has hung up
        return 200, {}, b"{}"

    with HttpSink(respond=respond) as gateway:
        sender = PushSender(NotifySettings(push_url=gateway.url, push_timeout=1))
        with pytest.raises(TransientDeliveryError, match="ReadTimeout") as caught:
            sender.send("n-1", "en", VOUCHER, PUSH)
        sender.send("n-1", "en", VOUCHER, PUSH)
        sender.close()
    assert not caught.value.channel_down
    assert calls == ["n-1", "n-1"]  # the same Idempotency-Key both times
