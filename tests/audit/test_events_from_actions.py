"""Each operations action writes its audit event, in its own transaction, naming who."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from builders import APPROVERS, approve_twice
from recompense.audit import cli_actor, events, verify
from recompense.cli.main import app
from recompense.distribution.distribute import distribute, voucher_id
from recompense.ledger.db import connect
from recompense.ledger.errors import UnapprovedRunError, VoucherError
from recompense.ledger.schema import audit_events
from recompense.ledger.vouchers import expire_due, redeem, revoke
from recompense.runs import read_allocations, run_fingerprint

PROGRAM = "together-2025-10"


def chain(url, action=None):
    return [e for e in events(connect(url)) if action is None or e.action == action]


def count(url):
    with connect(url).connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_events)).scalar_one()


@pytest.fixture
def distributed(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=200, actor="ops:dora")
    return small_run, ledger_url


def test_approvals_and_the_distribution_are_events(distributed):
    run, url = distributed
    fingerprint = run_fingerprint(run)
    approvals = chain(url, "run.approve")
    assert [(e.actor, e.subject) for e in approvals] == [
        (a, f"run:{fingerprint}") for a in APPROVERS
    ]
    assert [e.details["approvals"] for e in approvals] == [1, 2]
    (started,) = chain(url, "run.distribute")
    assert (started.actor, started.subject) == ("ops:dora", f"run:{fingerprint}")
    assert started.details["approvers"] == list(APPROVERS)
    assert started.details["amount_total_cents"] == 15_000_000
    (done,) = chain(url, "distribution.complete")
    assert (done.actor, done.subject) == ("ops:dora", f"program:{PROGRAM}")
    assert done.details["vouchers"] == done.details["issued_by_this_call"] > 0
    assert verify(connect(url)).ok


def test_a_repeated_distribution_is_an_event_but_completes_once(distributed):
    run, url = distributed
    distribute(run, url, batch_size=200)  # the default actor: who runs the process
    assert [e.actor for e in chain(url, "run.distribute")] == ["ops:dora", cli_actor(None)]
    assert len(chain(url, "distribution.complete")) == 1


def test_a_refused_distribution_writes_no_event(small_run, ledger_url):
    before = count(ledger_url)
    with pytest.raises(UnapprovedRunError, match="approvals"):
        distribute(small_run, ledger_url, actor="ops:dora")
    assert count(ledger_url) == before


def test_revocations_expiries_and_staff_redemptions_are_events(distributed):
    run, url = distributed
    engine = connect(url)
    users = read_allocations(run)["user_id"].to_pylist()
    revoked = voucher_id(PROGRAM, users[0])
    revoke(engine, revoked, reason="duplicate account", actor="ops:rita")
    redeem(engine, voucher_id(PROGRAM, users[1]), users[1], actor="ops:sam")
    redeem(engine, voucher_id(PROGRAM, users[2]), users[2])  # the owner's own: no event
    with pytest.raises(VoucherError):
        revoke(engine, revoked, reason="again", actor="ops:rita")  # refused: no event
    later = datetime.now(UTC) + timedelta(days=400)
    result = expire_due(engine, PROGRAM, now=later, batch=100, actor="ops:exp")
    (revocation,) = chain(url, "voucher.revoke")
    assert (revocation.actor, revocation.subject) == ("ops:rita", f"voucher:{revoked}")
    assert revocation.details["reason"] == "duplicate account"
    assert revocation.details["user_id"] == users[0]
    (redemption,) = chain(url, "voucher.redeem")
    assert (redemption.actor, redemption.details["user_id"]) == ("ops:sam", users[1])
    expiries = chain(url, "voucher.expire")
    assert len(expiries) == -(-result.expired // 100) >= 2  # one event per batch
    assert sum(e.details["vouchers"] for e in expiries) == result.expired
    assert sum(e.details["amount_cents"] for e in expiries) == result.clawed_back_cents
    assert {e.actor for e in expiries} == {"ops:exp"}
    assert verify(engine).ok


def test_cli_commands_record_who_acted(distributed, tmp_path):
    run, url = distributed
    users = read_allocations(run)["user_id"].to_pylist()
    runner = CliRunner()
    voucher = voucher_id(PROGRAM, users[5])
    result = runner.invoke(
        app, ["revoke", voucher, "--reason", "fraud", "--db", url, "--as", "ops:carl"]
    )
    assert result.exit_code == 0, result.output
    redeemed = runner.invoke(
        app,
        ["redeem", voucher_id(PROGRAM, users[6]), "--user-id", str(users[6]), "--db", url],
    )
    assert redeemed.exit_code == 0, redeemed.output
    assert chain(url, "voucher.revoke")[-1].actor == "ops:carl"
    assert chain(url, "voucher.redeem")[-1].actor == cli_actor(None)
    bad = runner.invoke(app, ["expire", "--program", PROGRAM, "--db", url, "--as", "nobody"])
    assert bad.exit_code == 2
    assert "--as: expected role:name" in bad.output
    log = runner.invoke(app, ["audit", "log", "--db", url, "--action", "voucher.revoke", "--json"])
    assert log.exit_code == 0
    assert '"ops:carl"' in log.stdout
