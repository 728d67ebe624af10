"""Accessibility in a real browser: axe-core on every page, for every role, in English and
Spanish, and keyboard-only use of sign-in, redeem and verify.

Debian's Chromium under Playwright against ``recompense serve`` (one server and one
browser for the module, :mod:`browser_fixtures`). axe-core (pinned in
``tests/browser/package-lock.json``, installed by ``make browser``) is injected into each
page; a serious or critical violation on any page fails the test with the page and the
rule. Each role signs in and must land on its work (the start page), with exactly the
header links it may use, each of which opens (HTTP 200). Error pages are checked too.
Desktop screenshots of every page are saved (``RECOMPENSE_TEST_ARTIFACTS``); the phone
ones are in ``test_phone_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_fixtures import (
    PROGRAM,
    ROLES,
    SIGNED_OUT,
    START,
    Site,
    axe_violations,
    focus_problem,
    launch,
    open_page,
    pages_of,
    slug,
    start_site,
    tab_to,
)
from browser_support import sign_in_link


@pytest.fixture(scope="module")
def site(request, web_run, publication_keys, tmp_path_factory) -> Site:
    return start_site(request, web_run, publication_keys, tmp_path_factory, "a11y")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as launched:
        yield launched


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_every_role_passes_axe(site: Site, browser, role: str, locale: str) -> None:
    user = site.eligible[0]
    problems: list[str] = []
    with open_page(browser, locale=locale) as page:
        site.sign_in(page, role, user if role == "user" else None, locale)
        start, links = START[role]
        assert page.url == site.base + start, f"{role} landed on {page.url}"
        shown = (
            page.get_by_test_id("nav")
            .locator("a")
            .evaluate_all("links => links.map(a => a.getAttribute('href'))")
        )
        assert shown == links
        assert page.locator("html").get_attribute("lang") == locale
        for path in links:
            response = page.goto(site.base + path)
            assert response is not None, (role, path)
            assert response.status == 200, (role, path)
        for path, status in pages_of(site, role, user):
            response = page.goto(site.base + path)
            assert response is not None, (role, path)
            assert response.status == status, (role, path)
            problems += [f"{path}: {v}" for v in axe_violations(page)]
            if locale == "en":
                site.shot(page, f"desktop-{role}-{slug(path)}")
        if role == "ops":  # a what-if's outcome page, charts and tables
            page.goto(f"{site.base}/ops/programs/{PROGRAM}/whatif")
            page.fill("#min_loss_usd", "250")
            page.get_by_test_id("whatif-run").click()
            page.get_by_test_id("whatif-result").wait_for()
            problems += [f"what-if outcome: {v}" for v in axe_violations(page)]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_signed_out_pages_pass_axe(site: Site, browser, locale: str) -> None:
    problems: list[str] = []
    with open_page(browser, locale=locale) as page:
        for path, status in SIGNED_OUT:
            response = page.goto(site.base + path)
            assert response is not None, path
            assert response.status == status, path
            assert page.locator("html").get_attribute("lang") == locale
            problems += [f"{path}: {v}" for v in axe_violations(page)]
        site.shot(page, f"desktop-signed-out-{locale}")
    assert problems == [], "\n".join(problems)


def test_keyboard_only_sign_in_redeem_and_verify(site: Site, browser) -> None:
    """Tab, Shift+Tab, Enter and Space only; the focus is visible at every stop."""
    user = site.user()
    with open_page(browser) as page:
        page.goto(site.base + "/")
        tab_to(page, "#code")
        page.keyboard.type(_code(site, user))  # the code of the link the user was sent
        page.keyboard.press("Enter")
        page.get_by_test_id("signin-confirm").wait_for()
        tab_to(page, "[data-testid=signin-confirm]")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{site.base}/hub")
        assert page.get_by_test_id("signed-in-as").get_attribute("data-user-id") == str(user)

        tab_to(page, f"#redeem-{site.voucher(user)}")
        page.keyboard.press("Enter")
        page.get_by_test_id("redeemed-flash").wait_for()
        credits = page.get_by_test_id("credit")
        assert credits.count() == 1
        assert credits.first.get_attribute("data-voucher-id") == site.voucher(user)
        site.shot(page, "keyboard-redeemed")

        tab_to(page, "[data-testid=verify-link]", backwards=True)  # up from the voucher
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/programs/{PROGRAM}/users/{user}/verify")
        tab_to(page, "#verify-button")
        page.keyboard.press("Space")
        result = page.locator(
            "[data-testid=verify-result]:not([data-state=idle], [data-state=running])"
        )
        assert result.get_attribute("data-state") == "ok", result.inner_text()
        assert axe_violations(page) == []  # with the checked commitment and steps shown
        site.shot(page, "keyboard-verified")


def test_the_skip_link_is_first_and_moves_to_the_content(site: Site, browser) -> None:
    with open_page(browser) as page:
        site.sign_in(page, "ops")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#content"
        assert focus_problem(page) is None
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "content"


def _code(site: Site, user: int) -> str:
    """The one-time code of a sign-in link (``recompense token --link``), typed by hand."""
    link = sign_in_link(site.server, "user", user)
    return parse_qs(urlsplit(link).query)["code"][0]
