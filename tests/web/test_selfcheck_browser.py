"""'Check with your own exports' in a real browser: Debian's Chromium under Playwright,
against ``recompense serve`` on loopback with the self-check configured.

A user signs in with a ``recompense token --link`` link, follows the hub's link, picks
blah's four real USDⓈ-M CSV exports (read from ``../shared/data/real/user-exports``,
never copied), types net assets (blah's ledger starts mid-history, so they cannot be
derived), and reads the result: the verdict, each rule, the table of the 20 counted
fills and the chart of the loss by minute; once in English, once in Spanish. The
self-check never reads the ledger, so one backend (SQLite) is enough here. Screenshots
are saved; the path is printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_support import Server, artifacts, chromium, fresh_ledger, sign_in
from web_support import PROGRAM_FILE

from builders import approve_twice
from recompense.distribution.distribute import distribute

SECRET = "selfcheck-e2e-" + "x" * 40
TIMEOUT_MS = 30_000  # a check takes a few seconds
ME = 4242  # signed in as someone else than blah: the page checks any exports, and says so
BLAH = 1105200956


@dataclass
class Site:
    server: Server
    exports: list[Path]
    shots: Path

    def shot(self, page: Any, name: str) -> None:
        path = self.shots / f"selfcheck-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")


@pytest.fixture(scope="module")
def site(request, web_run, real_exports, tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("selfcheck-e2e")
    url = fresh_ledger("sqlite", folder, request)
    approve_twice(web_run, url)
    distribute(web_run, url, batch_size=500)
    env = {"RECOMPENSE_SELFCHECK_PROGRAM": str(PROGRAM_FILE)}
    server = Server(url, SECRET, log=folder / "server.log", env=env)
    try:
        server.wait_ready()
        shots = artifacts(tmp_path_factory)
        print(f"\nbrowser screenshots in {shots}")
        exports = sorted((real_exports / "user-exports" / "blah").glob("*.csv"))
        assert len(exports) == 4
        yield Site(server, exports, shots)
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


def check_blah(site: Site, page: Any, net_assets: str) -> Any:
    """From the hub: the link, the four files, the figure, the button; the result section."""
    page.get_by_test_id("selfcheck-link").click()
    assert page.url == f"{site.server.base}/selfcheck"
    page.get_by_test_id("selfcheck-files").set_input_files([str(p) for p in site.exports])
    page.get_by_test_id("selfcheck-net-assets").fill(net_assets)
    page.get_by_test_id("selfcheck-submit").click()
    result = page.get_by_test_id("selfcheck-result")
    result.wait_for()
    assert result.get_attribute("data-user-id") == str(BLAH)
    assert result.get_attribute("data-eligible") == "true"
    assert page.get_by_test_id("selfcheck-other-uid").get_attribute("data-uid") == str(BLAH)
    assert page.get_by_test_id("criterion").count() == 3
    assert page.get_by_test_id("selfcheck-fill").count() == 20
    chart = page.get_by_test_id("selfcheck-chart").locator("svg[role=img]")
    assert chart.is_visible()
    assert chart.bounding_box()["width"] > 300
    assert page.get_by_test_id("selfcheck-chart").locator("path.timeline-line").count() == 1
    return result


def test_a_user_checks_blahs_exports_and_sees_the_table_and_chart(site: Site, page) -> None:
    sign_in(page, site.server, "user", ME)
    assert page.url == f"{site.server.base}/hub"
    result = check_blah(site, page, "50000")
    assert result.get_attribute("data-loss-cents") == "3392787"
    assert result.get_attribute("data-net-assets-cents") == "5000000"
    assert page.get_by_test_id("selfcheck-loss").inner_text() == "$33,927.87"
    assert page.get_by_test_id("selfcheck-ratio").inner_text() == "67.86\u00a0%"
    fills = page.get_by_test_id("selfcheck-fills")
    assert "Time (UTC)" in fills.locator("thead").inner_text()
    first = page.get_by_test_id("selfcheck-fill").first.inner_text()
    assert "2025-10-10 21:18:53" in first
    assert "SKYUSDT" in first
    label = page.get_by_test_id("selfcheck-chart").locator("svg").get_attribute("aria-label")
    assert label == "Cumulative liquidation loss by minute"
    assert page.get_by_test_id("selfcheck-fills-count").inner_text() == "20 fills."
    site.shot(page, "en")


def test_the_same_check_in_spanish(site: Site, page) -> None:
    sign_in(page, site.server, "user", ME, locale="es")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_test_id("selfcheck-link").inner_text() == (
        "Comprobar con sus propias exportaciones"
    )
    check_blah(site, page, "50000,00")
    assert page.get_by_test_id("selfcheck-loss").inner_text() == "33.927,87\u00a0US$"
    verdict = page.get_by_test_id("selfcheck-verdict").inner_text()
    assert verdict.startswith("Sí. Según estas exportaciones")
    criteria = page.get_by_test_id("criteria").inner_text()
    assert "Su pérdida de 33.927,87\u00a0US$ alcanza el mínimo de 50,00\u00a0US$." in criteria
    assert "Hora (UTC)" in page.get_by_test_id("selfcheck-fills").locator("thead").inner_text()
    label = page.get_by_test_id("selfcheck-chart").locator("svg").get_attribute("aria-label")
    assert label == "Pérdida por liquidación acumulada por minuto"
    site.shot(page, "es")


def test_too_many_files_are_refused_in_the_page_before_sending(site: Site, page) -> None:
    """The browser says it at once (the server would answer 413 anyway)."""
    sign_in(page, site.server, "user", ME)
    page.goto(f"{site.server.base}/selfcheck")
    many = [{"name": f"f{i}.csv", "mimeType": "text/csv", "buffer": b"x"} for i in range(13)]
    files = page.get_by_test_id("selfcheck-files")
    files.set_input_files(many)
    message = files.evaluate("input => input.validationMessage")
    assert message == "At most 12 files at a time."
    page.get_by_test_id("selfcheck-submit").click()
    assert page.url == f"{site.server.base}/selfcheck"  # not sent: the form is invalid
    assert page.get_by_test_id("selfcheck-result").count() == 0
