"""``distribute`` and friends when the database fails: a real TCP proxy between the
command and PostgreSQL (:mod:`faults.tcp_proxy`) stalls the link, cuts it mid-batch or
right after a ``COMMIT`` reached the server (the reply lost), refuses connections or adds
latency; a client is killed while it holds the programme's lock; the command is sent
SIGTERM or Ctrl-C; the session runs in a +13:45 time zone.

Every case ends the same way: one clear message and a documented exit code (never a
traceback, never SQL parameters), a bounded wait, and books that ``reconcile`` proves
exact once the command is run again. Nothing here mocks the driver: the commands run as
subprocesses against the real server, through real sockets.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, make_url, select, text
from sqlalchemy.exc import DBAPIError

from builders import PROGRAM, approve_twice
from faults.tcp_proxy import Proxy, _FrontendParser
from recompense.distribution.reconcile import reconcile
from recompense.errors import DatabaseUnavailable
from recompense.failures import classify
from recompense.ledger.db import connect, open_engine
from recompense.ledger.errors import LedgerError
from recompense.ledger.limits import DatabaseSettings
from recompense.ledger.retry import backoff
from recompense.ledger.schema import vouchers
from recompense.money import format_usd
from recompense.runs import read_allocations

BATCH = 100
PROGRAMME = "together-2025-10"
COMMAND = (sys.executable, "-m", "recompense.cli")
HANG_GUARD = 300  # s: a command still running after this has hung (the defect), not slow
# Tight limits, so that each fault ends in seconds here.
FAST = {
    "RECOMPENSE_DB_CONNECT_TIMEOUT": "2",
    "RECOMPENSE_DB_STATEMENT_TIMEOUT": "5",
    "RECOMPENSE_DB_LOCK_TIMEOUT": "1",
    "RECOMPENSE_DB_IDLE_IN_TRANSACTION_TIMEOUT": "3",
    "RECOMPENSE_DB_RETRIES": "3",
    "RECOMPENSE_DB_RETRY_DELAY": "0.2",
    "RECOMPENSE_DB_RETRY_DELAY_MAX": "1",
}
LOCK_HELD = (
    "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = 'programs' AND l.mode = 'RowShareLock'"
)


@pytest.fixture
def ledger(postgres_ledger_url: str, small_run: Path) -> str:
    """A migrated PostgreSQL ledger where two officers approved ``small_run``."""
    approve_twice(small_run, postgres_ledger_url)
    return postgres_ledger_url


@pytest.fixture
def proxy(postgres_ledger_url: str) -> Iterator[Proxy]:
    server = make_url(postgres_ledger_url)
    with Proxy((server.host or "127.0.0.1", server.port or 5432)) as link:
        yield link


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def distribute(run: Path, url: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    return cli(
        "distribute", "--run", str(run), "--db", url, "--batch-size", str(BATCH), *extra, env=env
    )


def spawn(run: Path, url: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, "distribute", "--run", str(run), "--db", url, "--batch-size", str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def clean(stderr: str) -> None:
    """One message, not a traceback, and never the SQL or its parameters."""
    assert "Traceback" not in stderr, stderr
    assert "[parameters:" not in stderr, stderr
    assert "[SQL:" not in stderr, stderr


def words(text_: str) -> str:
    return " ".join(text_.split())


def assert_books(run: Path, url: str) -> None:
    failed = [c for c in reconcile(run, url) if not c.passed]
    assert not failed, failed


def issued(url: str) -> tuple[int, int]:
    with connect(url).connect() as conn:
        count, cents = conn.execute(
            select(func.count(), func.coalesce(func.sum(vouchers.c.amount_cents), 0))
        ).one()
    return int(count), int(cents)


def first_batches(run: Path, n: int) -> tuple[int, int]:
    """Vouchers and cents of the run's first ``n`` batches (allocation order)."""
    cents = read_allocations(run)["amount_cents"].to_pylist()[: n * BATCH]
    return len(cents), sum(cents)


def batches(run: Path) -> int:
    return -(-read_allocations(run).num_rows // BATCH)


def wait_for(predicate: Any, what: str) -> None:
    """Poll ``predicate`` until true; the hang guard says ``what`` never happened."""
    done = threading.Event()
    for _ in range(HANG_GUARD * 20):
        if predicate():
            return
        done.wait(0.05)
    raise AssertionError(f"never happened: {what}")


# -- defect 1: no timeouts ---------------------------------------------------------------


def test_a_stalled_link_ends_with_exit_3_and_what_was_committed(small_run, ledger, proxy):
    """The link stalls with batch 2's lock statement at the server: the client gives up
    after its reply deadline, retries (the link stays dead), and says what it committed."""
    proxy.arm("stall", r"FOR UPDATE", nth=3)  # registration, batch 1, batch 2
    result = distribute(small_run, proxy.url(ledger), env=FAST)
    assert result.returncode == 3, result.stderr
    clean(result.stderr)
    said = words(result.stderr)
    assert "no reply from the database server within 7 s (the connection stalled)" in said
    assert said.count("retrying:") == 3
    count, cents = first_batches(small_run, 1)
    assert (
        f"Committed by this run before that: 1 of {batches(small_run)} batches, "
        f"{count} vouchers, {format_usd(cents)}" in said
    )
    assert "run the same command again to resume exactly" in said
    assert issued(ledger) == (count, cents)
    again = distribute(small_run, ledger, env=FAST)  # the lock is released by the server
    assert again.returncode == 0, again.stderr
    assert_books(small_run, ledger)


def test_a_server_that_never_answers_the_login_times_out(small_run, ledger, proxy):
    proxy.stall()
    result = distribute(small_run, proxy.url(ledger), env=FAST)
    assert result.returncode == 3, result.stderr
    clean(result.stderr)
    assert "connection timeout expired" in words(result.stderr)
    assert issued(ledger) == (0, 0)


def test_a_client_that_vanished_mid_batch_does_not_keep_the_programme_locked(
    small_run, ledger, proxy
):
    """Kill -9 a distributor whose link stalled while it held the programme row's lock:
    the server ends the abandoned session (idle_in_transaction_session_timeout), and a
    re-run — which would otherwise wait for it forever — takes the lock and completes."""
    schema = _schema(ledger)
    proxy.arm("stall", r"FOR UPDATE", nth=3)
    doomed = spawn(small_run, proxy.url(ledger), env={**FAST, "RECOMPENSE_DB_RETRIES": "0"})
    try:
        with psycopg.connect(_plain(ledger), autocommit=True) as admin:
            holders: list[int] = []

            def lock_held() -> bool:
                holders[:] = [pid for (pid,) in admin.execute(LOCK_HELD, [schema])]
                return bool(holders)

            wait_for(lock_held, "the stalled distributor holding the programme lock")
            doomed.kill()
            doomed.communicate()
            rerun = distribute(small_run, ledger, env={**FAST, "RECOMPENSE_DB_RETRIES": "20"})
            assert rerun.returncode == 0, rerun.stderr
            clean(rerun.stderr)
            alive = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [holders]
            ).fetchall()
            assert alive == []  # the server ended the abandoned session
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.communicate()
    assert_books(small_run, ledger)


# -- defect 2: connection loss mid-batch ---------------------------------------------------


def test_a_cut_mid_batch_is_retried_inside_the_command(small_run, ledger, proxy):
    proxy.arm("cut", r"^\s*COPY", nth=3)  # batch 2's vouchers, mid-transaction
    result = distribute(small_run, proxy.url(ledger), env=FAST)
    assert result.returncode == 0, result.stderr
    clean(result.stderr)
    said = words(result.stderr)
    assert said.count("retrying:") == 1
    assert f"issuing batch 2 of {batches(small_run)}" in said
    assert proxy.stats.fired
    assert proxy.stats.fired[0].startswith("COPY vouchers")
    assert_books(small_run, ledger)


def test_a_commit_whose_reply_was_lost_is_retried_without_paying_twice(small_run, ledger, proxy):
    """The COMMIT of batch 2 reaches the server and commits; its reply never arrives.
    The retry finds batch 2's users paid and adds nothing: in doubt, yet exact."""
    proxy.arm("cut", nth=3)  # COMMITs: registration, batch 1, batch 2
    result = distribute(small_run, proxy.url(ledger), "--json", env=FAST)
    assert result.returncode == 0, result.stderr
    clean(result.stderr)
    assert proxy.stats.fired == ["COMMIT"]
    summary = json.loads(result.stdout)
    total = read_allocations(small_run).num_rows
    assert summary["issued_now"] + summary["already_issued"] == summary["total"] == total
    assert summary["already_issued"] == BATCH  # batch 2, committed by the lost COMMIT
    assert issued(ledger) == first_batches(small_run, batches(small_run))
    assert_books(small_run, ledger)


def test_when_the_database_stays_away_the_command_says_what_it_committed(small_run, ledger, proxy):
    proxy.arm("cut", r"^\s*COPY", nth=3, then=proxy.refuse)
    result = distribute(small_run, proxy.url(ledger), env=FAST)
    assert result.returncode == 3, result.stderr
    clean(result.stderr)
    said = words(result.stderr)
    assert said.count("retrying:") == 3
    assert "Connection refused" in said
    count, cents = first_batches(small_run, 1)
    assert f"while issuing batch 2 of {batches(small_run)}" in said
    assert f"1 of {batches(small_run)} batches, {count} vouchers, {format_usd(cents)}" in said
    assert "gave up after 3 retries" in said
    assert issued(ledger) == (count, cents)
    proxy.accept()
    again = distribute(small_run, proxy.url(ledger), env=FAST)
    assert again.returncode == 0, again.stderr
    assert_books(small_run, ledger)


def test_latency_changes_nothing(small_run, ledger, proxy):
    proxy.latency(0.003)
    result = distribute(small_run, proxy.url(ledger), env=FAST)
    assert result.returncode == 0, result.stderr
    assert "retrying:" not in result.stderr
    assert_books(small_run, ledger)


# -- defect 8: SIGTERM and Ctrl-C --------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_finishes_the_batch_in_flight_and_says_what_was_committed(
    small_run, ledger, proxy, sig, code
):
    """The signal arrives while batch 2's COMMIT is at the server (the link held): the
    command lets it finish, stops before batch 3, prints what it committed, exits 143/130."""
    proxy.arm("stall", nth=3)  # COMMITs: registration, batch 1, batch 2
    process = spawn(small_run, proxy.url(ledger))  # default limits: no deadline nears
    lines: list[str] = []
    heard = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "finishing the batch in flight" in line:
                heard.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with process:  # closes the pipes, waits
        try:
            wait_for(lambda: proxy.stats.fired, "batch 2's COMMIT at the server")
            process.send_signal(sig)
            wait_for(heard.is_set, "the command acknowledging the signal")
            proxy.pass_through()
            stdout = process.stdout.read() if process.stdout else ""
            process.wait(timeout=HANG_GUARD)
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(timeout=HANG_GUARD)
    assert process.returncode == code, "".join(lines)
    clean("".join(lines))
    count, cents = first_batches(small_run, 2)
    assert (
        f"stopped after 2 of {batches(small_run)} batches; this run issued {count} vouchers "
        f"({format_usd(cents)})" in words(stdout)
    )
    assert issued(ledger) == (count, cents)
    again = distribute(small_run, ledger)
    assert again.returncode == 0, again.stderr
    assert_books(small_run, ledger)


# -- defect 9: status in UTC -------------------------------------------------------------


def test_status_shows_the_deadlines_in_utc_whatever_the_session_time_zone(
    small_run, ledger, monkeypatch
):
    chatham = {"PGTZ": "Pacific/Chatham"}
    monkeypatch.setenv("PGTZ", chatham["PGTZ"])
    with psycopg.connect(_plain(ledger)) as conn:  # the premise: libpq sends PGTZ
        assert conn.execute("SHOW TimeZone").fetchone() == ("Pacific/Chatham",)
    monkeypatch.delenv("PGTZ")
    assert distribute(small_run, ledger).returncode == 0
    shown = cli("status", "--program", PROGRAMME, "--db", ledger, env=chatham)
    assert shown.returncode == 0, shown.stderr
    assert "due 2025-10-15T15:17:00+00:00" in shown.stdout
    assert "due 2025-10-18T15:17:00+00:00" in shown.stdout
    assert "+13:45" not in shown.stdout
    as_json = json.loads(
        cli("status", "--program", PROGRAMME, "--db", ledger, "--json", env=chatham).stdout
    )
    for promise in ("start", "complete"):
        assert as_json[promise]["deadline"].endswith("+00:00")
        assert as_json[promise]["done_at"].endswith("+00:00")


def test_status_converts_what_the_session_returns(small_run, ledger, monkeypatch):
    from recompense.distribution.status import status

    assert distribute(small_run, ledger).returncode == 0
    monkeypatch.setenv("PGTZ", "Pacific/Chatham")
    state = status(PROGRAMME, ledger)  # a fresh pool: its sessions are in +13:45
    for promise in (state.start, state.complete):
        assert promise.deadline.utcoffset() == timedelta(0)
        assert promise.done_at is not None
        assert promise.done_at.utcoffset() == timedelta(0)


# -- defect 3: a refused connection is exit 3 for every command that takes --db ------------

DB_COMMANDS: dict[str, list[str]] = {
    "distribute": ["distribute", "--run", "{run}"],
    "amend": ["amend", "--run", "{run}", "--out", "{tmp}/amended"],
    "run": ["run", "--program", str(PROGRAM), "--data", "{run}/../data", "--out", "{tmp}/new"],
    "status": ["status", "--program", PROGRAMME],
    "reconcile": ["reconcile", "--run", "{run}"],
    "redeem": ["redeem", "00000000-0000-5000-8000-000000000000", "--user-id", "1"],
    "expire": ["expire", "--program", PROGRAMME],
    "revoke": ["revoke", "00000000-0000-5000-8000-000000000000", "--reason", "test"],
    "approve": ["approve", "--run", "{run}", "--as", "ops:carol", "--yes"],
    "notify": ["notify", "--once"],
    "serve": ["serve", "--port", "{port}"],
    "token": ["token", "--role", "user", "--user-id", "1", "--link"],
    "db upgrade": ["db", "upgrade"],
    "audit verify": ["audit", "verify"],
    "audit export": ["audit", "export", "--out", "{tmp}/audit.jsonl"],
    "audit log": ["audit", "log"],
    "loans borrower": ["loans", "borrower", "7", "--tier", "vip", "--manager", "am7"],
    "loans apply": [
        "loans",
        "apply",
        "--borrower",
        "7",
        "--amount",
        "1000",
        "--term-days",
        "30",
        "--repayment",
        "bullet",
        "--statements",
        "{tmp}/statements.txt",
        "--losses",
        "1000",
    ],
    "loans submit": ["loans", "submit", "app-1", "--reason", "test"],
    "loans approve": ["loans", "approve", "app-1", "--reason", "test"],
    "loans reject": ["loans", "reject", "app-1", "--reason", "test"],
    "loans withdraw": ["loans", "withdraw", "app-1", "--reason", "test"],
    "loans undo-approval": ["loans", "undo-approval", "app-1", "--reason", "test"],
    "loans disburse": ["loans", "disburse", "app-1", "--reason", "test"],
    "loans repay": ["loans", "repay", "app-1", "--amount", "1", "--reference", "r1"],
    "loans accrue": ["loans", "accrue"],
    "loans write-off": ["loans", "write-off", "app-1", "--reason", "test"],
    "loans show": ["loans", "show", "app-1", "--reason", "test"],
    "loans list": ["loans", "list"],
    "loans fund": ["loans", "fund"],
    "loans access-log": ["loans", "access-log"],
    "loans rotate-keys": ["loans", "rotate-keys"],
    "loans grant-app-role": ["loans", "grant-app-role", "--role", "desk"],
    "cases list": ["cases", "list", "--as", "ops:alice"],
    "cases show": ["cases", "show", "case-1", "--as", "ops:alice"],
    "cases assign": ["cases", "assign", "case-1", "--to", "ops:bob", "--as", "ops:alice"],
    "cases note": ["cases", "note", "case-1", "--text", "n", "--as", "ops:alice"],
    "cases request-info": ["cases", "request-info", "case-1", "--message", "m", "--as", "ops:a"],
    "cases accept": ["cases", "accept", "case-1", "--claim", "1", "--reason", "r", "--as", "ops:a"],
    "cases approve": ["cases", "approve", "case-1", "--reason", "r", "--as", "ops:bob"],
    "cases return": ["cases", "return", "case-1", "--reason", "r", "--as", "ops:bob"],
    "cases reject": [
        "cases",
        "reject",
        "case-1",
        "--code",
        "DUPLICATE_CASE",
        "--text",
        "t",
        "--as",
        "ops:alice",
    ],
}
LOAN_ACTOR = "credit_committee:cc1"


def test_the_refused_connection_table_names_every_command_that_takes_db():
    from recompense.cli.main import app

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:
            for name, sub in subcommands.items():
                yield from walk(sub, (*path, name))
        elif any("--db" in getattr(p, "opts", ()) for p in command.params):
            yield path

    found = {" ".join(p) for p in walk(typer.main.get_command(app), ())}
    assert found == set(DB_COMMANDS)


@pytest.mark.parametrize("command", sorted(DB_COMMANDS))
def test_a_refused_connection_exits_3_without_a_traceback(command, small_run, tmp_path):
    (tmp_path / "statements.txt").write_text("revenue 1\n")
    args = [
        a.format(run=small_run, tmp=tmp_path, port=_closed_port()) for a in DB_COMMANDS[command]
    ]
    if command.startswith("loans") and command != "loans grant-app-role":
        args += ["--as", LOAN_ACTOR]
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    env = {
        "RECOMPENSE_DB_RETRIES": "0",
        "RECOMPENSE_LOANS_KEYS": "k1:" + "A" * 43 + "=",
        "RECOMPENSE_LOANS_ACTIVE_KEY": "k1",
        "RECOMPENSE_JWT_SECRET": "s" * 48,
    }
    result = cli(*args, "--db", url, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 3, result.stderr
    assert "Connection refused" in words(result.stderr)


# -- settings ----------------------------------------------------------------------------


def test_malformed_limits_exit_2_naming_the_variable(small_run, ledger):
    result = distribute(small_run, ledger, env={"RECOMPENSE_DB_LOCK_TIMEOUT": "soon"})
    assert result.returncode == 2, result.stderr
    clean(result.stderr)
    assert "RECOMPENSE_DB_LOCK_TIMEOUT='soon': not a number of seconds" in words(result.stderr)
    result = cli(
        "status", "--program", PROGRAMME, "--db", ledger, env={"RECOMPENSE_DB_RETRIES": "-1"}
    )
    assert result.returncode == 2
    assert "RECOMPENSE_DB_RETRIES=-1" in result.stderr


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(
        ["CONNECT_TIMEOUT", "STATEMENT_TIMEOUT", "KEEPALIVES_COUNT", "RETRIES", "RETRY_DELAY"]
    ),
    raw=st.one_of(st.text(max_size=12), st.floats(allow_nan=True).map(str), st.integers().map(str)),
)
def test_any_value_of_a_limit_is_taken_or_refused_by_name(name, raw):
    variable = f"RECOMPENSE_DB_{name}"
    try:
        limits = DatabaseSettings.from_env({variable: raw})
    except LedgerError as exc:
        assert str(exc).startswith(f"{variable}=")
        return
    value = getattr(limits, name.lower())
    assert float(value) == float(raw.strip())


def test_the_server_session_gets_the_limits_and_the_url_can_override_them(ledger):
    limits = DatabaseSettings(statement_timeout=7, lock_timeout=3, idle_in_transaction_timeout=11)
    shows = (
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "tcp_keepalives_idle",
        "tcp_keepalives_interval",
        "tcp_keepalives_count",
        "tcp_user_timeout",
    )
    engine = open_engine(ledger, limits)
    try:
        with engine.connect() as conn:
            got = [conn.execute(text(f"SHOW {name}")).scalar_one() for name in shows]
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    finally:
        engine.dispose()
    assert got == ["7s", "3s", "11s", "10", "5", "3", "30000"]  # tcp_user_timeout: ms
    assert schema == _schema(ledger)  # the URL's own options still apply
    overriding = ledger + "%20-clock_timeout%3D4s"  # appended to the URL's options=
    engine = open_engine(overriding, limits)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "4s"
    finally:
        engine.dispose()


def test_sqlite_waits_for_another_writer_as_long_as_configured(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'l.db'}", DatabaseSettings(sqlite_busy_timeout=7))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 7000
    finally:
        engine.dispose()


# -- what a failure means ----------------------------------------------------------------


def test_a_dropped_link_is_transient_and_a_refused_login_is_not(postgres_ledger_url):
    refused = _driver_error(f"postgresql://postgres@127.0.0.1:{_closed_port()}/test")
    wrapped = DBAPIError("COPY vouchers FROM STDIN", None, refused)  # as ledger.bulk does
    failure = classify(wrapped)
    assert isinstance(failure, DatabaseUnavailable)
    assert failure.transient
    assert classify(refused) is not None
    assert classify(refused).transient  # unwrapped too
    server = make_url(postgres_ledger_url)
    login = _driver_error(f"postgresql://postgres@{server.host}:{server.port}/no_such_db_x")
    failure = classify(DBAPIError("SELECT 1", None, login))
    assert isinstance(failure, DatabaseUnavailable)
    assert not failure.transient
    assert "[parameters:" not in str(failure)


@settings(max_examples=200, deadline=None)
@given(
    attempt=st.integers(1, 40),
    delay=st.floats(0.001, 60),
    cap=st.floats(0.001, 600),
    seed=st.integers(0, 2**32),
)
def test_backoff_doubles_with_jitter_and_stays_under_the_cap(attempt, delay, cap, seed):
    import random

    limits = DatabaseSettings(retry_delay=delay, retry_delay_max=cap)
    ceiling = min(cap, delay * 2 ** (attempt - 1))
    pause = backoff(attempt, limits, random.Random(seed))
    assert ceiling / 2 <= pause <= ceiling


# -- the proxy's reading of the protocol --------------------------------------------------


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + (len(body) + 4).to_bytes(4, "big") + body


@settings(max_examples=300, deadline=None)
@given(
    statements=st.lists(
        st.tuples(
            st.sampled_from(["simple", "extended", "prepared", "copy"]),
            st.sampled_from(["COMMIT", "SELECT 1 FOR UPDATE", "BEGIN", "ROLLBACK"]),
            st.binary(max_size=40),
        ),
        max_size=12,
    ),
    cuts=st.lists(st.integers(0, 2000), max_size=20),
)
def test_the_proxy_finds_each_statement_whatever_the_chunks(statements, cuts):
    """Feed a client's byte stream in arbitrary chunks: the pieces put back together are
    the stream, and each statement is named once, right after it fully arrived."""
    stream = bytearray((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))  # SSLRequest
    startup = (196608).to_bytes(4, "big") + b"user\0postgres\0\0"
    stream += (len(startup) + 4).to_bytes(4, "big") + startup
    expected = []
    for index, (how, sql, noise) in enumerate(statements):
        if how == "simple":
            stream += _message(b"Q", sql.encode() + b"\0")
        elif how == "copy":  # data that happens to contain SQL is not a statement
            stream += _message(b"d", noise + b"COMMIT" + noise)
            continue
        else:
            name = f"s{index}".encode() if how == "prepared" else b""
            stream += _message(b"P", name + b"\0" + sql.encode() + b"\0\0\0")
            stream += _message(b"B", b"\0" + name + b"\0" + noise[:0] + b"\0\0\0\0\0\0")
            stream += _message(b"E", b"\0\0\0\0\0")
            if how == "prepared":  # bound again by name, not parsed again
                stream += _message(b"S", b"")
                expected.append(sql)
                stream += _message(b"B", b"\0" + name + b"\0\0\0\0\0\0\0")
                stream += _message(b"E", b"\0\0\0\0\0")
            stream += _message(b"S", b"")
        expected.append(sql)
    data = bytes(stream)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    parser = _FrontendParser()
    pieces = [
        piece
        for start, end in itertools.pairwise(bounds)
        for piece in parser.split(data[start:end])
    ]
    assert b"".join(part for part, _ in pieces) == data
    assert [sql for _, sql in pieces if sql is not None] == expected


# -- helpers -------------------------------------------------------------------------------


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: the kernel refuses it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _schema(url: str) -> str:
    found = re.search(r"search_path%3D(\w+)", url)
    assert found is not None
    return found.group(1)


def _driver_error(url: str) -> psycopg.OperationalError:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return exc
    raise AssertionError(f"{url} accepted a connection")


def test_a_second_ctrl_c_stops_at_once_and_the_books_stay_exact(small_run, ledger, proxy):
    """Ctrl-C twice while batch 2's COMMIT is held: the command gives up on it at once,
    exits 130 with one message, and the re-run finds the books exact (that COMMIT reached
    the server: it is counted as already issued)."""
    proxy.arm("stall", nth=3)
    process = spawn(small_run, proxy.url(ledger))
    with process:
        try:
            wait_for(lambda: proxy.stats.fired, "batch 2's COMMIT at the server")
            process.send_signal(signal.SIGINT)
            assert process.stderr is not None
            first = process.stderr.readline()
            assert "finishing the batch in flight" in first
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=HANG_GUARD)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, stderr
    clean(stderr)
    assert "interrupted" in stderr
    proxy.pass_through()
    again = distribute(small_run, ledger)
    assert again.returncode == 0, again.stderr
    assert_books(small_run, ledger)
