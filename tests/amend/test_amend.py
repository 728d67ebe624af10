"""Amendment runs end to end on SQLite and PostgreSQL: accepted decisions in, differences out.

A base run is distributed; accepted case decisions (:mod:`amend_support`) are amended
into a new run folder, approved by two officers, distributed, and reconciled. Expected
amounts come from an independent computation (the formula by hand, the base run's λ).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from amend_support import accept, cents, eligibility_rows, together_weight
from sqlalchemy import func, select

from builders import approve_twice
from recompense.amend import AmendmentError, amend_run
from recompense.cases.schema import case_decisions
from recompense.distribution.distribute import distribute
from recompense.distribution.reconcile import reconcile
from recompense.distribution.status import status
from recompense.ledger.db import connect
from recompense.ledger.errors import RunMismatchError
from recompense.ledger.schema import notifications, vouchers
from recompense.runs import read_allocations, read_amounts, read_manifest

BASE = "together-2025-10"
A1 = "together-2025-10~a1"


@pytest.fixture
def distributed(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=200)
    return small_run


def assert_books(run, url):
    failed = [c for c in reconcile(run, url) if not c.passed]
    assert not failed, failed


def issued(url, program_id):
    with connect(url).connect() as conn:
        rows = conn.execute(
            select(vouchers.c.user_id, vouchers.c.amount_cents).where(
                vouchers.c.program_id == program_id
            )
        ).fetchall()
    return {int(u): int(a) for u, a in rows}


def ratio_only_rejected(run):
    """A user the base run refused only for the loss ratio, with a clear margin on loss."""
    for user, row in sorted(eligibility_rows(run).items()):
        if row["reasons"] == ["RATIO_BELOW_MINIMUM"] and cents(row["loss_usd"]) > 20_000:
            return user, row
    raise AssertionError("the synthetic run has no user refused only for the ratio")


def paid_users(run, n, *, skip=0):
    allocations = read_allocations(run).to_pylist()
    shares = [a for a in allocations if a["bound"] == "share"]
    return shares[skip : skip + n]


def expected_payout(run, loss, net, incident):
    """clamp(round-half-up(λ·w), floor, cap), with w by hand and the base run's λ."""
    manifest = read_manifest(run)
    params = manifest["policy"]["parameters"]
    lam = manifest["lambda_cents_per_weight"]
    weight = together_weight(loss, net, min(incident, loss))
    cap = min(params["max_payout_cents"], loss)
    floor = min(params["min_payout_cents"], cap)
    return min(max(math.floor(lam * float(weight) + 0.5), floor), cap)


def amend_and_pay(run, url, out):
    result = amend_run(run, url, out, run_by="ops:amender")
    assert result.out == out
    approve_twice(out, url)
    distribute(out, url, batch_size=50)
    return result


def test_an_accepted_appeal_makes_a_user_eligible_and_pays_the_recomputed_amount(
    distributed, ledger_url, tmp_path
):
    user, row = ratio_only_rejected(distributed)
    loss, incident = cents(row["loss_usd"]), cents(row["incident_loss_usd"])
    accept(ledger_url, BASE, user, net_assets_cents=loss)  # net assets were overstated
    out = tmp_path / "a1"
    amend_and_pay(distributed, ledger_url, out)
    want = expected_payout(distributed, loss, loss, incident)
    assert want > 0
    assert issued(ledger_url, A1) == {user: want}
    amounts = {r["user_id"]: r for r in read_amounts(out).to_pylist()}
    assert amounts[user]["change"] == "new"
    assert amounts[user]["cumulative_cents"] == want
    assert eligibility_rows(out)[user]["eligible"] is True
    cumulative = dict(
        zip(
            *(read_allocations(out)[c].to_pylist() for c in ("user_id", "amount_cents")),
            strict=True,
        )
    )
    assert cumulative[user] == want
    assert_books(out, ledger_url)
    assert_books(distributed, ledger_url)


def test_a_decrease_pays_nothing_and_takes_nothing_back(distributed, ledger_url, tmp_path):
    (row,) = paid_users(distributed, 1)
    before = issued(ledger_url, BASE)[row["user_id"]]
    accept(ledger_url, BASE, row["user_id"], loss_cents=5_000)  # the loss was overstated
    out = tmp_path / "a1"
    result = amend_and_pay(distributed, ledger_url, out)
    amount = read_amounts(out).to_pylist()[0]
    assert amount["change"] == "decrease"
    assert amount["entitled_cents"] < before
    assert amount["topup_cents"] == 0
    assert amount["cumulative_cents"] == before
    assert result.manifest["amendment"]["topups"] == 0
    assert issued(ledger_url, A1) == {}
    assert issued(ledger_url, BASE)[row["user_id"]] == before
    assert_books(out, ledger_url)


def test_a_correction_that_changes_nothing_pays_nothing(distributed, ledger_url, tmp_path):
    (row,) = paid_users(distributed, 1, skip=3)
    loss = cents(eligibility_rows(distributed)[row["user_id"]]["loss_usd"])
    accept(ledger_url, BASE, row["user_id"], loss_cents=loss)  # checked: the loss stands
    out = tmp_path / "a1"
    amend_and_pay(distributed, ledger_url, out)
    (amount,) = read_amounts(out).to_pylist()
    assert amount["change"] == "unchanged"
    assert amount["entitled_cents"] == row["amount_cents"]  # the base run's own cents
    assert amount["topup_cents"] == 0
    assert issued(ledger_url, A1) == {}


def test_increases_and_claims_pay_exactly_the_difference(distributed, ledger_url, tmp_path):
    up, claimant = paid_users(distributed, 2)
    rows = eligibility_rows(distributed)
    loss = cents(rows[up["user_id"]]["loss_usd"])
    net = cents(rows[up["user_id"]]["net_assets_usd"])
    incident = cents(rows[up["user_id"]]["incident_loss_usd"])
    accept(ledger_url, BASE, up["user_id"], loss_cents=loss * 3)
    accept(ledger_url, BASE, claimant["user_id"], claim_cents=12_345)
    out = tmp_path / "a1"
    amend_and_pay(distributed, ledger_url, out)
    want_up = expected_payout(distributed, loss * 3, net, incident)
    assert issued(ledger_url, A1) == {
        up["user_id"]: want_up - up["amount_cents"],
        claimant["user_id"]: 12_345,
    }
    manifest = read_manifest(out)
    assert manifest["amendment"]["topup_cents"] == want_up - up["amount_cents"] + 12_345
    assert manifest["allocated_cents"] == (
        read_manifest(distributed)["allocated_cents"] + manifest["amendment"]["topup_cents"]
    )
    with connect(ledger_url).connect() as conn:
        pushes = conn.execute(
            select(func.count()).where(
                notifications.c.program_id == A1, notifications.c.channel == "push"
            )
        ).scalar_one()
    assert pushes == 2
    assert_books(out, ledger_url)
    state = status(BASE, ledger_url)
    assert [a.program_id for a in state.amendments] == [A1]
    assert state.programme_issued_cents == manifest["allocated_cents"]
    assert state.reserve_left_cents == state.reserve_cents - manifest["amendment"]["topup_cents"]


def test_a_second_amendment_applies_only_new_decisions_and_a_rerun_is_a_no_op(
    distributed, ledger_url, tmp_path
):
    first, second = paid_users(distributed, 2)
    accept(ledger_url, BASE, first["user_id"], claim_cents=1_000)
    amend_and_pay(distributed, ledger_url, tmp_path / "a1")
    assert amend_run(tmp_path / "a1", ledger_url, tmp_path / "again").out is None  # none waits
    assert not (tmp_path / "again").exists()
    distribute(tmp_path / "a1", ledger_url, batch_size=50)  # again: changes nothing
    assert issued(ledger_url, A1) == {first["user_id"]: 1_000}
    accept(ledger_url, BASE, second["user_id"], claim_cents=2_000)
    with pytest.raises(AmendmentError, match="not the latest distributed run"):
        amend_run(distributed, ledger_url, tmp_path / "from-base")
    amend_and_pay(tmp_path / "a1", ledger_url, tmp_path / "a2")
    assert issued(ledger_url, "together-2025-10~a2") == {second["user_id"]: 2_000}
    amounts = {r["user_id"]: r for r in read_amounts(tmp_path / "a2").to_pylist()}
    assert amounts[first["user_id"]]["change"] == "carried"
    assert amounts[first["user_id"]]["topup_cents"] == 0
    assert amounts[first["user_id"]]["claims_cents"] == 1_000
    assert_books(tmp_path / "a2", ledger_url)
    assert_books(tmp_path / "a1", ledger_url)
    with connect(ledger_url).connect() as conn:
        query = select(case_decisions.c.user_id, case_decisions.c.applied_in)
        applied = {int(u): a for u, a in conn.execute(query)}
    assert applied == {first["user_id"]: A1, second["user_id"]: "together-2025-10~a2"}


def test_two_amendments_of_the_same_run_cannot_both_be_paid(distributed, ledger_url, tmp_path):
    first, second = paid_users(distributed, 2)
    accept(ledger_url, BASE, first["user_id"], claim_cents=1_000)
    amend_run(distributed, ledger_url, tmp_path / "one")
    accept(ledger_url, BASE, second["user_id"], claim_cents=2_000)
    amend_run(distributed, ledger_url, tmp_path / "two")  # both decisions, same head
    for run in (tmp_path / "one", tmp_path / "two"):
        approve_twice(run, ledger_url)
    distribute(tmp_path / "two", ledger_url)
    with pytest.raises(RunMismatchError, match="latest distributed run"):
        distribute(tmp_path / "one", ledger_url)
    assert issued(ledger_url, A1) == {first["user_id"]: 1_000, second["user_id"]: 2_000}
    assert_books(tmp_path / "two", ledger_url)


def test_an_amendment_is_refused_until_two_officers_approve_it(distributed, ledger_url, tmp_path):
    from recompense.ledger.errors import UnapprovedRunError

    (row,) = paid_users(distributed, 1)
    accept(ledger_url, BASE, row["user_id"], claim_cents=500)
    out = tmp_path / "a1"
    amend_run(distributed, ledger_url, out, run_by="ops:amender")
    with pytest.raises(UnapprovedRunError):
        distribute(out, ledger_url)
    assert issued(ledger_url, A1) == {}


def cli(*args, env=None, check=False):
    result = subprocess.run(
        [sys.executable, "-m", "recompense.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.parametrize("point", ["mid-batch", "after-commit", "between-batches"])
def test_kill_minus_nine_during_top_ups_then_resume(distributed, ledger_url, tmp_path, point):
    for row in paid_users(distributed, 120):
        accept(ledger_url, BASE, row["user_id"], claim_cents=100 + row["user_id"] % 997)
    out = tmp_path / "a1"
    amend_run(distributed, ledger_url, out, run_by="ops:amender")
    approve_twice(out, ledger_url)
    base = ["distribute", "--run", str(out), "--db", ledger_url, "--batch-size", "25"]
    killed = cli(*base, env={"RECOMPENSE_KILL_AT": f"{point}@2"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    cli(*base, check=True)
    want = {r["user_id"]: r["topup_cents"] for r in read_amounts(out).to_pylist()}
    assert issued(ledger_url, A1) == want
    assert_books(out, ledger_url)


def test_the_cli_says_what_it_built(distributed, ledger_url, tmp_path):
    (row,) = paid_users(distributed, 1)
    accept(ledger_url, BASE, row["user_id"], claim_cents=4_200)
    out = tmp_path / "a1"
    done = cli("amend", "--run", str(distributed), "--db", ledger_url, "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    import json

    summary = json.loads(done.stdout)
    assert summary["amended"] is True
    assert summary["topup_cents"] == 4_200
    nothing = cli("amend", "--run", str(out), "--db", ledger_url, "--out", str(tmp_path / "x"))
    assert nothing.returncode == 2  # a1 is not distributed: not the chain's head
    assert "not the latest distributed run" in nothing.stderr
    assert pq.read_table(out / "corrections.parquet").num_rows == 1
