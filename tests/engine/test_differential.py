"""Differential fuzz: ``recompense run`` against an independent exact reference.

Hypothesis generates adversarial contract datasets (:mod:`fuzz_datasets`); each is run
through the real command line (in process, DuckDB) and through :mod:`reference`, which
shares no code with the engine. Every case must end in exactly the reference's cents —
per user: counted fills, loss, net assets, incident loss, verdicts and reasons; per
eligible user: floor, cap and (when the budget covers every cap) the payout; the
payouts sum to the budget otherwise — or in a clean refusal (exit 2, no traceback, no
output folder) whose message names one of the reasons the reference found.

``make test`` runs a bounded number of examples; ``make fuzz`` runs the long profile
(``--fuzz-examples``). A small sample also runs on Spark: same answers or same refusal.
"""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fuzz_datasets import Case, cases
from hypothesis import HealthCheck, given, settings
from reference import Outcome, Rules, expected
from typer.testing import CliRunner

from recompense.cli.main import app

PROGRAM = Path(__file__).resolve().parents[2] / "programs" / "together-2025-10.toml"
RULES = Rules.read(PROGRAM)


def run_cli(case: Case, root: Path, engine: str = "duckdb") -> tuple[int, str, Path]:
    data = case.write(root / "data")
    out = root / "run"
    args = ["run", "--program", str(PROGRAM), "--data", str(data), "--out", str(out)]
    args += ["--budget-usd", case.budget_usd, "--json", "--engine", engine]
    if case.storage["naive_ok"]:
        args.append("--naive-timestamps-are-utc")
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a defect: show it
    return result.exit_code, result.output, out


def check_case(case: Case, engine: str = "duckdb") -> Outcome:
    budget_cents = int(Decimal(case.budget_usd) * 100)
    want = expected(case.tables, case.storage, RULES, budget_cents)
    with tempfile.TemporaryDirectory() as tmp:
        code, output, out = run_cli(case, Path(tmp), engine)
        if want.refusals:
            assert code == 2, f"the reference refuses {want.refusals}; the run gave {code}"
            assert any(reason in output for reason in want.refusals), (want.refusals, output)
            assert not out.exists(), "a refused run must leave no output folder"
            return want
        assert code == 0, output
        assert_same_users(out, want)
        assert_same_payouts(out, want, budget_cents, json.loads(output))
    return want


def assert_same_users(out: Path, want: Outcome) -> None:
    rows = pq.read_table(out / "eligibility.parquet").to_pylist()
    got = {
        r["user_id"]: {
            "fills": r["fills"],
            "loss_cents": _cents(r["loss_usd"]),
            "net_assets_cents": _cents(r["net_assets_usd"]),
            "incident_loss_cents": _cents(r["incident_loss_usd"]),
            "reasons": list(r["reasons"]),
            "eligible": r["eligible"],
            "account_age_days": r["account_age_days"],
        }
        for r in rows
    }
    assert got == want.users


def assert_same_payouts(out: Path, want: Outcome, budget_cents: int, summary: dict) -> None:
    rows = pq.read_table(out / "allocations.parquet").to_pylist()
    assert {r["user_id"] for r in rows} == {u for u, r in want.users.items() if r["eligible"]}
    for r in rows:
        assert r["cap_cents"] == want.caps[r["user_id"]]
        assert r["floor_cents"] == want.floors[r["user_id"]]
        assert r["floor_cents"] <= r["amount_cents"] <= r["cap_cents"]
    paid = sum(r["amount_cents"] for r in rows)
    if want.payouts is not None:
        assert {r["user_id"]: r["amount_cents"] for r in rows} == want.payouts
    else:
        assert paid == budget_cents
    assert summary["allocated_cents"] == paid


def _cents(usd: Decimal) -> int:
    cents = usd * 100
    assert cents == int(cents)
    return int(cents)


@pytest.fixture(scope="module")
def fuzz_examples(request) -> int:
    return int(request.config.getoption("--fuzz-examples"))


def test_the_engine_matches_the_exact_reference_or_refuses(fuzz_examples):
    outcomes: list[Outcome] = []

    @settings(
        max_examples=fuzz_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(case=cases())
    def differential(case: Case) -> None:
        outcomes.append(check_case(case))

    differential()
    completed = [o for o in outcomes if not o.refusals]
    print(  # the closing note of issue 13 quotes these figures from `make fuzz`
        f"differential fuzz: {len(outcomes)} cases, {len(completed)} completed runs, "
        f"{sum(len(o.users) for o in completed)} users compared"
    )
    assert completed, "every generated case was refused: the generator lost its way"


def test_spark_agrees_on_a_small_sample(spark_backend):
    """Same answers or same refusal on Spark, for a handful of generated cases."""

    @settings(
        max_examples=4,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases())
    def on_spark(case: Case) -> None:
        check_case(case, engine="spark")

    on_spark()
