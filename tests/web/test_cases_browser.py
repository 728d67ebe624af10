"""A case from start to finish in a real browser: filed in Spanish, decided under four eyes.

Debian's Chromium under Playwright against ``recompense serve`` (SQLite, the cases' keys
in the environment, as an operator starts it). A user signs in in Spanish, follows "Mis
casos" from the Rewards Hub, files a claim through the form and attaches an export;
one officer proposes accepting it (above the programme's four-eyes amount, $1,000), the
same officer cannot approve it, a second officer does, and the user sees "Aceptado" with
the amount. axe-core checks the user's case page and the operations queue (no serious or
critical violation), at desktop and phone sizes; screenshots are saved.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest
from browser_fixtures import PROGRAM, SECRET, _eligible, axe_violations, launch, open_page
from browser_support import Server, artifacts, fresh_ledger, sign_in

from builders import approve_twice
from recompense.distribution.distribute import distribute

EXPORT = b"time,asset,amount\n2025-10-10 21:15:00,USDT,2500.00\n"


@pytest.fixture(scope="module")
def site(request, web_run, tmp_path_factory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("cases-browser")
    url = fresh_ledger("sqlite", folder, request)
    approve_twice(web_run, url)
    distribute(web_run, url, batch_size=500)
    key = base64.b64encode(os.urandom(32)).decode()
    env = {"RECOMPENSE_CASES_KEYS": f"c1:{key}"}
    server = Server(url, SECRET, log=folder / "server.log", env=env)
    request.addfinalizer(server.stop)
    server.wait_ready()
    return {"server": server, "user": _eligible(web_run)[0], "shots": artifacts(tmp_path_factory)}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as launched:
        yield launched


def test_a_claim_filed_in_spanish_is_decided_under_four_eyes(site, browser) -> None:
    server, base, shots = site["server"], site["server"].base, site["shots"]
    with open_page(browser, locale="es") as page:
        sign_in(page, server, "user", site["user"], locale="es")
        page.get_by_test_id("cases-link").click()
        assert page.locator("h1").inner_text() == "Mis casos"
        page.select_option("#program_id", PROGRAM)
        page.select_option("#category", "claim_transfer")
        page.fill("#summary", "Mi transferencia a futuros quedó bloqueada 40 minutos.")
        page.fill("#stated_usd", "2500,00")
        page.fill("#occurred_at", "2025-10-10T21:15")
        page.get_by_test_id("open-case-button").click()
        page.wait_for_url("**/cases/*?done=opened")
        case_url = page.url.split("?")[0]
        assert page.get_by_test_id("case-state").inner_text() == "Abierto: lo estamos revisando"
        page.set_input_files(
            "#file", files=[{"name": "export.csv", "mimeType": "text/csv", "buffer": EXPORT}]
        )
        page.get_by_test_id("evidence-button").click()
        page.wait_for_url("**?done=uploaded")
        assert page.get_by_test_id("evidence").inner_text().startswith("export.csv")
        assert axe_violations(page) == []
        page.screenshot(path=str(shots / "cases-user-es.png"), full_page=True)
    case_id = case_url.rsplit("/", 1)[1]

    with open_page(browser) as page:
        sign_in(page, server, "ops", subject="ops-alice")
        page.get_by_test_id("cases-link").click()
        assert page.get_by_test_id("cases-queue").is_visible()
        assert axe_violations(page) == []
        page.screenshot(path=str(shots / "cases-queue.png"), full_page=True)
        page.locator(f'[data-testid="queue-row"][data-case-id="{case_id}"] a').click()
        page.get_by_test_id("accept-claim").check()
        page.get_by_test_id("accept-claim-amount").fill("2500.00")
        page.get_by_test_id("accept-reason").fill("Delay confirmed in the transfer logs.")
        page.get_by_test_id("accept-button").click()
        page.wait_for_url("**?done=proposed*")
        assert page.get_by_test_id("ops-case").get_attribute("data-state") == "proposed"
        page.get_by_test_id("approve-reason").fill("My own proposal")
        response = None
        with page.expect_navigation() as navigation:
            page.get_by_test_id("approve-button").click()
        response = navigation.value
        assert response is not None
        assert response.status == 403  # maker-checker: never the proposer
        assert axe_violations(page) == []

    with open_page(browser) as page:
        sign_in(page, server, "ops", subject="ops-bob")
        page.goto(f"{base}/ops/cases/{case_id}")
        assert axe_violations(page) == []
        page.get_by_test_id("approve-reason").fill("Checked: the claim stands.")
        page.get_by_test_id("approve-button").click()
        page.wait_for_url("**?done=approved*")
        assert page.get_by_test_id("ops-case").get_attribute("data-state") == "accepted"

    with open_page(browser, locale="es", phone=True) as page:
        sign_in(page, server, "user", site["user"], locale="es")
        page.goto(case_url)
        assert page.get_by_test_id("case-state").inner_text() == "Aceptado"
        decision = page.get_by_test_id("decision-claim")
        assert decision.get_attribute("data-cents") == "250000"
        assert "2500,00" in decision.inner_text().replace(".", "")
        assert axe_violations(page) == []
        page.screenshot(path=str(shots / "cases-accepted-es-phone.png"), full_page=True)
