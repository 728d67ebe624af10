"""Localized texts, the payload contract and the MIME message (parsed back by ``email``)."""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from recompense.notify.errors import PermanentDeliveryError
from recompense.notify.mail import build_email
from recompense.notify.templates import Voucher, language, parse_payload, render_email, render_push

REDEEM = "https://www.binance.com/en/my/coupon?src=mail&x=1"
VOUCHER = Voucher(
    program_id="together-2025-10",
    program_name="Together Initiative — USDC token vouchers",
    voucher_id="0b6c8e39-3d56-5b0e-9f3c-6c1f9c0e1a11",
    user_id=42,
    amount_cents=10354,
    currency="USDC",
    expires_at=datetime(2025, 10, 29, 15, 17, tzinfo=UTC),
)
PAYLOAD = {
    "program_id": "together-2025-10",
    "program_name": "Together",
    "voucher_id": "v-1",
    "user_id": 7,
    "amount_cents": 1234,
    "currency": "USDC",
    "expires_at": "2025-10-29T15:17:00+00:00",
}


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "en"), ("es", "es"), ("es-MX", "es"), ("es_ES", "es"), ("ES", "es"),
     ("pt-BR", "en"), ("", "en"), ("zh-TW", "en")],
)  # fmt: skip
def test_language_is_the_locale_prefix_else_english(locale, expected):
    assert language(locale) == expected


def test_english_names_amount_expiry_and_where_to_redeem():
    r = render_email(VOUCHER, "en-GB", REDEEM)
    push = render_push(VOUCHER, "en-GB")

    assert r.language == "en"
    assert r.subject == "You have received a $103.54 USDC voucher"
    for body in (r.text, r.html):
        assert "$103.54 USDC" in body
        assert "29 October 2025, 15:17 UTC" in body
    assert f"Redeem it in the Rewards Hub: {REDEEM}" in r.text
    assert 'href="https://www.binance.com/en/my/coupon?src=mail&amp;x=1"' in r.html
    assert push.title == "You have received a $103.54 USDC voucher"
    assert push.body == "Redeem it in the Rewards Hub before 29 October 2025, 15:17 UTC."


def test_spanish_wording_with_the_same_exact_amount():
    r = render_email(VOUCHER, "es-AR", REDEEM)

    assert r.language == "es"
    assert r.subject == "Has recibido un cupón de $103.54 USDC"
    assert "29 de octubre de 2025, 15:17 UTC" in r.text
    assert f"Canjéalo en el Centro de recompensas: {REDEEM}" in r.text
    assert "Importe: $103.54 USDC" in r.text
    assert '<html lang="es">' in r.html
    assert (
        render_push(VOUCHER, "es-AR").body
        == "Canjéalo en el Centro de recompensas antes del 29 de octubre de 2025, 15:17 UTC."
    )


def test_amounts_use_exact_integer_formatting():
    big = render_email(replace(VOUCHER, amount_cents=600_000), "en", REDEEM)  # the cap
    small = render_email(replace(VOUCHER, amount_cents=400), "es", REDEEM)  # the floor
    assert "$6,000.00 USDC" in big.subject
    assert "$4.00 USDC" in small.subject


def test_values_are_html_escaped_and_headers_stay_on_one_line():
    hostile = replace(VOUCHER, program_name='<script>alert("x")</script>\r\nBcc: a@b')
    r = render_email(hostile, "en", REDEEM)
    assert "<script>" not in r.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in r.html
    assert "\n" not in r.subject
    assert "\r" not in r.subject


def test_payload_written_by_distribution_parses():
    payload = json.dumps(PAYLOAD, separators=(",", ":"))
    voucher = parse_payload("n-1", "email", payload)
    assert voucher.amount == "$12.34 USDC"
    assert voucher.expires_at == datetime(2025, 10, 29, 15, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ("{not json", "JSONDecodeError"),
        ('{"program_id":"p"}', "KeyError"),
        (json.dumps({**PAYLOAD, "expires_at": "2025-10-29T15:17:00"}), "no time zone"),
        (json.dumps({**PAYLOAD, "amount_cents": "10"}), "not an integer"),
        (json.dumps({**PAYLOAD, "amount_cents": 0}), "not positive"),
    ],
)  # fmt: skip
def test_a_malformed_payload_is_a_permanent_failure_naming_the_row(payload, why):
    with pytest.raises(PermanentDeliveryError, match=why) as caught:
        parse_payload("n-42", "push", payload)
    assert caught.value.notification_id == "n-42"
    assert "notification n-42 (push)" in str(caught.value)
    assert not caught.value.transient


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_email_is_multipart_alternative_and_parses_back_exactly(locale):
    content = render_email(VOUCHER, locale, REDEEM)
    data = build_email(
        notification_id="5f0e7a52-5d4c-5d8e-8a43-2f1f3e5c9b10",
        mail_from="Recompensas Binance <rewards@exchange.example>",
        recipient="user42@example.com",
        content=content,
        date="Wed, 15 Oct 2025 12:00:00 GMT",
    )

    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == content.subject
    assert message["Message-ID"] == "<5f0e7a52-5d4c-5d8e-8a43-2f1f3e5c9b10@recompense>"
    assert message["X-Idempotency-Key"] == "5f0e7a52-5d4c-5d8e-8a43-2f1f3e5c9b10"
    assert message["To"] == "user42@example.com"
    assert message["From"].addresses[0].display_name == "Recompensas Binance"
    assert message["Content-Language"] == locale
    crlf = lambda text: text.replace("\n", "\r\n")  # noqa: E731 - lines end CRLF on the wire
    assert message.get_body(("plain",)).get_content() == crlf(content.text)
    assert message.get_body(("html",)).get_content() == crlf(content.html)


def test_same_notification_same_bytes():
    content = render_email(VOUCHER, "es", REDEEM)
    make = lambda: build_email(  # noqa: E731
        notification_id="n-1",
        mail_from="Rewards <rewards@exchange.example>",
        recipient="a@example.com",
        content=content,
        date="Wed, 15 Oct 2025 12:00:00 GMT",
    )
    assert make() == make()


def test_long_non_ascii_subjects_fold_into_valid_encoded_words():
    subject = "Has recibido un cupón de $6,000.00 USDC — ¡canjéalo ya! " * 3 + "€😀"
    content = replace(render_email(VOUCHER, "es", REDEEM), subject=subject)
    data = build_email(
        notification_id="n-1",
        mail_from="Rewards <rewards@exchange.example>",
        recipient="a@example.com",
        content=content,
    )
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == subject
