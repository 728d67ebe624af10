"""The journal is balanced and append-only — enforced by the database, not only the code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from recompense.ledger.db import connect
from recompense.ledger.errors import UnbalancedEntryError
from recompense.ledger.journal import Posting, balances, check_balanced, ensure_account, post

NOW = datetime(2025, 10, 15, tzinfo=UTC)


def accounts(conn):
    a = ensure_account(conn, "external:treasury:USDC", "external", "USDC", NOW)
    b = ensure_account(conn, "program:p:fund", "fund", "USDC", NOW, program_id="p")
    return a, b


def test_a_balanced_entry_posts_and_balances_add_up(ledger_url):
    engine = connect(ledger_url)
    with engine.begin() as conn:
        a, b = accounts(conn)
        post(
            conn,
            program_id="p",
            kind="fund",
            idempotency_key="k1",
            now=NOW,
            lines=[Posting(a, -500, "USDC"), Posting(b, 500, "USDC")],
        )
    with engine.connect() as conn:
        assert balances(conn) == {
            "external:treasury:USDC": ("external", -500),
            "program:p:fund": ("fund", 500),
        }


def test_ensure_account_is_idempotent(ledger_url):
    with connect(ledger_url).begin() as conn:
        assert accounts(conn) == accounts(conn)


@pytest.mark.parametrize(
    "lines",
    [
        [Posting(1, -500, "USDC"), Posting(2, 499, "USDC")],
        [Posting(1, -500, "USDC")],
        [Posting(1, -500, "USDC"), Posting(2, 500, "USDT")],
        [Posting(1, 0, "USDC"), Posting(2, 0, "USDC")],
    ],
)
def test_the_code_refuses_unbalanced_entries(lines):
    with pytest.raises(UnbalancedEntryError):
        check_balanced(lines)


def raw_unbalanced(conn, a, b):
    conn.execute(
        text(
            "INSERT INTO postings (entry_id, account_id, currency, amount_cents) VALUES ('e1', :a, 'USDC', -500)"
        ),
        {"a": a},
    )
    conn.execute(
        text(
            "INSERT INTO postings (entry_id, account_id, currency, amount_cents) VALUES ('e1', :b, 'USDC', 499)"
        ),
        {"b": b},
    )
    conn.execute(
        text(
            "INSERT INTO journal_entries (id, program_id, kind, idempotency_key, memo, created_at) "
            "VALUES ('e1', 'p', 'fund', 'raw', '', :now)"
        ),
        {"now": NOW},
    )


def test_the_database_refuses_an_unbalanced_entry(ledger_url):
    engine = connect(ledger_url)
    with engine.begin() as conn:
        a, b = accounts(conn)
    with pytest.raises(DBAPIError, match="unbalanced journal entry"), engine.begin() as conn:
        raw_unbalanced(conn, a, b)


def test_the_database_refuses_postings_without_an_entry(ledger_url):
    engine = connect(ledger_url)
    with engine.begin() as conn:
        a, _ = accounts(conn)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO postings (entry_id, account_id, currency, amount_cents) VALUES ('orphan', :a, 'USDC', 5)"
            ),
            {"a": a},
        )


def test_a_closed_entry_takes_no_more_postings_and_nothing_is_updated_or_deleted(ledger_url):
    engine = connect(ledger_url)
    with engine.begin() as conn:
        a, b = accounts(conn)
        entry = post(
            conn,
            program_id="p",
            kind="fund",
            idempotency_key="k1",
            now=NOW,
            lines=[Posting(a, -500, "USDC"), Posting(b, 500, "USDC")],
        )
    statements = [
        (
            "INSERT INTO postings (entry_id, account_id, currency, amount_cents) VALUES (:e, :a, 'USDC', 5)",
            "closed",
        ),
        ("UPDATE postings SET amount_cents = 1 WHERE entry_id = :e", "append-only"),
        ("DELETE FROM postings WHERE entry_id = :e", "append-only"),
        ("UPDATE journal_entries SET memo = 'x' WHERE id = :e", "append-only"),
        ("DELETE FROM journal_entries WHERE id = :e", "append-only"),
    ]
    for sql, message in statements:
        with pytest.raises(DBAPIError, match=message), engine.begin() as conn:
            conn.execute(text(sql), {"e": entry, "a": a})


def test_the_same_idempotency_key_cannot_post_twice(ledger_url):
    engine = connect(ledger_url)
    with engine.begin() as conn:
        a, b = accounts(conn)
        post(
            conn,
            program_id="p",
            kind="fund",
            idempotency_key="fund:p",
            now=NOW,
            lines=[Posting(a, -5, "USDC"), Posting(b, 5, "USDC")],
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        post(
            conn,
            program_id="p",
            kind="fund",
            idempotency_key="fund:p",
            now=NOW,
            lines=[Posting(a, -5, "USDC"), Posting(b, 5, "USDC")],
        )
