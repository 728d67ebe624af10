"""Every endpoint × every role × own or someone else's resource: the exact status code.

Deny by default, checked from both sides: ``create_app`` refuses a route that declares
no roles, and this test refuses a route that has no row in :data:`MATRIX` (so a new
endpoint cannot ship without its authorization being written down and tested).

A row maps each caller to the expected status. Callers: ``anon`` (no token), ``own``
(role user, the resource is theirs), ``other`` (role user, the resource is another
user's), and the staff roles. Someone else's resource answers 404, never 403.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from web_support import CALLERS, call

from recompense.web.app import api_routes, route_roles

ROOT = Path(__file__).resolve().parents[1]


def row(*statuses: int) -> dict[str, int]:
    """Statuses in the order of CALLERS: anon, own, other, ops, auditor, manager, committee."""
    assert len(statuses) == len(CALLERS)
    return dict(zip(CALLERS, statuses, strict=True))


#              anon own  other ops  audit mgr  cttee
EVERYONE = row(401, 200, 200, 200, 200, 200, 200)
USER_DATA = row(401, 200, 404, 200, 200, 403, 403)  # someone else's: 404, not 403
STAFF_ONLY = row(401, 403, 403, 200, 200, 403, 403)
OPS_ONLY = row(401, 403, 403, 200, 403, 403, 403)
USER_ONLY = row(401, 200, 200, 403, 403, 403, 403)
PUBLIC = row(200, 200, 200, 200, 200, 200, 200)

MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/"): row(200, 303, 303, 303, 303, 303, 303),  # to each role's work
    ("GET", "/login"): PUBLIC,
    # the sign-in form's POST: without the cookie its page set, refused whoever calls
    ("POST", "/login"): row(403, 403, 403, 403, 403, 403, 403),
    # a bearer token traded for a one-time browser sign-in code
    ("POST", "/api/sign-in-codes"): EVERYONE,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # the scraper's token only (none configured here): 404 to everyone, as if absent
    ("GET", "/metrics"): row(404, 404, 404, 404, 404, 404, 404),
    ("GET", "/assets/charts.css"): PUBLIC,
    ("POST", "/logout"): row(401, 303, 303, 303, 303, 303, 303),
    ("GET", "/api/me"): EVERYONE,
    ("GET", "/api/programs"): EVERYONE,
    ("GET", "/api/programs/{program_id}/users/{user_id}/eligibility"): USER_DATA,
    ("GET", "/programs/{program_id}/users/{user_id}/eligibility"): USER_DATA,
    ("GET", "/api/users/{user_id}/vouchers"): USER_DATA,
    ("GET", "/api/vouchers/{voucher_id}"): USER_DATA,
    ("POST", "/api/vouchers/{voucher_id}/redeem"): row(401, 200, 404, 403, 403, 403, 403),
    ("GET", "/hub"): USER_ONLY,
    ("POST", "/vouchers/{voucher_id}/redeem"): row(401, 303, 404, 403, 403, 403, 403),
    ("GET", "/api/programs/{program_id}/commitment"): EVERYONE,
    ("GET", "/api/programs/{program_id}/commitments"): EVERYONE,  # the chain, base first
    ("GET", "/api/programs/{program_id}/users/{user_id}/proof"): USER_DATA,
    ("GET", "/programs/{program_id}/users/{user_id}/verify"): USER_DATA,
    ("GET", "/ops"): STAFF_ONLY,
    ("GET", "/ops/programs/{program_id}"): STAFF_ONLY,
    ("GET", "/api/programs/{program_id}/dashboard"): STAFF_ONLY,
    ("GET", "/ops/users"): STAFF_ONLY,
    ("GET", "/api/users/{user_id}/audit"): STAFF_ONLY,
    ("GET", "/ops/programs/{program_id}/whatif"): OPS_ONLY,
    ("POST", "/ops/programs/{program_id}/whatif"): OPS_ONLY,
    ("POST", "/api/programs/{program_id}/whatif"): OPS_ONLY,
    ("POST", "/api/programs/{program_id}/whatif/policy"): OPS_ONLY,
    ("GET", "/selfcheck"): USER_ONLY,
    # any user may check any exports; the empty file the matrix sends is refused (422)
    ("POST", "/selfcheck"): row(401, 422, 422, 403, 403, 403, 403),
    # Sign-off of runs (ops) and the audit trail (auditors and ops). The served run is
    # distributed: approving it again is a conflict (409).
    ("GET", "/ops/approvals"): OPS_ONLY,
    ("GET", "/ops/approvals/{fingerprint}"): OPS_ONLY,
    ("POST", "/ops/approvals/{fingerprint}"): row(401, 403, 403, 409, 403, 403, 403),
    ("GET", "/ops/audit"): STAFF_ONLY,
}


# Routes whose matrix lives with their package's tests (their callers differ: the loan
# desk's own and other account managers). Each route must appear in that file's MATRIX.
ELSEWHERE = {
    ("/api/loans", "/console/loans"): ROOT / "loans" / "test_web.py",
    ("/cases", "/api/cases", "/ops/cases"): ROOT / "web" / "test_cases_web.py",  # issue 15
}


def app_routes(app: Any) -> set[tuple[str, str]]:
    found = {(method, route.path) for route in api_routes(app) for method in route.methods}
    for prefixes, test_file in ELSEWHERE.items():
        theirs = {r for r in found if r[1].startswith(prefixes)}
        text = test_file.read_text(encoding="utf-8")
        missing = [r for r in theirs if f'("{r[0]}", "{r[1]}")' not in text]
        assert not missing, f"routes without a row in {test_file.name}'s matrix: {missing}"
        found -= theirs
    return found


def test_every_route_has_a_matrix_row_and_declares_its_roles(served):
    routes = app_routes(served.app)
    assert routes - MATRIX.keys() == set(), "routes without a row in the authorization matrix"
    assert MATRIX.keys() - routes == set(), "matrix rows for routes that no longer exist"
    for route in api_routes(served.app):
        assert route_roles(route) is not None, route.path


def test_the_matrix(served):
    """Each (route, caller) pair answers exactly the status in its row."""
    failures: list[str] = []
    with served.client() as client:
        for (method, path), row in sorted(MATRIX.items()):
            for caller in CALLERS:
                status = call(served, client, method, path, caller).status_code
                if status != row[caller]:
                    failures.append(f"{method} {path} as {caller}: {status} != {row[caller]}")
    assert not failures, "\n".join(failures)


def test_unknown_ids_are_not_found_for_staff_too(served):
    """Staff probing a voucher id that does not exist gets 404 like anyone else."""
    with served.client() as client:
        for role in ("ops", "auditor"):
            answer = client.get(f"/api/vouchers/{uuid.uuid4()}", headers=served.bearer(role))
            assert answer.status_code == 404


def test_malformed_voucher_ids_never_reach_the_database(served):
    """Not a UUID (a NUL, a quote, too long): 422 before any query, on every backend."""
    with served.client() as client:
        for bad in ("a%00b", "x'--", "0" * 37, "no-such-voucher"):
            for method, path in (
                ("GET", f"/api/vouchers/{bad}"),
                ("POST", f"/api/vouchers/{bad}/redeem"),
                ("GET", f"/hub?redeemed={bad}"),
            ):
                headers = served.bearer("user", served.owner)
                answer = client.request(method, path, headers=headers)
                assert answer.status_code == 422, (method, path, answer.text)


def test_a_route_without_roles_is_refused_at_startup(served, monkeypatch):
    from fastapi import APIRouter

    from recompense.web import app as app_module

    bare = APIRouter()

    @bare.get("/api/oops")
    def oops() -> dict[str, str]:  # pragma: no cover - never served
        return {}

    monkeypatch.setattr(app_module, "ROUTERS", [*app_module.ROUTERS, bare])
    try:
        app_module.create_app(served.settings, warm=False)
    except RuntimeError as exc:
        assert "/api/oops declares no roles" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("create_app accepted a route without roles")
