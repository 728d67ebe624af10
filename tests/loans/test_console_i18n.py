"""The loan console in the reader's language, its figures formatted, its log in pages.

Spanish for account managers, the credit committee and auditors (list, an application,
the access log); the APR as a percentage, stated losses as money, history times in UTC
to the minute; refusals name the role in words and no CLI flag; the access log a page at
a time with links to older and newer readings that together show every reading once.
"""

from __future__ import annotations

import re
import warnings
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from loan_support import CC1, INSTITUTION, LOAN_POLICY, keys_env, new_application

from recompense.loans import views
from recompense.loans.actors import Actor
from recompense.web import app as app_module
from recompense.web import formats
from recompense.web.auth import mint_token
from recompense.web.routes import loans as loans_web
from recompense.web.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette 1.x prefers httpx2; httpx is installed
    from starlette.testclient import TestClient

ROLES = {
    "account_manager": "am-1",
    "credit_committee": "cc-1",
    "auditor": "aud-1",
}
ENGLISH = re.compile(
    r"\b(?:the|and|Loan|Applications?|Borrower|State|Amount|Term|Outstanding|Decision|"
    r"History|Schedule|Confidential|Notes|Reason|Open|Approve|Reject|submitted|draft|by|"
    r"days|When|Who|Why|Access log|Sign out|Signed in)\b"
)


@pytest.fixture
def web(desk, ledger_url, monkeypatch):
    """The web service with the loans router, the desk's database, keys and policy."""
    monkeypatch.setenv("RECOMPENSE_LOANS_DB_URL", desk.url)
    monkeypatch.setenv("RECOMPENSE_LOANS_POLICY", str(LOAN_POLICY))
    for name, value in keys_env(desk.keyring).items():
        monkeypatch.setenv(name, value)
    settings = Settings(db_url=ledger_url, hs256_secret=b"k" * 32, session_secret=b"s" * 32)
    with TestClient(app_module.create_app(settings, warm=False)) as client:
        client.settings = settings  # type: ignore[attr-defined]
        yield client


def as_role(client, role: str, locale: str | None = "es") -> dict[str, str]:
    claims = {"locale": locale} if locale else {}
    token = mint_token(client.settings, role=role, subject=ROLES[role], **claims)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_loan_roles_pages_speak_spanish(web, desk, role):
    loan = new_application(desk)
    headers = as_role(web, role)
    paths = ["/console/loans", f"/console/loans/{loan}", f"/console/loans/{loan}?reason=revisión"]
    if role == "auditor":
        paths.append("/console/loans/access-log")
    for path in paths:
        page = web.get(path, headers=headers)
        assert page.status_code == 200, (path, page.text[:300])
        assert '<html lang="es">' in page.text
        english = ENGLISH.findall(_visible(page.text))
        assert not english, (role, path, sorted(set(english)))


def test_an_application_shows_its_figures_as_the_reader_writes_them(web, desk):
    loan = new_application(desk)
    for locale in ("en", "es"):
        page = web.get(
            f"/console/loans/{loan}",
            params={"reason": "review"},
            headers=as_role(web, "credit_committee", locale),
        ).text
        apr = Decimal(re.search(r'data-apr="([0-9.]+)"', page)[1])  # type: ignore[index]
        assert f">{formats.percent(apr, locale)}<" in page  # 0.0200 → 2.00 %
        assert formats.money(50_000_000, locale) in page
        assert formats.dollars("3250000.00", locale) in page  # stated losses, as money
        created = re.findall(r'data-testid="event"[^>]*>([^<]*?) · ', page)
        assert created, created
        assert all(re.fullmatch(r"\d{1,2} \w+\.? \d{4}, \d\d:\d\d\u00a0UTC", c) for c in created), (
            created
        )
    assert "20 oct 2025, 09:00\u00a0UTC" in page  # T0 (Spanish, the last page read), no µs


def test_a_refusal_names_the_role_in_words_and_no_flag(web, desk):
    loan = new_application(desk)
    page = web.post(
        f"/api/loans/{loan}/approve",
        json={"reason": "try"},
        headers=as_role(web, "account_manager", None),
    )
    assert page.status_code == 403
    assert page.json()["detail"] == "An account manager cannot approve loans."
    small = {
        "borrower_id": INSTITUTION,
        "amount_usd": "5.00",
        "term_days": 90,
        "repayment": "bullet",
        "financial_statements": "statements",
        "stated_losses_usd": "12.00",
    }
    refused = web.post("/api/loans", json=small, headers=as_role(web, "account_manager", "es"))
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "--" not in detail
    assert detail.startswith("Importe de 5,00\u00a0US$: por debajo del mínimo")


def test_the_access_log_comes_a_page_at_a_time(web, desk, monkeypatch):
    monkeypatch.setattr(loans_web, "ACCESS_PAGE", 3)
    loan = new_application(desk)
    for n in range(8):
        views.show(desk, CC1, loan, f"reading {n}")
    expected = [r["id"] for r in views.access_log(desk, Actor("auditor", "aud-1"))]
    assert len(expected) >= 8
    headers = as_role(web, "auditor", "en")
    seen, url, pages = [], "/console/loans/access-log", 0
    while url:
        page = web.get(url, headers=headers).text
        rows = [int(i) for i in re.findall(r'data-testid="access-row" data-id="(\d+)"', page)]
        assert 0 < len(rows) <= 3
        seen += rows
        pages += 1
        older = re.search(r'href="([^"]+)" data-testid="access-older"', page)
        url = older[1].replace("&amp;", "&") if older else ""
    assert seen == expected
    assert pages == -(-len(expected) // 3)
    # and back: the newer link of the last page leads to the page before it
    last = web.get(f"/console/loans/access-log?before={expected[-3] + 1}", headers=headers).text
    newer = re.search(r'href="([^"]+)" data-testid="access-newer"', last)
    assert newer is not None
    back = web.get(newer[1].replace("&amp;", "&"), headers=headers).text
    rows = [int(i) for i in re.findall(r'data-testid="access-row" data-id="(\d+)"', back)]
    assert rows == expected[-6:-3]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "pre"):  # <pre>: the file as the borrower wrote it
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "pre"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    text = " ".join(parser.parts)
    # what people typed (reasons, notes) is theirs, not the page's: drop the known ones
    for typed in ("complete file", "Liquidated on 2025-10-10 at 21:20 UTC; needs bridge liquidity"):
        text = text.replace(typed, "")
    return text
