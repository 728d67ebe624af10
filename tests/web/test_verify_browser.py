""" "Verify my payout" in Chromium: the signed commitment, from wherever the user got it.

Debian's Chromium, driven by Playwright, against ``recompense serve`` on loopback with the
programme's publication key configured (``RECOMPENSE_PUBLICATION_KEY_FILE``), over the
signed ``web_run``. The page checks the signature with Chromium's own WebCrypto Ed25519
and the proof with ``verify.js``; it shows the key, the roots in full and the commitment
it checked against, which the user may paste, load from a file or fetch from an address
(served here by a second loopback server, another origin, with and without CORS).

A compromised service is played by rewriting its answers in the browser: a matching fake
commitment and proof, unsigned or signed by another key, never reach "verified"; with
the real commitment obtained elsewhere, the fake proof fails.
"""

from __future__ import annotations

import copy
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from browser_support import Server, artifacts, chromium, fresh_ledger
from browser_support import sign_in as sign_in_as

from builders import approve_twice
from recompense.distribution.distribute import distribute
from recompense.proofs import commit_run, proof_bundle, read_commitment
from recompense.proofs.publication import KeyPair, load_signing_key, new_key_pair

SECRET = "verify-" + "x" * 41
PROGRAM = "together-2025-10"
TIMEOUT_MS = 20_000
DONE = "[data-testid=verify-result]:not([data-state=idle], [data-state=running])"


@dataclass
class Site:
    server: Server
    run: Path
    keys: KeyPair
    users: list[int]
    shots: Path
    files: Path  # the commitment as a user keeps it, and fakes

    @property
    def base(self) -> str:
        return self.server.base

    def sign_in(self, page: Any, user: int) -> None:
        sign_in_as(page, self.server, "user", user)
        page.goto(f"{self.base}/programs/{PROGRAM}/users/{user}/verify")

    def shot(self, page: Any, name: str) -> None:
        path = self.shots / f"verify-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")


@pytest.fixture(scope="module")
def site(web_run, publication_keys, tmp_path_factory, request) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("verify-browser")
    url = fresh_ledger("sqlite", folder, request)
    approve_twice(web_run, url)
    distribute(web_run, url, batch_size=500)
    env = {"RECOMPENSE_PUBLICATION_KEY_FILE": str(publication_keys.public_path)}
    server = Server(url, SECRET, log=folder / "server.log", env=env)
    table = pq.read_table(web_run / "allocations.parquet", columns=["user_id"])
    users = sorted(int(u) for u in np.asarray(table["user_id"].to_numpy()))
    try:
        server.wait_ready()
        shots = artifacts(tmp_path_factory)
        print(f"\nbrowser screenshots in {shots}")
        yield Site(server, web_run, publication_keys, users, shots, folder)
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


@pytest.fixture(scope="module")
def elsewhere(site: Site) -> Iterator[str]:
    """Another origin (a second loopback server) serving the commitment: ``/cors/…`` lets
    other sites read it, ``/plain/…`` does not."""
    body = (site.run / "commitment.json").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not self.path.endswith("/commitment.json"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if self.path.startswith("/cors/"):
                self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def verify(page: Any) -> str:
    page.get_by_test_id("verify-button").click()
    return page.locator(DONE).get_attribute("data-state") or ""


def shown(page: Any, testid: str) -> str:
    return page.get_by_test_id(testid).inner_text().strip()


def test_the_published_signed_commitment_verifies_and_is_shown_in_full(site: Site, page) -> None:
    commitment = read_commitment(site.run)
    public = json.loads(site.keys.public_path.read_text())
    site.sign_in(page, site.users[0])
    assert shown(page, "publication-key-id") == public["key_id"]
    assert shown(page, "publication-key-hex") == public["public_key"]
    assert page.get_by_test_id("public-key-input").input_value() == public["public_key"]
    assert verify(page) == "ok", shown(page, "verify-result")
    assert shown(page, "checked-sum-root") == commitment["sum_tree"]["root"]  # not truncated
    assert shown(page, "checked-standard-root") == commitment["standard_tree"]["root"]
    assert shown(page, "checked-run") == commitment["manifest_sha256"]
    assert shown(page, "checked-total") == str(commitment["total_cents"])
    assert shown(page, "checked-key-id") == public["key_id"]
    assert page.get_by_test_id("checked-signature").get_attribute("data-state") == "valid"
    assert "signed by the programme's published key" in shown(page, "checked-signature")
    assert shown(page, "checked-source").startswith("this service")
    steps = page.get_by_test_id("verify-steps").locator("li")
    assert steps.count() == 6
    assert all(s.startswith("✔") for s in steps.all_inner_texts())
    site.shot(page, "1-signed-ok")


def test_a_tampered_commitment_pasted_in_fails(site: Site, page) -> None:
    """One digit of a root (the proof fails too), then one of a field the proof does not
    read (only the signature catches it): both fail, and the page says the signature is
    not the programme's."""
    commitment = read_commitment(site.run)
    site.sign_in(page, site.users[1])
    root = copy.deepcopy(commitment)
    digit = root["sum_tree"]["root"][40]
    root["sum_tree"]["root"] = (
        root["sum_tree"]["root"][:40]
        + ("1" if digit != "1" else "2")
        + root["sum_tree"]["root"][41:]
    )
    units = copy.deepcopy(commitment)
    units["standard_tree"]["total_units"] = str(int(units["standard_tree"]["total_units"]) + 1)
    for name, tampered in (("root", root), ("units", units)):
        page.get_by_test_id("commitment-text").fill(json.dumps(tampered, indent=2))
        assert page.get_by_test_id("source-paste").is_checked()  # typing chose the source
        assert verify(page) == "fail"
        assert page.get_by_test_id("checked-signature").get_attribute("data-state") == "invalid"
        assert "does not verify" in shown(page, "checked-signature-detail")
        assert shown(page, "checked-source") == "pasted"
        site.shot(page, f"2-tampered-{name}")
    assert shown(page, "checked-sum-root") == commitment["sum_tree"]["root"]  # as pasted
    page.get_by_test_id("commitment-text").fill(json.dumps(commitment))
    assert verify(page) == "ok"  # the genuine one, pasted, passes


def test_a_commitment_from_a_file_works(site: Site, page) -> None:
    kept = site.files / "commitment-kept-by-the-user.json"
    shutil.copyfile(site.run / "commitment.json", kept)
    site.sign_in(page, site.users[2])
    page.get_by_test_id("commitment-file").set_input_files(str(kept))
    assert page.get_by_test_id("source-file").is_checked()
    assert verify(page) == "ok", shown(page, "verify-result")
    assert shown(page, "checked-source") == f"the file {kept.name}"
    site.shot(page, "3-from-file")
    (site.files / "not-json.json").write_text("{oops")
    page.get_by_test_id("commitment-file").set_input_files(str(site.files / "not-json.json"))
    assert verify(page) == "fail"
    assert "not-json.json is not JSON" in shown(page, "verify-result")


def test_a_commitment_from_an_address_works_where_cors_allows(site: Site, page, elsewhere) -> None:
    site.sign_in(page, site.users[3])
    page.get_by_test_id("commitment-url").fill(f"{elsewhere}/cors/commitment.json")
    assert page.get_by_test_id("source-url").is_checked()
    assert verify(page) == "ok", shown(page, "verify-result")
    assert shown(page, "checked-source") == f"the address {elsewhere}/cors/commitment.json"
    site.shot(page, "4-from-address")
    page.get_by_test_id("commitment-url").fill(f"{elsewhere}/plain/commitment.json")
    assert verify(page) == "fail"
    assert "does the address allow other sites to read it (CORS)?" in shown(page, "verify-result")


@pytest.fixture(scope="module")
def fake(site: Site, tmp_path_factory) -> tuple[dict, dict[int, dict], Path]:
    """What a compromised service could serve: the same payouts committed with other
    salts, signed by the intruder's key, with proofs that match it."""
    folder = tmp_path_factory.mktemp("intruder")
    run = folder / "run"
    shutil.copytree(site.run, run)
    for name in ("commitment.json", "commitment.key"):
        (run / name).unlink()
    shutil.rmtree(run / "proofs")
    intruder = new_key_pair(folder / "keys")
    environ = {"RECOMPENSE_COMMITMENT_KEY": "33" * 32}
    commit_run(run, workers=1, environ=environ, signing_key=load_signing_key(intruder.private_path))
    proofs = {u: proof_bundle(run, u, environ=environ) for u in site.users[4:7]}
    return read_commitment(run), proofs, intruder.public_path


def serve_instead(page: Any, user: int, commitment: dict, proof: dict) -> None:
    page.route(f"**/api/programs/{PROGRAM}/commitment", lambda r: r.fulfill(json=commitment))
    page.route(f"**/api/programs/{PROGRAM}/users/{user}/proof", lambda r: r.fulfill(json=proof))


def test_a_compromised_service_cannot_pass_off_a_matching_fake(site: Site, page, fake) -> None:
    commitment, proofs, _ = fake
    user = site.users[4]
    unsigned = {k: v for k, v in commitment.items() if k != "signature"}
    serve_instead(page, user, unsigned, proofs[user])
    site.sign_in(page, user)
    assert verify(page) == "unsigned"  # the proof matches the fake, but nobody signed it
    assert page.get_by_test_id("checked-signature").get_attribute("data-state") == "unsigned"
    assert "nothing here shows that the programme published it" in shown(page, "verify-result")
    site.shot(page, "5-fake-unsigned")
    page.unroute_all()
    serve_instead(page, user, commitment, proofs[user])
    page.reload()
    assert verify(page) == "fail"  # signed, by the intruder's key
    assert "but the programme's key is" in shown(page, "checked-signature-detail")
    site.shot(page, "6-fake-signed-by-another-key")
    # The user pastes the commitment they got from the programme's announcement: the
    # service's fake proof does not match it.
    page.get_by_test_id("commitment-text").fill((site.run / "commitment.json").read_text())
    assert verify(page) == "fail"
    assert page.get_by_test_id("checked-signature").get_attribute("data-state") == "valid"
    assert page.get_by_test_id("verify-steps").locator("li").last.inner_text().startswith("✘")
    site.shot(page, "7-real-commitment-fake-proof")


def test_the_key_the_page_shows_can_be_replaced_by_the_one_published_elsewhere(
    site: Site, page, fake
) -> None:
    """An intruder who also swapped the key setting is caught when the user compares the
    key and types the programme's own; a wrong key typed in fails, a malformed one says so."""
    commitment, proofs, intruder_key = fake
    user = site.users[5]
    serve_instead(page, user, commitment, proofs[user])
    site.sign_in(page, user)
    intruder = json.loads(intruder_key.read_text())
    page.get_by_test_id("public-key-input").fill(intruder["public_key"])
    assert verify(page) == "ok"  # consistent with the key typed in ...
    programme = json.loads(site.keys.public_path.read_text())
    assert shown(page, "publication-key-hex") == programme["public_key"]  # ... not the shown one
    page.get_by_test_id("public-key-input").fill(programme["public_key"])
    assert verify(page) == "fail"
    page.get_by_test_id("public-key-input").fill("not a key")
    assert verify(page) == "fail"
    assert "the public key: not a public key" in shown(page, "verify-result")
    page.get_by_test_id("public-key-input").fill("")
    assert verify(page) == "unsigned"  # nothing to check the signature with
    assert page.get_by_test_id("checked-signature").get_attribute("data-state") == "unchecked"
