"""Every loan decision and every read is also an event of the hash-chained audit trail,
written in the same transaction (on PostgreSQL as the application role, under RLS)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from loan_support import AM1, CC1, CC2, T0, new_application

from recompense.audit import events, verify
from recompense.ledger.db import connect
from recompense.loans import (
    approve,
    disburse,
    list_applications,
    reject,
    show,
    write_off,
)
from recompense.loans.errors import LoanForbidden

LATER = T0 + timedelta(hours=2)


def loan_events(url, subject=None):
    return [
        (e.actor, e.action, e.details.get("to_state"))
        for e in events(connect(url))
        if e.action.startswith("loan.") and (subject is None or e.subject == subject)
    ]


def test_decisions_are_audit_events(desk, ledger_url):
    approved = new_application(desk)
    approve(desk, CC1, approved, "sound", now=LATER)
    disburse(desk, CC2, approved, "pay out", now=LATER)
    write_off(desk, CC1, approved, "insolvent", now=LATER + timedelta(days=1))
    rejected = new_application(desk)
    reject(desk, CC2, rejected, "insufficient", now=LATER)
    assert loan_events(ledger_url, f"loan:{approved}") == [
        ("account_manager:am-1", "loan.create", "draft"),
        ("account_manager:am-1", "loan.submit", "submitted"),
        ("credit_committee:cc-1", "loan.approve", "approved"),
        ("credit_committee:cc-2", "loan.disburse", "active"),
        ("credit_committee:cc-1", "loan.write_off", "written_off"),
    ]
    assert loan_events(ledger_url, f"loan:{rejected}")[-1] == (
        "credit_committee:cc-2",
        "loan.reject",
        "rejected",
    )
    chain = list(events(connect(ledger_url)))
    disbursed = next(e for e in chain if e.action == "loan.disburse")
    assert disbursed.details["amount_cents"] == 50_000_000
    assert disbursed.details["entry_id"]
    assert all("reason" not in e.details for e in chain if e.action != "loan.read")
    assert verify(connect(ledger_url)).ok


def test_the_borrower_assignments_are_audit_events(desk, ledger_url):
    assigned = [e for e in events(connect(ledger_url)) if e.action == "loan.borrower"]
    assert len(assigned) == 4
    assert assigned[0].actor == "credit_committee:cc-1"
    assert assigned[0].details == {"tier": "institutional", "account_manager_id": "am-1"}


def test_a_refused_decision_writes_no_event(desk, ledger_url):
    app = new_application(desk)
    before = len(loan_events(ledger_url))
    with pytest.raises(LoanForbidden):
        approve(desk, AM1, app, "my own", now=LATER)
    assert len(loan_events(ledger_url)) == before


def test_reads_are_audit_events(desk, ledger_url):
    app = new_application(desk)
    show(desk, CC1, app, "credit review", now=LATER)
    list_applications(desk, CC2, "weekly report", now=LATER)
    reads = [e for e in events(connect(ledger_url)) if e.action == "loan.read"]
    assert [(e.actor, e.subject, e.details["what"]) for e in reads] == [
        ("credit_committee:cc-1", f"loan:{app}", "show"),
        ("credit_committee:cc-2", "loans", "list"),
    ]
    assert reads[0].details["reason"] == "credit review"
    assert reads[1].details["applications"] >= 1
