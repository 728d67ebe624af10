"""A full-payment programme's second batch, on SQLite and PostgreSQL: only differences paid.

Batch 1 is the de-peg programme on the first data (tests/runs/test_full_run.py's exchange:
users 1, 2 and 5 paid $2,108.90, $285.83 and $200.69). Batch 2 runs the rule again on
newer data in which

- user 2 has a second event found later: +0.5 BNSOL at $95 → +$50.14 (95.275 × 0.5 =
  50.1375, half up), entitled $335.97;
- user 6 appears: 100 USDe sold at $0.70 → $30.00, a first-time payee;
- user 1's USDe event is gone (a duplicate, say): entitled $1,758.90, below the $2,108.90
  already issued — a decrease, recorded, never clawed back;
- user 4 (liquidated outside the window) has an accepted claim of $40.00.

So batch 2 pays $50.14 + $30.00 + $40.00 = $120.14, exactly once, and the ledger's vouchers
per user add up to the cumulative amounts of batch 2's allocations.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from amend_support import accept
from sqlalchemy import func, select

from builders import DEPEG_PAID as PAID
from builders import DEPEG_PROGRAM, approve_twice, depeg_world
from recompense.amend import AmendmentError, ReserveExceededError, amend_run
from recompense.distribution.distribute import distribute
from recompense.distribution.reconcile import reconcile
from recompense.ledger.db import connect
from recompense.ledger.paid import paid_by
from recompense.ledger.schema import vouchers
from recompense.runs import execute_run, read_allocations, read_amounts, read_manifest

BASE = "depeg-2025-10"


def newer_world():
    world = depeg_world()
    world.collateral_liquidations = [
        e
        for e in world.collateral_liquidations
        if not (e["asset"] == "USDE" and e["account_id"] == 10)
    ]
    world.collateral(20, "BNSOL", "0.5", "95", at="2025-10-10T21:41", product="loan")
    world.collateral(world.user(6), "USDE", "100", "0.70", at="2025-10-10T21:55")
    return world


@pytest.fixture
def batch_one(tmp_path, ledger_url) -> Path:
    out = tmp_path / "batch1"
    execute_run(DEPEG_PROGRAM, depeg_world().write(tmp_path / "data1"), out)
    approve_twice(out, ledger_url)
    distribute(out, ledger_url)
    return out


def issued_by_user(url: str) -> dict[int, int]:
    with connect(url).connect() as conn:
        rows = conn.execute(
            select(vouchers.c.user_id, func.sum(vouchers.c.amount_cents)).group_by(
                vouchers.c.user_id
            )
        ).all()
    return {int(u): int(c) for u, c in rows}


def test_the_second_batch_pays_only_what_the_first_did_not(batch_one, ledger_url, tmp_path):
    accept(ledger_url, BASE, 4, claim_cents=4_000)
    data2 = newer_world().write(tmp_path / "data2")
    out = tmp_path / "batch2"
    result = amend_run(batch_one, ledger_url, out, data=data2)
    amounts = {r["user_id"]: r for r in read_amounts(out).to_pylist()}
    assert {u: r["topup_cents"] for u, r in amounts.items()} == {
        1: 0,
        2: 5_014,
        4: 4_000,
        6: 3_000,
    }
    assert {u: r["change"] for u, r in amounts.items()} == {
        1: "decrease",
        2: "increase",
        4: "claim",
        6: "new",
    }
    assert amounts[1]["entitled_cents"] == 175_890
    assert amounts[1]["cumulative_cents"] == PAID[1]  # never clawed back
    manifest = result.manifest
    assert manifest is not None
    assert manifest["amendment"]["ledger_program_id"] == f"{BASE}~a1"
    assert manifest["amendment"]["topup_cents"] == 12_014
    assert manifest["counts"]["events"] == 7
    assert "events.parquet" in manifest["artifacts"]
    cumulative = {r["user_id"]: r["amount_cents"] for r in read_allocations(out).to_pylist()}
    assert cumulative == {1: 210_890, 2: 33_597, 4: 4_000, 5: 20_069, 6: 3_000}

    approve_twice(out, ledger_url)
    first = distribute(out, ledger_url)
    again = distribute(out, ledger_url)
    assert (first.issued_now, first.amount_issued_now_cents) == (3, 12_014)
    assert again.issued_now == 0
    assert issued_by_user(ledger_url) == cumulative
    checks = reconcile(out, ledger_url)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert any(c.name == "chain = cumulative amounts" for c in checks)
    # The exclusion the Together Initiative reads: everyone either batch paid, once.
    paid = paid_by(ledger_url, [BASE]).table.to_pylist()
    assert [(r["program_id"], r["user_id"]) for r in paid] == [
        (BASE, u) for u in sorted(cumulative)
    ]


def test_a_batch_above_what_is_left_of_the_budget_is_refused(tmp_path, ledger_url):
    total = sum(PAID.values())  # batch 1 pays $2,595.42; leave $100.00 for later batches
    text = DEPEG_PROGRAM.read_text().replace(
        'budget_usd = "300000000.00"', f'budget_usd = "{(total + 10_000) / 100:.2f}"'
    )
    policy = tmp_path / "depeg.toml"
    policy.write_text(text)
    out = tmp_path / "batch1"
    execute_run(policy, depeg_world().write(tmp_path / "data1"), out)
    approve_twice(out, ledger_url)
    distribute(out, ledger_url)
    world = newer_world()
    world.collateral(world.user(7), "WBETH", "1", "3700", at="2025-10-10T21:45")  # +$112.50
    with pytest.raises(ReserveExceededError, match=r"\$192\.64 of top-ups.*only \$100\.00"):
        amend_run(out, ledger_url, tmp_path / "batch2", data=world.write(tmp_path / "data2"))
    assert not (tmp_path / "batch2").exists()


def test_a_batch_needs_data_and_only_a_full_programme_reads_it(
    batch_one, small_run, ledger_url, tmp_path
):
    with pytest.raises(AmendmentError, match="--data"):
        amend_run(batch_one, ledger_url, tmp_path / "b2")
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=500)
    with pytest.raises(AmendmentError, match="only a full-payment programme"):
        amend_run(small_run, ledger_url, tmp_path / "a1", data=tmp_path)
    accept(ledger_url, BASE, 1, loss_cents=999_999)
    with pytest.raises(AmendmentError, match="correction decision"):
        amend_run(batch_one, ledger_url, tmp_path / "b2", data=newer_world().write(tmp_path / "d2"))


def test_a_batch_is_recorded_with_its_own_data(batch_one, ledger_url, tmp_path):
    data2 = newer_world().write(tmp_path / "data2")
    out = tmp_path / "batch2"
    amend_run(batch_one, ledger_url, out, data=data2)
    manifest = read_manifest(out)
    assert manifest["amendment"]["data"] == str(data2.resolve())
    hashed = {entry["path"] for entries in manifest["inputs"].values() for entry in entries}
    assert "collateral_liquidations.parquet" in hashed
    events = pq.read_table(out / "events.parquet")
    assert sorted(set(events["user_id"].to_pylist())) == [1, 2, 3, 5, 6]
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["amendment"]["base_fingerprint"])


def test_the_same_data_again_is_no_batch(batch_one, ledger_url, tmp_path):
    data = depeg_world().write(tmp_path / "same")
    result = amend_run(batch_one, ledger_url, tmp_path / "b2", data=data)
    assert result.out is None
    assert not (tmp_path / "b2").exists()


def test_without_a_budget_later_batches_come_from_the_reserve(tmp_path, ledger_url):
    text = DEPEG_PROGRAM.read_text().replace('budget_usd = "300000000.00"', "")
    policy = tmp_path / "depeg.toml"
    policy.write_text(text)  # no budget, and no [amendments] reserve: nothing for batch 2
    out = tmp_path / "batch1"
    execute_run(policy, depeg_world().write(tmp_path / "data1"), out)
    approve_twice(out, ledger_url)
    distribute(out, ledger_url)
    with pytest.raises(ReserveExceededError, match=r"raise amendments\.reserve_usd"):
        amend_run(out, ledger_url, tmp_path / "b2", data=newer_world().write(tmp_path / "d2"))
