"""A full-payment programme's eligibility page in a real browser: Spanish, through axe.

``recompense serve`` on a ledger holding the de-peg programme (its second batch as the
head) and the Together Initiative (:mod:`full_support`), Debian's Chromium under
Playwright, axe-core injected (:mod:`browser_fixtures`). A user paid for three events
reads each one in Spanish, with the exact prices; a user with no counted event reads the
window and follows the link to open a case. Neither page may have a serious or critical
axe violation. Skipped without Chromium or axe-core, failed then under
``RECOMPENSE_REQUIRE_BROWSER=1`` (CI), like the other browser tests.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from browser_fixtures import axe_violations, launch, open_page
from browser_support import Server, artifacts, fresh_ledger, sign_in
from full_support import DEPEG, Books, build_ledger, build_world

SECRET = "full-e2e-" + "x" * 40
NB = "\u00a0"


@pytest.fixture(scope="module")
def served(request, tmp_path_factory) -> tuple[Books, Server]:
    root = tmp_path_factory.mktemp("full-browser")
    books = build_ledger(build_world(root), fresh_ledger("sqlite", root, request), root)
    cases = {"RECOMPENSE_CASES_KEYS": "t1:" + base64.b64encode(bytes(range(32))).decode()}
    server = Server(books.url, SECRET, log=root / "server.log", env=cases)
    request.addfinalizer(server.stop)
    server.wait_ready()
    return books, server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as launched:
        yield launched


def test_a_full_programme_page_in_spanish_passes_axe(served, browser, tmp_path_factory):
    books, server = served
    shots = artifacts(tmp_path_factory)
    paid, account = books.users["paid"], books.world.accounts["paid"]
    problems: list[str] = []
    with open_page(browser, locale="es") as page:
        sign_in(page, server, "user", paid, locale="es")
        page.goto(f"{server.base}/programs/{DEPEG}/users/{paid}/eligibility")
        assert page.locator("html").get_attribute("lang") == "es"
        events = page.get_by_test_id("event")
        assert events.count() == 3
        assert events.nth(1).text_content() == (
            f"Su garantía en WBETH (usdm_futures, cuenta {account}) se vendió a 430,00{NB}US$ a "
            f"las 21:40{NB}UTC; el precio de referencia a las 00:00{NB}UTC era de "
            f"3.812,50323{NB}US$; 0,52 WBETH → 1.758,90{NB}US$"
        )
        assert page.get_by_test_id("why-amount").text_content() == (
            f"Sus liquidaciones suman 2.108,90{NB}US$ y se le pagan íntegramente."
        )
        problems += [f"paid: {v}" for v in axe_violations(page)]
        page.screenshot(path=str(shots / "full-es-paid.png"), full_page=True)
    outside = books.users["outside"]
    with open_page(browser, locale="es") as page:
        sign_in(page, server, "user", outside, locale="es")
        page.goto(f"{server.base}/programs/{DEPEG}/users/{outside}/eligibility")
        why = page.get_by_test_id("why-amount")
        assert why.get_attribute("data-reason") == "NO_COUNTED_COLLATERAL_EVENT"
        assert "entre el 10 oct 2025, 21:36" in (why.text_content() or "")
        problems += [f"no event: {v}" for v in axe_violations(page)]
        page.screenshot(path=str(shots / "full-es-no-event.png"), full_page=True)
        with page.expect_navigation():
            page.get_by_test_id("open-case-link").click()
        assert page.url == f"{server.base}/cases#open-case"
        assert page.get_by_test_id("open-case-form").is_visible()
    assert problems == [], "\n".join(problems)
