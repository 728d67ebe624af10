"""The last security gaps of the web service (issue 17), on the ``served`` app.

- Every route of the authorization matrix, as every caller, as an API client and as a
  browser: ``Cache-Control: no-store`` and the security headers on every answer, and
  every error in the one shape — problem details (``application/problem+json``) for the
  API, the styled page for a browser.
- Each error status (400 401 403 404 405 409 413 422 429 500 503) in that shape, in
  English and Spanish; an unhandled exception is a 500 with the headers, logged with
  the request id, nothing of it shown.
- Odd and over-long what-if values (Hypothesis) never give a 5xx, nor come back.
- Bodies past their limit are refused before they are read; a token's ``user_id`` past
  the ledger's range is a 401, not a 500.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
import warnings
from types import SimpleNamespace
from typing import Any

import anyio
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_authz_matrix import MATRIX
from web_support import AUDIENCE, CALLERS, ISSUER, PROGRAM, SECRET, call, headers_for

from recompense.errors import DatabaseUnavailable
from recompense.observability.logs import json_handler
from recompense.web import app as app_module
from recompense.web.i18n import Translator
from recompense.web.problems import MIB

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package; httpx works and is what is installed.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")
PROBLEM_KEYS = {"type", "title", "status", "detail"}
INTERNALS = ("Traceback", "'type':", "&#39;type&#39;", "<class", "&lt;class", "int_parsing")
HTML = {"Accept": "text/html,application/xhtml+xml"}
PUBLIC_ASSETS = {"/assets/charts.css"}  # the same for everyone: may be cached
WHATIF_FIELDS = {  # field → its length limit (recompense.web.routes.whatif.WhatIfIn)
    "min_loss_usd": 40,
    "min_ratio": 40,
    "min_payout_usd": 40,
    "max_payout_usd": 40,
    "budget_usd": 40,
    "weight": 1000,
}


def test_every_answer_of_every_route_is_not_stored_and_carries_the_headers(served):
    """The matrix's every (route, caller), as an API client and as a browser."""
    failures: list[str] = []
    for as_page in (False, True):
        with served.client(headers=dict(HTML) if as_page else {}) as client:
            for (method, path), _ in sorted(MATRIX.items()):
                for caller in CALLERS:
                    answer = call(served, client, method, path, caller)
                    problem = _problem_with(answer, method, path, html=as_page)
                    if problem:
                        failures.append(f"{method} {path} as {caller} page={as_page}: {problem}")
    assert not failures, "\n".join(failures)


def test_each_error_status_is_problem_details_or_the_page_in_the_callers_language(served):
    """Every kind of error, raised by the service itself (or by a route of this test's
    for the kinds no route answers today), in English and in Spanish, asked for as an
    API client and as a browser (a path under /api/ is problem details either way)."""
    with TestClient(_app_with_test_routes(served)) as client:
        for language in ("en", "es"):
            t = Translator(language)
            for status, method, path, headers, body in _error_cases(served):
                for as_page in (False, True):
                    extra = {"Accept-Language": language, **(HTML if as_page else {})}
                    answer = client.request(
                        method, path, headers={**headers, **extra}, follow_redirects=False, **body
                    )
                    where = f"{status} {method} {path} {language} page={as_page}"
                    assert answer.status_code == status, (where, answer.text[:300])
                    assert _problem_with(answer, method, path, html=as_page) is None, where
                    assert answer.headers["content-language"] == language, where
                    title = t(f"problem_title_{status}")
                    if answer.headers["content-type"] == "application/problem+json":
                        assert answer.json()["title"] == title, where
                    elif status != 401:  # a 401 page is the sign-in page
                        assert title in answer.text, where


def test_an_unhandled_error_is_a_500_page_logged_with_its_request_id(served):
    stream = io.StringIO()
    handler = json_handler(stream)
    errors = logging.getLogger("recompense.web.errors")
    errors.addHandler(handler)
    try:
        with TestClient(_app_with_test_routes(served)) as client:
            api = client.get("/api/test/crash", headers={"X-Request-ID": "crash-api-1"})
            page = client.get("/test/crash", headers={"X-Request-ID": "crash-page-1", **HTML})
    finally:
        errors.removeHandler(handler)
    for answer, request_id in ((api, "crash-api-1"), (page, "crash-page-1")):
        assert answer.status_code == 500
        assert answer.headers["x-request-id"] == request_id
        assert all(h in answer.headers for h in SECURITY_HEADERS)
        assert answer.headers["cache-control"] == "no-store"
        assert request_id in answer.text  # the reference to quote to support
        assert SECRET_MESSAGE not in answer.text
        assert "RuntimeError" not in answer.text
        assert "Traceback" not in answer.text
    assert api.headers["content-type"] == "application/problem+json"
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-testid="error"' in page.text
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    crashes = [line for line in logged if line["message"] == "unhandled error"]
    assert [line["request_id"] for line in crashes] == ["crash-api-1", "crash-page-1"]
    assert {line["error"]["type"] for line in crashes} == {"builtins.RuntimeError"}
    assert SECRET_MESSAGE not in stream.getvalue()  # the message is never logged either


@pytest.mark.parametrize("user_id", [2**63, 2**64 + 7, 10**40, -1])
def test_a_user_id_past_the_ledgers_range_is_refused_not_a_server_error(served, user_id):
    """A token's user_id is a BIGINT of the ledger's: past it the token does not verify."""
    token = _token(user_id=user_id)
    with served.client(raise_server_exceptions=False) as client:
        for path, headers in (("/api/me", {}), ("/hub", HTML), (f"/api/users/{1}/vouchers", {})):
            answer = client.get(path, headers={"Authorization": f"Bearer {token}", **headers})
            assert answer.status_code == 401, (path, answer.text[:200])
            assert _problem_with(answer, "GET", path, html=bool(headers)) is None
            assert user_id < 0 or str(user_id) not in answer.text
    largest = _token(user_id=2**63 - 1)
    with served.client() as client:
        me = client.get("/api/me", headers={"Authorization": f"Bearer {largest}"})
    assert me.status_code == 200
    assert me.json()["user_id"] == 2**63 - 1


# Odd values: over-long, huge or tiny exponents, non-ASCII digits, control characters,
# NaN and infinities, formulas nested too deep, and text with a marker that must not
# come back in an error.
MARK = "QzXv"
ODD_VALUES = st.one_of(
    st.text(max_size=60),
    st.text(min_size=41, max_size=5000),
    st.from_regex(r"-?[0-9]{0,60}(\.[0-9]{0,30})?([eE][+-]?[0-9]{1,12})?", fullmatch=True),
    st.sampled_from(
        ["NaN", "sNaN", "-Infinity", "1e999999999", "-0", "\x00", "٣", "１２", "0x10", "1_000"]
    ),
    st.integers(1, 400).map(lambda n: "(" * n + "1" + ")" * n),
    st.text(min_size=2, max_size=1100).map(lambda s: MARK + s),
)


def test_odd_what_if_values_never_fail_and_never_come_back(served):
    """The form and the API: never a 5xx; an error names the field but does not repeat
    the value; a value past its field's limit is not put back into the form."""
    page = f"/ops/programs/{PROGRAM}/whatif"
    api = f"/api/programs/{PROGRAM}/whatif"
    ops = headers_for(served, "ops")
    with served.client(raise_server_exceptions=False) as client:

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(field=st.sampled_from(sorted(WHATIF_FIELDS)), value=ODD_VALUES)
        def check(field: str, value: str) -> None:
            limit = WHATIF_FIELDS[field]
            for action in ("simulate", "export"):
                form = {field: value, "action": action}
                answer = client.post(page, headers={**ops, **HTML}, data=form)
                assert answer.status_code in (200, 422), (field, value[:80], answer.text[:300])
                if answer.status_code == 422:
                    assert _problem_with(answer, "POST", page, html=True) is None
                    assert 'data-testid="whatif-error"' in answer.text
                    if len(value) > limit:
                        assert value not in answer.text
            for path in (api, f"{api}/policy"):
                answer = client.post(path, headers=ops, json={field: value})
                assert answer.status_code in (200, 422), (field, value[:80], answer.text[:300])
                if answer.status_code == 422:
                    assert _problem_with(answer, "POST", path, html=False) is None
                    assert MARK not in answer.text
                    assert len(value) <= limit or value not in answer.text

        check()


def test_a_body_past_its_limit_is_refused_before_it_is_read(served):
    """413 at once for a Content-Length past the limit (not a byte read), and as soon as
    a chunked body passes it; a path with a limit of its own keeps it."""
    whatif = f"/api/programs/{PROGRAM}/whatif"
    ops = headers_for(served, "ops")
    declared = _asgi(served.app, "POST", whatif, ops, chunks=480, length=30 * MIB)
    assert declared.status == 413
    assert declared.pulled == 0
    assert declared.problem["status"] == 413
    assert "1 MiB" in declared.problem["detail"]
    streamed = _asgi(served.app, "POST", whatif, ops, chunks=480)  # 30 MiB, 64 KiB a chunk
    assert streamed.status == 413
    assert streamed.pulled == MIB // CHUNK + 1
    assert all(h.encode() in streamed.headers for h in SECURITY_HEADERS)
    # a loan application may carry up to 8 MiB: 2 MiB reaches the route (its validation)
    manager = {"Authorization": f"Bearer {served.token('account_manager', subject='am-9')}"}
    loan = _asgi(served.app, "POST", "/api/loans", manager, chunks=32, length=2 * MIB)
    assert loan.status == 422, loan.body[:300]
    assert loan.pulled == 32, loan.body[:300]
    assert len(loan.body) < 2000  # the field named, nothing of the body repeated
    assert _asgi(served.app, "POST", "/api/loans", manager, chunks=1, length=9 * MIB).status == 413


def test_loan_routes_tell_outsiders_not_found_before_reading_the_body(served):
    """Users and operations staff get 404 from a loan route whatever the body: it is not
    read (not a byte pulled), let alone parsed, validated or echoed."""
    for caller in ("own", "ops"):
        headers = headers_for(served, caller)
        for path in ("/api/loans", f"/api/loans/{uuid.uuid4()}/approve", "/api/loans/x/y"):
            found = _asgi(served.app, "POST", path, headers, chunks=8, length=8 * CHUNK)
            assert (found.status, found.pulled) == (404, 0), (caller, path)
            assert found.problem["detail"] == "Not found."
    with served.client() as client:
        for body in (b"{not json", json.dumps({"borrower_id": "x" * 100_000}).encode()):
            answer = client.post(
                "/api/loans",
                content=body,
                headers={**headers_for(served, "own"), "Content-Type": "application/json"},
            )
            assert answer.status_code == 404
            assert len(answer.content) < 500


# ---------------------------------------------------------------------------------------
# helpers

SECRET_MESSAGE = "internal detail 7781 of a bug"
TEST_STATUSES = (409, 429, 500, 503)
CHUNK = 64 * 1024


def _problem_with(answer: Any, method: str, path: str, *, html: bool) -> str | None:
    """What is wrong with ``answer`` (None if nothing): headers, and an error's shape."""
    headers = answer.headers
    missing = [h for h in (*SECURITY_HEADERS, "x-request-id") if h not in headers]
    if missing:
        return f"missing {missing}"
    cache = headers.get("cache-control")
    if path in PUBLIC_ASSETS:
        if cache == "no-store":
            return "a public asset marked no-store"
    elif cache != "no-store":
        return f"Cache-Control {cache!r}"
    status = answer.status_code
    if status < 400:
        return None
    text = answer.text
    if any(internal in text for internal in INTERNALS):
        return f"internals in the answer: {text[:200]}"
    page = headers["content-type"].startswith("text/html")
    if not path.startswith("/api/") and (html or page):
        # the error page, or the route's own page showing the error (a form and why);
        # a page route answers a client that did not ask for HTML with problem details
        if not page:
            return f"a page expected, got {headers['content-type']}"
        if not text.lstrip().lower().startswith("<!doctype html>"):
            return "not a page"
        return None
    if headers["content-type"] != "application/problem+json":
        return f"problem details expected, got {headers['content-type']}"
    body = answer.json()
    if (
        set(body) - {"field"} != PROBLEM_KEYS
        or body["status"] != status
        or body["type"] != "about:blank"
    ):
        return f"not problem details: {body}"
    if not (isinstance(body["detail"], str) and body["detail"] and body["title"]):
        return f"no title or detail: {body}"
    return None


def _error_cases(served: Any) -> list[tuple[int, str, str, dict[str, str], dict[str, Any]]]:
    """(status, method, path, headers, request body) that the service answers with it."""
    ops, user = headers_for(served, "ops"), headers_for(served, "own")
    whatif = f"/ops/programs/{PROGRAM}/whatif"
    not_multipart = {"Content-Type": "multipart/form-data"}  # no boundary: unreadable
    cases = [
        (400, "POST", whatif, {**ops, **not_multipart}, {"content": b"x"}),
        (401, "GET", "/hub", {}, {}),
        (401, "GET", "/api/me", {}, {}),
        (403, "GET", "/ops", user, {}),
        (404, "GET", f"/api/vouchers/{uuid.uuid4()}", ops, {}),
        (404, "GET", "/no/such/page", ops, {}),
        (405, "DELETE", "/api/me", ops, {}),
        (405, "PUT", "/hub", user, {}),
        (413, "POST", f"/api/programs/{PROGRAM}/whatif", ops, {"content": b"1" * (MIB + 1)}),
        (413, "POST", whatif, ops, {"content": b"1" * (MIB + 1)}),
        (422, "GET", "/api/users/abc/vouchers", ops, {}),
        (422, "GET", "/programs/together-2025-10/users/abc/eligibility", ops, {}),
    ]
    for prefix in ("/api/test", "/test"):
        cases += [
            (409, "GET", f"{prefix}/status/409", {}, {}),
            (429, "GET", f"{prefix}/status/429", {}, {}),
            (500, "GET", f"{prefix}/crash", {}, {}),
            (503, "GET", f"{prefix}/outage", {}, {}),
        ]
    return cases


def _app_with_test_routes(served: Any) -> Any:
    """The service with a few public routes that fail on purpose, under /api and not."""
    from fastapi import APIRouter, HTTPException

    from recompense.web.auth import PUBLIC

    extra = APIRouter()
    for prefix in ("/api/test", "/test"):

        @extra.get(prefix + "/status/{code}", dependencies=[PUBLIC])
        def status(code: int) -> None:
            raise HTTPException(code)

        @extra.get(prefix + "/crash", dependencies=[PUBLIC])
        def crash() -> None:
            raise RuntimeError(SECRET_MESSAGE)

        @extra.get(prefix + "/outage", dependencies=[PUBLIC])
        def outage() -> None:
            error = DatabaseUnavailable("the database is unavailable: connection lost")
            error.transient = True
            raise error

    routers = [*app_module.ROUTERS, extra]
    original = app_module.ROUTERS
    app_module.ROUTERS = routers
    try:
        return app_module.create_app(served.settings)
    finally:
        app_module.ROUTERS = original


def _token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "idp|big", "role": "user"}
    claims |= {"iat": now, "exp": now + 600, **overrides}
    return jwt.encode(claims, SECRET, algorithm="HS256")


class _Answer:
    def __init__(self) -> None:
        self.status = 0
        self.headers = b""
        self.body = b""
        self.pulled = 0  # body chunks the app asked for

    @property
    def problem(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


def _asgi(
    app: Any,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    chunks: int,
    length: int | None = None,
) -> _Answer:
    """Call the ASGI app with a body of ``chunks`` × 64 KiB (``length`` declared, or
    chunked) and count how many of the chunks the app pulled before it answered."""
    answer = _Answer()
    sent = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    sent.append((b"content-type", b"application/json"))
    if length is not None:
        sent.append((b"content-length", str(length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": sent,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        if answer.pulled >= chunks:
            return {"type": "http.disconnect"}
        answer.pulled += 1
        more = answer.pulled < chunks
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = b"\n".join(k for k, _ in message["headers"])
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    anyio.run(app, scope, receive, send)
    return answer


def test_the_error_checker_sees_a_plain_500_and_leaked_internals():
    """The checker above flags a plain-text 500 and a leaked validation structure."""
    plain = SimpleNamespace(
        status_code=500,
        headers={"content-type": "text/plain", "x-request-id": "1"},
        text="Internal Server Error",
    )
    assert _problem_with(plain, "GET", "/api/x", html=False) is not None
    headers = {**dict.fromkeys(SECURITY_HEADERS, "x"), "x-request-id": "1"}
    leaked = SimpleNamespace(
        status_code=422,
        headers={**headers, "cache-control": "no-store", "content-type": "text/html"},
        text="<!doctype html>[{'type': 'int_parsing', 'loc': ('path', 'user_id')}]",
    )
    assert "internals" in str(_problem_with(leaked, "GET", "/x", html=True))


@pytest.mark.parametrize("text", ["1e999999999", "9E+99999999", "-1e-999999999", "1e41"])
def test_a_figure_with_a_huge_exponent_is_left_as_typed_not_written_out(text):
    """Hypothesis found it: ``format(Decimal("1e999999999"), "f")`` is a billion digits."""
    from recompense.web.routes.whatif import typed_number

    for locale in ("en", "es"):
        assert typed_number(text, locale) == text
    assert typed_number("1e5", "en") == "100000"
