"""Every page at phone width (390×844) in a real browser, for every role, in English and
Spanish: nothing scrolls sideways, every link, button and field is on screen (or in a
table that scrolls by itself and fits), and axe-core finds no serious or critical
violation in the phone layout either.

Debian's Chromium under Playwright, a touch screen of 390×844 CSS pixels, against
``recompense serve`` (one server and one browser for the module, :mod:`browser_fixtures`).
The check is ``document.documentElement.scrollWidth <= 390`` plus each control's box.
A user redeems a voucher on a phone: the Redeem button is on screen and a tap credits
it. Phone screenshots of every page are saved (``RECOMPENSE_TEST_ARTIFACTS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_fixtures import (
    PHONE,
    ROLES,
    SIGNED_OUT,
    Site,
    axe_violations,
    launch,
    open_page,
    overflow_problems,
    pages_of,
    slug,
    start_site,
)


@pytest.fixture(scope="module")
def site(request, web_run, publication_keys, tmp_path_factory) -> Site:
    return start_site(request, web_run, publication_keys, tmp_path_factory, "phone")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as launched:
        yield launched


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_a_phone(site: Site, browser, role: str, locale: str) -> None:
    user = site.eligible[0]
    problems: list[str] = []
    with open_page(browser, phone=True, locale=locale) as page:
        site.sign_in(page, role, user if role == "user" else None, locale)
        for path, status in pages_of(site, role, user):
            response = page.goto(site.base + path)
            assert response is not None, (role, path)
            assert response.status == status, (role, path)
            assert page.evaluate("document.documentElement.clientWidth") == PHONE["width"]
            problems += [f"{path}: {p}" for p in overflow_problems(page)]
            problems += [f"{path}: {v}" for v in axe_violations(page)]
            site.shot(page, f"{locale}-{role}-{slug(path)}")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_signed_out_pages_fit_a_phone(site: Site, browser, locale: str) -> None:
    problems: list[str] = []
    with open_page(browser, phone=True, locale=locale) as page:
        for path, status in SIGNED_OUT:
            response = page.goto(site.base + path)
            assert response is not None, path
            assert response.status == status, path
            problems += [f"{path}: {p}" for p in overflow_problems(page)]
            problems += [f"{path}: {v}" for v in axe_violations(page)]
            site.shot(page, f"{locale}-signed-out-{slug(path)}")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_user_redeems_on_a_phone(site: Site, browser, locale: str) -> None:
    user = site.user()
    with open_page(browser, phone=True, locale=locale) as page:
        site.sign_in(page, "user", user, locale)
        assert page.url == f"{site.base}/hub"
        row = page.locator(f'[data-testid=voucher][data-voucher-id="{site.voucher(user)}"]')
        amount = int(row.get_by_test_id("voucher-amount").get_attribute("data-cents") or "")
        button = row.get_by_test_id("redeem-button")
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box is not None
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= PHONE["width"], box
        assert box["y"] >= 0, box
        assert box["y"] + box["height"] <= PHONE["height"], box
        assert box["height"] >= 44  # a finger's target
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        site.shot(page, f"{locale}-hub-before")

        button.tap()
        page.get_by_test_id("redeemed-flash").wait_for()
        assert row.get_attribute("data-status") == "redeemed"
        credits = page.get_by_test_id("credit")
        assert credits.count() == 1
        assert credits.first.get_attribute("data-voucher-id") == site.voucher(user)
        assert int(credits.first.get_attribute("data-cents") or "") == amount
        assert overflow_problems(page) == []
        site.shot(page, f"{locale}-hub-credited")
