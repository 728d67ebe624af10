"""The server-rendered pages: sign-in, the hub, redemption by form (CSRF), i18n, ops pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from builders import sign_in
from recompense.ledger.db import connect
from recompense.ledger.journal import wallet_code
from recompense.ledger.schema import ledger_accounts, postings
from recompense.runs import read_allocations

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def signed_in(served, role="user", user_id=None, **claims):
    client = served.client()
    token = served.token(role, user_id, **claims)
    sign_in(client, token)
    return client


def csrf_of(page_html):
    return CSRF.search(page_html).group(1)


def credited(served):
    with connect(served.url).connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(postings.join(ledger_accounts))
            .where(ledger_accounts.c.code == wallet_code(served.owner, "USDC"))
        ).scalar_one()


def amount_of(served):
    rows = read_allocations(served.run).to_pylist()
    return next(r["amount_cents"] for r in rows if r["user_id"] == served.owner)


def test_the_hub_redeems_by_form_and_shows_the_credit(served):
    client = signed_in(served, "user", served.owner)
    hub = client.get("/hub")
    voucher = served.voucher(served.owner)
    assert f'data-voucher-id="{voucher}" data-status="issued"' in hub.text
    assert 'data-testid="redeem-button"' in hub.text
    assert 'data-testid="countdown"' in hub.text
    token = csrf_of(hub.text)
    done = client.post(
        f"/vouchers/{voucher}/redeem", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/hub?redeemed={voucher}#voucher-{voucher}"
    page = client.get(done.headers["location"])
    assert 'data-testid="redeemed-flash"' in page.text
    assert (
        f'data-testid="credit" data-voucher-id="{voucher}" data-cents="{amount_of(served)}"'
        in page.text
    )
    assert 'data-testid="redeem-button"' not in page.text
    assert credited(served) == 1


def test_a_double_submitted_form_credits_once(served):
    client = signed_in(served, "user", served.owner)
    token = csrf_of(client.get("/hub").text)
    voucher = served.voucher(served.owner)
    answers = [
        client.post(
            f"/vouchers/{voucher}/redeem", data={"csrf_token": token}, follow_redirects=False
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert credited(served) == 1


@pytest.mark.parametrize("sent", [None, "", "0" * 64, "from-another-session"])
def test_forms_without_the_sessions_csrf_token_are_refused(served, sent):
    client = signed_in(served, "user", served.owner)
    if sent == "from-another-session":
        sent = csrf_of(signed_in(served, "user", served.owner, locale="es").get("/hub").text)
    data = {} if sent is None else {"csrf_token": sent}
    answer = client.post(
        f"/vouchers/{served.voucher(served.owner)}/redeem", data=data, follow_redirects=False
    )
    assert answer.status_code == 403
    assert credited(served) == 0


def test_cookie_sessions_need_the_csrf_header_on_the_api_too(served):
    client = signed_in(served, "user", served.owner)
    token = csrf_of(client.get("/hub").text)
    url = f"/api/vouchers/{served.voucher(served.owner)}/redeem"
    assert client.post(url).status_code == 403
    assert credited(served) == 0
    assert client.post(url, headers={"X-CSRF-Token": token}).status_code == 200
    assert credited(served) == 1


def test_sign_out_needs_csrf_and_clears_the_cookie(served):
    client = signed_in(served, "user", served.owner)
    token = csrf_of(client.get("/hub").text)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert 'recompense_session=""' in out.headers["set-cookie"]
    assert client.get("/hub", headers={"Accept": "text/html"}).status_code == 401


def test_the_explanation_page_shows_the_numbers(served):
    client = signed_in(served, "user", served.owner, locale="en")
    page = client.get(f"/programs/together-2025-10/users/{served.owner}/eligibility")
    api = client.get(
        f"/api/programs/together-2025-10/users/{served.owner}/eligibility",
        headers={"Accept": "application/json"},
    ).json()
    assert page.status_code == 200
    assert f'data-testid="loss" data-cents="{api["loss_cents"]}"' in page.text
    assert f'data-testid="net-assets" data-cents="{api["net_assets_cents"]}"' in page.text
    assert page.text.count('data-testid="criterion"') == 3
    assert f'data-bound="{api["payout"]["bound"]}"' in page.text
    for criterion in api["criteria"]:
        assert criterion["detail"].replace("'", "&#39;") in page.text


def test_pages_carry_a_strict_csp_and_load_only_local_assets(served):
    client = signed_in(served, "user", served.owner)
    page = client.get(f"/programs/together-2025-10/users/{served.owner}/verify")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    local = ("/", "#")  # this site's paths, or a place in the page (the skip link)
    assert sources, sources
    assert all(s.startswith(local) or s == "data:," for s in sources), sources
    assert "<script>" not in page.text
    assert " style=" not in page.text
    for asset in ("/static/verify.js", "/static/app.js", "/static/app.css", "/assets/charts.css"):
        assert client.get(asset).status_code == 200, asset


def test_the_language_follows_the_token_then_the_browser(served):
    spanish = signed_in(served, "user", served.owner, locale="es")
    page = spanish.get("/hub", headers={"Accept-Language": "en-US"})
    assert '<html lang="es">' in page.text
    assert "Sus recompensas" in page.text
    english = signed_in(served, "user", served.stranger)  # no locale on file for a stranger
    assert (
        '<html lang="es">'
        in english.get("/hub", headers={"Accept-Language": "es-MX,en;q=0.5"}).text
    )
    assert '<html lang="en">' in english.get("/hub", headers={"Accept-Language": "fr, de"}).text


def test_the_api_explains_in_the_callers_language(served):
    headers = served.bearer("user", served.owner, locale="es")
    got = (
        served.client()
        .get(f"/api/programs/together-2025-10/users/{served.owner}/eligibility", headers=headers)
        .json()
    )
    assert got["locale"] == "es"
    assert got["criteria"][0]["detail"].startswith("Su pérdida de ")
    assert "\u00a0US$" in got["criteria"][0]["detail"]  # 1.234,56 US$ (Babel, CLDR)


def test_an_unknown_page_and_someone_elses_page_look_the_same(served):
    client = signed_in(served, "user", served.owner)
    html = {"Accept": "text/html"}
    other = client.get(f"/programs/together-2025-10/users/{served.other}/eligibility", headers=html)
    unknown = client.get("/programs/nope/users/1/eligibility", headers=html)
    assert other.status_code == 404
    assert unknown.status_code in (404,)
    assert 'data-testid="error"' in other.text


def test_ops_pages_show_the_dashboard_user_and_whatif(served):
    client = signed_in(served, "ops")
    board = client.get("/ops/programs/together-2025-10")
    for chart in ("funnel", "histogram", "lorenz"):
        assert f'data-chart="{chart}"' in board.text
    assert 'data-testid="promises"' in board.text
    assert 'data-testid="notifications"' in board.text
    user = client.get(f"/ops/users?user_id={served.owner}")
    assert f'data-testid="user-view" data-user-id="{served.owner}"' in user.text
    assert 'data-testid="redeem-button"' not in user.text  # operations never redeem
    assert 'data-testid="audit-accesses"' in user.text
    form = client.get("/ops/programs/together-2025-10/whatif")
    token = csrf_of(form.text)
    result = client.post(
        "/ops/programs/together-2025-10/whatif",
        data={"csrf_token": token, "min_loss_usd": "100", "action": "simulate"},
    )
    assert result.status_code == 200
    assert 'data-testid="whatif-result"' in result.text
    bad = client.post(
        "/ops/programs/together-2025-10/whatif",
        data={"csrf_token": token, "min_ratio": "abc", "action": "simulate"},
    )
    assert bad.status_code == 422
    assert 'data-testid="whatif-error"' in bad.text
    export = client.post(
        "/ops/programs/together-2025-10/whatif",
        data={"csrf_token": token, "budget_usd": "200000", "action": "export"},
    )
    assert export.headers["content-disposition"].endswith('-whatif.toml"')
    assert "budget_usd" in export.text


def test_the_language_on_file_for_the_user_comes_before_the_browsers(served):
    from recompense.runs import read_recipients

    recipients = read_recipients(served.run).to_pylist()
    spanish = next(r["user_id"] for r in recipients if r["locale"] == "es")
    client = signed_in(served, "user", spanish)
    page = client.get("/hub", headers={"Accept-Language": "en"})
    assert '<html lang="es">' in page.text
    me = client.get("/api/me", headers={"Accept": "application/json"}).json()
    assert me["locale"] == "es"


def test_a_refused_redemption_says_why_on_the_hub(served):
    from recompense.ledger.vouchers import revoke

    voucher = served.voucher(served.owner)
    revoke(connect(served.url), voucher, reason="test")
    client = signed_in(served, "user", served.owner)
    token = csrf_of(client.get("/hub").text)
    answer = client.post(f"/vouchers/{voucher}/redeem", data={"csrf_token": token})
    assert answer.status_code == 200  # after the redirect to the hub
    assert f'data-testid="redeem-failed" data-voucher-id="{voucher}"' in answer.text
    assert "This voucher can no longer be redeemed: Revoked" in answer.text
    assert credited(served) == 0
