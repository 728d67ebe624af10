"""A full-payment programme's run folder: what it pays, what it keeps, what it refuses.

A tiny exchange under the de-peg programme (programs/depeg-2025-10.toml; reference prices
USDE $1.00 after the floor, BNSOL $195.275, WBETH $3,812.50323):

- user 1: 0.52 WBETH sold at $430 at 21:40 (→ $1,758.90: 0.52 × 3,382.50323 = 1,758.9016…)
  and 1,000 USDe on a loan sold at $0.65 (→ $350.00): $2,108.90;
- user 2: 3 BNSOL sold at $100 at 21:36:00 sharp (→ 285.825, half up: $285.83);
- user 3: 1 WBETH sold at $5,000, above the reference: listed, paid nothing;
- user 4: BNSOL sold at 22:17:00 (outside the half-open window) and a WBETH spot sale
  (a product not listed): no counted event, not listed;
- user 5: two accounts, futures and margin, lower-case "bnsol": 2 × (195.275 − 95) +
  0.5 × (195.275 − 195) = 200.55 + 0.1375 → $200.55 + $0.14 = $200.69.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from builders import DEPEG_PAID as PAID
from builders import DEPEG_PROGRAM, depeg_world
from recompense.cli.main import app
from recompense.policy.full import FullPolicy
from recompense.runs import execute_run, explain
from recompense.runs.errors import RunFolderError
from recompense.runs.policy import full_policy_of_run, policy_of_run


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("full")
    out = root / "run"
    execute_run(DEPEG_PROGRAM, depeg_world().write(root / "data"), out)
    return out


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_each_user_is_paid_the_sum_of_their_events_in_full(full_run):
    allocations = pq.read_table(full_run / "allocations.parquet").to_pylist()
    assert {r["user_id"]: r["amount_cents"] for r in allocations} == PAID
    assert {r["bound"] for r in allocations} == {"full"}
    eligibility = {
        r["user_id"]: r for r in pq.read_table(full_run / "eligibility.parquet").to_pylist()
    }
    assert sorted(eligibility) == [1, 2, 3, 5]  # user 4: no counted event
    assert eligibility[3]["eligible"] is False
    assert eligibility[3]["reasons"] == ["NO_LOSS_AT_REFERENCE"]
    assert eligibility[1]["events"] == 2
    assert eligibility[5]["events"] == 2
    manifest = json.loads((full_run / "manifest.json").read_text())
    assert manifest["program"]["kind"] == "full"
    assert manifest["allocated_cents"] == sum(PAID.values())
    assert manifest["budget_cents"] == 30_000_000_000
    assert manifest["unallocated_cents"] == 30_000_000_000 - sum(PAID.values())
    assert manifest["counts"]["events"] == 6
    assert manifest["counts"]["rejected_by_reason"] == {"NO_LOSS_AT_REFERENCE": 1}
    for name in ("events.parquet", "references.parquet", "report.html"):
        assert name in manifest["artifacts"]


def test_events_keep_the_prices_they_were_paid_at(full_run):
    events = pq.read_table(full_run / "events.parquet").to_pylist()
    by_id = {e["event_id"]: e for e in events}
    assert sorted(by_id) == [1, 2, 3, 4, 7, 8]  # 5 and 6: outside the window or product
    assert str(by_id[1]["reference_usd"].normalize()) == "3812.50323"
    assert by_id[1]["loss_cents"] == 175_890
    assert by_id[2]["loss_cents"] == 35_000  # USDe at its $1.00 floor
    assert by_id[3]["loss_cents"] == 28_583  # 285.825: half up
    assert by_id[4]["loss_cents"] == 0
    assert by_id[7]["asset"] == "BNSOL"  # compared, and kept, in upper case
    assert (by_id[7]["loss_cents"], by_id[8]["loss_cents"]) == (20_055, 14)
    references = {r["asset"]: r for r in pq.read_table(full_run / "references.parquet").to_pylist()}
    assert str(references["USDE"]["reference_usd"].normalize()) == "1"
    assert str(references["USDE"]["floor_usd"].normalize()) == "1"
    assert str(references["BNSOL"]["reference_usd"].normalize()) == "195.275"


def test_explain_tells_each_event(full_run):
    story = explain(full_run, 1)
    assert story.eligible
    assert story.amount_cents == 210_890
    assert story.bound == "full"
    sentences = [c.detail for c in story.checks]
    assert sentences[0] == (
        "your WBETH collateral (usdm_futures, account 10) was sold at $430.00 at 21:40 UTC; "
        "the reference price at 00:00 UTC was $3,812.50323; 0.52 WBETH → $1,758.90"
    )
    assert "1,000 USDE → $350.00" in sentences[1]
    assert story.bound_detail == "your events sum to $2,108.90, paid in full"
    refused = explain(full_run, 3)
    assert refused.reasons == ("NO_LOSS_AT_REFERENCE",)
    assert "sold at or above it: $0.00" in refused.checks[0].detail
    nobody = explain(full_run, 4)
    assert nobody.reasons == ("NO_COUNTED_COLLATERAL_EVENT",)
    assert "reviewed one by one" in nobody.checks[0].detail
    code, text = cli("explain", "--run", str(full_run), "5", "--json")
    assert code == 0
    assert json.loads(text)["events"][1]["reference_usd"] == "195.275"


def test_a_full_run_is_refused_where_a_shared_one_is_expected(full_run):
    with pytest.raises(RunFolderError, match="full-payment"):
        policy_of_run(full_run)
    policy = full_policy_of_run(full_run)
    assert isinstance(policy, FullPolicy)
    assert policy.program.id == "depeg-2025-10"


def test_the_policy_is_rebuilt_from_the_manifest_when_its_file_changed(full_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(full_run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["policy"]["path"] = str(tmp_path / "gone.toml")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert full_policy_of_run(copy) == full_policy_of_run(full_run)


def test_a_run_above_the_budget_is_refused_not_scaled(tmp_path):
    text = DEPEG_PROGRAM.read_text().replace(
        'budget_usd = "300000000.00"', 'budget_usd = "2500.00"'
    )
    policy = tmp_path / "depeg.toml"
    policy.write_text(text)
    data = depeg_world().write(tmp_path / "data")
    code, output = cli("run", "--program", str(policy), "--data", str(data), "--out",
                       str(tmp_path / "run"))  # fmt: skip
    assert code == 2, output
    assert "$2,595.42" in output
    assert "$2,500.00" in output
    assert "nothing was written" in output
    assert not (tmp_path / "run").exists()
    code, output = cli("run", "--program", str(DEPEG_PROGRAM), "--data", str(data), "--out",
                       str(tmp_path / "run2"), "--budget-usd", "2595.42")  # fmt: skip
    assert code == 0, output  # exactly the budget: paid


def test_the_ceiling_caps_a_user(tmp_path):
    text = re.sub(r"^# ceiling_usd = .*$", 'ceiling_usd = "1000.00"', DEPEG_PROGRAM.read_text(),
                  flags=re.M)  # fmt: skip
    policy = tmp_path / "depeg.toml"
    policy.write_text(text)
    out = tmp_path / "run"
    execute_run(policy, depeg_world().write(tmp_path / "data"), out)
    rows = {r["user_id"]: r for r in pq.read_table(out / "allocations.parquet").to_pylist()}
    assert rows[1]["amount_cents"] == 100_000
    assert rows[1]["bound"] == "ceiling"
    assert rows[2]["amount_cents"] == 28_583
    assert rows[2]["bound"] == "full"
    assert "above the programme's ceiling $1,000.00" in explain(out, 1).bound_detail


def test_a_dataset_without_the_collateral_tables_is_refused(tmp_path):
    world = depeg_world()
    world.collateral_liquidations.clear()
    world.reference_prices.clear()
    data = world.write(tmp_path / "data")
    code, output = cli("run", "--program", str(DEPEG_PROGRAM), "--data", str(data), "--out",
                       str(tmp_path / "run"))  # fmt: skip
    assert code == 2
    assert "Traceback" not in output
    assert "collateral_liquidations.parquet" in output
    assert "reference_prices.parquet" in output
    code, output = cli("check", "--program", str(DEPEG_PROGRAM), "--data", str(data))
    assert code == 2
    assert "collateral_liquidations.parquet" in output
    code, output = cli("check", "--program", str(DEPEG_PROGRAM))
    assert code == 0
    assert "full payment" in output


def test_without_a_budget_a_total_beyond_any_budget_is_refused(tmp_path):
    text = DEPEG_PROGRAM.read_text().replace('budget_usd = "300000000.00"', "")
    policy = tmp_path / "depeg.toml"
    policy.write_text(text)
    world = depeg_world()
    # Two users, each just under the contract's $10^12 per event: $1.9·10^12 in all, more
    # than the largest budget a programme may have ($10^12).
    world.collateral(10, "WBETH", "250000000", "0.000001")
    world.collateral(20, "WBETH", "250000000", "0.000001")
    data = world.write(tmp_path / "data")
    code, output = cli("run", "--program", str(policy), "--data", str(data), "--out",
                       str(tmp_path / "run"))  # fmt: skip
    assert code == 2, output
    assert "beyond what any programme may pay" in output
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("spark_backend")  # Java present, or skipped/failed as CI says
def test_spark_writes_the_same_run_folder(tmp_path):
    data = depeg_world().write(tmp_path / "data")
    for engine in ("duckdb", "spark"):
        code, output = cli("run", "--program", str(DEPEG_PROGRAM), "--data", str(data),
                           "--out", str(tmp_path / engine), "--engine", engine,
                           "--spark-master", "local[2]")  # fmt: skip
        assert code == 0, output
    duck, spark = tmp_path / "duckdb", tmp_path / "spark"
    for name in ("eligibility.parquet", "allocations.parquet", "events.parquet",
                 "references.parquet", "hourly.parquet", "recipients.parquet"):  # fmt: skip
        assert (spark / name).read_bytes() == (duck / name).read_bytes(), name
