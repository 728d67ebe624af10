"""The audit trail in the console, and the events the web service writes itself: staff
reads of personal data, with the signed-in principal as the actor."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from recompense.audit import events, record, verify
from recompense.ledger.db import connect
from recompense.web.routes import audit as audit_route

SEQ = re.compile(r'data-testid="audit-event" data-seq="(\d+)"')


def seqs(html):
    return [int(s) for s in SEQ.findall(html)]


def reads(served):
    return [e for e in events(connect(served.url)) if e.action == "personal_data.read"]


def test_staff_reads_of_personal_data_are_audit_events(served):
    with served.client() as client:
        client.get(f"/ops/users?user_id={served.owner}", headers=served.bearer("ops"))
        client.get(
            f"/api/users/{served.owner}/audit", headers=served.bearer("auditor", subject="eve")
        )
        client.get(
            f"/api/users/{served.owner}/vouchers", headers=served.bearer("user", served.owner)
        )
    found = reads(served)
    assert [(e.actor, e.subject, e.details["what"]) for e in found] == [
        ("ops:local", f"user:{served.owner}", "user page"),
        ("auditor:eve", f"user:{served.owner}", "audit trail"),
    ]  # the user's own read is not an operations action
    assert verify(connect(served.url)).ok


def test_auditors_see_the_chain_verified_with_its_head(served):
    with served.client() as client:
        page = client.get("/ops/audit", headers=served.bearer("auditor"))
    assert page.status_code == 200
    result = verify(connect(served.url))
    for attribute in (
        'data-ok="true"',
        f'data-events="{result.events}"',
        f'data-head="{result.head}"',
    ):
        assert attribute in page.text
    assert seqs(page.text) == list(range(result.events, 0, -1))  # newest first
    assert 'data-action="run.distribute"' in page.text
    assert 'data-action="run.approve"' in page.text


def test_search_by_action_subject_and_actor_prefix(served):
    engine = connect(served.url)
    with engine.begin() as conn:
        record(conn, actor="ops:alice", action="voucher.revoke", subject="voucher:v1")
        record(conn, actor="ops:alina", action="voucher.revoke", subject="voucher:v2")
        record(conn, actor="ops:bob", action="personal_data.read", subject="user:42")
        record(conn, actor="ops:bob", action="personal_data.read", subject="user:420")
    with served.client() as client:
        ops = served.bearer("ops")
        by_action = client.get("/ops/audit?action=voucher.", headers=ops).text
        assert re.findall(r'data-action="([^"]+)"', by_action) == ["voucher.revoke"] * 2
        by_actor = client.get("/ops/audit?actor=ops:ali", headers=ops).text
        assert re.findall(r'data-actor="([^"]+)"', by_actor) == ["ops:alina", "ops:alice"]
        exact = client.get("/ops/audit?subject=user:42&actor=ops:bob", headers=ops).text
        assert re.findall(r'data-subject="([^"]+)"', exact) == ["user:420", "user:42"]
        none = client.get("/ops/audit?action=100%25_", headers=ops).text  # LIKE wildcards
        assert seqs(none) == []
        assert 'data-testid="audit-events"' in none


def test_pages_go_back_fifty_at_a_time_keeping_the_filters(served):
    engine = connect(served.url)
    for i in range(120):
        with engine.begin() as conn:
            record(conn, actor="ops:bulk", action="test.bulk", subject=f"n:{i}")
    with served.client() as client:
        auditor = served.bearer("auditor")
        first = client.get("/ops/audit?action=test.bulk", headers=auditor).text
        assert len(seqs(first)) == 50
        older = re.search(r'href="(/ops/audit\?[^"]+)" data-testid="audit-older"', first).group(1)
        assert "action=test.bulk" in older
        assert "before=" in older
        second = client.get(older.replace("&amp;", "&"), headers=auditor).text
        assert seqs(second) == [s - 50 for s in seqs(first)]
        assert 'data-testid="audit-newest"' in second


def test_a_broken_chain_is_shown_as_broken(served, monkeypatch):
    engine = connect(served.url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET actor = 'ops:mallory' WHERE seq = 1"))
    monkeypatch.setattr(audit_route, "VERIFY_EVERY_S", 0.0)
    with served.client() as client:
        page = client.get("/ops/audit", headers=served.bearer("auditor"))
    assert 'data-ok="false"' in page.text
    assert "seq 1 was changed after it was written" in page.text


def test_the_verification_is_reused_for_a_while(served, monkeypatch):
    calls = []
    real = audit_route.verify
    monkeypatch.setattr(audit_route, "verify", lambda engine: calls.append(1) or real(engine))
    with served.client() as client:
        for _ in range(3):
            assert client.get("/ops/audit", headers=served.bearer("ops")).status_code == 200
    assert len(calls) == 1


@pytest.mark.parametrize("role", ["user", "account_manager", "credit_committee"])
def test_others_may_not_read_it(served, role):
    with served.client() as client:
        answer = client.get(
            "/ops/audit", headers=served.bearer(role, 1 if role == "user" else None)
        )
    assert answer.status_code == 403


def test_the_page_speaks_spanish(served):
    with served.client() as client:
        page = client.get("/ops/audit", headers=served.bearer("auditor", locale="es"))
    assert "Registro de auditoría" in page.text
    assert "Cadena verificada" in page.text


def test_the_ops_home_links_to_both_pages(served):
    with served.client() as client:
        ops = client.get("/ops", headers=served.bearer("ops")).text
        auditor = client.get("/ops", headers=served.bearer("auditor")).text
    assert 'href="/ops/approvals"' in ops
    assert 'href="/ops/audit"' in ops
    assert 'href="/ops/approvals"' not in auditor
    assert 'href="/ops/audit"' in auditor


def test_an_event_time_is_shown_in_utc(served):
    engine = connect(served.url)
    with engine.begin() as conn:
        record(
            conn,
            actor="ops:t",
            action="test.time",
            subject="t",
            at=datetime(2025, 10, 14, 16, 5, tzinfo=UTC),
        )
    with served.client() as client:
        page = client.get("/ops/audit?action=test.time", headers=served.bearer("ops")).text
    assert "14 Oct 2025, 16:05\u00a0UTC" in page
