"""Redeem, expire, revoke: one owner, once, never after expiry; the books still reconcile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from builders import approve_twice
from recompense.distribution.distribute import distribute, voucher_id
from recompense.distribution.reconcile import reconcile
from recompense.ledger.db import connect
from recompense.ledger.errors import VoucherError, VoucherNotFound
from recompense.ledger.journal import balances, fund_code
from recompense.ledger.vouchers import expire_due, redeem, revoke
from recompense.runs import read_allocations

PROGRAM = "together-2025-10"


@pytest.fixture
def issued(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=200)
    rows = read_allocations(small_run).to_pylist()
    return connect(ledger_url), rows


def ok(run, url):
    failed = [c for c in reconcile(run, url) if not c.passed]
    assert not failed, failed


def test_only_the_owner_can_redeem_and_others_get_not_found(issued, small_run, ledger_url):
    engine, rows = issued
    owner, other = rows[0]["user_id"], rows[1]["user_id"]
    with pytest.raises(VoucherNotFound):
        redeem(engine, voucher_id(PROGRAM, owner), other)
    with pytest.raises(VoucherNotFound):
        redeem(engine, "00000000-0000-0000-0000-000000000000", owner)
    first = redeem(engine, voucher_id(PROGRAM, owner), owner)
    again = redeem(engine, voucher_id(PROGRAM, owner), owner)
    assert not first.already
    assert again.already
    assert again.entry_id == first.entry_id
    assert first.amount_cents == rows[0]["amount_cents"]
    ok(small_run, ledger_url)


def test_an_expired_voucher_cannot_be_redeemed_and_expiry_claws_back(issued, small_run, ledger_url):
    engine, rows = issued
    later = datetime.now(UTC) + timedelta(days=15)
    redeem(engine, voucher_id(PROGRAM, rows[0]["user_id"]), rows[0]["user_id"])
    with pytest.raises(VoucherError, match="expired at"):
        redeem(engine, voucher_id(PROGRAM, rows[1]["user_id"]), rows[1]["user_id"], now=later)
    result = expire_due(engine, PROGRAM, now=later, batch=100)
    assert result.expired == len(rows) - 1
    assert result.clawed_back_cents == sum(r["amount_cents"] for r in rows[1:])
    with engine.connect() as conn:
        assert balances(conn)[fund_code(PROGRAM)] == ("fund", result.clawed_back_cents)
    assert expire_due(engine, PROGRAM, now=later).expired == 0
    with pytest.raises(VoucherError, match="is expired"):
        redeem(engine, voucher_id(PROGRAM, rows[1]["user_id"]), rows[1]["user_id"], now=later)
    ok(small_run, ledger_url)


def test_revoke_returns_the_amount_once(issued, small_run, ledger_url):
    engine, rows = issued
    target = voucher_id(PROGRAM, rows[2]["user_id"])
    revoke(engine, target, reason="duplicate account")
    with pytest.raises(VoucherError, match="only issued vouchers"):
        revoke(engine, target, reason="again")
    with pytest.raises(VoucherError, match="revoked"):
        redeem(engine, target, rows[2]["user_id"])
    ok(small_run, ledger_url)


def test_reconcile_catches_a_tampered_voucher_amount(issued, small_run, ledger_url):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    engine, rows = issued
    tamper = text("UPDATE vouchers SET amount_cents = amount_cents + 1 WHERE user_id = :u")
    with pytest.raises(DBAPIError, match="never change"), engine.begin() as conn:
        conn.execute(tamper, {"u": rows[3]["user_id"]})  # the database refuses it
    with engine.begin() as conn:  # someone with DDL rights edits a voucher behind its back
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE vouchers DISABLE TRIGGER vouchers_frozen"))
        else:
            conn.execute(text("DROP TRIGGER vouchers_frozen"))
        conn.execute(tamper, {"u": rows[3]["user_id"]})
    failed = {c.name for c in reconcile(small_run, ledger_url) if not c.passed}
    assert {"vouchers = allocations", "liability and fund"} <= failed
