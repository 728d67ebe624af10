"""Both programmes on one system, end to end, on SQLite and PostgreSQL.

``synth`` → the de-peg programme (full payment) → two officers approve → distribute →
the Together Initiative on the same ledger (``run --db``) with **no** de-peg rows in
``prior_compensation``: the users it excludes as already compensated are exactly the
de-peg payees it would otherwise have paid; reconcile holds for both programmes; their
status shows both, the de-peg one against its 72-hour promise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from builders import DEPEG_PROGRAM, PROGRAM, approve_twice
from recompense.cli.main import app
from recompense.data.synth import generate
from recompense.distribution.distribute import distribute
from recompense.distribution.reconcile import reconcile
from recompense.distribution.status import status
from recompense.runs import execute_run, read_allocations, read_manifest

USERS = 20_000


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A synthetic crash whose prior_compensation no longer names the de-peg programme:
    the exclusion must come from the books."""
    folder = tmp_path_factory.mktemp("two") / "data"
    generate(USERS, 11, folder)
    prior = pq.read_table(folder / "prior_compensation.parquet")
    keep = pc.not_equal(prior["program_id"], "depeg-2025-10")
    pq.write_table(prior.filter(keep), folder / "prior_compensation.parquet")
    return folder


@pytest.fixture(scope="module")
def together_alone(data, tmp_path_factory) -> Path:
    """The Together Initiative as if nobody had been paid before (no ledger)."""
    out = tmp_path_factory.mktemp("alone") / "run"
    execute_run(PROGRAM, data, out, budget_usd=together_budget())
    return out


def together_budget():
    from decimal import Decimal

    return Decimal(USERS * 6)


def eligibility(run: Path) -> dict[int, list[str]]:
    table = pq.read_table(run / "eligibility.parquet", columns=["user_id", "reasons"])
    return dict(zip(table["user_id"].to_pylist(), table["reasons"].to_pylist(), strict=True))


def test_the_depeg_payees_are_excluded_from_the_together_initiative(
    data, together_alone, ledger_url, tmp_path
):
    depeg = tmp_path / "depeg"
    execute_run(DEPEG_PROGRAM, data, depeg)
    payees = set(read_allocations(depeg)["user_id"].to_pylist())
    assert len(payees) > 50
    approve_twice(depeg, ledger_url)
    distribute(depeg, ledger_url)

    together = tmp_path / "together"
    execute_run(PROGRAM, data, together, budget_usd=together_budget(), db=ledger_url)
    alone = set(read_allocations(together_alone)["user_id"].to_pylist())
    paid_now = set(read_allocations(together)["user_id"].to_pylist())
    reasons = eligibility(together)
    excluded_only_for_it = {u for u, r in reasons.items() if r == ["ALREADY_COMPENSATED"]}
    # Some de-peg payees would have qualified: the exclusion has something to do.
    assert payees & alone
    assert excluded_only_for_it == payees & alone
    assert paid_now == alone - payees
    compensated = {u for u, r in reasons.items() if "ALREADY_COMPENSATED" in r}
    assert compensated >= payees & set(reasons)
    assert read_manifest(together)["inputs"]["ledger_exclusions"][0]["rows"] == len(payees)

    approve_twice(together, ledger_url)
    distribute(together, ledger_url, batch_size=1_000)
    for run in (depeg, together):
        checks = reconcile(run, ledger_url)
        assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    depeg_status = status("depeg-2025-10", ledger_url)
    together_status = status("together-2025-10", ledger_url)
    assert depeg_status.issued == len(payees)
    assert together_status.issued == len(paid_now)
    announced = read_manifest(depeg)["program"]["announced_at"]
    assert depeg_status.complete.deadline == datetime.fromisoformat(announced) + timedelta(hours=72)


def test_the_cli_tells_an_excluded_user_who_paid_them(data, ledger_url, tmp_path):
    depeg = tmp_path / "depeg"
    execute_run(DEPEG_PROGRAM, data, depeg)
    approve_twice(depeg, ledger_url)
    distribute(depeg, ledger_url)
    together = tmp_path / "together"
    execute_run(PROGRAM, data, together, budget_usd=together_budget(), db=ledger_url)
    user = next(u for u, r in sorted(eligibility(together).items()) if r == ["ALREADY_COMPENSATED"])
    result = CliRunner().invoke(app, ["explain", "--run", str(together), str(user)])
    assert result.exit_code == 0, result.output
    assert "already compensated" in result.output
    assert "depeg-2025-10" in result.output
