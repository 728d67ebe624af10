"""Cases fixtures: a distributed programme on every database, keys, a desk, actors.

A case can only be opened against a programme in the ledger, so every test starts from
``small_run`` approved by two officers and distributed (as ``tests/distribution`` does).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from builders import approve_twice
from recompense.cases.desk import open_desk
from recompense.distribution.distribute import distribute
from recompense.loans.crypto import Keyring
from recompense.runs import read_manifest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from case_support import PROGRAM_ID, random_keyring


@pytest.fixture
def keyring() -> Keyring:
    return random_keyring()


@pytest.fixture
def program(small_run, ledger_url) -> str:
    """``small_run`` approved and distributed on ``ledger_url``: its programme id."""
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=1000)
    return PROGRAM_ID


@pytest.fixture
def desk(program, ledger_url, keyring):
    return open_desk(ledger_url, keyring=keyring)


@pytest.fixture
def params(small_run) -> dict:
    """The run's policy parameters (cases rules, max payout, window)."""
    return read_manifest(small_run)["policy"]["parameters"]
