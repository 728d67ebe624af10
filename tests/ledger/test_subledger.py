"""Vouchers are the liability's subsidiary ledger: the database ties them to their entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from builders import approve_twice
from recompense.distribution.distribute import distribute
from recompense.distribution.reconcile import reconcile
from recompense.ledger.db import connect
from recompense.ledger.journal import (
    Posting,
    close_entry,
    ensure_account,
    fund_code,
    liability_code,
    open_entry,
)
from recompense.ledger.schema import vouchers

PROGRAM = "together-2025-10"
NOW = datetime(2025, 10, 15, tzinfo=UTC)
VOUCHER = (
    "INSERT INTO vouchers (id, program_id, user_id, amount_cents, currency, status, "
    "issued_at, expires_at, issue_entry_id) VALUES "
    "(:id, :program, :user, :cents, 'USDC', 'issued', :now, :until, :entry)"
)


@pytest.fixture
def ledger(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=200)
    return connect(ledger_url)


def accounts(conn):
    fund = ensure_account(conn, fund_code(PROGRAM), "fund", "USDC", NOW)
    return fund, ensure_account(conn, liability_code(PROGRAM), "liability", "USDC", NOW)


def add_voucher(conn, entry, user, cents):
    values = {"program": PROGRAM, "now": NOW, "until": NOW + timedelta(days=14)}
    conn.execute(
        text(VOUCHER),
        {**values, "id": f"00000000-0000-8000-8000-{user:012d}", "user": user, "cents": cents,
         "entry": entry},
    )  # fmt: skip


def issue(conn, vouchers_, line, key="issue:test"):
    fund, liability = accounts(conn)
    entry = open_entry(conn, [Posting(fund, -line, "USDC"), Posting(liability, line, "USDC")])
    for user, cents in vouchers_:
        add_voucher(conn, entry, user, cents)
    close_entry(conn, entry, program_id=PROGRAM, kind="issue", idempotency_key=key, now=NOW)
    return entry


def test_an_issue_entry_whose_vouchers_sum_to_its_line_is_accepted(ledger):
    with ledger.begin() as conn:
        entry = issue(conn, [(10**9, 300), (10**9 + 1, 200)], 500)
    with ledger.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(vouchers).where(vouchers.c.issue_entry_id == entry)
        ).scalar_one()
    assert count == 2


@pytest.mark.parametrize("line", [499, 501])
def test_an_issue_entry_that_does_not_match_its_vouchers_is_refused(ledger, line):
    with pytest.raises(DBAPIError, match="does not match its vouchers"), ledger.begin() as conn:
        issue(conn, [(10**9, 300), (10**9 + 1, 200)], line)


def test_vouchers_for_a_closed_or_unknown_entry_are_refused(ledger):
    with ledger.begin() as conn:
        entry = issue(conn, [(10**9, 300)], 300)
    for target in (entry, "no-such-entry"):
        with pytest.raises(DBAPIError, match="open issue entry"), ledger.begin() as conn:
            add_voucher(conn, target, 10**9 + 5, 100)


def test_a_voucher_s_money_and_identity_never_change_and_vouchers_are_never_deleted(ledger):
    statements = [
        "UPDATE vouchers SET amount_cents = amount_cents + 1",
        "UPDATE vouchers SET user_id = user_id + 1000000000",
        "UPDATE vouchers SET issue_entry_id = 'x'",
        "DELETE FROM vouchers",
    ]
    for sql in statements:
        with pytest.raises(DBAPIError, match="never change"), ledger.begin() as conn:
            conn.execute(text(sql))


def test_reconcile_finds_vouchers_that_do_not_match_their_entry(small_run, ledger_url, ledger):
    """Only a database without the guards could hold this; reconcile must still see it."""
    with ledger.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE vouchers DISABLE TRIGGER vouchers_frozen"))
        else:
            conn.execute(text("DROP TRIGGER vouchers_frozen"))
        conn.execute(
            text("UPDATE vouchers SET amount_cents = amount_cents + 1 WHERE user_id = "
                 "(SELECT MIN(user_id) FROM vouchers)")
        )  # fmt: skip
    checks = {c.name: c for c in reconcile(small_run, ledger_url)}
    assert not checks["one state per voucher"].passed
    assert "1 issue entries not equal to their vouchers" in checks["one state per voucher"].detail


def test_a_voucher_names_an_existing_programme_which_then_stays(ledger):
    with pytest.raises(DBAPIError, match=r"existing programme|FOREIGN KEY"), ledger.begin() as conn:
        fund, liability = accounts(conn)
        entry = open_entry(conn, [Posting(fund, -300, "USDC"), Posting(liability, 300, "USDC")])
        conn.execute(
            text(VOUCHER.replace(":program", "'no-such-programme'")),
            {"id": "00000000-0000-8000-8000-000000000001", "user": 10**9, "cents": 300,
             "now": NOW, "until": NOW + timedelta(days=14), "entry": entry},
        )  # fmt: skip
    for sql in ("DELETE FROM programs", "UPDATE programs SET id = 'renamed'"):
        with pytest.raises(DBAPIError, match=r"cannot be deleted|FOREIGN KEY"), ledger.begin() as c:
            c.execute(text(sql))
