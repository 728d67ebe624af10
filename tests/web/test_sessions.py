"""Browser sign-in and sign-out: one-time codes, server-side sessions, revocation.

Everything runs on the real app over a real ledger (``served``: SQLite and PostgreSQL).
A sign-in link carries a one-time code, never a token; opening it signs no one in; the
form's POST does, once, and only from the page that showed it; the browser then holds
an opaque session id that sign-out revokes on the server, so the cookie replayed
afterwards is refused.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from web_support import captured_logs

from builders import sign_in
from recompense.ledger.db import connect
from recompense.web import sessions
from recompense.web.auth import COOKIE
from recompense.web.routes.session import SIGNIN_COOKIE

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
FORM = re.compile(r'name="(code|signin_check|next)" value="([^"]*)"')
HTML = {"Accept": "text/html"}


def code_for(client, token: str) -> str:
    issued = client.post("/api/sign-in-codes", headers={"Authorization": f"Bearer {token}"})
    assert issued.status_code == 200, issued.text
    return issued.json()["code"]


def form_of(page_html: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in FORM.findall(page_html)}


def holder(role="user", user_id=None, locale=None, subject=None) -> sessions.Holder:
    return sessions.Holder(subject or f"{role}:test", role, user_id, locale)


# --- the flow, as a browser goes through it ---------------------------------------------


def test_a_link_shows_whom_it_signs_in_and_only_its_form_signs_in(served):
    client = served.client()
    code = code_for(client, served.token("user", served.owner))
    page = client.get("/login", params={"code": code, "next": "/hub"}, headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="signin-confirm"' in page.text
    assert f"user:{served.owner}" in page.text
    assert COOKIE not in client.cookies, "opening the link signed in"
    guard = page.headers["set-cookie"]
    assert guard.startswith(f"{SIGNIN_COOKIE}=")
    assert "HttpOnly" in guard
    assert "SameSite=strict" in guard
    assert "Path=/login" in guard
    assert "Secure" not in guard  # not configured: plain HTTP on loopback

    answer = client.post("/login", data=form_of(page.text), follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/hub"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    session_id = client.cookies[COOKIE]
    assert len(session_id) == 43
    assert not session_id.startswith("eyJ")  # opaque, not a JWT
    assert client.get("/hub").status_code == 200
    me = client.get("/api/me").json()
    assert (me["role"], me["user_id"]) == ("user", served.owner)


def test_a_code_signs_in_once(served):
    client, second = served.client(), served.client()  # the link opened in two browsers
    code = code_for(client, served.token("ops"))
    form = form_of(client.get("/login", params={"code": code}).text)
    late = form_of(second.get("/login", params={"code": code}).text)
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    again = second.post("/login", data=late, headers=HTML, follow_redirects=False)
    assert again.status_code == 401
    assert 'data-testid="signin-error"' in again.text
    assert COOKIE not in second.cookies
    reopened = client.get("/login", params={"code": code}, headers=HTML)
    assert reopened.status_code == 401
    assert "signin-confirm" not in reopened.text


def test_racing_posts_of_one_code_open_one_session(served):
    """Eight threads spend the same code at once: one session, on every backend."""
    engine = connect(served.url)
    for _ in range(3):
        code = sessions.issue_code(engine, holder("ops")).code
        barrier = threading.Barrier(8)

        def spend(_: int, code: str = code, barrier: threading.Barrier = barrier):
            barrier.wait()
            return sessions.exchange(engine, code, lifetime_s=3600)

        with ThreadPoolExecutor(8) as pool:
            won = [s for s in pool.map(spend, range(8)) if s is not None]
        assert len(won) == 1
        with engine.connect() as conn:
            rows = conn.execute(
                select(sessions.web_sessions.c.session_hash).where(
                    sessions.web_sessions.c.code_hash == sessions.digest(code)
                )
            ).all()
        assert rows == [(sessions.digest(won[0].id),)]


def test_another_sites_form_cannot_sign_anyone_in(served):
    """Login CSRF: a form on another site posts an attacker's code. Without the cookie
    the link's page set (SameSite=Strict), or with a check made for another code, the
    POST is refused, and the code stays unspent."""
    attacker = served.client()
    code = code_for(attacker, served.token("user", served.other))
    victim = served.client()
    bare = {"code": code, "signin_check": "0" * 64, "next": "/hub"}
    refused = victim.post("/login", data=bare, headers=HTML, follow_redirects=False)
    assert refused.status_code == 403
    assert 'data-testid="signin-error"' in refused.text
    # the attacker's own page: a valid check, but for the attacker's browser's cookie
    stolen = form_of(attacker.get("/login", params={"code": code}).text)
    assert victim.post("/login", data=stolen, follow_redirects=False).status_code == 403
    # the victim's page for another code does not cover this one
    other = code_for(victim, served.token("user", served.owner))
    mine = form_of(victim.get("/login", params={"code": other}).text)
    swapped = {**mine, "code": code}
    assert victim.post("/login", data=swapped, follow_redirects=False).status_code == 403
    assert COOKIE not in victim.cookies
    assert sessions.pending(connect(served.url), code) is not None, "a refusal spent it"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "evil", "/\\x"])
def test_sign_in_never_redirects_off_site(served, target):
    answer = sign_in(served.client(), served.token("user", served.owner), next_path=target)
    assert answer.headers["location"] == "/"


def test_a_token_in_the_url_signs_no_one_in(served):
    """The old GET sign-in (``/login?token=``) is gone: the token is ignored."""
    client = served.client()
    token = served.token("user", served.owner)
    page = client.get("/login", params={"token": token}, headers=HTML, follow_redirects=False)
    assert page.status_code == 200
    assert 'data-testid="signin-form"' in page.text
    assert COOKIE not in client.cookies
    assert "set-cookie" not in page.headers
    assert client.get("/hub", headers=HTML).status_code == 401


def test_a_jwt_in_the_cookie_is_not_a_session(served):
    """A cookie from before (the JWT itself) signs in no longer."""
    client = served.client(cookies={COOKIE: served.token("user", served.owner)})
    answer = client.get("/api/me")
    assert answer.status_code == 401
    assert "session has ended" in answer.json()["detail"]


def test_a_session_keeps_the_tokens_claims(served):
    client = served.client()
    sign_in(client, served.token("user", served.owner, locale="es"))
    assert '<html lang="es"' in client.get("/hub").text
    assert client.get("/api/me").json()["locale"] == "es"


printable = st.text(st.characters(blacklist_categories=["Cs"]), max_size=140)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(code=printable, check=printable, target=printable)
def test_whatever_a_sign_in_form_posts_it_signs_no_one_in_and_never_fails(
    served, code, check, target
):
    client = served.client()
    form = {"code": code, "signin_check": check, "next": target}
    answer = client.post("/login", data=form, headers=HTML, follow_redirects=False)
    assert answer.status_code in (401, 403, 422), answer.text
    assert COOKIE not in client.cookies


@given(target=st.text(max_size=40) | st.sampled_from(["//x", "/\\x", "/ok?a=1", "http://x/"]))
def test_the_next_page_is_always_on_this_site(target):
    from recompense.web.routes.session import _local

    chosen = _local(target)
    assert chosen.startswith("/")
    assert not chosen.startswith(("//", "/\\"))
    assert chosen in (target, "/")


# --- sign-out ----------------------------------------------------------------------------


def test_the_cookie_replayed_after_sign_out_is_refused(served):
    client = served.client()
    sign_in(client, served.token("user", served.owner))
    session_id = client.cookies[COOKIE]
    token = CSRF.search(client.get("/hub").text).group(1)
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert f'{COOKIE}=""' in out.headers["set-cookie"]
    replay = served.client(cookies={COOKIE: session_id})
    assert replay.get("/hub", headers=HTML).status_code == 401
    assert replay.get("/api/me").status_code == 401
    with connect(served.url).connect() as conn:
        revoked = conn.execute(
            select(sessions.web_sessions.c.revoked_at).where(
                sessions.web_sessions.c.session_hash == sessions.digest(session_id)
            )
        ).scalar_one()
    assert revoked is not None


def test_signing_in_again_ends_the_earlier_session(served):
    client = served.client()
    sign_in(client, served.token("user", served.owner))
    first = client.cookies[COOKIE]
    sign_in(client, served.token("ops"))
    assert client.cookies[COOKIE] != first
    assert served.client(cookies={COOKIE: first}).get("/api/me").status_code == 401
    assert client.get("/api/me").json()["role"] == "ops"


def test_a_browser_session_cannot_mint_codes(served):
    client = served.client()
    sign_in(client, served.token("user", served.owner))
    token = CSRF.search(client.get("/hub").text).group(1)
    answer = client.post("/api/sign-in-codes", headers={"X-CSRF-Token": token})
    assert answer.status_code == 403
    assert "bearer token only" in answer.json()["detail"]


def test_the_identity_provider_trades_a_jwt_for_a_link(served, rsa_keys):
    """The production path: an RS256 token of the identity provider, posted once."""
    import jwt
    from web_support import AUDIENCE, ISSUER

    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "idp|7", "role": "auditor"}
    token = jwt.encode({**claims, "iat": now, "exp": now + 60}, rsa_keys.private_pem, "RS256")
    client = served.client()
    issued = client.post("/api/sign-in-codes", headers={"Authorization": f"Bearer {token}"})
    body = issued.json()
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    assert body["url"] == f"{served.settings.base_url}/login?code={body['code']}"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(seconds=sessions.CODE_TTL_S)
    page = client.get("/login", params={"code": body["code"]})
    answer = client.post("/login", data=form_of(page.text), follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/api/me").json()["subject"] == "idp|7"


@pytest.mark.parametrize("subject", ["x" * 201, "idp|\x007"])
def test_claims_a_session_cannot_keep_are_refused_with_422(served, subject):
    answer = served.client().post(
        "/api/sign-in-codes", headers=served.bearer("ops", subject=subject)
    )
    assert answer.status_code == 422
    assert "cannot sign this token in" in answer.json()["detail"]


# --- lifetimes, against the clock ---------------------------------------------------------


def test_codes_expire_and_sessions_end_idle_or_at_their_lifetime(served):
    engine = connect(served.url)
    t0 = datetime.now(UTC)
    stale = sessions.issue_code(engine, holder("ops"), now=t0 - timedelta(minutes=6)).code
    assert sessions.pending(engine, stale, now=t0) is None
    assert sessions.exchange(engine, stale, lifetime_s=3600, now=t0) is None

    code = sessions.issue_code(engine, holder("ops"), now=t0).code
    session = sessions.exchange(engine, code, lifetime_s=3600, now=t0)
    assert session is not None

    def alive(minutes: float) -> bool:
        at = t0 + timedelta(minutes=minutes)
        return sessions.holder_of(engine, engine, session.id, idle_s=1800, now=at) is not None

    assert alive(29)  # a request 29 min in: the idle clock restarts from here
    assert alive(58)  # 29 min after that one
    assert not alive(88.5)  # 30.5 min after the last request


def test_a_session_ends_at_its_lifetime_however_busy(served):
    engine = connect(served.url)
    t0 = datetime.now(UTC)
    code = sessions.issue_code(engine, holder("ops"), now=t0).code
    session = sessions.exchange(engine, code, lifetime_s=3600, now=t0)
    assert session is not None
    for minutes in range(0, 60, 10):
        at = t0 + timedelta(minutes=minutes)
        assert sessions.holder_of(engine, engine, session.id, idle_s=1800, now=at) is not None
    at = t0 + timedelta(minutes=60, seconds=1)
    assert sessions.holder_of(engine, engine, session.id, idle_s=1800, now=at) is None


def test_the_table_keeps_digests_only(served):
    engine = connect(served.url)
    code = sessions.issue_code(engine, holder("user", served.owner)).code
    session = sessions.exchange(engine, code, lifetime_s=60)
    assert session is not None
    with engine.connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(select(sessions.web_sessions))]
    stored = " ".join(" ".join(row) for row in rows)
    assert code not in stored
    assert session.id not in stored
    assert sessions.digest(code) in stored
    assert sessions.digest(session.id) in stored


def test_old_rows_are_purged_when_codes_are_issued(served):
    engine = connect(served.url)
    long_ago = datetime.now(UTC) - timedelta(days=3)
    old = sessions.issue_code(engine, holder("ops"), now=long_ago).code
    sessions.issue_code(engine, holder("ops"))
    with engine.connect() as conn:
        left = conn.execute(
            select(sessions.web_sessions.c.id).where(
                sessions.web_sessions.c.code_hash == sessions.digest(old)
            )
        ).all()
    assert left == []


# --- nothing secret in the logs -----------------------------------------------------------


def test_no_code_session_id_or_token_reaches_the_logs(served):
    with captured_logs() as stream:
        client = served.client()
        token = served.token("user", served.owner)
        code = code_for(client, token)
        page = client.get(f"/login?code={code}&next=/hub")
        client.post("/login", data=form_of(page.text))
        session_id = client.cookies[COOKIE]
        csrf = CSRF.search(client.get("/hub").text).group(1)
        client.post("/logout", data={"csrf_token": csrf})
        served.client(cookies={COOKIE: session_id}).get("/hub")  # a replay, refused
        # a log line quoting a sign-in link (uvicorn's access log, a proxy's) is redacted
        logging.getLogger("recompense.test").info("GET /login?code=%s&next=/hub 200", code)
    logged = stream.getvalue()
    lines = [json.loads(line) for line in logged.splitlines()]
    access = [line for line in lines if line["logger"] == "recompense.web.access"]
    assert {line["path"] for line in access} >= {"/api/sign-in-codes", "/login", "/logout"}
    leaked = [
        name
        for name, value in (("code", code), ("session", session_id), ("token", token))
        if value in logged
    ]
    assert leaked == []
    assert "GET /login?code=[redacted]&next=/hub 200" in logged


# --- settings -----------------------------------------------------------------------------


@settings(max_examples=200)
@given(value=st.one_of(st.text(max_size=12), st.integers(-10, 10**10).map(str)))
def test_session_times_are_whole_seconds_in_range_or_refused(value):
    from recompense.web.errors import WebSettingsError
    from recompense.web.settings import MAX_SESSION_S, MIN_SESSION_S, Settings

    env = {"RECOMPENSE_JWT_SECRET": "s" * 40, "RECOMPENSE_SESSION_LIFETIME_S": value}
    try:
        found = Settings.from_env(env, db_url="sqlite://").session_lifetime_s
    except WebSettingsError as exc:
        assert "RECOMPENSE_SESSION_LIFETIME_S" in str(exc)
    else:
        stripped = value.strip()
        if stripped:
            assert MIN_SESSION_S <= found == int(stripped) <= MAX_SESSION_S
        else:
            assert found == 8 * 3600


def test_an_idle_timeout_longer_than_the_lifetime_is_refused():
    from recompense.web.errors import WebSettingsError
    from recompense.web.settings import Settings

    env = {
        "RECOMPENSE_JWT_SECRET": "s" * 40,
        "RECOMPENSE_SESSION_LIFETIME_S": "600",
        "RECOMPENSE_SESSION_IDLE_S": "900",
    }
    with pytest.raises(WebSettingsError, match="longer than the session lifetime"):
        Settings.from_env(env, db_url="sqlite://")
    short = Settings.from_env({**env, "RECOMPENSE_SESSION_IDLE_S": ""}, db_url="sqlite://")
    assert (short.session_lifetime_s, short.session_idle_s) == (600, 600)


def test_secure_cookies_when_configured(served):
    import dataclasses

    from recompense.web.app import create_app

    app = create_app(dataclasses.replace(served.settings, secure_cookies=True), warm=False)
    from starlette.testclient import TestClient

    client = TestClient(app, base_url="https://testserver")
    code = code_for(client, served.token("ops"))
    page = client.get("/login", params={"code": code})
    assert "Secure" in page.headers["set-cookie"]
    answer = client.post("/login", data=form_of(page.text), follow_redirects=False)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
