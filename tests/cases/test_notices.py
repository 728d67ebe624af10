"""Case notices land in the outbox (push always, e-mail when known) and render in en/es."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from case_support import ALICE, USER_A
from sqlalchemy import select

from recompense.cases import service
from recompense.ledger.schema import notifications
from recompense.notify.templates import (
    CaseNotice,
    parse_notice,
    render_case_email,
    render_case_push,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def outbox(desk):
    with desk.engine.connect() as conn:
        return conn.execute(
            select(notifications.c.channel, notifications.c.voucher_id, notifications.c.locale,
                   notifications.c.recipient, notifications.c.payload)
            .where(notifications.c.voucher_id.is_(None))
            .order_by(notifications.c.created_at, notifications.c.channel)
        ).fetchall()  # fmt: skip


def test_opening_request_info_and_rejection_each_notify(desk, program):
    case_id = service.open_case(
        desk, USER_A, program, "appeal_loss", "x", locale="es-AR", email="a@example.com", now=T0
    )
    service.request_info(desk, ALICE, case_id, "¿Qué cuenta?", now=T0)
    service.respond(desk, USER_A, case_id, "Futuros", now=T0)
    service.reject(desk, ALICE, case_id, "LOSS_CONFIRMED", "Revisado.", now=T0)
    rows = outbox(desk)
    events = [(r.channel, json.loads(r.payload)["event"]) for r in rows]
    assert sorted(events) == sorted(
        (channel, event)
        for channel in ("email", "push")
        for event in ("opened", "info_requested", "rejected")
    )
    assert {r.recipient for r in rows if r.channel == "email"} == {"a@example.com"}
    assert not any("Qué" in r.payload for r in rows)  # the officer's words stay encrypted


def test_without_an_email_only_push_is_written(desk, program):
    case_id = service.open_case(desk, USER_A, program, "appeal_loss", "x", now=T0)
    service.accept(desk, ALICE, case_id, service.Correction(loss_cents=100), "ok", now=T0)
    payloads = [json.loads(r.payload) for r in outbox(desk)]
    assert [(p["kind"], p["event"], p["case_id"]) for p in payloads] == [
        ("case", "opened", case_id),
        ("case", "accepted", case_id),
    ]


NOTICE = CaseNotice("rejected", "c-1", "p", 7, "rejected", "appeal_loss", "LOSS_CONFIRMED")


@pytest.mark.parametrize(
    ("locale", "subject", "phrase"),
    [
        ("en", "Your case was not accepted", "the loss we published stands"),
        ("es-MX", "Tu caso no ha sido aceptado", "la pérdida publicada se mantiene"),
    ],
)
def test_a_case_notice_renders_in_the_users_language(locale, subject, phrase):
    email = render_case_email(NOTICE, locale)
    assert (email.subject, phrase in email.text, phrase in email.html) == (subject, True, True)
    assert render_case_push(NOTICE, locale).title == subject


def test_a_case_payload_parses_and_a_voucher_payload_still_does():
    payload = json.dumps({"kind": "case", "event": "opened", "case_id": "c", "program_id": "p",
                          "user_id": 1, "state": "open", "category": "claim_earn", "reason_code": None})  # fmt: skip
    assert parse_notice("n", "push", payload) == CaseNotice(
        "opened", "c", "p", 1, "open", "claim_earn", None
    )
    voucher = json.dumps({"program_id": "p", "voucher_id": "v", "user_id": 1, "amount_cents": 5,
                          "currency": "USDC", "expires_at": "2026-01-01T00:00:00+00:00"})  # fmt: skip
    assert parse_notice("n", "push", voucher).amount_cents == 5
