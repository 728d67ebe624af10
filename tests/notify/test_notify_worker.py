"""The worker against real peers on loopback: aiosmtpd and an HTTP push gateway."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from datetime import UTC, datetime, timedelta

from notify_support import NOW, PROGRAM_ID, HttpSink, SmtpSink, insert_rows, outbox_rows, table
from sqlalchemy import update

from recompense.ledger.db import connect
from recompense.ledger.schema import notifications
from recompense.notify import drain
from recompense.notify.outbox import as_utc
from recompense.notify.worker import requeue_failed


def ids(rows, channel):
    return {row["id"] for row in rows if row["channel"] == channel}


def statuses(url):
    return {row_id: row["status"] for row_id, row in table(url).items()}


def test_delivers_email_and_push_once_each(db_url, settings, smtp, gateway):
    rows = outbox_rows(range(1, 31))
    insert_rows(db_url, rows)

    result = drain(db_url, settings)

    assert (result.sent, result.retried, result.failed, result.pending_left) == (60, 0, 0, 0)
    stored = table(db_url)
    assert {r["status"] for r in stored.values()} == {"sent"}
    assert all(r["attempts"] == 1 and r["sent_at"] is not None for r in stored.values())
    assert smtp.keys() == dict.fromkeys(ids(rows, "email"), 1)
    assert gateway.keys() == dict.fromkeys(ids(rows, "push"), 1)


def test_email_content_is_localized_and_names_amount_expiry_and_redeem_url(
    db_url, settings, smtp, gateway
):
    rows = outbox_rows([3, 4], channels=("email",), amount=lambda user: 10354)
    insert_rows(db_url, rows)  # user 3 speaks Spanish (es-ES), user 4 English

    drain(db_url, settings)

    by_key = {mail.key: mail for mail in smtp.mails}
    for row in rows:
        mail = by_key[row["id"]]
        assert mail.rcpt_tos == (row["recipient"],)
        assert mail.mail_from == "rewards@exchange.example"
        msg = email.message_from_bytes(mail.data, policy=email.policy.default)
        assert msg.get_content_type() == "multipart/alternative"
        assert msg["Message-ID"] == f"<{row['id']}@recompense>"
        assert msg["X-Idempotency-Key"] == row["id"]
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        if row["locale"].startswith("es"):
            assert msg["Subject"] == "Has recibido un cupón de $103.54 USDC"
            assert "29 de octubre de 2025, 12:00 UTC" in text
        else:
            assert msg["Subject"] == "You have received a $103.54 USDC voucher"
            assert "29 October 2025, 12:00 UTC" in text
        for body in (text, html):
            assert "$103.54 USDC" in body
            assert "https://www.binance.com/en/my/coupon" in body


def test_push_is_json_with_the_idempotency_key(db_url, settings, smtp, gateway):
    rows = outbox_rows([3], channels=("push",), amount=lambda user: 600_000)
    insert_rows(db_url, rows)

    drain(db_url, settings)

    [push] = gateway.pushes
    assert push.key == rows[0]["id"]
    assert push.headers["content-type"] == "application/json"
    assert push.body == {
        "user_id": 3,
        "voucher_id": rows[0]["voucher_id"],
        "program_id": PROGRAM_ID,
        "title": "Has recibido un cupón de $6,000.00 USDC",
        "body": "Canjéalo en el Centro de recompensas antes del 29 de octubre de 2025, 12:00 UTC.",
        "amount_cents": 600_000,
        "currency": "USDC",
        "expires_at": "2025-10-29T12:00:00+00:00",
        "locale": "es-ES",
        "redeem_url": "https://www.binance.com/en/my/coupon",
    }


def test_smtp_down_for_a_while_loses_nothing_and_delivers_once(db_url, settings, gateway):
    server = SmtpSink()  # its port is chosen, nothing listens there yet
    fast = settings.replace(smtp_port=server.port)
    rows = outbox_rows(range(1, 41))
    insert_rows(db_url, rows)
    emails = ids(rows, "email")
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            drain(db_url, fast, once=False, stop_when_idle=True, max_seconds=30)
        )
    )
    worker.start()
    try:
        # Push goes on; email waits, its rows untouched by the outage: no attempt counted.
        stored = _wait_for(
            db_url, lambda s: all(s[i]["status"] == "sent" for i in ids(rows, "push"))
        )
        stored = _wait_for(db_url, lambda s: all(s[i]["last_error"] for i in emails))
        for row_id in emails:
            assert stored[row_id]["status"] in ("pending", "sending")
            assert stored[row_id]["attempts"] <= 1  # 1 only while claimed for a probe round
        waiting = next(stored[i]["last_error"] for i in emails if stored[i]["status"] == "pending")
        assert waiting.startswith(
            "waiting: channel email down (not counted as an attempt): cannot open an SMTP "
            f"session with 127.0.0.1:{server.port}: ConnectionRefusedError"
        )
        server.start()
        worker.join(timeout=30)
    finally:
        worker.join(timeout=30)
        server.stop()

    [result] = results
    assert (result.failed, result.pending_left, result.channels_down) == (0, 0, {})
    assert result.deferred >= len(emails)
    assert result.probes >= 1
    assert set(statuses(db_url).values()) == {"sent"}
    assert {table(db_url)[i]["attempts"] for i in emails} == {1}
    assert server.keys() == dict.fromkeys(emails, 1)
    assert gateway.keys() == dict.fromkeys(ids(rows, "push"), 1)


def test_permanent_failures_are_recorded_with_the_reason_and_not_retried(db_url, settings):
    rows = outbox_rows(
        [1, 2, 3], email=lambda user: f"{'bounce' if user == 1 else 'user'}{user}@example.com"
    )
    insert_rows(db_url, rows)
    rejected_push = next(r["id"] for r in rows if r["channel"] == "push" and r["user_id"] == 2)
    bounced = next(r["id"] for r in rows if r["channel"] == "email" and r["user_id"] == 1)

    def rcpt(address):
        return "550 5.1.1 Mailbox unavailable" if address.startswith("bounce") else None

    def respond(push):
        if push.key == rejected_push:
            return 400, {"Content-Type": "application/json"}, b'{"error":"unknown device"}'
        return 200, {}, b"{}"

    with SmtpSink(rcpt_reply=rcpt) as smtp, _gateway(respond) as gateway:
        s = settings.replace(smtp_port=smtp.port, push_url=gateway.url)
        first = drain(db_url, s)
        again = drain(db_url, s, once=False, stop_when_idle=True, max_seconds=10)

    assert (first.sent, first.failed, first.retried) == (4, 2, 0)
    assert (again.sent, again.failed) == (0, 0)
    stored = table(db_url)
    assert stored[bounced]["status"] == "failed"
    assert stored[bounced]["last_error"] == "rejected: SMTP 550 5.1.1 Mailbox unavailable (RCPT)"
    assert stored[rejected_push]["last_error"] == (
        'rejected: push gateway answered HTTP 400: {"error":"unknown device"}'
    )
    assert stored[bounced]["attempts"] == stored[rejected_push]["attempts"] == 1
    assert gateway.keys()[rejected_push] == 1


def test_transient_replies_are_retried_until_delivered(db_url, settings):
    rows = outbox_rows([1, 2, 3, 4])
    insert_rows(db_url, rows)
    seen: set[str] = set()

    def greylist(address):
        if address not in seen:
            seen.add(address)
            return "451 4.7.1 Greylisted, try again later"
        return None

    def flaky(push):
        count = sum(1 for p in gateway.pushes if p.key == push.key)
        if count == 1:
            return 500, {}, b"overloaded"
        if count == 2:
            return 429, {"Retry-After": "0"}, b""
        return 202, {}, b""

    with SmtpSink(rcpt_reply=greylist) as smtp, _gateway(flaky) as gateway:
        s = settings.replace(smtp_port=smtp.port, push_url=gateway.url)
        result = drain(db_url, s, once=False, stop_when_idle=True, max_seconds=20)

    assert (result.sent, result.failed, result.pending_left) == (8, 0, 0)
    stored = table(db_url)
    assert {stored[i]["attempts"] for i in ids(rows, "email")} == {2}
    assert {stored[i]["attempts"] for i in ids(rows, "push")} == {3}
    assert smtp.keys() == dict.fromkeys(ids(rows, "email"), 1)
    assert gateway.keys() == dict.fromkeys(ids(rows, "push"), 3)


def test_retry_after_sets_the_earliest_next_attempt(db_url, settings):
    rows = outbox_rows([1], channels=("push",))
    insert_rows(db_url, rows)
    with _gateway(lambda push: (429, {"Retry-After": "120"}, b"slow down")) as gateway:
        s = settings.replace(push_url=gateway.url, backoff_cap=600)
        before = datetime.now(UTC)
        result = drain(db_url, s)
    row = table(db_url)[rows[0]["id"]]
    assert (result.retried, row["status"]) == (1, "pending")
    assert as_utc(row["next_attempt_at"]) >= before + timedelta(seconds=120)
    assert row["last_error"] == "retry: push gateway answered HTTP 429: slow down"


def test_gives_up_after_max_attempts_and_requeue_recovers(db_url, settings, gateway):
    greylisting = True

    def rcpt(address):
        return "451 4.7.1 Greylisted, try again later" if greylisting else None

    rows = outbox_rows([1, 2], channels=("email",))
    insert_rows(db_url, rows)
    with SmtpSink(rcpt_reply=rcpt) as server:
        s = settings.replace(smtp_port=server.port, max_attempts=3)
        result = drain(db_url, s, once=False, stop_when_idle=True, max_seconds=20)

        assert (result.failed, result.pending_left, result.retried) == (2, 0, 4)
        for row in table(db_url).values():
            assert row["status"] == "failed"
            assert row["attempts"] == 3
            assert row["last_error"] == (
                "gave-up: after 3 attempts; last error: SMTP 451 4.7.1 Greylisted, try again "
                "later (RCPT)"
            )
        assert requeue_failed(db_url).total == 2
        greylisting = False
        assert drain(db_url, s).sent == 2
        assert server.keys() == dict.fromkeys(ids(rows, "email"), 1)


def test_a_row_whose_worker_died_is_resent_with_the_same_keys(db_url, settings, smtp, gateway):
    rows = outbox_rows([1, 2])
    insert_rows(db_url, rows)
    stuck = [r["id"] for r in rows if r["user_id"] == 1]
    with connect(db_url).begin() as conn:
        conn.execute(
            update(notifications)
            .where(notifications.c.id.in_(stuck))
            .values(status="sending", attempts=1, lease_owner="dead:1:x", lease_until=NOW)
        )

    result = drain(db_url, settings)

    assert result.sent == 4
    stored = table(db_url)
    assert {stored[i]["attempts"] for i in stuck} == {2}
    assert all(stored[i]["lease_owner"] == result.worker_id for i in stuck)
    keys = smtp.keys() + gateway.keys()
    assert all(keys[i] == 1 for i in stuck)  # same Message-ID / Idempotency-Key as before


def test_without_a_push_gateway_push_rows_wait_and_email_goes(db_url, settings, smtp):
    rows = outbox_rows([1, 2, 3])
    insert_rows(db_url, rows)

    result = drain(db_url, settings.replace(push_url=None))

    assert (result.sent, result.failed, result.pending_left) == (3, 0, 3)
    assert result.channels == ("email",)
    stored = statuses(db_url)
    assert {stored[i] for i in ids(rows, "push")} == {"pending"}


def test_a_malformed_payload_fails_without_retry(db_url, settings, smtp, gateway):
    rows = outbox_rows([1], channels=("push",))
    rows[0]["payload"] = '{"program_id": "together-2025-10"'
    insert_rows(db_url, rows)

    result = drain(db_url, settings)

    assert (result.failed, result.retried) == (1, 0)
    assert table(db_url)[rows[0]["id"]]["last_error"].startswith(
        "rejected: malformed payload (JSONDecodeError"
    )
    assert gateway.pushes == []


def test_the_rate_limit_paces_sends(db_url, settings, smtp, gateway):
    insert_rows(db_url, outbox_rows(range(1, 21), channels=("push",)))
    started = time.monotonic()
    result = drain(db_url, settings.replace(rate=40))
    assert result.sent == 20
    assert time.monotonic() - started >= 19 / 40


def _gateway(respond):
    return HttpSink(respond=respond)


def _wait_for(url, condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = table(url)
        if condition(stored):
            return stored
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
