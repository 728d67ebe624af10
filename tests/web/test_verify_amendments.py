"""The verify page of an amendment: the chain of commitments and what changed for the user.

The amendment folder is written by hand as ``recompense amend`` writes it, committed, and
entered in the ledger's ``programs`` table as the amendment of ``together-2025-10``; the
service then shows the programme (its users know it by the base id) with its latest run.
"""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import create_engine, insert, select

from builders import sign_in
from recompense.ledger.schema import programs
from recompense.proofs import commit_run, read_commitment
from recompense.proofs.verify import verify_chain_proof
from recompense.runs import read_allocations, run_fingerprint
from recompense.web.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # as in conftest: Starlette prefers httpx2
    from starlette.testclient import TestClient

BASE = "together-2025-10"
AMENDED = f"{BASE}~a1"
TOPUP = 1_234


@pytest.fixture
def amended(served, tmp_path):
    """``served`` plus amendment 1, which adds $12.34 to the owner's payout."""
    from proofs.amendment_runs import amend

    table = read_allocations(served.run)
    amounts = dict(
        zip(table["user_id"].to_pylist(), table["amount_cents"].to_pylist(), strict=True)
    )
    run = amend(served.run, tmp_path / "a1", {served.owner: amounts[served.owner] + TOPUP})
    commit_run(run, workers=1, environ={})
    engine = create_engine(served.url)
    with engine.begin() as conn:
        row = dict(conn.execute(select(programs).where(programs.c.id == BASE)).mappings().one())
        row.update(
            id=AMENDED,
            run_path=str(run),
            run_fingerprint=run_fingerprint(run),
            base_program_id=BASE,
            amendment_seq=1,
            previous_fingerprint=run_fingerprint(served.run),
        )
        conn.execute(insert(programs).values(**row))
    engine.dispose()
    return run


def client_for(served, user, **claims):
    client = TestClient(create_app(served.settings))
    sign_in(client, served.token("user", user, **claims))
    return client


def test_the_page_shows_the_chain_and_what_changed(served, amended):
    page = client_for(served, served.owner).get(f"/programs/{BASE}/users/{served.owner}/verify")
    assert page.status_code == 200
    assert "Amendment 1 added $12.34: your loss was corrected" in page.text
    assert page.text.count('data-testid="chain-link"') == 2
    assert 'data-sequence="1" data-changed="yes"' in page.text
    assert f'data-commitments-url="/api/programs/{BASE}/commitments"' in page.text


def test_the_page_says_it_in_spanish(served, amended):
    client = client_for(served, served.owner, locale="es")
    page = client.get(f"/programs/{BASE}/users/{served.owner}/verify")
    assert "La enmienda 1 añadió 12,34" in page.text
    assert "se corrigió su pérdida" in page.text


def test_an_unchanged_user_sees_no_top_up(served, amended):
    page = client_for(served, served.other).get(f"/programs/{BASE}/users/{served.other}/verify")
    assert "Amendment 1 changed nothing for you" in page.text
    assert 'data-sequence="1" data-changed="no"' in page.text


def test_before_any_amendment_the_page_shows_no_chain(served):
    page = client_for(served, served.owner).get(f"/programs/{BASE}/users/{served.owner}/verify")
    assert page.status_code == 200
    assert 'data-testid="amendments"' not in page.text


def test_the_api_serves_the_chain_and_a_proof_that_checks_against_it(served, amended):
    client = client_for(served, served.owner)
    chain = client.get(f"/api/programs/{BASE}/commitments").json()
    assert chain == [read_commitment(served.run), read_commitment(amended)]
    bundle = client.get(f"/api/programs/{BASE}/users/{served.owner}/proof").json()
    assert bundle["amendment"]["topup_cents"] == TOPUP
    assert verify_chain_proof(chain, bundle).ok
