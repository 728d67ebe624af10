"""The loan fund's JSON API and console pages: the authorization matrix, a flow, the pages."""

from __future__ import annotations

import re
import warnings

import pytest
from loan_support import AM1, CC1, INSTITUTION, LOAN_POLICY, keys_env, new_application

from builders import sign_in
from recompense.web import app as app_module
from recompense.web.auth import mint_token
from recompense.web.routes import loans as loans_web
from recompense.web.settings import Settings

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package; httpx works and is what is installed.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CALLERS = ("anon", "user", "ops", "own_manager", "other_manager", "committee", "auditor")
TOKENS = {
    "user": ("user", "user:1001", 1001),
    "ops": ("ops", "ops-1", None),
    "own_manager": ("account_manager", "am-1", None),
    "other_manager": ("account_manager", "am-2", None),
    "committee": ("credit_committee", "cc-1", None),
    "auditor": ("auditor", "aud-1", None),
}


def row(*statuses: int) -> dict[str, int]:
    return dict(zip(CALLERS, statuses, strict=True))


#                      anon user ops  own  other cttee audit
READ_ONE = row(401, 404, 404, 200, 404, 200, 200)
MATRIX = {
    ("GET", "/api/loans"): row(401, 404, 404, 200, 200, 200, 200),
    ("GET", "/api/loans/fund"): row(401, 404, 404, 403, 403, 200, 200),
    ("GET", "/api/loans/access-log"): row(401, 404, 404, 403, 403, 403, 200),
    ("GET", "/api/loans/{loan_id}"): READ_ONE,
    ("POST", "/api/loans"): row(401, 404, 404, 201, 403, 403, 403),
    ("POST", "/api/loans/{loan_id}/repayments"): row(401, 404, 404, 409, 404, 409, 403),
    ("POST", "/api/loans/{loan_id}/{action}"): row(401, 404, 404, 403, 404, 200, 403),  # approve
    ("GET", "/console/loans"): row(401, 404, 404, 200, 200, 200, 200),
    ("GET", "/console/loans/access-log"): row(401, 404, 404, 403, 403, 403, 200),
    ("GET", "/console/loans/{loan_id}"): READ_ONE,
    ("POST", "/console/loans/{loan_id}/{action}"): row(401, 404, 404, 403, 404, 303, 403),
}
# Each transition from a fresh submitted application, by the callers who may see it.
TRANSITIONS = {
    "submit": dict(own_manager=409, committee=403),
    "approve": dict(own_manager=403, committee=200),
    "reject": dict(own_manager=403, committee=200),
    "withdraw": dict(own_manager=200, committee=403),
    "undo-approval": dict(own_manager=403, committee=409),
    "disburse": dict(own_manager=403, committee=409),
    "write-off": dict(own_manager=403, committee=409),
}


@pytest.fixture
def web(desk, ledger_url, monkeypatch):
    """The web service with the loans router, the desk's database, keys and policy."""
    monkeypatch.setenv("RECOMPENSE_LOANS_DB_URL", desk.url)
    monkeypatch.setenv("RECOMPENSE_LOANS_POLICY", str(LOAN_POLICY))
    for name, value in keys_env(desk.keyring).items():
        monkeypatch.setenv(name, value)
    if loans_web.router not in app_module.ROUTERS:  # until app.py lists it
        monkeypatch.setattr(app_module, "ROUTERS", [*app_module.ROUTERS, loans_web.router])
    settings = Settings(db_url=ledger_url, hs256_secret=b"k" * 32, session_secret=b"s" * 32)
    with TestClient(app_module.create_app(settings, warm=False)) as client:
        client.settings = settings  # type: ignore[attr-defined]
        yield client


def headers(client, caller: str) -> dict[str, str]:
    if caller == "anon":
        return {}
    role, subject, user_id = TOKENS[caller]
    token = mint_token(client.settings, role=role, user_id=user_id, subject=subject)
    return {"Authorization": f"Bearer {token}"}


def call(client, desk, method: str, path: str, caller: str, action: str = "approve"):
    loan = new_application(desk)
    url = path.replace("{loan_id}", loan).replace("{action}", action)
    if method == "GET":
        query = {"reason": "matrix"} if "{loan_id}" in path else {}
        return client.get(url, params=query, headers=headers(client, caller))
    if path == "/api/loans":
        body = {
            "borrower_id": INSTITUTION,
            "amount_usd": "250000.00",
            "term_days": 90,
            "repayment": "bullet",
            "financial_statements": "statements",
            "stated_losses_usd": "12.00",
        }
        return client.post(url, json=body, headers=headers(client, caller))
    if path.endswith("repayments"):
        body = {"amount_usd": "10.00", "reference": "r1"}
        return client.post(url, json=body, headers=headers(client, caller))
    if path.startswith("/console/"):
        data = {"reason": "matrix"}
        return client.post(url, data=data, headers=headers(client, caller), follow_redirects=False)
    return client.post(url, json={"reason": "matrix"}, headers=headers(client, caller))


def test_every_loans_route_has_a_row():
    paths = {(m, r.path) for r in loans_web.router.routes for m in r.methods}  # type: ignore[attr-defined]
    assert paths == set(MATRIX)


def test_the_matrix(web, desk):
    failures = []
    for (method, path), expected in sorted(MATRIX.items()):
        for caller in CALLERS:
            status = call(web, desk, method, path, caller).status_code
            if status != expected[caller]:
                failures.append(f"{method} {path} as {caller}: {status} != {expected[caller]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_every_transition_through_the_api(web, desk, action):
    expected = {"anon": 401, "user": 404, "ops": 404, "other_manager": 404, "auditor": 403}
    expected.update(TRANSITIONS[action])
    for caller, status in expected.items():
        answer = call(web, desk, "POST", "/api/loans/{loan_id}/{action}", caller, action)
        assert answer.status_code == status, (caller, answer.json())


def test_an_application_through_the_api(web):
    am, cc1 = headers(web, "own_manager"), headers(web, "committee")
    body = {
        "borrower_id": INSTITUTION,
        "amount_usd": "750000.00",
        "term_days": 180,
        "repayment": "instalments",
        "financial_statements": "FY2024 audited",
        "stated_losses_usd": "900000.00",
        "notes": "needs liquidity",
    }
    created = web.post("/api/loans", json=body, headers=am)
    assert created.status_code == 201
    loan = created.json()["id"]
    assert (
        web.post(f"/api/loans/{loan}/submit", json={"reason": "ok"}, headers=am).json()["state"]
        == "submitted"
    )
    assert (
        web.post(f"/api/loans/{loan}/approve", json={"reason": "self"}, headers=am).status_code
        == 403
    )
    assert (
        web.post(f"/api/loans/{loan}/approve", json={"reason": "ok"}, headers=cc1).json()["state"]
        == "approved"
    )
    assert (
        web.post(f"/api/loans/{loan}/disburse", json={"reason": "go"}, headers=cc1).json()["state"]
        == "active"
    )
    paid = web.post(
        f"/api/loans/{loan}/repayments",
        json={"amount_usd": "1000.00", "reference": "W-1"},
        headers=am,
    )
    assert paid.status_code == 200
    assert paid.json()["principal_cents"] == 100_000
    shown = web.get(
        f"/api/loans/{loan}", params={"reason": "check"}, headers=headers(web, "auditor")
    ).json()
    assert shown["notes"] == "needs liquidity"
    assert len(shown["schedule"]) == 6
    assert shown["principal_outstanding_cents"] == 74_900_000
    bad = web.post("/api/loans", json={**body, "amount_usd": "1.001"}, headers=am)
    assert bad.status_code == 422
    assert "amount_usd" in bad.json()["detail"]
    assert "1.001" not in bad.text  # the field named, the value not echoed
    assert web.get(f"/api/loans/{loan}", headers=am).status_code == 422  # a reason is required
    log = web.get(
        "/api/loans/access-log", params={"application": loan}, headers=headers(web, "auditor")
    ).json()
    assert [(r["actor_id"], r["reason"]) for r in log] == [("aud-1", "check")]
    fund = web.get("/api/loans/fund", headers=cc1).json()
    assert fund["outstanding_cents"] == 74_900_000
    assert fund["cap_cents"] == 10_000_000_000


def test_console_pages(web, desk):
    loan = new_application(desk)
    sign_in(web, headers(web, "committee")["Authorization"][7:])
    home = web.get("/console/loans")
    assert 'data-testid="loan-fund"' in home.text
    assert loan in home.text
    ask = web.get(f"/console/loans/{loan}")
    assert 'data-testid="reason-form"' in ask.text
    assert "FY2024" not in ask.text
    page = web.get(f"/console/loans/{loan}", params={"reason": "committee meeting"})
    assert "FY2024 audited" in page.text
    assert 'data-testid="action-approve"' in page.text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    refused = web.post(
        f"/console/loans/{loan}/approve", data={"reason": "no csrf"}, follow_redirects=False
    )
    assert refused.status_code == 403
    done = web.post(
        f"/console/loans/{loan}/approve",
        data={"reason": "approved in committee", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = web.get(done.headers["location"])
    assert 'data-state="approved"' in after.text
    assert "approved in committee" in after.text


def test_without_keys_lists_work_and_files_do_not_open(web, desk, monkeypatch):
    loan = new_application(desk)
    monkeypatch.delenv("RECOMPENSE_LOANS_KEYS")
    web.app.state.loans_desk = None
    am = headers(web, "own_manager")
    assert [r["id"] for r in web.get("/api/loans", headers=am).json()] == [loan]
    answer = web.get(f"/api/loans/{loan}", params={"reason": "x"}, headers=am)
    assert answer.status_code == 503
    assert "RECOMPENSE_LOANS_KEYS" in answer.json()["detail"]


def test_a_manager_is_identified_by_the_token_subject(web, desk):
    loan = new_application(desk, manager=AM1)
    assert AM1.id == TOKENS["own_manager"][1]
    assert CC1.id == TOKENS["committee"][1]
    assert (
        web.get(
            f"/api/loans/{loan}", params={"reason": "mine"}, headers=headers(web, "own_manager")
        ).status_code
        == 200
    )


def test_hostile_input_is_refused_not_crashed(web, desk):
    loan = new_application(desk)
    am = headers(web, "own_manager")
    assert (
        web.get(f"/api/loans/{loan}", params={"reason": "why\x00not"}, headers=am).status_code
        == 422
    )
    assert web.get("/api/loans/not-a-uuid!", params={"reason": "x"}, headers=am).status_code == 422
    assert (
        web.get(
            "/api/loans/access-log",
            params={"application": "a\x00"},
            headers=headers(web, "auditor"),
        ).status_code
        == 422
    )
    for amount in ("1e999999999", "NaN", "-Infinity", "12.345", "ten"):
        paid = web.post(
            f"/api/loans/{loan}/repayments",
            json={"amount_usd": amount, "reference": "r"},
            headers=am,
        )
        assert paid.status_code == 422, amount
    long_ref = web.post(
        f"/api/loans/{loan}/repayments", json={"amount_usd": "1", "reference": "r\x00"}, headers=am
    )
    assert long_ref.status_code in (409, 422)
