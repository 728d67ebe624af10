from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

from builders import missing_tool

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "programs" / "together-2025-10.toml"
REAL_DATA = ROOT.parent / "shared" / "data" / "real"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=25,
        help="examples of the differential fuzz (make fuzz runs thousands)",
    )


@pytest.fixture
def program_path() -> Path:
    return PROGRAM


@pytest.fixture
def policy():
    from recompense.policy import load_policy

    return load_policy(PROGRAM)


def _java_missing() -> str | None:
    import shutil

    return None if shutil.which("java") else "Spark needs Java 17 on PATH"


@pytest.fixture(scope="session")
def spark_backend():
    from recompense.engine import connect

    reason = _java_missing()
    if reason:
        missing_tool(reason, "RECOMPENSE_REQUIRE_SPARK")
    return connect("spark", spark_master="local[2]")


@pytest.fixture
def duckdb_backend():
    """DuckDB only: for data-layer tests whose subject is the reader, not the rules.

    Spark reads the same files through its own readers; its handling of clean data is
    covered by the engine tests and the parity test, which run on every backend.
    """
    from recompense.engine import connect

    return connect("duckdb")


@pytest.fixture(params=["duckdb", "spark"])
def backend(request):
    """Every engine test runs on every backend from this one fixture."""
    from recompense.engine import connect

    if request.param == "spark":
        return request.getfixturevalue("spark_backend")
    return connect(request.param)


def _postgres_url() -> str:
    import os

    return os.environ.get(
        "RECOMPENSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


def _fresh_postgres(request) -> str:
    """A new schema on the test server, dropped afterwards; skipped only if unreachable.

    With RECOMPENSE_REQUIRE_POSTGRES=1 (as in .ci/run) an unreachable server fails the test.
    """
    import os
    import uuid

    import psycopg

    base = _postgres_url()
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        if os.environ.get("RECOMPENSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {base}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {base} (set RECOMPENSE_TEST_POSTGRES_URL): {exc}")

    def drop() -> None:
        from recompense.ledger.db import connect, connect_reads

        connect(url).dispose()
        connect_reads(url).dispose()
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    request.addfinalizer(drop)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path) -> str:
    """An empty, migrated ledger database on every backend (SQLite file, PostgreSQL schema)."""
    from recompense.ledger.db import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = _fresh_postgres(request)
    upgrade(url)
    return url


@pytest.fixture
def postgres_ledger_url(request) -> str:
    """An empty, migrated ledger on PostgreSQL only, for what SQLite cannot show."""
    from recompense.ledger.db import upgrade

    url = _fresh_postgres(request)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A finished run with ~600 vouchers: small enough for many kills, big enough for batches."""
    from builders import PROGRAM
    from recompense.data.synth import generate
    from recompense.runs import execute_run

    root = tmp_path_factory.mktemp("distribution")
    generate(30_000, 21, root / "data")
    execute_run(PROGRAM, root / "data", root / "run", budget_usd=Decimal("150000"))
    return root / "run"


@pytest.fixture(scope="session")
def other_run(tmp_path_factory, small_run):
    """The same programme with another budget: a *different* run."""
    from builders import PROGRAM
    from recompense.runs import execute_run

    out = tmp_path_factory.mktemp("other") / "run"
    execute_run(PROGRAM, small_run.parent / "data", out, budget_usd=Decimal("140000"))
    return out


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data/real``: required under ``.ci/run``, else skipped when absent."""
    import os

    if not (REAL_DATA / "user-exports" / "README.md").is_file():
        reason = f"real exports and prices not found at {REAL_DATA} (never shipped in the repo)"
        if os.environ.get("RECOMPENSE_REQUIRE_REAL_DATA"):
            pytest.fail(reason)
        pytest.skip(reason)
    return REAL_DATA
