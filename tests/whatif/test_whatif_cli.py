"""``recompense whatif`` as an operator meets it: real processes, exit codes, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from recompense.policy import load_policy
from recompense.whatif import Changes, simulate


def recompense(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "recompense.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_json_is_the_library_outcome(small_run, population):
    result = recompense(
        "whatif", "--run", small_run, "--min-loss-usd", "80", "--no-cap-at-loss", "--json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expected = simulate(population, Changes(min_loss_usd=Decimal(80), cap_at_loss=False))
    assert data["changes"] == {"min_loss_usd": "80.00", "cap_at_loss": False}
    for key in ("eligible", "no_longer_eligible", "total_cents", "budget_cents", "by_bound"):
        assert data[key] == getattr(expected, key)
    assert data["settings"]["cap_at_loss"] is False
    assert data["exported_policy"] is None
    gainers = data["movement"]["top_gainers"]
    assert [g["user_id"] for g in gainers] == [m.user_id for m in expected.movement.top_gainers]
    assert all(g["change_cents"] == g["after_cents"] - g["before_cents"] > 0 for g in gainers)


def test_tables_by_default(small_run):
    result = recompense("whatif", "--run", small_run, "--formula", "loss_usd", "--top", "3")
    assert result.returncode == 0, result.stderr
    for title in ("Published run vs what-if", "Payout distribution", "Top gainers", "Top losers"):
        assert title in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--min-ratio", "abc"), "--min-ratio: must be a ratio"),
        (("--min-loss-usd", "1.001"), "--min-loss-usd: 1.001 has more than two decimals"),
        (("--min-payout-usd", "7000"), "--min-payout-usd: the minimum payout ($7,000.00)"),
        (("--formula", "sqrt(loss"), "--formula: weight formula"),
        (("--budget-usd", "10", "--min-payout-usd", "5"), "--budget-usd: the minimum payouts"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(small_run, args, message):
    result = recompense("whatif", "--run", small_run, *args)
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_folder_that_is_not_a_run_exits_2(tmp_path):
    result = recompense("whatif", "--run", tmp_path, "--json")
    assert result.returncode == 2
    assert "not a run folder" in result.stderr


def test_export_policy_writes_a_new_loadable_file_and_never_into_the_run(small_run, tmp_path):
    target = tmp_path / "whatif.toml"
    args = ("whatif", "--run", small_run, "--min-ratio", "0.25", "--export-policy", target)
    result = recompense(*args, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["exported_policy"] == str(target)
    assert load_policy(target).eligibility.min_loss_ratio == Decimal("0.25")
    again = recompense(*args)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    inside = recompense("whatif", "--run", small_run, "--export-policy", small_run / "p.toml")
    assert inside.returncode == 2
    assert "read-only" in inside.stderr
    assert not (small_run / "p.toml").exists()


def test_help_has_an_example():
    result = recompense("whatif", "--help")
    assert result.returncode == 0
    assert "Example: recompense whatif --run" in " ".join(result.stdout.split())
