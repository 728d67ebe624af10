"""Spanish in Chromium: the verify page's steps, and the hub, as a Spanish-speaking user sees them.

Debian's Chromium (Playwright) against ``recompense serve`` on loopback, signed in through
a one-time link minted with ``--locale es``. The verify page's steps are written by
``verify.js`` in the browser from the page's Spanish templates, with the amounts
formatted by the browser's ``Intl`` for the page's language; the failure of a check stays
in the checker's own English, marked ``lang="en"``. Screenshots go to the artifacts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from browser_support import Server, artifacts, chromium, fresh_ledger, sign_in

from builders import approve_twice
from recompense.distribution.distribute import distribute
from recompense.proofs import read_commitment

SECRET = "i18n-" + "x" * 43
PROGRAM = "together-2025-10"
TIMEOUT_MS = 20_000
DONE = "[data-testid=verify-result]:not([data-state=idle], [data-state=running])"


@pytest.fixture(scope="module")
def server(web_run, publication_keys, tmp_path_factory, request) -> Iterator[tuple[Server, int]]:
    folder = tmp_path_factory.mktemp("i18n-browser")
    url = fresh_ledger("sqlite", folder, request)
    approve_twice(web_run, url)
    distribute(web_run, url, batch_size=500)
    env = {"RECOMPENSE_PUBLICATION_KEY_FILE": str(publication_keys.public_path)}
    served = Server(url, SECRET, log=folder / "server.log", env=env)
    table = pq.read_table(web_run / "allocations.parquet", columns=["user_id"])
    user = min(int(u) for u in np.asarray(table["user_id"].to_numpy()))
    try:
        served.wait_ready()
        yield served, user
    finally:
        served.stop()


@pytest.fixture
def page(tmp_path_factory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = chromium(playwright)
        context = browser.new_context(locale="es-ES", viewport={"width": 1200, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        opened = context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield opened
            assert errors == [], f"JavaScript errors in the page: {errors}"
        finally:
            browser.close()


def test_the_verify_steps_speak_spanish(server, page, web_run, tmp_path_factory) -> None:
    site, user = server
    sign_in(page, site, "user", user, locale="es")
    page.goto(f"{site.base}/programs/{PROGRAM}/users/{user}/verify")
    assert page.locator("html").get_attribute("lang") == "es"
    page.get_by_test_id("verify-button").click()
    assert page.locator(DONE).get_attribute("data-state") == "ok"
    steps = page.get_by_test_id("verify-steps").locator("li").all_inner_texts()
    assert len(steps) == 6, steps
    assert all(s.startswith("✔") for s in steps), steps
    commitment = read_commitment(web_run)
    assert steps[0].startswith(f"✔ Compromiso: programa {PROGRAM}, ejecución "), steps[0]
    total = re.search(r"total (.+)$", steps[0])
    assert total is not None
    assert total[1].endswith("US$")  # Intl, es: 1.234,56 US$
    digits = re.sub(r"\D", "", total[1])
    assert int(digits) == commitment["total_cents"]  # every cent, exactly
    assert steps[3].startswith("✔ Árbol de sumas: ")
    assert not any(re.search(r"\b(?:the|and|levels|hashes up)\b", s) for s in steps), steps
    page.screenshot(path=str(artifacts(tmp_path_factory) / "i18n-verify-es.png"), full_page=True)


def test_the_hub_speaks_spanish_in_the_browser(server, page, tmp_path_factory) -> None:
    site, user = server
    sign_in(page, site, "user", user, locale="es")
    page.goto(f"{site.base}/hub")
    assert page.get_by_role("heading", level=1).inner_text().strip() == "Sus recompensas"
    assert f"Usuario {user}" in page.get_by_test_id("signed-in-as").inner_text()
    amount = page.get_by_test_id("voucher-amount").first.inner_text()
    assert re.fullmatch(r"[\d.]+,\d\d\u00a0USDC", amount.strip()), amount
    page.screenshot(path=str(artifacts(tmp_path_factory) / "i18n-hub-es.png"), full_page=True)
