"""The web service with a full-payment programme (the de-peg compensation) beside the
Together Initiative, in one ledger (SQLite and PostgreSQL).

The de-peg programme is distributed, then its second batch (an amendment run on newer
data), then the Together Initiative, run against that ledger so that it excludes whom
the de-peg programme paid (:mod:`full_support` has the dataset and who is who). Checked:

- the run index reads the full kind's files; every user's story equals ``recompense
  explain``'s (the oracle: it reads the Parquet files itself), event by event, sentence
  by sentence in English;
- the page and the API tell each event in one sentence in English and Spanish — figures
  written by hand here, from the reference prices — the sum paid in full or capped at
  the ceiling, ``NO_LOSS_AT_REFERENCE`` and ``NO_COUNTED_COLLATERAL_EVENT`` (with the
  window and a link to open a case);
- a Together user excluded because the de-peg programme paid them is told its name and
  the date, in both languages;
- the operations console lists both programmes and their dashboards show their figures:
  the de-peg one with its second batch and the 72 h promise.
"""

from __future__ import annotations

import html
import re
import time
import warnings

import pyarrow.parquet as pq
import pytest
from browser_support import fresh_ledger
from full_support import (
    CEILING_CENTS,
    DEPEG,
    DEPEG_NAME,
    TOGETHER,
    Books,
    World,
    build_ledger,
    build_world,
    events_of,
)
from web_support import settings_for

from recompense.runs import explain, read_manifest, run_fingerprint
from recompense.web import formats, i18n_full
from recompense.web.app import create_app
from recompense.web.auth import mint_token
from recompense.web.i18n import Translator
from recompense.web.runindex import FullEligibility, load_run
from recompense.web.story import story
from recompense.web.story_full import FullStory

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package; httpx works and is what is installed.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

NB = "\u00a0"  # the pages join a figure to its symbol and a time to "UTC"
ALL_PAID_CENTS = 175_890 + 35_000 + 5_000 + CEILING_CENTS + 10_000 + 1_000  # the first batch
LATE_CENTS = 28_583  # the second batch: 3 × (195.275 − 100) = 285.825 → $285.83


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return build_world(tmp_path_factory.mktemp("full-world"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def books(request, world, tmp_path_factory) -> Books:
    folder = tmp_path_factory.mktemp(f"full-{request.param}")
    return build_ledger(world, fresh_ledger(request.param, folder, request), folder)


@pytest.fixture(scope="module")
def site(books, rsa_keys):
    settings = settings_for(books.url, rsa_keys)
    client = TestClient(create_app(settings))

    def headers(role: str, user: int | None = None, locale: str = "en") -> dict[str, str]:
        token = mint_token(settings, role=role, user_id=user, locale=locale)
        return {"Authorization": f"Bearer {token}", "Accept": "text/html"}

    with client:
        yield client, headers


# ---- the run index and the story, against explain ---------------------------------------


def test_the_index_reads_a_full_run_and_finds_a_users_events(books):
    index = load_run(books.batch, run_fingerprint(books.batch))
    assert index.kind == "full"
    assert isinstance(index.eligibility, FullEligibility)
    ids = index.eligibility.user_ids.tolist()
    assert ids == sorted(ids)
    assert index.events is not None
    assert index.events.user_ids.tolist() == sorted(index.events.user_ids.tolist())
    paid = books.users["paid"]
    found = index.events.of(paid)
    assert [{k: r[k] for k in sorted(r)} for r in found] == [
        {k: r[k] for k in sorted(r)} for r in events_of(books.batch, paid)
    ]
    assert index.events.of(books.users["outside"]) == []  # sold at the window's end
    started = time.perf_counter()
    for _ in range(1_000):
        story(index, paid)
    assert time.perf_counter() - started < 2.0  # measured ~60 µs a story (3 events)


@pytest.mark.parametrize("which", ["base", "batch"])
def test_every_users_story_is_explains(books, which):
    run = books.world.depeg_run if which == "base" else books.batch
    index = load_run(run, run_fingerprint(run))
    users = [*index.eligibility.user_ids.tolist(), books.users["outside"], 0, 10**12]
    rows = pq.read_table(run / "allocations.parquet").to_pylist()
    allocations = {int(r["user_id"]): int(r["amount_cents"]) for r in rows}
    t = Translator("en")
    for user in users:
        got, oracle = story(index, user), explain(run, user)
        assert isinstance(got, FullStory)
        assert (got.eligible, got.reasons) == (oracle.eligible, oracle.reasons), user
        assert [(c.code, c.passed) for c in got.criteria] == [
            (c.code, c.passed) for c in oracle.checks
        ]
        assert [e.as_dict() for e in got.events] == list(oracle.events)
        for k, event in enumerate(got.events):
            ours = i18n_full.criterion_text(t, got, k).replace(NB, " ")
            theirs = oracle.checks[k].detail
            assert ours == theirs[0].upper() + theirs[1:]
            assert theirs == event.sentence(got.reference_at)
        paid = allocations.get(user)  # what the run pays, read from allocations.parquet
        assert (got.payout and got.payout.amount_cents) == paid, user
        if oracle.amount_cents is not None:  # explain gives an eligible user's amount
            assert got.payout is not None
            assert (got.payout.amount_cents, got.payout.bound) == (
                oracle.amount_cents,
                oracle.bound,
            )
        elif paid is not None:  # a decrease recorded by the second batch: still paid
            assert (which, got.reasons) == ("batch", ("NO_LOSS_AT_REFERENCE",))


# ---- the user's page and API ---------------------------------------------------------


def _api(site, user: int, locale: str, program: str = DEPEG) -> dict:
    client, headers = site
    answer = client.get(
        f"/api/programs/{program}/users/{user}/eligibility", headers=headers("user", user, locale)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _page(site, user: int, locale: str, program: str = DEPEG) -> str:
    client, headers = site
    page = client.get(
        f"/programs/{program}/users/{user}/eligibility", headers=headers("user", user, locale)
    )
    assert page.status_code == 200, page.text
    assert f'<html lang="{locale}">' in page.text
    return html.unescape(page.text)


def test_each_event_in_one_sentence_in_english_and_spanish(books, site):
    user, account = books.users["paid"], books.world.accounts["paid"]
    said = {
        "en": [
            f"Your BNSOL collateral (cross_margin, account {account}) was sold at $200.00 at "
            f"21:36:30{NB}UTC; the reference price at 00:00{NB}UTC was $195.275; sold at or "
            "above it: $0.00",
            f"Your WBETH collateral (usdm_futures, account {account}) was sold at $430.00 at "
            f"21:40{NB}UTC; the reference price at 00:00{NB}UTC was $3,812.50323; 0.52 WBETH "
            "→ $1,758.90",
            f"Your USDE collateral (loan, account {account}) was sold at $0.65 at 21:54{NB}UTC; "
            f"the reference price at 00:00{NB}UTC was $1.00; 1,000 USDE → $350.00",
        ],
        "es": [
            f"Su garantía en BNSOL (cross_margin, cuenta {account}) se vendió a 200,00{NB}US$ a "
            f"las 21:36:30{NB}UTC; el precio de referencia a las 00:00{NB}UTC era de "
            f"195,275{NB}US$; se vendió a ese precio o por encima: 0,00{NB}US$",
            f"Su garantía en WBETH (usdm_futures, cuenta {account}) se vendió a 430,00{NB}US$ a "
            f"las 21:40{NB}UTC; el precio de referencia a las 00:00{NB}UTC era de "
            f"3.812,50323{NB}US$; 0,52 WBETH → 1.758,90{NB}US$",
            f"Su garantía en USDE (loan, cuenta {account}) se vendió a 0,65{NB}US$ a las "
            f"21:54{NB}UTC; el precio de referencia a las 00:00{NB}UTC era de 1,00{NB}US$; "
            f"1.000 USDE → 350,00{NB}US$",
        ],
    }
    summary = {
        "en": "Your events sum to $2,108.90, paid in full.",
        "es": f"Sus liquidaciones suman 2.108,90{NB}US$ y se le pagan íntegramente.",
    }
    window = {
        "en": f"Collateral liquidations counted from 10 Oct 2025, 21:36{NB}UTC to 10 Oct 2025, "
        f"22:17{NB}UTC (the end excluded); each is paid against its asset's reference price at "
        f"11 Oct 2025, 00:00{NB}UTC.",
        "es": f"Liquidaciones de garantía contadas desde el 10 oct 2025, 21:36{NB}UTC hasta el "
        f"10 oct 2025, 22:17{NB}UTC (este último excluido); cada una se paga según el precio "
        f"de referencia de su activo el 11 oct 2025, 00:00{NB}UTC.",
    }
    for locale in ("en", "es"):
        api = _api(site, user, locale)
        assert api["kind"] == "full"
        assert api["eligible"]
        assert api["reasons"] == []
        assert [e["detail"] for e in api["events"]] == said[locale]
        assert [e["loss_cents"] for e in api["events"]] == [0, 175_890, 35_000]
        assert api["events"][1]["reference_usd"] == "3812.50323"
        assert api["events"][1]["ts"] == "2025-10-10T21:40:00Z"
        assert [c["detail"] for c in api["criteria"]] == said[locale]
        assert api["reference_at"] == "2025-10-11T00:00:00Z"
        assert (api["loss_cents"], api["ceiling_cents"]) == (210_890, CEILING_CENTS)
        assert api["payout"]["amount_cents"] == 210_890
        assert api["payout"]["bound"] == "full"
        assert api["payout"]["share_cents"] is None
        assert api["min_loss_cents"] is None
        assert api["summary"] == api["payout"]["detail"] == summary[locale]
        page = _page(site, user, locale)
        shown = re.findall(r'data-testid="event"[^>]*>([^<]+)</li>', page)
        assert shown == said[locale]
        assert summary[locale] in page
        assert window[locale] in page
        assert re.search(r'data-testid="why-amount" data-bound="full"\s+data-cents="210890"', page)


def test_a_sum_above_the_ceiling_is_capped(books, site):
    user = books.users["capped"]
    said = {
        "en": "Your events sum to $5,625.01, above the programme's ceiling of $5,000.00 per user: "
        "your payout is capped at the ceiling.",
        "es": f"Sus liquidaciones suman 5.625,01{NB}US$, por encima del tope del programa de "
        f"5.000,00{NB}US$ por usuario: su pago se limita al tope.",
    }
    for locale, sentence in said.items():
        api = _api(site, user, locale)
        assert (api["payout"]["amount_cents"], api["payout"]["bound"]) == (500_000, "ceiling")
        assert api["loss_cents"] == 562_501  # 2 × (3,812.50323 − 1,000) = 5,625.00646
        assert api["summary"] == sentence
        assert sentence in _page(site, user, locale)


def test_no_loss_at_the_reference_price_is_explained(books, site):
    user, account = books.users["no_loss"], books.world.accounts["no_loss"]
    api = _api(site, user, "es")
    assert (api["eligible"], api["reasons"], api["payout"]) == (
        False,
        ["NO_LOSS_AT_REFERENCE"],
        None,
    )
    assert [(c["code"], c["passed"]) for c in api["criteria"]] == [("NO_LOSS_AT_REFERENCE", False)]
    assert api["events"][0]["detail"] == (
        f"Su garantía en WBETH (usdm_futures, cuenta {account}) se vendió a 5.000,00{NB}US$ a "
        f"las 22:00{NB}UTC; el precio de referencia a las 00:00{NB}UTC era de 3.812,50323{NB}US$; "
        f"se vendió a ese precio o por encima: 0,00{NB}US$"
    )
    spanish = (
        "Cada una de sus liquidaciones contadas se vendió al precio de referencia de su activo o "
        "por encima: el programa paga lo que una venta quedó por debajo del precio de "
        "referencia, y las suyas no quedaron por debajo."
    )
    assert api["summary"] == spanish
    page = _page(site, user, "es")
    assert "Por qué no recibe ningún pago" in page
    assert f'data-reason="NO_LOSS_AT_REFERENCE">{spanish}</p>' in page
    english = _api(site, user, "en")["summary"]
    assert english.startswith("Every counted event of yours was sold at or above")


@pytest.mark.parametrize("who", ["outside", "stranger"])
def test_no_counted_event_names_the_window_and_opens_a_case(books, site, who):
    user = books.users["outside"] if who == "outside" else 999_999
    said = {
        "en": (
            f"No liquidation of your USDE, BNSOL, or WBETH collateral was counted between 10 Oct "
            f"2025, 21:36{NB}UTC and 10 Oct 2025, 22:17{NB}UTC (the end excluded; products: "
            "usdm_futures, coinm_futures, cross_margin, isolated_margin, portfolio_margin, and "
            "loan), so this programme has no loss of yours to pay.",
            "Liquidations outside the window are reviewed individually: open a case.",
        ),
        "es": (
            f"No se contó ninguna liquidación de su garantía en USDE, BNSOL o WBETH entre el 10 "
            f"oct 2025, 21:36{NB}UTC y el 10 oct 2025, 22:17{NB}UTC (este último excluido; "
            "productos: usdm_futures, coinm_futures, cross_margin, isolated_margin, "
            "portfolio_margin y loan), así que este programa no tiene ninguna pérdida suya que "
            "pagar.",
            "Las liquidaciones fuera del periodo se revisan una por una: abra un caso.",
        ),
    }
    client, headers = site
    for locale, (window, case) in said.items():
        api = _api(site, user, locale)
        assert (api["liquidated"], api["reasons"]) == (False, ["NO_COUNTED_COLLATERAL_EVENT"])
        assert api["events"] == []
        assert api["payout"] is None
        assert api["criteria"] == [
            {"code": "NO_COUNTED_COLLATERAL_EVENT", "passed": False, "detail": f"{window} {case}"}
        ]
        page = _page(site, user, locale)
        assert window in page
        link = re.escape(case.rsplit(": ", 1)[1].rstrip("."))
        assert re.search(
            rf'{re.escape(case.split(": ")[0])}: <a href="/cases#open-case" '
            rf'data-testid="open-case-link">{link}</a>\.',
            page,
        ), page
    cases = client.get("/cases", headers=headers("user", user))
    assert cases.status_code == 200
    assert 'id="open-case"' in cases.text


def test_the_second_batch_is_what_the_service_shows(books, site):
    client, headers = site
    late = books.users["late"]
    api = _api(site, late, "en")
    assert api["payout"]["amount_cents"] == LATE_CENTS
    assert api["summary"] == "Your events sum to $285.83, paid in full."
    hub = html.unescape(client.get("/hub", headers=headers("user", late)).text)
    card = re.search(rf'data-program-id="{DEPEG}">\s*<h2>([^<]+)</h2>(.*?)</article>', hub, re.S)
    assert card is not None
    assert card[1] == DEPEG_NAME
    assert "You are eligible: <strong>$285.83</strong>" in card[2]
    assert f"{DEPEG_NAME}, amendment 1" in hub  # the top-up voucher, named
    for name in books.users:
        user = books.users[name]
        assert client.get("/hub", headers=headers("user", user)).status_code == 200
        staff = client.get(f"/ops/users?user_id={user}", headers=headers("ops"))
        assert staff.status_code == 200


def test_a_decrease_in_the_second_batch_keeps_what_was_paid(books, site):
    client, headers = site
    corrected = _api(site, books.users["corrected"], "en")
    assert (corrected["eligible"], corrected["loss_cents"]) == (True, 4_000)
    assert corrected["payout"]["amount_cents"] == 10_000  # $100.00 paid by the first batch
    assert corrected["summary"] == (
        "Your events sum to $40.00, paid in full. Over every batch of this programme and your "
        "accepted claims, you are paid $100.00 in all."
    )
    vanished = books.users["vanished"]
    api = _api(site, vanished, "es")
    assert (api["eligible"], api["reasons"]) == (False, ["NO_LOSS_AT_REFERENCE"])
    assert api["payout"]["amount_cents"] == 1_000
    assert api["summary"].endswith(
        f"Sumando todos los lotes de este programa y sus reclamaciones aceptadas, se le pagan "
        f"10,00{NB}US$ en total."
    )
    page = _page(site, vanished, "es")
    assert (
        f"Este programa le paga 10,00{NB}US$ en total; con los datos más recientes sus "
        "liquidaciones no suman nada más, y no se le retira nada."
    ) in page
    hub = html.unescape(client.get("/hub", headers=headers("user", vanished)).text)
    assert "You are eligible: <strong>$10.00</strong>" in hub


# ---- a Together user excluded because the de-peg programme paid them ----------------------


def test_a_together_exclusion_names_the_paying_programme_and_the_date(books, site):
    user = books.users["together"]
    paid = pq.read_table(books.together_run / "ledger_exclusions.parquet").to_pylist()
    (paid_at,) = [r["paid_at"] for r in paid if r["user_id"] == user and r["program_id"] == DEPEG]
    said = {
        "en": f"You were compensated by “{DEPEG_NAME}” ({DEPEG}) on "
        f"{formats.day(paid_at, 'en')}; this programme excludes users already compensated.",
        "es": f"Ya recibió una compensación de «{DEPEG_NAME}» ({DEPEG}) el "
        f"{formats.day(paid_at, 'es')}; este programa excluye a quienes ya fueron compensados.",
    }
    for locale, sentence in said.items():
        api = _api(site, user, locale, TOGETHER)
        assert api["kind"] == "shared"
        assert api["reasons"] == ["ALREADY_COMPENSATED"]
        (criterion,) = [c for c in api["criteria"] if c["code"] == "ALREADY_COMPENSATED"]
        assert criterion["detail"] == sentence
        assert sentence in _page(site, user, locale, TOGETHER)


# ---- the operations console ------------------------------------------------------------


def test_the_console_shows_both_programmes_with_their_figures(books, site):
    client, headers = site
    home = html.unescape(client.get("/ops", headers=headers("ops")).text)
    listed = re.findall(r'<li data-program-id="([^"]+)" data-kind="([^"]*)">.*?</li>', home, re.S)
    assert sorted(listed) == [(DEPEG, "full"), (TOGETHER, "shared")]
    assert f">{DEPEG_NAME}</a>" in home
    assert f"/ops/programs/{TOGETHER}/whatif" in home
    assert f"/ops/programs/{DEPEG}/whatif" not in home  # no rule to vary: it pays in full

    depeg = client.get(f"/api/programs/{DEPEG}/dashboard", headers=headers("ops")).json()
    batch = read_manifest(books.batch)
    assert (depeg["kind"], depeg["name"], depeg["currency"]) == ("full", DEPEG_NAME, "USDT")
    assert depeg["allocated_cents"] == batch["allocated_cents"] == ALL_PAID_CENTS + LATE_CENTS
    assert depeg["eligible"] == 6  # paid over both batches ("vanished" too: kept)
    assert depeg["by_bound"] == {"full": 4, "ceiling": 1}
    assert (depeg["vouchers_issued"], depeg["amount_issued_cents"]) == (5, ALL_PAID_CENTS)
    assert [(a["program_id"], a["vouchers_issued"], a["amount_issued_cents"]) for a in
            depeg["amendments"]] == [(f"{DEPEG}~a1", 1, LATE_CENTS)]  # fmt: skip
    assert depeg["programme_issued_cents"] == ALL_PAID_CENTS + LATE_CENTS
    assert (depeg["start"]["within_hours"], depeg["complete"]["within_hours"]) == (24, 72)
    assert depeg["complete"]["deadline"] == "2025-10-14T01:24:00Z"  # 72 h after 01:24 on the 11th
    assert depeg["payouts"]["count"] == 6
    assert depeg["payouts"]["max_cents"] == CEILING_CENTS

    together = client.get(f"/api/programs/{TOGETHER}/dashboard", headers=headers("ops")).json()
    assert together["kind"] == "shared"
    assert together["amendments"] == []
    assert together["allocated_cents"] == read_manifest(books.together_run)["allocated_cents"]
    assert together["complete"]["within_hours"] == 96

    page = html.unescape(client.get(f"/ops/programs/{DEPEG}", headers=headers("ops")).text)
    assert 'data-testid="dashboard" data-program-id="depeg-2025-10" data-kind="full"' in page
    assert re.search(r'<tr data-testid="promise" data-state="\w+" data-within-hours="72">', page)
    assert 'Complete distribution <small class="muted">within 72 h</small>' in page
    assert f'data-sequence="1" data-issued-cents="{LATE_CENTS}"' in page
    assert "4 paid in full, 1 capped at the ceiling" in page
    spanish = client.get(f"/ops/programs/{DEPEG}", headers=headers("ops", locale="es")).text
    assert "en 72 h" in spanish
    assert "4 pagados íntegramente, 1 limitados al tope" in spanish
    assert client.get(f"/ops/programs/{TOGETHER}", headers=headers("ops")).status_code == 200


def test_the_what_if_simulator_refuses_a_full_programme_in_words(site):
    client, headers = site
    page = client.get(f"/ops/programs/{DEPEG}/whatif", headers=headers("ops", locale="es"))
    assert page.status_code == 422
    assert "paga cada pérdida íntegramente" in html.unescape(page.text)


def test_the_api_schema_describes_the_events(site):
    client, _ = site
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]
    answer = schema["EligibilityOut"]["properties"]
    assert (
        answer["events"]["anyOf"][0]["items"]["$ref"] == "#/components/schemas/CollateralEventOut"
    )
    assert {"type": "null"} in answer["min_loss_cents"]["anyOf"]
    assert {"type": "null"} in schema["PayoutOut"]["properties"]["share_cents"]["anyOf"]
    assert set(schema["CollateralEventOut"]["required"]) >= {"quantity", "reference_usd", "detail"}
