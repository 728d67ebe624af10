"""Direct credits (``distribution.method = "credit"``), on SQLite and PostgreSQL.

The de-peg programme credits its payouts straight into the users' reward wallets: each
batch issues the vouchers (the payment's record) and redeems them in the same transaction.
So after ``distribute`` every voucher is ``redeemed``, each wallet holds exactly its
owner's amount, the books reconcile, the notifications say "credited" (no redeem button,
no expiry), nothing can expire or be revoked — and a process killed with SIGKILL anywhere
in a batch resumes to exactly the same books.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from builders import DEPEG_PAID, DEPEG_PROGRAM, approve_twice, depeg_world
from recompense.distribution.distribute import distribute
from recompense.distribution.reconcile import reconcile
from recompense.distribution.status import status
from recompense.ledger.db import connect
from recompense.ledger.errors import VoucherError
from recompense.ledger.schema import ledger_accounts, notifications, postings, vouchers
from recompense.ledger.vouchers import expire_due, revoke
from recompense.notify.templates import parse_payload, render_email, render_push
from recompense.runs import execute_run


@pytest.fixture
def credit_run(tmp_path) -> Path:
    out = tmp_path / "run"
    execute_run(DEPEG_PROGRAM, depeg_world().write(tmp_path / "data"), out)
    return out


def wallets(url: str) -> dict[int, int]:
    """The reward wallets' balances, by user."""
    a, p = ledger_accounts.c, postings.c
    with connect(url).connect() as conn:
        rows = conn.execute(
            select(a.user_id, func.sum(p.amount_cents))
            .select_from(postings.join(ledger_accounts, a.id == p.account_id))
            .where(a.kind == "wallet")
            .group_by(a.user_id)
        ).all()
    return {int(u): int(c) for u, c in rows}


def states(url: str) -> dict[int, str]:
    with connect(url).connect() as conn:
        rows = conn.execute(select(vouchers.c.user_id, vouchers.c.status)).all()
    return {int(u): str(s) for u, s in rows}


def assert_books(run: Path, url: str) -> None:
    assert states(url) == dict.fromkeys(DEPEG_PAID, "redeemed")
    assert wallets(url) == DEPEG_PAID
    checks = reconcile(run, url)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]


def test_a_credit_programme_pays_into_the_wallets(credit_run, ledger_url):
    approve_twice(credit_run, ledger_url)
    result = distribute(credit_run, ledger_url, batch_size=2)
    assert result.issued_now == 3
    assert_books(credit_run, ledger_url)
    assert distribute(credit_run, ledger_url).issued_now == 0
    assert wallets(ledger_url) == DEPEG_PAID  # nothing twice
    shown = status("depeg-2025-10", ledger_url)
    assert shown.method == "credit"
    assert shown.by_state == {"redeemed": 3}
    engine = connect(ledger_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(notifications.c.id, notifications.c.channel, notifications.c.payload)
        ).all()
        voucher_id = conn.execute(select(vouchers.c.id).where(vouchers.c.user_id == 1)).scalar()
    assert {r.channel for r in rows} == {"push", "email"}
    message = parse_payload(rows[0].id, rows[0].channel, rows[0].payload)
    assert message.credited
    email = render_email(message, "es", "https://hub.example/rewards")
    assert "abonado" in email.subject
    assert "Caduca" not in email.text
    assert "Canjear" not in email.html
    assert "abonados en tu cuenta" in render_push(message, "es").title
    assert expire_due(engine, "depeg-2025-10").expired == 0  # nothing to expire
    with pytest.raises(VoucherError, match="only issued vouchers"):
        revoke(engine, str(voucher_id), reason="test")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recompense.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.mark.parametrize("point", ["mid-batch", "before-commit", "after-commit"])
def test_kill_minus_nine_while_crediting_then_resume(credit_run, ledger_url, point):
    approve_twice(credit_run, ledger_url)
    base = ["distribute", "--run", str(credit_run), "--db", ledger_url, "--batch-size", "1"]
    killed = cli(*base, env={"RECOMPENSE_KILL_AT": f"{point}@2"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    done = cli(*base)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_books(credit_run, ledger_url)
