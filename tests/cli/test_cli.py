"""The command line, as an operator meets it: real processes, exit codes, no partial output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "together-2025-10.toml"


def recompense(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "recompense.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "data"
    result = recompense(
        "synth", "--users", "40000", "--seed", "3", "--out", str(folder), "--json", check=True
    )
    summary = json.loads(result.stdout)
    assert summary["users"] == 40000
    assert summary["liquidated_users"] > 1000
    return folder


def run_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--program", str(PROGRAM), "--data", str(data), "--out", str(out), *extra]


def test_run_prints_a_json_summary(data, tmp_path):
    result = recompense(
        *run_args(data, tmp_path / "run", "--budget-usd", "200000", "--json"), check=True
    )
    summary = json.loads(result.stdout)
    assert summary["allocated_cents"] == summary["budget_cents"] == 20_000_000
    assert Path(summary["report"]).is_file()
    assert summary["funnel"][0]["stage"] == "Liquidated in the window"


def test_run_records_who_ran_it_in_the_manifest(data, tmp_path):
    """``--as`` is the manifest's ``run_by`` (they may not approve it); by default the login."""
    result = recompense(
        *run_args(data, tmp_path / "run", "--as", "ops:alice", "--json"), check=True
    )
    assert json.loads(result.stdout)["run_by"] == "ops:alice"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["run_by"] == "ops:alice"
    assert list(manifest)[-2:] == ["timings_s", "run_by"]  # the rest of the manifest unchanged
    refused = recompense(*run_args(data, tmp_path / "other", "--as", "alice"))
    assert refused.returncode == 2
    assert "--as: expected role:name" in refused.stderr
    assert not (tmp_path / "other").exists()


def test_run_prints_a_readable_summary(data, tmp_path):
    result = recompense(*run_args(data, tmp_path / "run"), check=True)
    assert "Liquidated in the window" in result.stdout
    assert "report.html" in result.stdout
    assert "Unallocated" in result.stdout


def test_explain_tells_a_story_and_json_is_parseable(data, tmp_path):
    out = tmp_path / "run"
    recompense(*run_args(data, out, "--budget-usd", "200000"), check=True)
    user = pq.read_table(out / "allocations.parquet")["user_id"][0].as_py()
    text = recompense("explain", "--run", str(out), str(user), check=True).stdout
    assert "ELIGIBLE" in text
    assert "Payout:" in text
    story = json.loads(
        recompense("explain", "--run", str(out), str(user), "--json", check=True).stdout
    )
    assert story["user_id"] == user
    assert story["eligible"]
    assert story["amount_cents"] >= 400


def test_bad_data_exits_2_with_a_message_and_no_output(data, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(data, broken)
    fills = pq.read_table(broken / "liquidations.parquet")
    pq.write_table(fills.drop_columns(["clearance_fee"]), broken / "liquidations.parquet")
    out = tmp_path / "run"
    result = recompense(*run_args(broken, out))
    assert result.returncode == 2
    assert "liquidations.parquet: column 'clearance_fee': missing column" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".run.tmp-*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget-usd", "100"], "minimum payouts alone"),
        (["--budget-usd", "lots"], '--budget-usd: must be a USD amount such as "50.00"'),
        (["--budget-usd", "1e30"], "--budget-usd: must be at most $1,000,000,000,000.00"),
        (["--budget-usd", "0.001"], "--budget-usd: 0.001 has more than two decimals"),
        (["--engine", "oracle"], "unknown engine"),
    ],
)
def test_operator_mistakes_exit_2(data, tmp_path, args, message):
    result = recompense(*run_args(data, tmp_path / "run", *args))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_numbers_beyond_their_range_exit_2_without_a_traceback(data, tmp_path):
    """Operator input that used to crash: a budget of 1e30, a user id beyond int64, a
    ratio with more places than the exact comparison allows (`check` refuses it too)."""
    out = tmp_path / "run"
    recompense(*run_args(data, out, "--budget-usd", "200000"), check=True)
    policy = tmp_path / "p.toml"
    policy.write_text(
        PROGRAM.read_text()
        .replace('min_loss_ratio = "0.30"', 'min_loss_ratio = "0.33333333333333"')
        .replace('budget_usd = "300000000.00"', 'budget_usd = "1e30"')
    )
    cases = [
        (["whatif", "--run", str(out), "--budget-usd", "1e30"], "--budget-usd: must be at most"),
        (["explain", "--run", str(out), "99999999999999999999"], "user_id"),
        (
            ["check", "--program", str(policy)],
            "key 'eligibility.min_loss_ratio': at most 6 decimal places (got '0.33333333333333')",
        ),
        (["check", "--program", str(policy)], "key 'program.budget_usd': must be at most"),
        (
            ["run", "--program", str(policy), "--data", str(data), "--out", str(tmp_path / "r")],
            "key 'eligibility.min_loss_ratio'",
        ),
    ]
    for args, message in cases:
        result = recompense(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        assert message in " ".join((result.stderr + result.stdout).split()), result.stderr


def test_a_bad_policy_exits_2_naming_the_key(data, tmp_path):
    policy = tmp_path / "p.toml"
    policy.write_text(PROGRAM.read_text().replace('min_usd = "4.00"', 'min_usd = "four"'))
    result = recompense(
        "run", "--program", str(policy), "--data", str(data), "--out", str(tmp_path / "r")
    )
    assert result.returncode == 2
    assert "key 'payout.min_usd'" in result.stderr
    check = recompense("check", "--program", str(policy))
    assert check.returncode == 2
    assert "key 'payout.min_usd'" in check.stderr


def test_check_validates_policy_and_data(data):
    result = recompense("check", "--program", str(PROGRAM), "--data", str(data), check=True)
    assert "matches the data contract" in result.stdout


def test_synth_refuses_an_existing_folder(data):
    result = recompense("synth", "--users", "10", "--out", str(data))
    assert result.returncode == 2
    assert "already exists" in result.stderr


def test_every_command_has_help_with_an_example():
    """Every command the app registers, subcommands included: a new one without an example fails."""
    import typer
    from typer.testing import CliRunner

    from recompense.cli.main import app

    def commands(command, path):
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            yield path
            return
        for name, sub in subcommands.items():
            yield from commands(sub, [*path, name])

    found = list(commands(typer.main.get_command(app), []))
    assert {"run", "distribute", "notify", "commit", "serve", "whatif"} <= {p[0] for p in found}
    missing = []
    for path in found:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        if "Example: recompense " not in " ".join(result.output.split()):
            missing.append(" ".join(path))
    assert not missing, f"commands without an example in --help: {missing}"


def test_killed_runs_leave_no_run_folder_and_a_rerun_matches_a_clean_run(data, tmp_path):
    clean = tmp_path / "clean"
    recompense(*run_args(data, clean, "--budget-usd", "200000"), check=True)
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "recompense.cli",
        *run_args(data, out, "--budget-usd", "200000"),
    ]
    for delay in (0.3, 0.8, 1.3, 1.8, 2.5):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Either the run had finished (complete folder) or there is no run folder at all.
        if out.exists():
            assert (out / "manifest.json").is_file()
            break
    if not out.exists():
        recompense(*run_args(data, out, "--budget-usd", "200000"), check=True)
    for name in ("allocations.parquet", "eligibility.parquet"):
        assert (out / name).read_bytes() == (clean / name).read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".killed.tmp-") and _dead(p)]


def _dead(path: Path) -> bool:
    pid = int(path.name.rsplit("-", 1)[-1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_distribute_cli_batch_default_is_the_library_default():
    import inspect

    from recompense.cli.ledger_cmd import distribute
    from recompense.distribution.distribute import DEFAULT_BATCH

    assert inspect.signature(distribute).parameters["batch_size"].default == DEFAULT_BATCH
