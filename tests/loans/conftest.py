"""Loan desk fixtures: a migrated database on SQLite and PostgreSQL, keys, borrowers.

On PostgreSQL the desk connects as ``recompense_loans_app``, a login role that does not
own the tables (granted by :func:`recompense.loans.rls.grant_app_role`), so every
PostgreSQL test also runs under the row-level security policies.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from recompense.loans import register_borrower
from recompense.loans.desk import Desk
from recompense.loans.policy import load_loan_policy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loan_support import (
    AM1,
    AM2,
    APP_ROLE,
    CC1,
    INSTITUTION,
    LOAN_POLICY,
    OTHER_INSTITUTION,
    REGULAR,
    VIP,
    app_url,
    random_keyring,
)


@pytest.fixture
def loan_policy():
    return load_loan_policy(LOAN_POLICY)


@pytest.fixture
def keyring():
    return random_keyring("k1")


@pytest.fixture
def loans_url(ledger_url, request) -> str:
    """The migrated ledger; on PostgreSQL as the application role (RLS applies)."""
    if not ledger_url.startswith("postgresql"):
        return ledger_url
    from recompense.ledger.db import connect
    from recompense.loans.rls import grant_app_role

    grant_app_role(ledger_url, APP_ROLE, create=True)
    url = app_url(ledger_url)
    request.addfinalizer(lambda: connect(url).dispose())
    return url


@pytest.fixture
def desk(loans_url, loan_policy, keyring) -> Desk:
    """A desk with three borrowers of am-1 (institutional, vip, regular) and one of am-2."""
    desk = Desk(loans_url, loan_policy, keyring)
    register_borrower(desk, CC1, INSTITUTION, "institutional", AM1.id)
    register_borrower(desk, CC1, VIP, "vip", AM1.id)
    register_borrower(desk, CC1, REGULAR, "regular", AM1.id)
    register_borrower(desk, CC1, OTHER_INSTITUTION, "institutional", AM2.id)
    return desk
