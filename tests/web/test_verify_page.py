""" "Verify my payout" as the server renders it: the publication key, in full, and the
policy that lets the page fetch a commitment from the address a user gives.

The checks themselves run in the browser (``test_verify_browser.py``, Chromium).
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest

from builders import sign_in
from recompense.proofs.publication import read_public_key
from recompense.web.app import CSP, create_app
from recompense.web.errors import WebSettingsError
from recompense.web.routes.proofs import VERIFY_CSP
from recompense.web.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # as in conftest: Starlette prefers httpx2
    from starlette.testclient import TestClient

PAGE = "/programs/together-2025-10/users/{user}/verify"


def signed_in(client, served, user):
    token = served.token("user", user)
    sign_in(client, token)
    return client


def test_the_page_shows_the_programmes_key_in_full(served, publication_keys):
    public = read_public_key(publication_keys.public_path)
    settings = dataclasses.replace(served.settings, publication_key=public)
    client = signed_in(TestClient(create_app(settings)), served, served.owner)
    page = client.get(PAGE.format(user=served.owner))
    assert page.status_code == 200
    assert f'data-testid="publication-key-hex">{public.raw.hex()}</code>' in page.text
    assert f'data-testid="publication-key-id">{public.key_id}</code>' in page.text
    assert f'data-key="{public.raw.hex()}" data-key-id="{public.key_id}"' in page.text
    assert 'data-testid="publication-key-missing"' not in page.text
    assert page.headers["content-security-policy"] == VERIFY_CSP


def test_without_a_key_the_page_says_so_and_asks_for_one(served):
    client = signed_in(served.client(), served, served.owner)
    page = client.get(PAGE.format(user=served.owner))
    assert 'data-testid="publication-key-missing"' in page.text
    assert 'id="public-key-input" data-testid="public-key-input"' in page.text


def test_only_the_verify_page_may_fetch_from_other_addresses(served):
    """The service's policy with one change: connect-src."""
    assert VERIFY_CSP.replace("connect-src 'self' https: http:", "connect-src 'self'") == CSP
    client = signed_in(served.client(), served, served.owner)
    assert client.get("/hub").headers["content-security-policy"] == CSP
    commitment = client.get("/api/programs/together-2025-10/commitment")
    assert commitment.headers["content-security-policy"] == CSP
    assert commitment.json()["signature"]["algorithm"] == "Ed25519"  # served as published
    assert commitment.json() == json.loads((served.run / "commitment.json").read_text())


def test_the_key_setting_is_read_from_a_file_or_the_variable_and_checked(publication_keys):
    public = read_public_key(publication_keys.public_path)
    base = {"RECOMPENSE_JWT_SECRET": "s" * 48}
    from_file = {**base, "RECOMPENSE_PUBLICATION_KEY_FILE": str(publication_keys.public_path)}
    assert Settings.from_env(from_file, db_url="sqlite://").publication_key == public
    from_hex = {**base, "RECOMPENSE_PUBLICATION_KEY": public.raw.hex()}
    assert Settings.from_env(from_hex, db_url="sqlite://").publication_key.raw == public.raw
    for env, message in [
        ({"RECOMPENSE_PUBLICATION_KEY": "abc"}, "RECOMPENSE_PUBLICATION_KEY: not a public key"),
        ({"RECOMPENSE_PUBLICATION_KEY_FILE": "/nonexistent.json"}, "cannot read the publication"),
        ({"RECOMPENSE_PUBLICATION_KEY_FILE": str(publication_keys.private_path)}, "format"),
    ]:
        with pytest.raises(WebSettingsError, match=message):
            Settings.from_env({**base, **env}, db_url="sqlite://")
