"""Fixtures for the web service: a distributed, committed run behind a real app.

``web_run`` is a copy of the session's ``small_run`` (committing writes into the run
folder, and other packages' tests expect it uncommitted). ``served`` distributes it
into the ``ledger_url`` database (SQLite and PostgreSQL) and builds the app with both
an HS256 secret and an RS256 public key configured.
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from web_support import Keys, settings_for

from builders import approve_twice
from recompense.distribution.distribute import distribute, voucher_id
from recompense.proofs.publication import KeyPair
from recompense.web.app import create_app
from recompense.web.auth import mint_token
from recompense.web.settings import Settings

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package; httpx works and is what is installed.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PROGRAM = "together-2025-10"
REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


@dataclass
class Served:
    """The app under test, its settings, and users picked from the run."""

    app: object
    settings: Settings
    url: str
    run: Path
    owner: int  # eligible, has a voucher
    other: int  # another eligible user
    ineligible: int  # liquidated but not eligible
    stranger: int  # not liquidated at all

    def token(self, role: str, user_id: int | None = None, **claims: object) -> str:
        return mint_token(self.settings, role=role, user_id=user_id, **claims)  # type: ignore[arg-type]

    def bearer(self, role: str, user_id: int | None = None, **claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, user_id, **claims)}"}

    def voucher(self, user_id: int) -> str:
        return voucher_id(PROGRAM, user_id)

    def client(self, **kwargs: object) -> TestClient:
        return TestClient(self.app, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def rsa_keys() -> Keys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Keys(private, public.decode("ascii"))


@pytest.fixture(scope="session")
def publication_keys(tmp_path_factory) -> KeyPair:
    """The programme's Ed25519 publication key pair (``recompense keys new``)."""
    from recompense.proofs.publication import new_key_pair

    return new_key_pair(tmp_path_factory.mktemp("publication") / "keys")


@pytest.fixture(scope="session")
def web_run(small_run, tmp_path_factory, publication_keys) -> Path:
    """A committed copy of ``small_run`` (commitment.json, signed with the publication
    key, and the proofs store)."""
    from recompense.proofs import commit_run
    from recompense.proofs.publication import load_signing_key

    run = tmp_path_factory.mktemp("web") / "run"
    shutil.copytree(small_run, run)
    signing = load_signing_key(publication_keys.private_path)
    commit_run(run, workers=1, environ={}, signing_key=signing)
    return run


@pytest.fixture
def served(web_run, ledger_url, rsa_keys) -> Served:
    approve_twice(web_run, ledger_url)
    distribute(web_run, ledger_url, batch_size=500)
    settings = settings_for(ledger_url, rsa_keys)
    users = _pick_users(web_run)
    return Served(create_app(settings), settings, ledger_url, web_run, *users)


def _pick_users(run: Path) -> tuple[int, int, int, int]:
    eligibility = pq.read_table(run / "eligibility.parquet", columns=["user_id", "eligible"])
    ids = np.asarray(eligibility["user_id"].to_numpy())
    eligible = np.asarray(eligibility["eligible"].to_numpy(), dtype=bool)
    owner, other = (int(u) for u in np.sort(ids[eligible])[:2])
    ineligible = int(np.sort(ids[~eligible])[0])
    stranger = next(u for u in range(1, 10_000) if u not in set(ids.tolist()))
    return owner, other, ineligible, stranger


@pytest.fixture(scope="session")
def real_exports() -> Path:
    """``../shared/data/real`` (the users' own exports and public prices, never copied into
    the repository): missing, the tests fail under CI (``CI`` or
    ``RECOMPENSE_REQUIRE_REAL_DATA`` set), else they are skipped with the reason."""
    if not (REAL_DATA / "user-exports" / "blah").is_dir():
        reason = f"real Binance exports not found at {REAL_DATA / 'user-exports'}"
        if os.environ.get("CI") or os.environ.get("RECOMPENSE_REQUIRE_REAL_DATA"):
            pytest.fail(f"{reason} (required under CI)")
        pytest.skip(reason)
    return REAL_DATA
