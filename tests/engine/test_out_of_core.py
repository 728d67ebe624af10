"""DuckDB under a low memory cap spills to disk and gives the same answer; too low fails clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest

from builders import PROGRAM
from recompense.data.synth import generate
from recompense.runs import execute_run


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ooc") / "data"
    generate(400_000, 17, folder)
    return folder


def run_capped(dataset, out, limit, spill):
    env = {
        **os.environ,
        "RECOMPENSE_DUCKDB_MEMORY_LIMIT": limit,
        "RECOMPENSE_DUCKDB_TEMP_DIR": str(spill),
        "RECOMPENSE_DUCKDB_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "recompense.cli",
        "run",
        "--program",
        str(PROGRAM),
        "--data",
        str(dataset),
        "--out",
        str(out),
        "--budget-usd",
        "2400000",
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_a_low_memory_cap_gives_the_same_run(dataset, tmp_path):
    free = tmp_path / "free"
    execute_run(PROGRAM, dataset, free, budget_usd=Decimal("2400000"))
    capped = tmp_path / "capped"
    # 40 MB is a small fraction of the working set: joins and aggregates must spill.
    result = run_capped(dataset, capped, "40MB", tmp_path / "spill")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("eligibility.parquet", "allocations.parquet"):
        assert (capped / name).read_bytes() == (free / name).read_bytes()


def test_a_cap_too_low_to_work_fails_with_advice_not_a_traceback(dataset, tmp_path):
    result = run_capped(dataset, tmp_path / "tiny", "2MB", tmp_path / "spill")
    assert result.returncode == 3, result.stderr[-3000:]
    assert "ran out of memory" in result.stderr
    assert "RECOMPENSE_DUCKDB_MEMORY_LIMIT" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "tiny").exists()
