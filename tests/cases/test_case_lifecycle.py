"""A case's life on SQLite and PostgreSQL: open → info → respond → decide, and the events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from case_support import ALICE, AUDITOR, BOB, USER_A
from sqlalchemy import select

from recompense.cases import service
from recompense.cases.decisions import accepted_unapplied
from recompense.cases.errors import CaseConflict, CaseError, CaseNotFound
from recompense.cases.schema import case_decisions, case_events, cases
from recompense.ledger.schema import audit_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def open_appeal(desk, program, **kw) -> str:
    return service.open_case(
        desk, USER_A, program, "appeal_loss", "My loss was $2,500, not $1,200.",
        stated_cents=250_000, now=T0, **kw,
    )  # fmt: skip


def test_a_case_goes_from_open_to_accepted_through_a_request_for_information(desk, program):
    case_id = open_appeal(desk, program)
    service.request_info(
        desk, ALICE, case_id, "Please attach your fills.", now=T0 + timedelta(hours=2)
    )
    service.respond(desk, USER_A, case_id, "Attached.", now=T0 + timedelta(hours=12))
    state = service.accept(
        desk, ALICE, case_id, service.Correction(loss_cents=90_000), "fills confirm it",
        now=T0 + timedelta(hours=13),
    )  # fmt: skip
    assert state == "accepted"
    detail = service.case_detail(desk, USER_A, case_id, now=T0 + timedelta(hours=14))
    assert [e.action for e in detail.events] == ["open", "request_info", "respond", "accept"]


def test_the_clock_stops_while_the_case_waits_for_the_user(desk, program):
    case_id = open_appeal(desk, program)
    service.request_info(desk, ALICE, case_id, "Which account?", now=T0 + timedelta(hours=1))
    service.respond(desk, USER_A, case_id, "Futures.", now=T0 + timedelta(hours=11))
    [row] = service.queue(desk, ALICE, now=T0 + timedelta(hours=12))
    assert row.due_at == T0 + timedelta(hours=72 + 10)


def test_queue_rows_carry_age_hours_left_and_the_overdue_flag(desk, program):
    case_id = open_appeal(desk, program)
    [row] = service.queue(desk, ALICE, now=T0 + timedelta(hours=80))
    assert (row.id, row.age_hours, row.hours_left, row.overdue) == (case_id, 80.0, -8.0, True)


def test_queue_filters_by_state_category_age_and_assignee(desk, program):
    first = open_appeal(desk, program)
    service.open_case(
        desk,
        "user:1002",
        program,
        "appeal_eligibility",
        "I was liquidated.",
        now=T0 + timedelta(hours=30),
    )
    service.assign(desk, ALICE, first, BOB, now=T0 + timedelta(hours=31))
    later = T0 + timedelta(hours=40)
    assert [r.id for r in service.queue(desk, ALICE, category="appeal_loss", now=later)] == [first]
    assert [r.id for r in service.queue(desk, ALICE, min_age_hours=20, now=later)] == [first]
    assert [r.id for r in service.queue(desk, ALICE, assigned_to=BOB, now=later)] == [first]
    assert len(service.queue(desk, ALICE, assigned_to="none", now=later)) == 1
    assert service.queue(desk, ALICE, state="accepted", now=later) == []


def test_about_to_miss_lists_what_is_due_within_the_window(desk, program):
    soon = open_appeal(desk, program)
    service.open_case(
        desk, "user:1002", program, "appeal_loss", "Later case.", now=T0 + timedelta(hours=48)
    )
    rows = service.about_to_miss(desk, ALICE, within_hours=24, now=T0 + timedelta(hours=50))
    assert [r.id for r in rows] == [soon]


def test_reject_sets_the_reason_code_and_closes_the_case(desk, program):
    case_id = open_appeal(desk, program)
    assert (
        service.reject(desk, ALICE, case_id, "LOSS_CONFIRMED", "Fills checked.", now=T0)
        == "rejected"
    )
    [summary] = service.user_cases(desk, USER_A)
    assert (summary.state, summary.reason_code) == ("rejected", "LOSS_CONFIRMED")


def test_an_unknown_reason_code_is_refused(desk, program):
    case_id = open_appeal(desk, program)
    with pytest.raises(CaseError, match="reason code 'NOPE'"):
        service.reject(desk, ALICE, case_id, "NOPE", "x", now=T0)


def test_a_decided_case_refuses_another_decision_naming_state_and_action(desk, program):
    case_id = open_appeal(desk, program)
    service.reject(desk, ALICE, case_id, "LOSS_CONFIRMED", "Fills checked.", now=T0)
    with pytest.raises(CaseConflict, match=r"is rejected; accept needs open"):
        service.accept(desk, BOB, case_id, service.Correction(loss_cents=1), "x", now=T0)


def test_withdraw_by_the_user_withdraws_a_pending_proposal(desk, program):
    case_id = open_appeal(desk, program)
    service.accept(desk, ALICE, case_id, service.Correction(loss_cents=500_000), "big", now=T0)
    assert service.withdraw(desk, USER_A, case_id, now=T0) == "withdrawn"
    with desk.engine.connect() as conn:
        withdrawn = conn.execute(select(case_decisions.c.withdrawn_at)).scalar_one()
    assert withdrawn is not None


def test_a_returned_proposal_allows_a_new_round(desk, program):
    case_id = open_appeal(desk, program)
    service.accept(desk, ALICE, case_id, service.Correction(loss_cents=500_000), "big", now=T0)
    assert service.return_proposal(desk, BOB, case_id, "check again", now=T0) == "open"
    assert (
        service.accept(desk, ALICE, case_id, service.Correction(loss_cents=50_000), "small", now=T0)
        == "accepted"
    )
    with desk.engine.connect() as conn:
        rounds = conn.execute(
            select(case_decisions.c.round, case_decisions.c.withdrawn_at.is_(None)).order_by(
                case_decisions.c.round
            )
        ).fetchall()
    assert [tuple(r) for r in rounds] == [(0, False), (1, True)]


def test_accepted_unapplied_returns_exactly_the_accepted_decisions(desk, program):
    accepted = open_appeal(desk, program)
    proposed = service.open_case(desk, "user:1002", program, "appeal_loss", "Big one.", now=T0)
    claim = service.open_case(
        desk, "user:1003", program, "claim_transfer", "Transfer stuck 40 min.",
        stated_cents=30_000, occurred_at=datetime(2025, 10, 10, 21, 5, tzinfo=UTC), now=T0,
    )  # fmt: skip
    rejected = service.open_case(
        desk, "user:1004", program, "appeal_net_assets", "NA wrong.", now=T0
    )
    service.accept(
        desk,
        ALICE,
        accepted,
        service.Correction(loss_cents=90_000, not_compensated=True),
        "ok",
        now=T0,
    )
    service.accept(desk, ALICE, proposed, service.Correction(net_assets_cents=5), "big", now=T0)
    service.accept(
        desk, BOB, claim, service.Claim(25_000), "verified", now=T0 + timedelta(minutes=1)
    )
    service.reject(desk, ALICE, rejected, "NET_ASSETS_CONFIRMED", "Balances checked.", now=T0)
    with desk.engine.connect() as conn:
        decisions = accepted_unapplied(conn, program)
    assert [
        (d.case_id, d.kind, d.loss_cents, d.not_compensated, d.claim_cents) for d in decisions
    ] == [
        (accepted, "correction", 90_000, True, None),
        (claim, "claim", None, None, 25_000),
    ]


def test_every_decision_is_in_the_audit_trail_without_its_text(desk, program):
    case_id = open_appeal(desk, program)
    service.accept(
        desk, ALICE, case_id, service.Correction(loss_cents=500_000), "secret why", now=T0
    )
    service.approve(desk, BOB, case_id, "agree", now=T0)
    with desk.engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.action, audit_events.c.details).where(
                audit_events.c.subject == f"case:{case_id}"
            )
        ).fetchall()
    assert [r.action for r in rows] == ["case.open", "case.propose", "case.approve"]
    assert not any("secret" in r.details for r in rows)


def test_free_text_is_encrypted_at_rest(desk, program):
    case_id = open_appeal(desk, program)
    service.note(desk, ALICE, case_id, "internal: user is a VIP", now=T0)
    with desk.engine.connect() as conn:
        summary = conn.execute(select(cases.c.summary_enc)).scalar_one()
        texts = conn.execute(select(case_events.c.text_enc)).scalars().all()
    assert "2,500" not in summary
    assert not any("VIP" in (t or "") for t in texts)


def test_a_case_needs_a_distributed_programme(desk):
    with pytest.raises(CaseNotFound, match="not in the ledger"):
        service.open_case(desk, USER_A, "no-such-programme", "appeal_loss", "x", now=T0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"category": "appeal_loss", "summary": ""}, "summary: between 1 and 4000"),
        ({"category": "appeal_loss", "summary": "x" * 4001}, "summary: between 1 and 4000"),
        ({"category": "appeal_loss", "summary": "a\x00b"}, "control characters"),
        ({"category": "refund", "summary": "x"}, "category 'refund'"),
        ({"category": "claim_earn", "summary": "x"}, "stated amount: required"),
        ({"category": "claim_earn", "summary": "x", "stated_cents": 100}, "needs the time"),
        (
            {"category": "claim_earn", "summary": "x", "stated_cents": 100,
             "occurred_at": datetime(2025, 10, 9, tzinfo=UTC)},
            "outside the programme's incident window",
        ),
        (
            {"category": "appeal_loss", "summary": "x",
             "occurred_at": datetime(2025, 10, 10, 21, tzinfo=UTC)},
            "only claims take a time",
        ),
        ({"category": "appeal_loss", "summary": "x", "stated_cents": -1}, "out of range"),
        ({"category": "appeal_loss", "summary": "x", "email": "not-an-address"}, "e-mail"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_and_nothing_is_written(desk, program, kwargs, message):
    with pytest.raises(CaseError, match=message):
        service.open_case(desk, USER_A, program, now=T0, **kwargs)
    with desk.engine.connect() as conn:
        assert conn.execute(select(cases.c.id)).first() is None


def test_the_auditor_reads_and_the_read_is_logged(desk, program):
    case_id = open_appeal(desk, program)
    detail = service.case_detail(desk, AUDITOR, case_id, now=T0)
    assert detail.summary == "My loss was $2,500, not $1,200."
    with desk.engine.connect() as conn:
        views = (
            conn.execute(select(case_events.c.actor).where(case_events.c.action == "view"))
            .scalars()
            .all()
        )
    assert views == [AUDITOR]
