"""Helpers for the loan tests: actors, borrowers, a clock, applications, every action."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recompense.loans import (
    Actor,
    Keyring,
    NewApplication,
    apply,
    approve,
    disburse,
    reject,
    repay,
    submit,
    undo_approval,
    withdraw,
    write_off,
)
from recompense.loans.desk import Desk

ROOT = Path(__file__).resolve().parents[2]
LOAN_POLICY = ROOT / "programs" / "loans-2025-10.toml"
APP_ROLE = "recompense_loans_app"

AM1 = Actor("account_manager", "am-1")
AM2 = Actor("account_manager", "am-2")
CC1 = Actor("credit_committee", "cc-1")
CC2 = Actor("credit_committee", "cc-2")
CC3 = Actor("credit_committee", "cc-3")
AUDITOR = Actor("auditor", "aud-1")
OPS = Actor("ops", "ops-1")
USER = Actor("user", "1001")
INSTITUTION, VIP, REGULAR, OTHER_INSTITUTION = 1001, 1002, 1003, 2001
T0 = datetime(2025, 10, 20, 9, 0, tzinfo=UTC)


def random_keyring(*ids: str, active: str | None = None) -> Keyring:
    ids = ids or ("k1",)
    return Keyring({i: os.urandom(32) for i in ids}, active or ids[0])


def app_url(owner_url: str) -> str:
    """The same database and schema, logged in as the non-owner application role."""
    return owner_url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://{APP_ROLE}@")


def new_application(
    desk: Desk,
    *,
    borrower: int = INSTITUTION,
    amount_cents: int = 50_000_000,
    term_days: int = 360,
    repayment: str = "instalments",
    manager: Actor = AM1,
    submitted: bool = True,
    now: datetime = T0,
) -> str:
    app_id = apply(
        desk,
        manager,
        NewApplication(
            borrower_id=borrower,
            amount_cents=amount_cents,
            term_days=term_days,
            repayment=repayment,
            financial_statements="FY2024 audited: revenue 48.2M, EBITDA 6.1M",
            stated_losses="3250000.00",
            notes="Liquidated on 2025-10-10 at 21:20 UTC; needs bridge liquidity",
        ),
        now=now,
    )
    if submitted:
        submit(desk, manager, app_id, "complete file", now=now)
    return app_id


def keys_env(keyring: Keyring) -> dict[str, str]:
    pairs = ",".join(
        f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in keyring.keys.items()
    )
    return {"RECOMPENSE_LOANS_KEYS": pairs, "RECOMPENSE_LOANS_ACTIVE_KEY": keyring.active}


def run_action(action: str, desk: Desk, app: str, actor: Actor | None = None) -> str:
    """Perform one lifecycle action as ``actor`` (default: someone allowed to); new state."""
    later = T0 + timedelta(hours=2)
    manager, member = actor or AM1, actor or CC2
    steps = {
        "submit": lambda: submit(desk, manager, app, "file complete", now=later),
        "approve": lambda: approve(desk, member, app, "ok", now=later),
        "reject": lambda: reject(desk, member, app, "no", now=later),
        "withdraw": lambda: withdraw(desk, manager, app, "withdrawn", now=later),
        "undo_approval": lambda: undo_approval(desk, member, app, "re-check", now=later),
        "disburse": lambda: disburse(desk, member, app, "go", now=later),
        "repay": lambda: repay(desk, manager, app, 1_000, "part", now=later).state,
        "write_off": lambda: write_off(desk, member, app, "lost", now=later) and "written_off",
    }
    return str(steps[action]())
