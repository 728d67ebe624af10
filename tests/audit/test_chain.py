"""The audit trail: append-only in the database, and a chain that catches what slips by.

Tampering is done the way an insider with database access would: dropping the guard
triggers and editing, deleting or inserting rows with plain SQL. Every edit is caught by
``verify`` (and by the CLI, exit 1), naming the first broken event.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from recompense.audit import GENESIS, cli_actor, event_hash, events, export, record, verify
from recompense.cli.main import app
from recompense.errors import InputError
from recompense.ledger.db import connect

T0 = datetime(2025, 10, 14, 16, 0, tzinfo=UTC)


def _fill(url: str, n: int = 5) -> list[str]:
    engine = connect(url)
    hashes = []
    for i in range(n):
        with engine.begin() as conn:
            event = record(
                conn,
                actor="ops:alice" if i % 2 else "ops:bob",
                action="voucher.revoke",
                subject=f"voucher:{i}",
                details={"reason": "duplicate account", "amount_cents": 600_000 + i, "n": i},
                at=T0 + timedelta(minutes=i),
            )
            hashes.append(event.hash)
    return hashes


def _drop_guards(url: str) -> None:
    engine = connect(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))


def test_an_unbroken_chain_verifies_and_links(ledger_url: str) -> None:
    hashes = _fill(ledger_url)
    result = verify(connect(ledger_url))
    assert (result.ok, result.events, result.head, result.problem) == (True, 5, hashes[-1], "")
    chain = list(events(connect(ledger_url)))
    assert [e.seq for e in chain] == [1, 2, 3, 4, 5]
    assert chain[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))
    first = chain[0]
    assert first.hash == event_hash(
        GENESIS, 1, T0, "ops:bob", "voucher.revoke", "voucher:0", first.details
    )


def test_the_database_refuses_edits(ledger_url: str) -> None:
    _fill(ledger_url, 2)
    engine = connect(ledger_url)
    for statement in (
        "UPDATE audit_events SET actor = 'ops:mallory' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert verify(engine).ok


@pytest.mark.parametrize(
    ("tamper", "caught"),
    [
        ("UPDATE audit_events SET actor = 'ops:mallory' WHERE seq = 3", "seq 3 was changed"),
        (
            "UPDATE audit_events SET details = replace(details, '600002', '9600002') WHERE seq = 3",
            "seq 3 was changed",
        ),
        ("DELETE FROM audit_events WHERE seq = 2", "seq 2 is missing"),
        ("UPDATE audit_events SET prev_hash = hash WHERE seq = 4", "seq 4 does not link"),
    ],
)
def test_an_insider_edit_is_caught(ledger_url: str, tamper: str, caught: str) -> None:
    _fill(ledger_url)
    _drop_guards(ledger_url)
    with connect(ledger_url).begin() as conn:
        conn.execute(text(tamper))
    result = verify(connect(ledger_url))
    assert not result.ok
    assert caught in result.problem
    cli = CliRunner().invoke(app, ["audit", "verify", "--db", ledger_url])
    assert cli.exit_code == 1
    assert caught in " ".join(cli.output.split())


def test_a_rewritten_chain_is_caught_by_the_exported_head(ledger_url: str) -> None:
    """Someone who deletes the last events (or rehashes everything) cannot keep a head
    an auditor exported: verify --expect-head fails."""
    hashes = _fill(ledger_url)
    _drop_guards(ledger_url)
    with connect(ledger_url).begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 4"))
    engine = connect(ledger_url)
    assert verify(engine).ok  # a clean cut at the tail still links...
    assert verify(engine, expect_head=hashes[1]).ok  # ...and keeps older heads
    cut = verify(engine, expect_head=hashes[-1])
    assert not cut.ok
    assert "is not in the chain" in cut.problem


def test_export_writes_every_event_and_the_head(ledger_url: str, tmp_path: Path) -> None:
    import json

    hashes = _fill(ledger_url, 3)
    out = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(app, ["audit", "export", "--db", ledger_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["hash"] for line in lines[:-1]] == hashes
    assert lines[-1] == {"events": 3, "head": hashes[-1], "ok": True}
    with pytest.raises(InputError, match="already exists"):
        export(connect(ledger_url), out)


def test_concurrent_writers_never_fork_the_chain(postgres_ledger_url: str) -> None:
    """8 threads × 25 appends on PostgreSQL: 200 events, seq 1..200, one unbroken chain."""
    engine = connect(postgres_ledger_url)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(25):
                with engine.begin() as conn:
                    record(conn, actor=f"ops:w{k}", action="test.append", subject=f"n:{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = verify(engine)
    assert result.ok
    assert result.events == 200


def test_an_event_rolls_back_with_its_action(ledger_url: str) -> None:
    engine = connect(ledger_url)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        record(conn, actor="ops:alice", action="run.approve", subject="run:abc")
        raise RuntimeError("the action failed")
    assert verify(engine).events == 0


def test_actors(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli_actor("ops:alice") == "ops:alice"
    assert cli_actor(None).startswith("cli:")
    for bad in ("alice", ":alice", "ops:"):
        with pytest.raises(InputError, match="role:name"):
            cli_actor(bad)


def test_the_log_lists_and_filters(ledger_url: str) -> None:
    _fill(ledger_url, 4)
    result = CliRunner().invoke(
        app, ["audit", "log", "--db", ledger_url, "--actor", "ops:alice", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"subject": "voucher:1"' in result.output
    assert "voucher:0" not in result.output
