from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "programs" / "together-2025-10.toml"
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def program_path() -> Path:
    return PROGRAM


@pytest.fixture
def policy():
    from recompense.policy import load_policy

    return load_policy(PROGRAM)


@pytest.fixture(params=["duckdb"])
def backend(request):
    """Every engine test runs on every backend (PySpark joins in a later issue)."""
    from recompense.engine import connect

    return connect(request.param)
