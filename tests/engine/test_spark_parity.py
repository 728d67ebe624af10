"""The same dataset through DuckDB and Spark gives the same run folder."""

from __future__ import annotations

from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from builders import PROGRAM
from recompense.data.synth import generate
from recompense.runs import execute_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, spark_backend):
    root = tmp_path_factory.mktemp("parity")
    generate(20_000, 13, root / "data")
    for engine in ("duckdb", "spark"):
        execute_run(
            PROGRAM,
            root / "data",
            root / engine,
            budget_usd=Decimal("100000"),
            engine=engine,
            spark_master="local[2]",
        )
    return root


def test_eligibility_values_are_identical(runs):
    duck = pq.read_table(runs / "duckdb" / "eligibility.parquet")
    spark = pq.read_table(runs / "spark" / "eligibility.parquet")
    assert duck.num_rows > 500
    assert spark.schema == duck.schema
    assert spark.equals(duck)


@pytest.mark.parametrize(
    "name", ["allocations.parquet", "eligibility.parquet", "hourly.parquet", "recipients.parquet"]
)
def test_artifacts_are_byte_identical(runs, name):
    assert (runs / "spark" / name).read_bytes() == (runs / "duckdb" / name).read_bytes()


def test_the_run_folder_looks_the_same_whichever_engine_made_it(runs):
    assert sorted(p.name for p in (runs / "spark").iterdir()) == sorted(
        p.name for p in (runs / "duckdb").iterdir()
    )
    assert all((runs / "spark" / p.name).is_file() for p in (runs / "duckdb").iterdir())
