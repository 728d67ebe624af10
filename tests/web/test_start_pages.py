"""Each role's start page is its work, and the header offers exactly what the role may use.

``GET /`` sends users to their Rewards Hub, operations staff and auditors to the console,
account managers and the credit committee to the loan fund. The header's links are read
from the same rules that guard the routes (:mod:`recompense.web.navigation`); checked
here from outside, on SQLite and PostgreSQL: every link shown opens (200) for that role,
and every page of :data:`~recompense.web.navigation.LINKS` not shown refuses it (403 or
404). The same walk in a real browser, signing in as each role, is in
``test_accessibility_browser.py`` (with axe on every page it lands on).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from recompense.web.navigation import LINKS

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package; httpx works and is what is installed.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
LOAN_POLICY = ROOT / "programs" / "loans-2025-10.toml"
# role → (start page, the header's links in order, the page's <title> before " · ")
EXPECTED = {
    "user": ("/hub", ["/hub"], "Your rewards"),
    "ops": ("/ops", ["/ops", "/ops/approvals", "/ops/audit"], "Operations"),
    "auditor": ("/ops", ["/ops", "/console/loans", "/ops/audit"], "Operations"),
    "account_manager": ("/console/loans", ["/console/loans"], "Loan fund"),
    "credit_committee": ("/console/loans", ["/console/loans"], "Loan fund"),
}
SUBJECTS = {"ops": "ops-1", "auditor": "aud-1", "account_manager": "am-1"}


@pytest.fixture(autouse=True)
def loans_env(monkeypatch) -> None:
    """The loan desk's policy by absolute path (never the working directory's), set
    before ``served`` creates the app, which reads it then."""
    monkeypatch.setenv("RECOMPENSE_LOANS_POLICY", str(LOAN_POLICY))
    monkeypatch.delenv("RECOMPENSE_LOANS_DB_URL", raising=False)


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_lands_on_its_work_with_the_links_it_may_use(served, loans_env, role) -> None:
    start, shown, title = EXPECTED[role]
    user_id = served.owner if role == "user" else None
    headers = served.bearer(role, user_id, subject=SUBJECTS.get(role, f"{role}-1"))
    with served.client() as client:
        answer = client.get("/", headers=headers, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == start

        page = client.get(start, headers=headers)
        assert page.status_code == 200, page.text
        assert re.search(r"<title>\s*([^<·]+?)\s*·", page.text)[1] == title  # type: ignore[index]
        assert _nav_links(page.text) == shown
        assert f'href="{start}" data-testid' in page.text
        assert 'aria-current="page"' in page.text

        for path in shown:
            assert client.get(path, headers=headers).status_code == 200, (role, path)
        for link in LINKS:
            if link.path not in shown:
                refused = client.get(link.path, headers=headers).status_code
                assert refused in (403, 404), (role, link.path, refused)


def test_signed_out_the_start_page_is_the_sign_in_page_without_navigation(served) -> None:
    with served.client() as client:
        answer = client.get("/")
    assert answer.status_code == 200
    assert 'data-testid="nav"' not in answer.text


def test_a_role_with_no_page_of_its_own_is_told_so(served, monkeypatch) -> None:
    """Served without the loan fund, account managers may open none of the links: the
    start page says so (no redirect to a page that would refuse them)."""
    from recompense.web import app as app_module
    from recompense.web.routes import loans as loans_web

    without_loans = [r for r in app_module.ROUTERS if r is not loans_web.router]
    monkeypatch.setattr(app_module, "ROUTERS", without_loans)
    app = app_module.create_app(served.settings, warm=False)
    headers = served.bearer("account_manager", subject="am-1")
    with TestClient(app) as client:
        answer = client.get("/", headers=headers, follow_redirects=False)
    assert answer.status_code == 200
    assert 'data-testid="home-nothing"' in answer.text
    assert _nav_links(answer.text) == []


def _nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav [^>]*data-testid="nav".*?</nav>', html, re.S)
    assert nav is not None, "no navigation in the page"
    return re.findall(r'<a href="([^"]+)"', nav[0])
