"""What the phone, accessibility and start-page browser tests share.

- :func:`start_site` serves a distributed, committed run (SQLite) with everything a page
  can show: the self-check configured, the publication key, and a loan desk with an
  application under review and one disbursed (with its schedule), so every role has
  real pages to open. One server per test module.
- :func:`launch` starts one Chromium per module; :func:`open_page` opens a fresh context
  (own cookies) at phone (390×844) or desktop size, in a language, with axe-core
  injected, and fails the test on a JavaScript error in the page.
- :func:`axe_violations`, :func:`overflow_problems` and :func:`focus_problem` are the
  checks; :meth:`Site.shot` saves a screenshot under ``$RECOMPENSE_TEST_ARTIFACTS``.

axe-core is pinned in ``tests/browser/package-lock.json`` and installed by ``make
browser`` (``npm ci``); nothing is downloaded while the tests run. Missing, the tests are
skipped, or fail when ``RECOMPENSE_REQUIRE_BROWSER=1`` (CI), like a missing Chromium.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from browser_support import Server, artifacts, chromium, fresh_ledger, sign_in
from web_support import PROGRAM_FILE

from builders import approve_twice
from recompense.distribution.distribute import distribute, voucher_id
from recompense.runs import run_fingerprint

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
LOAN_POLICY = ROOT / "programs" / "loans-2025-10.toml"
PROGRAM = "together-2025-10"
SECRET = "pages-e2e-" + "x" * 40
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
TIMEOUT_MS = 20_000
# Who signs in as each role (loan staff are known to the desk by their token's subject).
SUBJECTS = {
    "ops": "ops-1",
    "auditor": "aud-1",
    "account_manager": "am-1",
    "credit_committee": "cc-1",
}
LOCALES = {"en": "en-GB", "es": "es-ES"}

ROLES = ("user", "ops", "auditor", "account_manager", "credit_committee")
# role → (start page, header links in order): as test_start_pages.py checks without a browser
START = {
    "user": ("/hub", ["/hub"]),
    "ops": ("/ops", ["/ops", "/ops/approvals", "/ops/audit"]),
    "auditor": ("/ops", ["/ops", "/console/loans", "/ops/audit"]),
    "account_manager": ("/console/loans", ["/console/loans"]),
    "credit_committee": ("/console/loans", ["/console/loans"]),
}
# The pages anyone sees signed out: the sign-in page, and two error pages.
SIGNED_OUT = (("/", 200), ("/no-such-page", 404), ("/hub", 401))


@dataclass
class Site:
    """The server, its run, the users each test may use up, and the loan applications."""

    server: Server
    run: Path
    eligible: list[int]
    other: int  # an eligible user nobody signs in as (their pages are "not found")
    loans: dict[str, str]  # "review" (submitted), "active" (disbursed) → application id
    shots: Path
    name: str
    used: set[int] = field(default_factory=set)

    @property
    def base(self) -> str:
        return self.server.base

    @property
    def fingerprint(self) -> str:
        return run_fingerprint(self.run)

    def user(self) -> int:
        """A fresh eligible user (one test, one user: redeeming uses up a voucher)."""
        chosen = next(u for u in self.eligible if u not in self.used)
        self.used.add(chosen)
        return chosen

    def voucher(self, user_id: int) -> str:
        return voucher_id(PROGRAM, user_id)

    def sign_in(self, page: Any, role: str, user_id: int | None = None, locale: str = "en") -> None:
        sign_in(page, self.server, role, user_id, locale=locale, subject=SUBJECTS.get(role))

    def shot(self, page: Any, name: str) -> Path:
        path = self.shots / f"{self.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def pages_of(site: Site, role: str, user: int) -> list[tuple[str, int]]:
    """Every page ``role`` uses, with the status it answers (error pages included)."""
    p, review, active = PROGRAM, site.loans["review"], site.loans["active"]
    if role == "user":
        return [
            ("/hub", 200),
            (f"/programs/{p}/users/{user}/eligibility", 200),
            (f"/programs/{p}/users/{user}/verify", 200),
            ("/selfcheck", 200),
            (f"/programs/{p}/users/{site.other}/eligibility", 404),
            ("/ops", 403),
        ]
    staff = [
        ("/ops", 200),
        (f"/ops/programs/{p}", 200),
        (f"/ops/users?user_id={user}", 200),
        ("/ops/audit", 200),
    ]
    loans = [
        ("/console/loans", 200),
        (f"/console/loans/{review}", 200),  # asks why before anything is read
        (f"/console/loans/{active}?reason=quarterly+review", 200),
    ]
    if role == "ops":
        approvals = [("/ops/approvals", 200), (f"/ops/approvals/{site.fingerprint}", 200)]
        return [*staff, (f"/ops/programs/{p}/whatif", 200), *approvals, ("/console/loans", 404)]
    if role == "auditor":
        return [*staff, *loans, ("/console/loans/access-log", 200)]
    return [*loans, ("/hub", 403)]


def slug(path: str) -> str:
    """A page's path as a screenshot's file name."""
    return path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-")[:80] or "start"


def start_site(request: Any, web_run: Path, publication_keys: Any, tmp: Any, name: str) -> Site:
    """A served site (stopped when the module's tests are done)."""
    folder = tmp.mktemp(name)
    url = fresh_ledger("sqlite", folder, request)
    approve_twice(web_run, url)
    distribute(web_run, url, batch_size=500)
    keys = _loan_desk(url)
    env = {
        "RECOMPENSE_PUBLICATION_KEY_FILE": str(publication_keys.public_path),
        "RECOMPENSE_SELFCHECK_PROGRAM": str(PROGRAM_FILE),
        "RECOMPENSE_LOANS_POLICY": str(LOAN_POLICY),
        "RECOMPENSE_LOANS_DB_URL": url,
        **keys.env,
    }
    server = Server(url, SECRET, log=folder / "server.log", env=env)
    request.addfinalizer(server.stop)
    server.wait_ready()
    shots = artifacts(tmp)
    print(f"\nbrowser screenshots in {shots}")
    eligible = _eligible(web_run)
    return Site(server, web_run, eligible[:-1], eligible[-1], keys.loans, shots, name)


@contextmanager
def launch() -> Iterator[Any]:
    """One Chromium (Debian's, by path) for a module; skipped or failed like Chromium."""
    if not AXE.is_file():
        reason = f"axe-core not installed at {AXE}: run `make browser` (npm ci)"
        if os.environ.get("RECOMPENSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (RECOMPENSE_REQUIRE_BROWSER=1): {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Any, *, phone: bool = False, locale: str = "en") -> Iterator[Any]:
    """A page in a fresh context; a JavaScript error in any page fails the test."""
    context = browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        locale=LOCALES[locale],
        is_mobile=phone,
        has_touch=phone,
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(path=str(AXE))  # as the page's first script, past its CSP
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        assert errors == [], f"JavaScript errors in the page: {errors}"
    finally:
        context.close()


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one line each."""
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
        }"""
    )
    return [f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in found]


OVERFLOW_JS = """() => {
    const width = document.documentElement.clientWidth;
    const problems = [];
    if (document.documentElement.scrollWidth > width) {
        problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px`);
    }
    const controls = document.querySelectorAll(
        "a[href], button, input:not([type=hidden]), select, textarea, summary");
    for (const el of controls) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;  // not displayed
        // Inside a container that scrolls sideways on its own, the container must fit.
        let holder = el.parentElement, clip = null;
        while (holder && holder !== document.body) {
            const style = getComputedStyle(holder);
            if (/(auto|scroll)/.test(style.overflowX) && holder.scrollWidth > holder.clientWidth) {
                clip = holder;
            }
            holder = holder.parentElement;
        }
        const outer = clip ? clip.getBoundingClientRect() : box;
        if (outer.left < -0.5 || outer.right > width + 0.5) {
            const name = (el.innerText || el.value || el.id || el.tagName).trim().slice(0, 40);
            problems.push(`${el.tagName.toLowerCase()} "${name}" reaches ${Math.round(outer.left)}`
                + `..${Math.round(outer.right)} px of ${width}`);
        }
    }
    return problems;
}"""


def overflow_problems(page: Any) -> list[str]:
    """Why the page does not fit its viewport's width: sideways page scroll, or a
    control (link, button, field) outside the viewport's width, unless it sits in a
    container that scrolls sideways by itself and fits."""
    problems: list[str] = page.evaluate(OVERFLOW_JS)
    return problems


def focus_problem(page: Any) -> str | None:
    """None if the focused element shows a focus indicator (an outline of 2 px or more),
    else what is wrong."""
    found: str | None = page.evaluate(
        """() => {
            const el = document.activeElement;
            if (!el || el === document.body) return "nothing has the focus";
            const style = getComputedStyle(el);
            const width = parseFloat(style.outlineWidth) || 0;
            if (style.outlineStyle === "none" || width < 2) {
                return `${el.tagName} ${el.id || el.textContent.trim().slice(0, 30)}: outline `
                    + `${style.outlineStyle} ${style.outlineWidth}`;
            }
            return null;
        }"""
    )
    return found


def tab_to(page: Any, selector: str, *, backwards: bool = False, limit: int = 80) -> None:
    """Press Tab (Shift+Tab if ``backwards``) until ``selector`` has the focus, checking
    that every stop shows it."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        problem = focus_problem(page)
        assert problem is None, f"focus not visible: {problem}"
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} not reached in {limit} presses of {key}")


@dataclass(frozen=True)
class _LoanDesk:
    env: dict[str, str]
    loans: dict[str, str]


def _loan_desk(url: str) -> _LoanDesk:
    """Borrowers of am-1, one application under review and one disbursed (four eyes)."""
    from recompense.loans import (
        Actor,
        Desk,
        Keyring,
        NewApplication,
        apply,
        approve,
        disburse,
        load_loan_policy,
        register_borrower,
        submit,
    )

    keyring = Keyring({"k1": os.urandom(32)}, "k1")
    desk = Desk(url, load_loan_policy(LOAN_POLICY), keyring)
    manager = Actor("account_manager", SUBJECTS["account_manager"])
    member, second = Actor("credit_committee", "cc-1"), Actor("credit_committee", "cc-2")
    register_borrower(desk, member, 1001, "institutional", manager.id)
    register_borrower(desk, member, 1002, "vip", manager.id)
    now = datetime.now(UTC) - timedelta(hours=1)
    loans = {}
    for kind, borrower, cents in (("review", 1001, 250_000_000), ("active", 1002, 120_000_000)):
        new = NewApplication(
            borrower,
            cents,
            360,
            "instalments",
            "FY2024 audited: revenue 48.2M, EBITDA 6.1M; liquidated on 2025-10-10 at 21:20 UTC",
            "3100000.00",
            "Needs bridge liquidity until the March settlement",
        )
        loans[kind] = apply(desk, manager, new, now=now)
        submit(desk, manager, loans[kind], "file complete", now=now)
    for who in (member, second):
        approve(desk, who, loans["active"], "meets the policy", now=now)
    disburse(desk, member, loans["active"], "signed", now=now)
    desk.engine.dispose()
    env = {
        "RECOMPENSE_LOANS_KEYS": f"k1:{base64.b64encode(keyring.keys['k1']).decode()}",
        "RECOMPENSE_LOANS_ACTIVE_KEY": "k1",
    }
    return _LoanDesk(env, loans)


def _eligible(run: Path) -> list[int]:
    table = pq.read_table(run / "eligibility.parquet", columns=["user_id", "eligible"])
    ids = np.asarray(table["user_id"].to_numpy())
    return [int(u) for u in np.sort(ids[np.asarray(table["eligible"].to_numpy(), dtype=bool)])]
