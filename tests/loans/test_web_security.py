"""The loan routes' security gaps (issue 17): CSRF on the JSON API for cookie sessions,
validation errors that name a field but never echo it, odd bodies (Hypothesis) never a
5xx, refused reads in the access log, and no answer kept by a cache."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loan_support import INSTITUTION, LOAN_POLICY, keys_env, new_application
from starlette.requests import Request
from test_web import CALLERS as LOAN_CALLERS
from test_web import MATRIX as LOAN_MATRIX
from test_web import call as call_route

from builders import sign_in
from recompense import audit
from recompense.ledger.db import connect
from recompense.web import app as app_module
from recompense.web.auth import mint_token
from recompense.web.csrf import csrf_token
from recompense.web.settings import Settings

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package; httpx works and is what is installed.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SUBJECTS = {
    "user": ("user", "user:1001", 1001),
    "ops": ("ops", "ops-1", None),
    "own_manager": ("account_manager", "am-1", None),
    "other_manager": ("account_manager", "am-2", None),
    "committee": ("credit_committee", "cc-1", None),
    "auditor": ("auditor", "aud-1", None),
}
APPLICATION = {
    "borrower_id": INSTITUTION,
    "amount_usd": "250000.00",
    "term_days": 90,
    "repayment": "bullet",
    "financial_statements": "statements",
    "stated_losses_usd": "12.00",
}
MARK = "QzXv"  # in a generated value: must never come back in an error
PROBLEM_KEYS = {"type", "title", "status", "detail"}


@pytest.fixture
def web(desk, ledger_url, monkeypatch):
    """The web service on the desk's database, keys and policy (as tests/loans/test_web)."""
    monkeypatch.setenv("RECOMPENSE_LOANS_DB_URL", desk.url)
    monkeypatch.setenv("RECOMPENSE_LOANS_POLICY", str(LOAN_POLICY))
    for name, value in keys_env(desk.keyring).items():
        monkeypatch.setenv(name, value)
    settings = Settings(db_url=ledger_url, hs256_secret=b"k" * 32, session_secret=b"s" * 32)
    with TestClient(app_module.create_app(settings, warm=False)) as client:
        client.settings = settings  # type: ignore[attr-defined]
        yield client


def token(client, caller: str) -> str:
    role, subject, user_id = SUBJECTS[caller]
    return mint_token(client.settings, role=role, user_id=user_id, subject=subject)


def bearer(client, caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client, caller)}"}


def session_csrf(client) -> str:
    """The CSRF token of the client's session, as the pages put it in their forms."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    scope = {"type": "http", "headers": [(b"cookie", cookie.encode())], "app": client.app}
    return csrf_token(Request(scope))


def test_the_loan_apis_changes_need_the_csrf_token_in_a_cookie_session(web, desk):
    loan = new_application(desk)  # submitted, by am-1
    sign_in(web, token(web, "own_manager"))
    posts = [
        ("/api/loans", APPLICATION),
        (f"/api/loans/{loan}/withdraw", {"reason": "no longer needed"}),
        (f"/api/loans/{loan}/repayments", {"amount_usd": "10.00", "reference": "r1"}),
    ]
    for path, body in posts:
        refused = web.post(path, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert "security token" in refused.json()["detail"]
        wrong = web.post(path, json=body, headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403, path
    listed = web.get("/api/loans", headers=bearer(web, "own_manager")).json()
    assert [(r["id"], r["state"]) for r in listed] == [(loan, "submitted")]  # nothing done

    with_token = {"X-CSRF-Token": session_csrf(web)}
    assert web.post("/api/loans", json=APPLICATION, headers=with_token).status_code == 201
    withdrawn = web.post(f"/api/loans/{loan}/withdraw", json={"reason": "x"}, headers=with_token)
    assert withdrawn.json() == {"id": loan, "state": "withdrawn"}


def test_bearer_calls_need_no_csrf_token(web):
    created = web.post("/api/loans", json=APPLICATION, headers=bearer(web, "own_manager"))
    assert created.status_code == 201
    assert "recompense_session" not in web.cookies


def test_a_bad_body_names_the_field_and_never_echoes_it(web):
    am = bearer(web, "own_manager")
    cases = {
        "amount_usd": MARK + "9" * 40,  # past its 30 characters
        "term_days": MARK,
        "repayment": MARK + "monthly",
        "financial_statements": MARK + "x" * 1_000_001,  # 1 MB: under the body limit
    }
    for field, value in cases.items():
        answer = web.post("/api/loans", json={**APPLICATION, field: value}, headers=am)
        assert answer.status_code == 422, field
        problem = answer.json()
        assert set(problem) == PROBLEM_KEYS, problem
        assert field in problem["detail"], problem
        assert MARK not in answer.text
        assert len(answer.content) < 1000
    domain = web.post("/api/loans", json={**APPLICATION, "amount_usd": "1.001"}, headers=am)
    assert domain.status_code == 422
    assert "amount_usd" in domain.json()["detail"]
    assert "1.001" not in domain.text
    huge = web.post(
        "/api/loans", json={**APPLICATION, "notes": "n" * (9 * 1024 * 1024)}, headers=am
    )
    assert huge.status_code == 413
    assert len(huge.content) < 1000


def test_outsiders_get_not_found_whatever_they_send(web):
    for caller in ("user", "ops"):
        for body in (b"{not json", b"[" * 10_000, b'{"amount_usd": "' + b"9" * 100_000 + b'"}'):
            answer = web.post(
                "/api/loans",
                content=body,
                headers={**bearer(web, caller), "Content-Type": "application/json"},
            )
            assert answer.status_code == 404, (caller, answer.text[:200])
            assert answer.json()["detail"] == "Not found."
            assert len(answer.content) < 300


ODD = st.one_of(
    st.text(max_size=50),
    st.text(min_size=1, max_size=200).map(lambda s: MARK + s),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.sampled_from(["NaN", "1e999999999", "-0", "\x00", "٣", "0x10", "1_000", "9" * 31]),
)
TARGETS = (
    ("/api/loans", APPLICATION),
    ("/api/loans/{loan}/repayments", {"amount_usd": "10.00", "reference": "r1"}),
    ("/api/loans/{loan}/approve", {"reason": "ok"}),
)


def test_odd_loan_bodies_never_fail_nor_come_back(web, desk):
    """Each field of each body, replaced by an odd value, as a caller who may use the
    route: an answer, never a 5xx; an error in problem details, without the value."""
    loan = new_application(desk)
    callers = {"own_manager": bearer(web, "own_manager"), "committee": bearer(web, "committee")}

    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        target=st.sampled_from(TARGETS),
        caller=st.sampled_from(sorted(callers)),
        data=st.data(),
    )
    def check(target, caller, data) -> None:
        path, body = target
        field = data.draw(st.sampled_from(sorted(body)), label="field")
        value = data.draw(ODD, label="value")
        sent = json.dumps({**body, field: value})  # NaN and Infinity too, as Python writes them
        answer = web.post(
            path.format(loan=loan),
            content=sent,
            headers={**callers[caller], "Content-Type": "application/json"},
        )
        assert answer.status_code < 500, (path, field, value, answer.text[:300])
        if answer.status_code >= 400:
            assert answer.headers["content-type"] == "application/problem+json"
            assert set(answer.json()) == PROBLEM_KEYS
            assert MARK not in answer.text, answer.text

    check()


def test_refused_reads_are_in_the_access_log(web, desk, ledger_url):
    loan = new_application(desk)  # am-1's borrower
    missing = "0123abcd-0000-4000-8000-00000000abcd"
    refused = [
        ("other_manager", f"/api/loans/{loan}", {"reason": "curious"}),
        ("user", f"/api/loans/{loan}", {"reason": "mine?"}),
        ("ops", f"/console/loans/{loan}", {}),
        ("committee", f"/api/loans/{missing}", {"reason": "probe"}),
        ("other_manager", f"/console/loans/{loan}", {}),
    ]
    for caller, path, query in refused:
        answer = web.get(path, params=query, headers=bearer(web, caller))
        assert answer.status_code == 404, (caller, path)
    allowed = web.get(
        f"/api/loans/{loan}", params={"reason": "review"}, headers=bearer(web, "own_manager")
    )
    assert allowed.status_code == 200

    log = web.get("/api/loans/access-log", headers=bearer(web, "auditor")).json()
    found = {(r["actor_role"], r["actor_id"], r["application_id"], r["action"]): r for r in log}
    assert set(found) == {
        ("account_manager", "am-2", loan, "show refused"),
        ("user", "user:1001", loan, "show refused"),
        ("ops", "ops-1", loan, "show refused"),
        ("credit_committee", "cc-1", missing, "show refused"),
        ("account_manager", "am-2", loan, "open refused"),
        ("account_manager", "am-1", loan, "show"),
    }
    am2 = found[("account_manager", "am-2", loan, "show refused")]["reason"]
    assert (
        am2 == "refused: no such application, or not one this actor may see; reason given: curious"
    )
    user = found[("user", "user:1001", loan, "show refused")]["reason"]
    assert user == "refused: the user role may never read a loan file; reason given: mine?"
    assert all(r["at"] for r in log)
    events = list(audit.events(connect(ledger_url), action="loan.read.refused"))
    assert len(events) == 5
    assert {e.subject for e in events} == {f"loan:{loan}", f"loan:{missing}"}
    assert audit.verify(connect(ledger_url)).ok


def test_no_loan_answer_is_ever_stored(web, desk):
    """Every loan route of the loans matrix, as every caller, as a browser and as an API
    client: no-store and the security headers (a loan file carries decrypted statements)."""
    failures = []
    for accept in ("text/html", "application/json"):
        web.headers["Accept"] = accept
        for (method, path), _ in sorted(LOAN_MATRIX.items()):
            for caller in LOAN_CALLERS:
                answer = call_route(web, desk, method, path, caller)
                cache = answer.headers.get("cache-control")
                missing = [
                    h
                    for h in ("content-security-policy", "x-request-id")
                    if h not in answer.headers
                ]
                if cache != "no-store" or missing:
                    failures.append(f"{method} {path} as {caller} ({accept}): {cache} {missing}")
    assert not failures, "\n".join(failures)
