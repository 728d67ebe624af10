"""Who may do what: users see only their cases (others are "not found"), auditors only
read, operations never act as users, and maker-checker has no bypass."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from case_support import ALICE, AUDITOR, BOB, USER_A, USER_B

from recompense.cases import service
from recompense.cases.errors import CaseConflict, CaseForbidden, CaseNotFound
from recompense.errors import ForbiddenError, NotFoundError

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n% evidence\n"


@pytest.fixture
def case_a(desk, program) -> str:
    return service.open_case(desk, USER_A, program, "appeal_loss", "Mine.", now=T0)


USER_ACTIONS = {
    "detail": lambda d, a, c: service.case_detail(d, a, c, now=T0),
    "respond": lambda d, a, c: service.respond(d, a, c, "answer", now=T0),
    "withdraw": lambda d, a, c: service.withdraw(d, a, c, now=T0),
    "evidence": lambda d, a, c: service.add_evidence(
        d, a, c, "f.pdf", "application/pdf", PDF, now=T0
    ),
}
OPS_ACTIONS = {
    "assign": lambda d, a, c: service.assign(d, a, c, BOB, now=T0),
    "note": lambda d, a, c: service.note(d, a, c, "n", now=T0),
    "request_info": lambda d, a, c: service.request_info(d, a, c, "more?", now=T0),
    "accept": lambda d, a, c: service.accept(
        d, a, c, service.Correction(loss_cents=1), "r", now=T0
    ),
    "approve": lambda d, a, c: service.approve(d, a, c, "r", now=T0),
    "return": lambda d, a, c: service.return_proposal(d, a, c, "r", now=T0),
    "reject": lambda d, a, c: service.reject(d, a, c, "LOSS_CONFIRMED", "t", now=T0),
}


@pytest.mark.parametrize("action", sorted(USER_ACTIONS) + sorted(OPS_ACTIONS))
def test_another_user_is_told_not_found(desk, case_a, action):
    run = {**USER_ACTIONS, **OPS_ACTIONS}[action]
    with pytest.raises(CaseNotFound, match="not found"):
        run(desk, USER_B, case_a)


@pytest.mark.parametrize("action", sorted(OPS_ACTIONS))
def test_the_owner_cannot_work_their_own_case(desk, case_a, action):
    with pytest.raises(CaseForbidden):
        OPS_ACTIONS[action](desk, USER_A, case_a)


@pytest.mark.parametrize("action", [*sorted(OPS_ACTIONS), "respond", "withdraw", "evidence"])
def test_an_auditor_cannot_act(desk, case_a, action):
    with pytest.raises(ForbiddenError):
        {**USER_ACTIONS, **OPS_ACTIONS}[action](desk, AUDITOR, case_a)


@pytest.mark.parametrize("action", ["respond", "withdraw", "evidence"])
def test_operations_cannot_do_what_users_do(desk, case_a, action):
    with pytest.raises(CaseForbidden, match="ops cannot"):
        USER_ACTIONS[action](desk, ALICE, case_a)


def test_a_user_cannot_read_another_users_evidence(desk, case_a):
    evidence = service.add_evidence(desk, USER_A, case_a, "f.pdf", "application/pdf", PDF, now=T0)
    with pytest.raises(NotFoundError):
        service.read_evidence(desk, USER_B, evidence, now=T0)
    assert service.read_evidence(desk, USER_A, evidence, now=T0).data == PDF


def test_a_user_lists_only_their_own_cases(desk, case_a, program):
    service.open_case(desk, USER_B, program, "appeal_loss", "Theirs.", now=T0)
    assert [c.id for c in service.user_cases(desk, USER_A)] == [case_a]


def test_users_and_auditors_cannot_list_the_queue(desk, case_a):
    with pytest.raises(CaseForbidden):
        service.queue(desk, USER_A)
    assert [r.id for r in service.queue(desk, AUDITOR, now=T0)] == [case_a]


def test_staff_cannot_open_cases(desk, program):
    with pytest.raises(CaseForbidden):
        service.open_case(desk, ALICE, program, "appeal_loss", "x", now=T0)


def test_a_user_sees_neither_internal_notes_nor_officers_names(desk, case_a):
    service.note(desk, ALICE, case_a, "internal only", now=T0)
    service.request_info(desk, ALICE, case_a, "Send fills please", now=T0)
    detail = service.case_detail(desk, USER_A, case_a, now=T0)
    assert [(e.actor, e.action, e.text) for e in detail.events] == [
        (USER_A, "open", "Mine."),
        ("ops", "request_info", "Send fills please"),
    ]
    assert detail.assigned_to is None


def test_the_proposer_cannot_approve_their_own_proposal(desk, case_a):
    service.accept(desk, ALICE, case_a, service.Correction(loss_cents=500_000), "big", now=T0)
    with pytest.raises(CaseForbidden, match="maker-checker"):
        service.approve(desk, ALICE, case_a, "me again", now=T0)


def test_a_second_approval_by_the_same_officer_is_refused(desk, case_a):
    service.accept(desk, ALICE, case_a, service.Correction(loss_cents=500_000), "big", now=T0)
    service.approve(desk, BOB, case_a, "agree", now=T0)
    with pytest.raises(CaseConflict, match="is accepted; approve needs proposed"):
        service.approve(desk, BOB, case_a, "again", now=T0)


def test_an_unknown_case_id_is_not_found_for_staff_too(desk, program):
    with pytest.raises(CaseNotFound):
        service.case_detail(desk, ALICE, "00000000-0000-0000-0000-000000000000", now=T0)
