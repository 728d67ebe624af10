"""A whole run on the synthetic crash: artifacts, exact money, determinism, atomicity."""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recompense.data.synth import generate
from recompense.engine import PriceMissingError
from recompense.runs import RunFolderError, execute_run, explain
from recompense.runs.artifacts import ALLOCATIONS_SCHEMA, ELIGIBILITY_SCHEMA, sha256_file

BUDGET = Decimal("150000")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth") / "data"
    generate(30_000, 11, folder)
    return folder


@pytest.fixture(scope="module")
def run_dir(dataset, tmp_path_factory):
    from builders import PROGRAM

    out = tmp_path_factory.mktemp("runs") / "run"
    execute_run(PROGRAM, dataset, out, budget_usd=BUDGET)
    return out


def test_the_run_folder_holds_every_artifact_in_its_published_shape(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "allocations.parquet",
        "eligibility.parquet",
        "hourly.parquet",
        "manifest.json",
        "recipients.parquet",
        "report.html",
    ]
    assert pq.read_schema(run_dir / "eligibility.parquet").remove_metadata() == ELIGIBILITY_SCHEMA
    assert pq.read_schema(run_dir / "allocations.parquet").remove_metadata() == ALLOCATIONS_SCHEMA


def test_payouts_sum_to_the_budget_to_the_cent_within_bounds(run_dir):
    allocations = pq.read_table(run_dir / "allocations.parquet")
    eligibility = pq.read_table(run_dir / "eligibility.parquet")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    amounts = allocations["amount_cents"]
    assert (
        pc.sum(amounts).as_py()
        == 15_000_000
        == manifest["allocated_cents"]
        == manifest["budget_cents"]
    )
    assert manifest["unallocated_cents"] == 0
    assert pc.min(amounts).as_py() >= 400
    assert pc.max(amounts).as_py() <= 600_000
    eligible = eligibility.filter(eligibility["eligible"])
    assert eligible["user_id"].to_pylist() == allocations["user_id"].to_pylist()
    loss_cents = [int(v * 100) for v in eligible["loss_usd"].to_pylist()]
    assert all(a <= loss for a, loss in zip(amounts.to_pylist(), loss_cents, strict=True))


def test_reasons_match_the_verdicts(run_dir):
    rows = pq.read_table(run_dir / "eligibility.parquet").to_pylist()
    for row in rows:
        assert row["eligible"] == (row["reasons"] == [])
        loss = int(row["loss_usd"] * 100)
        net = int(row["net_assets_usd"] * 100)
        assert ("LOSS_BELOW_MINIMUM" in row["reasons"]) == (loss < 5000)
        assert ("RATIO_BELOW_MINIMUM" in row["reasons"]) == (net > 0 and loss * 10 < net * 3)
        assert (row["loss_ratio"] is None) == (net <= 0)


def test_the_manifest_hashes_inputs_policy_and_artifacts(run_dir, dataset):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    users = manifest["inputs"]["users"][0]
    assert users["sha256"] == sha256_file(dataset / "users.parquet")
    assert manifest["artifacts"]["allocations.parquet"] == sha256_file(
        run_dir / "allocations.parquet"
    )
    assert manifest["artifacts"]["report.html"] == sha256_file(run_dir / "report.html")
    assert manifest["policy"]["budget_usd"] == "150000"
    assert manifest["lambda_cents_per_weight"] > 0
    assert [s["users"] for s in manifest["funnel"]] == sorted(
        (s["users"] for s in manifest["funnel"]), reverse=True
    )
    assert set(manifest["timings_s"]) >= {
        "validate",
        "losses",
        "features",
        "allocate",
        "write",
        "total",
    }


def test_the_same_inputs_give_byte_identical_results(run_dir, dataset, tmp_path):
    from builders import PROGRAM

    again = tmp_path / "again"
    execute_run(PROGRAM, dataset, again, budget_usd=BUDGET)
    for name in ("allocations.parquet", "eligibility.parquet", "hourly.parquet"):
        assert (again / name).read_bytes() == (run_dir / name).read_bytes(), name


def test_an_existing_run_folder_is_never_overwritten(run_dir, dataset):
    from builders import PROGRAM

    before = sha256_file(run_dir / "manifest.json")
    with pytest.raises(RunFolderError, match="already exists"):
        execute_run(PROGRAM, dataset, run_dir)
    assert sha256_file(run_dir / "manifest.json") == before


def test_a_failed_run_leaves_nothing_behind(dataset, tmp_path):
    import shutil

    import pyarrow as pa

    from builders import PROGRAM

    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    prices = pq.read_table(broken / "prices.parquet")
    pq.write_table(
        prices.filter(pc.not_equal(prices["asset"], pa.scalar("BTC"))), broken / "prices.parquet"
    )
    (tmp_path / "runs").mkdir()
    out = tmp_path / "runs" / "r"
    with pytest.raises(PriceMissingError, match="BTC"):
        execute_run(PROGRAM, broken, out)
    assert not out.exists()
    assert list((tmp_path / "runs").iterdir()) == []


def test_explain_an_eligible_user(run_dir):
    allocations = pq.read_table(run_dir / "allocations.parquet").to_pylist()
    row = max(allocations, key=lambda r: r["amount_cents"])
    story = explain(run_dir, row["user_id"])
    assert story.eligible
    assert story.reasons == ()
    assert story.amount_cents == row["amount_cents"]
    assert story.bound == row["bound"] == "cap"
    assert all(check.passed for check in story.checks)
    assert "loss $" in story.checks[0].detail
    assert story.bound_detail


def test_explain_a_rejected_user_gives_the_numbers(run_dir):
    rows = pq.read_table(run_dir / "eligibility.parquet").to_pylist()
    row = next(r for r in rows if r["reasons"] == ["RATIO_BELOW_MINIMUM"])
    story = explain(run_dir, row["user_id"])
    assert not story.eligible
    assert story.amount_cents is None
    ratio = next(c for c in story.checks if c.code == "RATIO_BELOW_MINIMUM")
    assert not ratio.passed
    assert "below the minimum 30%" in ratio.detail
    assert "needed $" in ratio.detail


def test_explain_a_user_without_counted_fills(run_dir):
    story = explain(run_dir, 10**15)
    assert not story.eligible
    assert story.reasons == ("NO_COUNTED_LIQUIDATION",)


def test_parquet_bytes_do_not_depend_on_how_an_engine_chunked_the_table(tmp_path):
    """Spark hands back one Arrow chunk per partition, DuckDB a few large ones."""
    import numpy as np
    import pyarrow as pa

    from recompense.runs.artifacts import write_parquet

    whole = pa.table(
        {"user_id": pa.array(np.arange(400_000)), "x": pa.array(np.arange(400_000) * 0.5)}
    )
    pieces = pa.Table.from_batches(whole.to_batches(max_chunksize=7_000))
    write_parquet(whole, tmp_path / "a.parquet")
    write_parquet(pieces, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
