"""The console's sign-off pages: runs awaiting approval, the review and diff, Approve (CSRF),
and every refusal as the page again with its reason; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from web_support import settings_for

from builders import approve_twice, sign_in
from recompense.audit import events
from recompense.distribution.approvals import approvals_of
from recompense.distribution.distribute import distribute
from recompense.ledger.db import connect
from recompense.runs import run_fingerprint
from recompense.runs.artifacts import MANIFEST
from recompense.web.app import create_app
from recompense.web.auth import mint_token
from recompense.web.settings import Settings

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@dataclass
class Console:
    app: object
    settings: Settings
    url: str
    a: Path  # small_run's copy ($150,000)
    b: Path  # other_run's copy ($140,000), same users
    mine: Path  # a run made by ops:carol

    def client(self, name: str | None = None, role: str = "ops", **claims: object):
        from starlette.testclient import TestClient

        client = TestClient(self.app)  # type: ignore[arg-type]
        if name is not None:
            token = mint_token(self.settings, role=role, subject=name, **claims)  # type: ignore[arg-type]
            sign_in(client, token)
        return client

    def approvers(self, run: Path) -> list[str]:
        with connect(self.url).connect() as conn:
            return [a.approver for a in approvals_of(conn, run_fingerprint(run))]


@pytest.fixture
def console(small_run, other_run, ledger_url, rsa_keys, tmp_path) -> Console:
    folder = tmp_path / "runs"
    folder.mkdir()
    a, b, mine = folder / "a", folder / "b", folder / "mine"
    shutil.copytree(small_run, a)
    shutil.copytree(other_run, b)
    shutil.copytree(small_run, mine)
    manifest = json.loads((mine / MANIFEST).read_text())
    (mine / MANIFEST).write_text(json.dumps({**manifest, "run_by": "ops:carol"}))
    settings = replace(settings_for(ledger_url, rsa_keys), runs_dir=folder)
    return Console(create_app(settings), settings, ledger_url, a, b, mine)


def approve_by_form(console: Console, name: str, run: Path, token: str | None = "page"):
    client = console.client(name)
    fingerprint = run_fingerprint(run)
    page = client.get(f"/ops/approvals/{fingerprint}")
    assert page.status_code == 200, page.text
    data = {} if token is None else {"csrf_token": CSRF.search(page.text).group(1)}
    return client.post(f"/ops/approvals/{fingerprint}", data=data, follow_redirects=False)


def test_the_list_shows_every_run_awaiting_approval(console):
    page = console.client("alice").get("/ops/approvals")
    assert page.status_code == 200
    for run in (console.a, console.b, console.mine):
        assert f'data-fingerprint="{run_fingerprint(run)}" data-state="awaiting"' in page.text


def test_two_officers_approve_by_form(console):
    first = approve_by_form(console, "alice", console.a)
    assert first.status_code == 303
    assert first.headers["location"] == f"/ops/approvals/{run_fingerprint(console.a)}?approved=true"
    after = console.client("alice").get(first.headers["location"])
    assert 'data-testid="approved-flash"' in after.text
    assert 'data-approvals="1"' in after.text
    assert 'data-state="awaiting"' in after.text
    assert approve_by_form(console, "bob", console.a).status_code == 303
    assert console.approvers(console.a) == ["ops:alice", "ops:bob"]
    done = console.client("bob").get(f"/ops/approvals/{run_fingerprint(console.a)}")
    assert 'data-testid="review-state" data-state="approved"' in done.text
    recorded = [e for e in events(connect(console.url)) if e.action == "run.approve"]
    assert [e.actor for e in recorded] == ["ops:alice", "ops:bob"]
    assert {e.subject for e in recorded} == {f"run:{run_fingerprint(console.a)}"}
    distribute(console.a, console.url, batch_size=500)  # what the two approvals allow


def test_the_form_needs_the_sessions_csrf_token(console):
    refused = approve_by_form(console, "alice", console.a, token=None)
    assert refused.status_code == 403
    assert console.approvers(console.a) == []


def test_the_same_officer_twice_is_a_conflict(console):
    approve_by_form(console, "alice", console.a)
    again = approve_by_form(console, "alice", console.a)
    assert again.status_code == 409
    assert 'data-testid="approve-refused"' in again.text
    assert "already approved run" in again.text
    assert console.approvers(console.a) == ["ops:alice"]


def test_nobody_approves_their_own_run(console):
    refused = approve_by_form(console, "carol", console.mine)
    assert refused.status_code == 403
    assert "nobody approves their own run" in refused.text
    assert console.approvers(console.mine) == []
    page = console.client("alice").get(f"/ops/approvals/{run_fingerprint(console.mine)}")
    assert 'data-testid="review-run-by">ops:carol<' in page.text


def test_the_review_shows_the_diff_against_the_last_approved_run(console):
    first = console.client("alice").get(f"/ops/approvals/{run_fingerprint(console.b)}")
    assert 'data-testid="diff-none"' in first.text
    approve_twice(console.a, console.url)
    page = console.client("alice").get(f"/ops/approvals/{run_fingerprint(console.b)}")
    assert f'data-fingerprint="{run_fingerprint(console.a)}" data-why="approved"' in page.text
    assert 'data-added="0" data-removed="0"' in page.text
    assert 'data-net-cents="-1000000"' in page.text
    assert page.text.count('data-testid="diff-change"') == 10
    assert "$150,000.00" in page.text
    assert "$140,000.00" in page.text


def test_a_distributed_run_shows_no_approve_button(console):
    approve_twice(console.a, console.url)
    distribute(console.a, console.url, batch_size=500)
    client = console.client("dave")
    page = client.get(f"/ops/approvals/{run_fingerprint(console.a)}")
    assert 'data-distributed="true"' in page.text
    assert 'data-testid="approve-form"' not in page.text
    listed = client.get("/ops/approvals")
    assert (
        f'data-fingerprint="{run_fingerprint(console.a)}" data-state="distributed"' in listed.text
    )


def test_a_folder_changed_after_the_review_is_not_approved(console):
    client = console.client("alice")
    fingerprint = run_fingerprint(console.a)
    token = CSRF.search(client.get(f"/ops/approvals/{fingerprint}").text).group(1)
    manifest = json.loads((console.a / MANIFEST).read_text())
    (console.a / MANIFEST).write_text(json.dumps({**manifest, "budget_cents": 1}))
    answer = client.post(f"/ops/approvals/{fingerprint}", data={"csrf_token": token})
    assert answer.status_code == 404
    assert console.approvers(console.a) == []


def test_unknown_and_malformed_fingerprints(console):
    client = console.client("alice")
    assert client.get(f"/ops/approvals/{'0' * 64}").status_code == 404
    assert client.get("/ops/approvals/not-a-fingerprint").status_code == 422
    assert client.get(f"/ops/approvals/{'A' * 64}").status_code == 422


def test_the_pages_speak_spanish(console):
    client = console.client("alice", locale="es")
    assert "Aprobación de ejecuciones" in client.get("/ops/approvals").text
    page = client.get(f"/ops/approvals/{run_fingerprint(console.a)}")
    assert "Aprobar esta ejecución" in page.text
    assert "Embudo de elegibilidad" in page.text
