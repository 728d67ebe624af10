"""The JSON API on SQLite and PostgreSQL: every endpoint, against the domain functions."""

from __future__ import annotations

import json
import threading
import tomllib
from decimal import Decimal

from sqlalchemy import func, select

from recompense.ledger.db import connect
from recompense.ledger.journal import wallet_code
from recompense.ledger.schema import ledger_accounts, notifications, postings
from recompense.ledger.vouchers import revoke
from recompense.proofs import verify_proof
from recompense.runs import explain, read_allocations, read_manifest

P = "/api/programs/together-2025-10"


def amount_of(run, user_id):
    allocations = read_allocations(run).to_pylist()
    return next(a["amount_cents"] for a in allocations if a["user_id"] == user_id)


def test_me_and_programmes(served):
    with served.client() as client:
        me = client.get("/api/me", headers=served.bearer("user", served.owner)).json()
        assert me == {
            "subject": f"user:{served.owner}",
            "role": "user",
            "user_id": served.owner,
            "locale": me["locale"],
        }
        programmes = client.get("/api/programs", headers=served.bearer("ops")).json()
    fingerprint = read_manifest(served.run)  # the ledger names the run by its manifest hash
    assert [p["id"] for p in programmes] == [fingerprint["program"]["id"]]


def test_eligibility_tells_the_same_story_as_explain(served):
    with served.client() as client:
        for user_id in (served.owner, served.ineligible, served.stranger):
            got = client.get(
                f"{P}/users/{user_id}/eligibility", headers=served.bearer("user", user_id)
            ).json()
            oracle = explain(served.run, user_id)
            assert got["eligible"] == oracle.eligible
            assert tuple(got["reasons"]) == oracle.reasons
            assert [c["passed"] for c in got["criteria"]] == [c.passed for c in oracle.checks]
            assert [c["code"] for c in got["criteria"]] == [c.code for c in oracle.checks]
            if oracle.features:
                assert got["loss_cents"] == round(float(oracle.features["loss_usd"]) * 100)
                assert got["net_assets_cents"] == round(
                    float(oracle.features["net_assets_usd"]) * 100
                )
            if oracle.amount_cents is not None:
                assert got["payout"]["amount_cents"] == oracle.amount_cents
                assert got["payout"]["bound"] == oracle.bound
            else:
                assert got["payout"] is None


def test_vouchers_list_then_redeem_then_credited(served):
    owner, amount = served.owner, amount_of(served.run, served.owner)
    headers = served.bearer("user", owner)
    with served.client() as client:
        listed = client.get(f"/api/users/{owner}/vouchers", headers=headers).json()
        assert [(v["id"], v["amount_cents"], v["status"]) for v in listed["vouchers"]] == [
            (served.voucher(owner), amount, "issued")
        ]
        assert listed["credits"] == []
        assert 13 * 86400 < listed["vouchers"][0]["seconds_left"] <= 14 * 86400
        first = client.post(f"/api/vouchers/{served.voucher(owner)}/redeem", headers=headers)
        again = client.post(f"/api/vouchers/{served.voucher(owner)}/redeem", headers=headers)
        assert first.status_code == again.status_code == 200
        assert first.json()["already"] is False
        assert again.json()["already"] is True
        assert first.json()["entry_id"] == again.json()["entry_id"]
        listed = client.get(f"/api/users/{owner}/vouchers", headers=headers).json()
        one = client.get(f"/api/vouchers/{served.voucher(owner)}", headers=headers).json()
    assert one["status"] == "redeemed"
    assert one["seconds_left"] == 0
    assert [(c["kind"], c["amount_cents"], c["voucher_id"]) for c in listed["credits"]] == [
        ("redeem", amount, served.voucher(owner))
    ]


def test_a_double_click_credits_once(served):
    """Two redemptions at the same moment: both answer the same redemption, one credit."""
    voucher, headers = served.voucher(served.owner), served.bearer("user", served.owner)
    answers = []
    barrier = threading.Barrier(2)

    def click(client):
        barrier.wait()
        answers.append(client.post(f"/api/vouchers/{voucher}/redeem", headers=headers))

    with served.client() as one, served.client() as two:
        threads = [threading.Thread(target=click, args=(c,)) for c in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [a.status_code for a in answers] == [200, 200]
    assert len({a.json()["entry_id"] for a in answers}) == 1
    assert sorted(a.json()["already"] for a in answers) == [False, True]
    with connect(served.url).connect() as conn:
        credited = conn.execute(
            select(func.count(), func.sum(postings.c.amount_cents))
            .select_from(postings.join(ledger_accounts))
            .where(ledger_accounts.c.code == wallet_code(served.owner, "USDC"))
        ).one()
    assert tuple(credited) == (1, amount_of(served.run, served.owner))


def test_a_revoked_voucher_cannot_be_redeemed(served):
    voucher = served.voucher(served.owner)
    revoke(connect(served.url), voucher, reason="test")
    with served.client() as client:
        answer = client.post(
            f"/api/vouchers/{voucher}/redeem", headers=served.bearer("user", served.owner)
        )
    assert answer.status_code == 409
    assert "revoked" in answer.json()["detail"]


def test_proof_verifies_against_the_published_commitment(served):
    with served.client() as client:
        headers = served.bearer("user", served.owner)
        proof = client.get(f"{P}/users/{served.owner}/proof", headers=headers).json()
        commitment = client.get(f"{P}/commitment", headers=headers).json()
        missing = client.get(
            f"{P}/users/{served.ineligible}/proof", headers=served.bearer("user", served.ineligible)
        )
    assert commitment == json.loads((served.run / "commitment.json").read_text())
    assert proof["amount_cents"] == amount_of(served.run, served.owner)
    assert verify_proof(commitment, proof).ok
    assert missing.status_code == 404
    assert "no payout" in missing.json()["detail"]


def test_dashboard_counts_what_the_ledger_holds(served):
    manifest = read_manifest(served.run)
    headers = served.bearer("ops")
    with served.client() as client:
        client.post(
            f"/api/vouchers/{served.voucher(served.owner)}/redeem",
            headers=served.bearer("user", served.owner),
        )
        board = client.get(f"{P}/dashboard", headers=headers).json()
    with connect(served.url).connect() as conn:
        outbox = conn.execute(select(func.count()).select_from(notifications)).scalar_one()
    assert board["budget_cents"] == manifest["budget_cents"]
    assert (
        board["allocated_cents"] == manifest["allocated_cents"] == board["payouts"]["total_cents"]
    )
    assert board["eligible"] == board["vouchers_total"] == board["vouchers_issued"]
    assert board["vouchers_by_state"] == {"issued": board["eligible"] - 1, "redeemed": 1}
    assert sum(board["notifications"].values()) == outbox
    assert board["start"]["state"] in ("kept", "missed")
    assert [s["users"] for s in board["funnel"]] == [s["users"] for s in manifest["funnel"]]
    assert sum(sum(b["counts"].values()) for b in board["histogram"]) == board["eligible"]
    assert board["lorenz"][0] == [0.0, 0.0]
    assert board["lorenz"][-1] == [1.0, 1.0]
    redeemed = [(c["redeemed"], c["redeemed_cents"]) for c in board["closures"]]
    assert redeemed == [(1, amount_of(served.run, served.owner))]


def test_audit_trail_shows_entries_notifications_and_accesses(served):
    owner = served.owner
    with served.client() as client:
        client.post(
            f"/api/vouchers/{served.voucher(owner)}/redeem", headers=served.bearer("user", owner)
        )
        client.get(f"{P}/users/{owner}/eligibility", headers=served.bearer("auditor"))
        audit = client.get(f"/api/users/{owner}/audit", headers=served.bearer("ops")).json()
    assert [e["kind"] for e in audit["entries"]] == ["issue", "redeem"]
    assert {n["voucher_id"] for n in audit["notifications"]} == {served.voucher(owner)}
    seen = [(a["role"], a["action"]) for a in audit["accesses"]]
    assert seen == [("ops", "audit trail"), ("auditor", "eligibility")]  # newest first


def test_whatif_simulates_with_the_library_and_exports_a_policy(served):
    from recompense.whatif import Changes, load, simulate

    expected = simulate(load(served.run), Changes(min_loss_usd="100"))
    with served.client() as client:
        headers = served.bearer("ops")
        got = client.post(f"{P}/whatif", headers=headers, json={"min_loss_usd": "100"}).json()
        bad = client.post(f"{P}/whatif", headers=headers, json={"min_ratio": "-1"})
        policy = client.post(f"{P}/whatif/policy", headers=headers, json={"min_loss_usd": "100"})
    assert got["eligible"] == expected.eligible
    assert got["total_cents"] == expected.total_cents
    assert got["fingerprint"] == expected.fingerprint
    assert bad.status_code == 422
    assert bad.json()["detail"] == "Minimum loss / net assets: must be between 0 and 10"
    exported = tomllib.loads(policy.json()["toml"])
    assert Decimal(str(exported["eligibility"]["min_loss_usd"])) == Decimal(100)


def test_every_api_route_documents_its_json_response(served):
    schema = served.client().get("/api/openapi.json").json()
    for path, methods in schema["paths"].items():
        if not path.startswith("/api/") or path.startswith("/api/loans"):
            continue  # the loan fund's routes are tested with their package (tests/loans)
        if path == "/api/cases/{case_id}/evidence/{evidence_id}":
            continue  # the user's own file, as a download (its type is the file's)
        for method, operation in methods.items():
            ok = operation["responses"].get("200") or operation["responses"]["201"]  # created
            content = ok.get("content", {})
            assert "application/json" in content, f"{method.upper()} {path}"
            assert content["application/json"]["schema"], f"{method.upper()} {path}"


def test_no_swagger_ui_from_a_cdn(served):
    with served.client() as client:  # started: the programmes are read
        assert client.get("/docs").status_code == 404
        assert client.get("/healthz").json() == {"status": "ok", "programmes": 1}


def test_sign_in_tokens_never_reach_the_access_log(served):
    import logging

    from recompense.web.app import _RedactTokens

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None
    )
    record.args = ("127.0.0.1:1", "GET", "/login?token=eyJ.secret.sig&next=/hub", "1.1", 303)
    assert _RedactTokens().filter(record)
    assert (
        record.getMessage() == '127.0.0.1:1 - "GET /login?token=[redacted]&next=/hub HTTP/1.1" 303'
    )
    filters = logging.getLogger("uvicorn.access").filters
    assert sum(isinstance(f, _RedactTokens) for f in filters) == 1


def test_error_answers_are_documented(served):
    schema = served.client().get("/api/openapi.json").json()
    redeem = schema["paths"]["/api/vouchers/{voucher_id}/redeem"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= redeem.keys()
