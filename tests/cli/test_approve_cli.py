"""``recompense approve`` and the refusals an operator meets, through the CLI (exit codes)."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from recompense.cli import approve_cmd
from recompense.cli.main import app
from recompense.distribution.approvals import approvals_of
from recompense.ledger.db import connect
from recompense.runs import run_fingerprint
from recompense.runs.artifacts import MANIFEST

WIDE = {"COLUMNS": "200"}


def approve(run, url, who, *extra):
    args = ["approve", "--run", str(run), "--db", url, "--as", who, *extra]
    return CliRunner().invoke(app, args, env=WIDE)


def given(run, url):
    with connect(url).connect() as conn:
        return [a.approver for a in approvals_of(conn, run_fingerprint(run))]


def test_two_officers_approve_then_it_distributes(small_run, ledger_url):
    first = approve(small_run, ledger_url, "ops:alice", "--yes")
    assert first.exit_code == 0, first.output
    assert "Eligibility funnel" in first.output
    assert "No previous run" in first.output
    assert "1 of 2 approvals; 1 more needed before distribute" in first.output
    second = approve(small_run, ledger_url, "ops:bob", "--yes")
    assert second.exit_code == 0
    assert "2 of 2 approvals; it can be distributed" in second.output
    runner = CliRunner()
    done = runner.invoke(
        app, ["distribute", "--run", str(small_run), "--db", ledger_url, "--as", "ops:dora"]
    )
    assert done.exit_code == 0, done.output


def test_distribute_refuses_an_unapproved_run_with_exit_2(small_run, ledger_url):
    approve(small_run, ledger_url, "ops:alice", "--yes")
    result = CliRunner().invoke(app, ["distribute", "--run", str(small_run), "--db", ledger_url])
    assert result.exit_code == 2
    assert "has 1 of the 2 approvals distribution needs (ops:alice at" in result.output
    assert "recompense approve --run" in result.output


def test_without_a_terminal_it_needs_yes(small_run, ledger_url):
    result = approve(small_run, ledger_url, "ops:alice")
    assert result.exit_code == 2
    assert "pass --yes" in result.output
    assert given(small_run, ledger_url) == []


def test_it_asks_and_a_no_records_nothing(small_run, ledger_url, monkeypatch):
    monkeypatch.setattr(approve_cmd, "_interactive", lambda: True)
    runner = CliRunner()
    args = ["approve", "--run", str(small_run), "--db", ledger_url, "--as", "ops:alice"]
    declined = runner.invoke(app, args, input="n\n", env=WIDE)
    assert declined.exit_code == 1
    assert "Not approved" in declined.output
    assert given(small_run, ledger_url) == []
    accepted = runner.invoke(app, args, input="y\n", env=WIDE)
    assert accepted.exit_code == 0
    assert given(small_run, ledger_url) == ["ops:alice"]
    assert f"Approve run {run_fingerprint(small_run)} as ops:alice?" in accepted.output


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("auditor:eve", "only ops officers approve runs"),
        ("ops:carol", "made by ops:carol; nobody approves their own run"),
        ("carol", "--as: expected role:name"),
    ],
)
def test_refusals_exit_2(small_run, ledger_url, tmp_path, who, message):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    manifest = json.loads((run / MANIFEST).read_text())
    (run / MANIFEST).write_text(json.dumps({**manifest, "run_by": "ops:carol"}))
    result = approve(run, ledger_url, who, "--yes")
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert given(run, ledger_url) == []


def test_the_same_officer_twice_and_a_folder_that_is_not_a_run(small_run, ledger_url, tmp_path):
    assert approve(small_run, ledger_url, "ops:alice", "--yes").exit_code == 0
    again = approve(small_run, ledger_url, "ops:alice", "--yes")
    assert again.exit_code == 2
    assert "already approved run" in again.output
    (tmp_path / "nothing").mkdir()
    empty = approve(tmp_path / "nothing", ledger_url, "ops:alice", "--yes")
    assert empty.exit_code == 2
    assert "not a run folder" in empty.output


def test_the_review_shows_the_diff_against_the_last_approved_run(small_run, other_run, ledger_url):
    approve(small_run, ledger_url, "ops:alice", "--yes")
    result = approve(other_run, ledger_url, "ops:bob", "--yes", "--top", "3")
    assert result.exit_code == 0, result.output
    assert f"Compared with the last approved run {run_fingerprint(small_run)[:12]}" in result.output
    assert "What changed" in result.output
    assert "The 3 largest changes" in result.output
    assert "$150,000.00 → $140,000.00" in result.output


def test_json_output(small_run, other_run, ledger_url):
    approve(small_run, ledger_url, "ops:alice", "--yes")
    result = approve(other_run, ledger_url, "ops:bob", "--yes", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["approval"]["approver"] == "ops:bob"
    assert body["approvals_now"] == 1
    assert body["fingerprint"] == run_fingerprint(other_run)
    assert body["baseline"]["why"] == "approved"
    assert body["diff"]["net_cents"] == -1_000_000
    assert body["required_approvals"] == 2
    assert body["run_by"]
