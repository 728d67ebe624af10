"""Run folders for the proofs tests: a real one from the engine, and hand-made ones.

Not a conftest: ``tests/conftest.py`` is imported as ``conftest`` by other tests, and a
second one here would shadow it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from recompense.data.synth import generate
from recompense.runs import execute_run
from recompense.runs.artifacts import ALLOCATIONS, ALLOCATIONS_SCHEMA, sha256_file, write_parquet

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "together-2025-10.toml"
KEY = "11" * 32  # a fixed programme key, so runs are reproducible in tests


def engine_run(folder: Path, users: int = 30_000, seed: int = 11) -> Path:
    """A real run of the Together programme on a synthetic crash (about 600 payouts)."""
    generate(users, seed, folder / "data")
    out = folder / "run"
    execute_run(PROGRAM, folder / "data", out, budget_usd=Decimal("150000"))
    return out


def hand_made_run(folder: Path, user_ids: Sequence[int], amounts: Sequence[int]) -> Path:
    """A run folder with just what the proofs read: allocations and a manifest."""
    folder.mkdir(parents=True)
    n = len(user_ids)
    table = pa.table(
        {
            "user_id": pa.array(user_ids, pa.int64()),
            "weight": pa.array([1.0] * n, pa.float64()),
            "amount_cents": pa.array(amounts, pa.int64()),
            "floor_cents": pa.array([0] * n, pa.int64()),
            "cap_cents": pa.array([max(amounts, default=0)] * n, pa.int64()),
            "bound": pa.array(["share"] * n, pa.string()),
        },
        schema=ALLOCATIONS_SCHEMA,
    )
    write_parquet(table, folder / ALLOCATIONS)
    manifest = {
        "format": "recompense-run/1",
        "program": {"id": "test-programme", "currency": "USDC"},
        "allocated_cents": sum(amounts),
        "artifacts": {ALLOCATIONS: sha256_file(folder / ALLOCATIONS)},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder
