"""End to end in a real browser: Debian's Chromium, driven by Playwright, against
``recompense serve`` on loopback, over a run really distributed into the ledger
(SQLite and PostgreSQL).

A user signs in with a link from ``recompense token --link`` (and its form), reads why they are
eligible (checked against :func:`recompense.runs.explain`), redeems a voucher with a
double click (credited once), and verifies their proof in the page (``verify.js`` in
Chromium; a tampered proof fails). An ops user opens the dashboard and runs a what-if
(checked against :func:`recompense.whatif.simulate`). Screenshots are saved; the path
is printed (``-s`` shows it; set ``RECOMPENSE_TEST_ARTIFACTS`` to keep them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from browser_support import Server, artifacts, chromium, fresh_ledger, sign_in

from builders import approve_twice
from recompense.distribution.distribute import distribute, voucher_id
from recompense.runs.explain import explain

SECRET = "e2e-" + "x" * 44
PROGRAM = "together-2025-10"
TIMEOUT_MS = 20_000


@dataclass
class Site:
    """The server, its run, and eligible users each test may use up (one test, one user)."""

    server: Server
    run: Path
    eligible: list[int]
    shots: Path
    backend: str

    @property
    def base(self) -> str:
        return self.server.base

    def shot(self, page: Any, name: str) -> None:
        path = self.shots / f"{self.backend}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, web_run, publication_keys, tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp(f"e2e-{request.param}")
    url = fresh_ledger(request.param, folder, request)
    approve_twice(web_run, url)
    distribute(web_run, url, batch_size=500)
    key = {"RECOMPENSE_PUBLICATION_KEY_FILE": str(publication_keys.public_path)}
    server = Server(url, SECRET, log=folder / "server.log", env=key)
    try:
        server.wait_ready()
        shots = artifacts(tmp_path_factory)
        print(f"\nbrowser screenshots in {shots}")
        yield Site(server, web_run, _eligible(web_run), shots, request.param)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
        assert errors == [], f"JavaScript errors in the page: {errors}"
    finally:
        context.close()


def _eligible(run: Path) -> list[int]:
    table = pq.read_table(run / "eligibility.parquet", columns=["user_id", "eligible"])
    ids = np.asarray(table["user_id"].to_numpy())
    return [int(u) for u in np.sort(ids[np.asarray(table["eligible"].to_numpy(), dtype=bool)])]


def test_user_reads_the_explanation_redeems_and_sees_the_credit(site: Site, page) -> None:
    user = site.eligible[0]
    truth = explain(site.run, user)
    sign_in(page, site.server, "user", user)
    assert page.url == f"{site.base}/hub"
    assert page.get_by_test_id("signed-in-as").get_attribute("data-user-id") == str(user)
    page.get_by_test_id("explain-link").click()
    story = page.get_by_test_id("story")
    assert story.get_attribute("data-eligible") == "true"
    criteria = page.get_by_test_id("criterion")
    shown = {c.get_attribute("data-code"): c.get_attribute("data-passed") for c in criteria.all()}
    assert shown == {c.code: "true" for c in truth.checks}
    why = page.get_by_test_id("why-amount")
    assert int(why.get_attribute("data-cents") or "") == truth.amount_cents
    assert why.get_attribute("data-bound") == truth.bound
    assert page.get_by_test_id("loss").inner_text().strip()
    site.shot(page, "1-explanation")

    page.get_by_test_id("nav-hub").click()
    row = page.locator(f'[data-testid=voucher][data-voucher-id="{voucher_id(PROGRAM, user)}"]')
    assert row.get_attribute("data-status") == "issued"
    amount = int(row.get_by_test_id("voucher-amount").get_attribute("data-cents") or "")
    assert amount == truth.amount_cents
    assert page.get_by_test_id("credits").get_attribute("data-empty") == "true"
    site.shot(page, "2-hub-before")
    row.get_by_test_id("redeem-button").dblclick()  # a double click credits once
    page.get_by_test_id("redeemed-flash").wait_for()
    assert row.get_attribute("data-status") == "redeemed"
    _assert_one_credit(page, user, amount)
    site.shot(page, "3-hub-credited")
    page.reload()  # POST/redirect/GET: a reload does not post again
    _assert_one_credit(page, user, amount)


def _assert_one_credit(page: Any, user: int, amount: int) -> None:
    credits = page.get_by_test_id("credit")
    assert credits.count() == 1
    assert credits.first.get_attribute("data-voucher-id") == voucher_id(PROGRAM, user)
    assert int(credits.first.get_attribute("data-cents") or "") == amount


def test_user_verifies_their_proof_in_the_page(site: Site, page) -> None:
    user = site.eligible[1]
    sign_in(page, site.server, "user", user)
    page.get_by_test_id("verify-link").click()
    page.get_by_test_id("verify-button").click()
    result = page.locator(
        "[data-testid=verify-result]:not([data-state=idle], [data-state=running])"
    )
    assert result.get_attribute("data-state") == "ok", result.inner_text()
    steps = page.get_by_test_id("verify-steps").locator("li")
    assert steps.count() == 6
    assert all(text.startswith("✔") for text in steps.all_inner_texts())
    site.shot(page, "4-proof-verified")


def test_a_tampered_proof_fails_in_the_page(site: Site, page) -> None:
    """The server's answer is altered on the way (one cent more): the page says so."""
    user = site.eligible[2]
    sign_in(page, site.server, "user", user)

    def add_a_cent(route: Any) -> None:
        bundle = route.fetch().json()
        bundle["amount_cents"] += 1
        route.fulfill(json=bundle)

    page.route(f"**/api/programs/{PROGRAM}/users/{user}/proof", add_a_cent)
    page.goto(f"{site.base}/programs/{PROGRAM}/users/{user}/verify")
    page.get_by_test_id("verify-button").click()
    result = page.locator(
        "[data-testid=verify-result]:not([data-state=idle], [data-state=running])"
    )
    assert result.get_attribute("data-state") == "fail"
    assert page.get_by_test_id("verify-steps").locator("li").last.inner_text().startswith("✘")
    site.shot(page, "5-proof-tampered")


def test_another_users_pages_are_not_found(site: Site, page) -> None:
    user, other = site.eligible[3], site.eligible[4]
    sign_in(page, site.server, "user", user)
    for path in ("eligibility", "verify"):
        response = page.goto(f"{site.base}/programs/{PROGRAM}/users/{other}/{path}")
        assert response is not None
        assert response.status == 404
        assert page.get_by_test_id("error").get_attribute("data-status") == "404"
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        f"{site.base}/vouchers/{voucher_id(PROGRAM, other)}/redeem",
        form={"csrf_token": csrf or ""},
        max_redirects=0,
    )
    assert answer.status == 404  # a valid session and token, but not their voucher
    page.goto(f"{site.base}/hub")
    ids = page.get_by_test_id("voucher").evaluate_all("rows => rows.map(r => r.dataset.voucherId)")
    assert ids == [voucher_id(PROGRAM, user)]
    site.shot(page, "6-not-found")


def test_spanish_speakers_get_spanish_pages(site: Site, page) -> None:
    user = site.eligible[5]
    sign_in(page, site.server, "user", user, locale="es")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_test_id("hub").inner_text() != ""
    site.shot(page, "7-hub-es")


def test_ops_opens_the_dashboard_and_runs_a_what_if(site: Site, page) -> None:
    from recompense.whatif import Changes, load, simulate

    manifest = (site.run / "manifest.json").read_bytes()
    sign_in(page, site.server, "ops")
    page.get_by_test_id("dashboard-link").click()
    published = json.loads(manifest)["counts"]["eligible"]
    assert page.get_by_test_id("kpi-eligible").inner_text().replace(",", "") == str(published)
    for chart in ("funnel", "histogram", "lorenz"):
        assert page.get_by_test_id(chart).locator("svg").count() >= 1
    site.shot(page, "8-dashboard")

    page.get_by_test_id("whatif-link").click()
    page.fill("#min_loss_usd", "250")
    page.fill("#max_payout_usd", "3000")
    page.get_by_test_id("whatif-run").click()
    result = page.get_by_test_id("whatif-result")
    expected = simulate(
        load(site.run), Changes.from_form({"min_loss_usd": "250", "max_payout_usd": "3000"})
    )
    assert int(result.get_attribute("data-eligible") or "") == expected.eligible
    assert int(result.get_attribute("data-total-cents") or "") == expected.total_cents
    assert expected.eligible < published  # the change did something
    site.shot(page, "9-whatif")
    assert (site.run / "manifest.json").read_bytes() == manifest  # never changes the run


def test_ops_finds_a_user_sees_their_page_and_the_audit_trail(site: Site, page) -> None:
    user = site.eligible[6]
    sign_in(page, site.server, "ops")
    page.fill("#user_id", str(user))
    page.get_by_test_id("user-search-button").click()
    assert page.get_by_test_id("user-view").get_attribute("data-user-id") == str(user)
    row = page.locator(f'[data-testid=voucher][data-voucher-id="{voucher_id(PROGRAM, user)}"]')
    assert row.get_attribute("data-status") == "issued"
    assert page.get_by_test_id("redeem-button").count() == 0  # staff never redeem for them
    assert page.get_by_test_id("audit-entries").locator("tbody tr").count() >= 1
    accesses = page.get_by_test_id("audit-accesses").inner_text()
    assert "User page" in accesses
    assert "ops" in accesses  # this very look is on record
    site.shot(page, "10-ops-user")
