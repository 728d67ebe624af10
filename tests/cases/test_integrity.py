"""What the database itself guarantees: append-only events, one winner in a race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from case_support import ALICE, BOB, CAROL, PROGRAM_ID, USER_A
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from builders import approve_twice
from recompense.cases import service
from recompense.cases.decisions import accepted_unapplied
from recompense.cases.desk import open_desk
from recompense.cases.schema import case_approvals, case_decisions, case_events
from recompense.distribution.distribute import distribute

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_case_events_are_append_only(desk, program, statement):
    service.open_case(desk, USER_A, program, "appeal_loss", "x", now=T0)
    change = (
        update(case_events).values(action="forged")
        if statement == "update"
        else delete(case_events)
    )
    with pytest.raises(DBAPIError, match="append-only"), desk.engine.begin() as conn:
        conn.execute(change)


def test_two_officers_approving_at_once_make_one_decision(small_run, postgres_ledger_url, keyring):
    approve_twice(small_run, postgres_ledger_url)
    distribute(small_run, postgres_ledger_url, batch_size=1000)
    desk = open_desk(postgres_ledger_url, keyring=keyring)
    case_id = service.open_case(desk, USER_A, PROGRAM_ID, "appeal_loss", "x", now=T0)
    service.accept(desk, ALICE, case_id, service.Correction(loss_cents=500_000), "big", now=T0)
    barrier, results = threading.Barrier(2), {}

    def approve(officer: str) -> None:
        barrier.wait()
        try:
            results[officer] = service.approve(desk, officer, case_id, "agree", now=T0)
        except service.CaseConflict as exc:
            results[officer] = exc.code

    threads = [threading.Thread(target=approve, args=(o,)) for o in (BOB, CAROL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["accepted", "wrong_state"]
    with desk.engine.connect() as conn:
        accepted = conn.execute(
            select(func.count()).where(case_decisions.c.accepted_at.is_not(None))
        ).scalar_one()
        signatures = conn.execute(select(func.count()).select_from(case_approvals)).scalar_one()
        assert len(accepted_unapplied(conn, PROGRAM_ID)) == 1
    assert (accepted, signatures) == (1, 2)
