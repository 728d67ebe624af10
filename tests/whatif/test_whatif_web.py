"""The what-if page and API given formulas no parser may recurse into: 422, never 500.

The app is the real one over a real ledger (``ledger_url``: SQLite and PostgreSQL) into
which a copy of the session's ``small_run`` is distributed; the test client re-raises
any server error, so a 500 fails the test with its traceback.
"""

from __future__ import annotations

import re
import shutil
import tomllib
import warnings

import pytest

from builders import approve_twice, sign_in
from recompense.distribution.distribute import distribute
from recompense.policy.formula import MAX_DEPTH
from recompense.web.app import create_app
from recompense.web.auth import mint_token
from recompense.web.settings import Settings

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package; httpx works and is what is installed.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PROGRAM = "together-2025-10"
API = f"/api/programs/{PROGRAM}/whatif"
PAGE = f"/ops/programs/{PROGRAM}/whatif"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
DEEP = "(" * 400 + "loss_usd" + ")" * 400  # within the 1,000 characters a form may send
TOO_LONG = "(" * 5000 + "loss_usd" + ")" * 5000
REFUSED = f"nests more than {MAX_DEPTH} levels deep at position {MAX_DEPTH}"


@pytest.fixture
def app(small_run, ledger_url, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    approve_twice(run, ledger_url)
    distribute(run, ledger_url, batch_size=500)
    settings = Settings.from_env({"RECOMPENSE_JWT_SECRET": "s" * 48}, db_url=ledger_url)
    return create_app(settings), settings


@pytest.fixture
def api(app):
    application, settings = app
    with TestClient(application) as client:
        client.headers["Authorization"] = f"Bearer {mint_token(settings, role='ops')}"
        yield client


@pytest.fixture
def page(app):
    """A signed-in operator's browser session and the form's CSRF token."""
    application, settings = app
    with TestClient(application) as client:
        token = mint_token(settings, role="ops")
        sign_in(client, token)
        form = client.get(PAGE)
        assert form.status_code == 200
        yield client, CSRF.search(form.text).group(1)


@pytest.mark.parametrize("path", [API, f"{API}/policy"])
def test_api_refuses_a_deep_formula_with_422_naming_the_position(api, path):
    response = api.post(path, json={"weight": DEEP})
    assert response.status_code == 422
    assert REFUSED in response.json()["detail"]


def test_api_refuses_a_formula_past_the_length_limit_with_422(api):
    response = api.post(API, json={"weight": TOO_LONG})
    assert response.status_code == 422
    assert "weight" in response.text


@pytest.mark.parametrize("action", ["simulate", "export"])
def test_the_page_shows_the_refusal_of_a_deep_formula(page, action):
    client, csrf = page
    response = client.post(PAGE, data={"csrf_token": csrf, "weight": DEEP, "action": action})
    assert response.status_code == 422
    assert 'data-testid="whatif-error"' in response.text
    assert REFUSED in response.text


def test_the_page_shows_the_refusal_of_a_formula_past_the_length_limit(page):
    client, csrf = page
    response = client.post(
        PAGE, data={"csrf_token": csrf, "weight": TOO_LONG, "action": "simulate"}
    )
    assert response.status_code == 422
    assert 'data-testid="whatif-error"' in response.text
    assert "weight: is longer than 1000 characters" in response.text
    assert TOO_LONG not in response.text  # an over-long value is not put back in the form


def test_export_refuses_a_formula_the_engine_would_refuse_on_this_run(api):
    refused = api.post(f"{API}/policy", json={"weight": "loss_usd - 1000"})
    assert refused.status_code == 422
    assert "negative or undefined weight" in refused.json()["detail"]
    accepted = api.post(f"{API}/policy", json={"weight": "log1p(loss_usd)"})
    assert accepted.status_code == 200
    assert tomllib.loads(accepted.json()["toml"])["payout"]["weight"] == "log1p(loss_usd)"
