"""``recompense commit / proof / verify`` as an operator and a user meet them.

The happy path runs as real processes; messages and exit codes of mistakes run in-process
(Typer's runner), which is the same code without the interpreter start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from proof_runs import KEY, hand_made_run
from typer.testing import CliRunner

from recompense.cli.main import app

USERS = list(range(500, 540))
AMOUNTS = [400 + 1_000 * i for i in range(40)]


def recompense(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "recompense.cli", *args]
    environment = {k: v for k, v in os.environ.items() if k != "RECOMPENSE_COMMITMENT_KEY"}
    environment.update(env or {})
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)


def in_process(*args: str, env: dict[str, str] | None = None):
    environment = {"RECOMPENSE_COMMITMENT_KEY": None, **(env or {})}
    return CliRunner().invoke(app, list(args), env=environment)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = hand_made_run(tmp_path_factory.mktemp("cli") / "run", USERS, AMOUNTS)
    result = recompense("commit", "--run", str(run), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["created"]
    assert summary["users"] == 40
    return run


@pytest.fixture(scope="module")
def printed_proof(run) -> str:
    result = recompense("proof", "--run", str(run), "517")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def proof_file(printed_proof, tmp_path):
    path = tmp_path / "proof-517.json"
    path.write_text(printed_proof)
    return path


def test_commit_again_says_nothing_changed(run):
    result = in_process("commit", "--run", str(run))
    assert result.exit_code == 0
    assert "Already committed" in result.stdout
    assert "secret: never publish" in result.stdout


def test_proof_prints_the_users_bundle(proof_file):
    bundle = json.loads(proof_file.read_text())
    assert bundle["user_id"] == 517
    assert bundle["amount_cents"] == 17_400
    assert len(bundle["salt"]) == 64


def test_verify_accepts_a_good_proof(run, proof_file):
    result = recompense(
        "verify", "--commitment", str(run / "commitment.json"), "--proof", str(proof_file)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID" in result.stdout
    assert "NOT VALID" not in result.stdout


def test_verify_says_why_a_bad_proof_fails_and_exits_1(run, proof_file):
    bundle = json.loads(proof_file.read_text())
    bundle["sum_tree"]["path"][0]["sum"] += 1
    proof_file.write_text(json.dumps(bundle))
    args = ["verify", "--commitment", str(run / "commitment.json"), "--proof", str(proof_file)]
    result = recompense(*args)
    assert result.returncode == 1
    assert "NOT VALID: sum tree: root sum" in " ".join(result.stdout.split())
    as_json = in_process(*args, "--json")
    assert as_json.exit_code == 1
    verdict = json.loads(as_json.stdout)
    assert not verdict["ok"]
    assert verdict["failure"].startswith("sum tree: root sum")


def test_operator_mistakes_exit_2_with_a_message(run, tmp_path):
    unknown = in_process("proof", "--run", str(run), "1")
    assert unknown.exit_code == 2
    assert "user 1 has no payout" in unknown.stderr
    wrong_key = in_process(
        "proof", "--run", str(run), "517", env={"RECOMPENSE_COMMITMENT_KEY": KEY}
    )
    assert wrong_key.exit_code == 2
    assert "is not the one" in wrong_key.stderr
    (tmp_path / "bad.json").write_text("{not json")
    unreadable = in_process(
        "verify", "--commitment", str(tmp_path / "bad.json"), "--proof", str(tmp_path / "no.json")
    )
    assert unreadable.exit_code == 2
    assert "bad.json: not JSON" in unreadable.stderr
    not_a_run = in_process("commit", "--run", str(tmp_path))
    assert not_a_run.exit_code == 2
    assert "not a run folder" in not_a_run.stderr
    for result in (unknown, wrong_key, unreadable, not_a_run):
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_every_proofs_command_has_help_with_an_example():
    for command in ("commit", "proof", "verify"):
        result = in_process(command, "--help")
        assert result.exit_code == 0
        assert "Example: recompense " in " ".join(result.stdout.split())
