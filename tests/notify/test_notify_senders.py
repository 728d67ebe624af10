"""Senders one by one: SMTP sessions (STARTTLS, AUTH, reconnects), push replies, dispatch."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from notify_support import SmtpSink, outbox_rows

from recompense.notify import NotifySettings, PermanentDeliveryError, TransientDeliveryError
from recompense.notify.dispatch import Dispatcher
from recompense.notify.mail import SmtpSender
from recompense.notify.outbox import Notification
from recompense.notify.push import PushSender
from recompense.notify.templates import parse_payload, render_email, render_push

ROW = outbox_rows([7], channels=("push",))[0]
VOUCHER = parse_payload(ROW["id"], "push", ROW["payload"])
EMAIL = render_email(VOUCHER, "en", "https://exchange.example/rewards-hub")
PUSH = render_push(VOUCHER, "en")


def push_sender(handler) -> PushSender:
    settings = NotifySettings(push_url="https://push.example/v1/push")
    return PushSender(settings, transport=httpx.MockTransport(handler))


def test_push_request_carries_the_idempotency_key():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sender = push_sender(handler)
    sender.send("n-1", "en", VOUCHER, PUSH)
    sender.send("n-1", "en", VOUCHER, PUSH)  # a retry: same key, same body
    sender.close()
    assert [r.headers["Idempotency-Key"] for r in seen] == ["n-1", "n-1"]
    assert seen[0].content == seen[1].content


@pytest.mark.parametrize(
    ("response", "error", "retry_after"),
    [
        (httpx.Response(500), TransientDeliveryError, None),
        (httpx.Response(408), TransientDeliveryError, None),
        (httpx.Response(429, headers={"Retry-After": "30"}), TransientDeliveryError, 30.0),
        (httpx.Response(301, headers={"Location": "/elsewhere"}), PermanentDeliveryError, None),
        (httpx.Response(404, text="no such device"), PermanentDeliveryError, None),
    ],
)
def test_push_status_codes_sort_into_transient_and_permanent(response, error, retry_after):
    sender = push_sender(lambda request: response)
    with pytest.raises(error, match=f"HTTP {response.status_code}") as caught:
        sender.send("n-9", "en", VOUCHER, PUSH)
    sender.close()
    assert caught.value.notification_id == "n-9"
    assert caught.value.channel == "push"
    assert getattr(caught.value, "retry_after", None) == retry_after


def test_retry_after_as_an_http_date():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    sender = push_sender(lambda request: httpx.Response(503, headers={"Retry-After": when}))
    with pytest.raises(TransientDeliveryError) as caught:
        sender.send("n-1", "en", VOUCHER, PUSH)
    sender.close()
    assert 80 < (caught.value.retry_after or 0) <= 90


def test_network_errors_are_transient_and_refusal_marks_the_channel_down():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    for handler, down in ((refused, True), (slow, False)):
        sender = push_sender(handler)
        with pytest.raises(TransientDeliveryError, match="cannot reach the push gateway") as e:
            sender.send("n-1", "en", VOUCHER, PUSH)
        sender.close()
        assert e.value.channel_down is down
        assert isinstance(e.value.__cause__, httpx.TransportError)


def test_an_smtp_session_dropped_while_idle_is_reopened_transparently():
    sink = SmtpSink().start()
    sender = SmtpSender(NotifySettings(smtp_port=sink.port, smtp_timeout=5, lease_seconds=30))
    try:
        sender.send("n-1", "a@example.com", EMAIL)
        sink.stop()
        sink.start()  # same port: the old session is dead, the server is back
        sender.send("n-2", "b@example.com", EMAIL)
    finally:
        sender.close()
        sink.stop()
    assert sorted(sink.keys()) == ["n-1", "n-2"]


def test_smtp_refused_connection_is_transient_and_takes_the_channel_down():
    port = SmtpSink().port  # nothing listens
    sender = SmtpSender(NotifySettings(smtp_port=port, smtp_timeout=5, lease_seconds=30))
    with pytest.raises(TransientDeliveryError, match="ConnectionRefusedError") as caught:
        sender.send("n-1", "a@example.com", EMAIL)
    sender.close()
    assert caught.value.channel_down


@pytest.mark.parametrize("recipient", [None, "", "no-at-sign", "a@b.c\r\nBcc: x@y.z", "ü@b.c"])
def test_a_recipient_that_cannot_be_an_address_is_rejected_permanently(recipient):
    sender = SmtpSender(NotifySettings())
    with pytest.raises(PermanentDeliveryError, match="malformed recipient"):
        sender.send("n-1", recipient, EMAIL)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the openssl CLI ships with the OS)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_starttls_and_auth(certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535

    sink = SmtpSink(
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    ).start()
    base = NotifySettings(
        smtp_port=sink.port,
        smtp_starttls=True,
        smtp_cafile=str(cert),
        smtp_username="rewards",
        smtp_password="s3cret",
        smtp_timeout=5,
        lease_seconds=30,
    )
    good = SmtpSender(base)
    bad = SmtpSender(base.replace(smtp_password="wrong"))
    try:
        good.send("n-1", "a@example.com", EMAIL)
        with pytest.raises(TransientDeliveryError, match="535") as caught:
            bad.send("n-2", "b@example.com", EMAIL)
    finally:
        good.close()
        bad.close()
        sink.stop()
    assert caught.value.channel_down
    assert list(sink.keys()) == ["n-1"]


def test_dispatch_tries_a_down_channel_once_per_batch_and_releases_late_rows():
    port = SmtpSink().port
    settings = NotifySettings(smtp_port=port, smtp_timeout=5, lease_seconds=30, threads=1)
    batch = [
        Notification(r["id"], "email", r["recipient"], "en", r["payload"], 1)
        for r in outbox_rows(range(1, 5), channels=("email",))
    ]
    with Dispatcher(settings) as dispatcher:
        outcomes = dispatcher.send_batch(batch, send_by=time.monotonic() + 30)
        late = dispatcher.send_batch(batch, send_by=time.monotonic() - 1)

    assert [o.result for o in outcomes] == ["deferred"] * 4  # put back, no attempt counted
    assert "not tried" not in (outcomes[0].reason or "")
    assert all((o.reason or "").endswith("(not tried: channel down)") for o in outcomes[1:])
    assert [o.result for o in late] == ["released"] * 4


def test_a_refused_sender_is_our_configuration_not_the_notifications_fault(certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = SmtpSink(  # AUTH required, and this worker has no credentials configured
        tls_context=context,
        authenticator=lambda *args: AuthResult(success=True),
        auth_required=True,
    ).start()
    settings = NotifySettings(
        smtp_port=sink.port,
        smtp_starttls=True,
        smtp_cafile=str(cert),
        smtp_timeout=5,
        lease_seconds=30,
    )
    sender = SmtpSender(settings)
    try:
        with pytest.raises(TransientDeliveryError, match="refused the sender") as caught:
            sender.send("n-1", "a@example.com", EMAIL)
    finally:
        sender.close()
        sink.stop()
    assert caught.value.channel_down
    assert "530" in caught.value.reason
