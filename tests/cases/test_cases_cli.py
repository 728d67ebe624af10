"""``recompense cases …`` as an officer meets it: JSON for scripts, exit codes 2 and 3."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import typer
from case_support import USER_A, keys_env
from typer.testing import CliRunner

from recompense.cases import service
from recompense.cli.main import app

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def cli(desk, ledger_url, keyring):
    env = keys_env(keyring)

    def run(*args: str):
        return CliRunner().invoke(app, ["cases", *args, "--db", ledger_url], env=env)

    return run


@pytest.fixture
def case_id(desk, program) -> str:
    return service.open_case(desk, USER_A, program, "appeal_loss", "Loss wrong.", now=T0)


def answer(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_officer_works_a_case_from_the_queue_to_two_approvals(cli, case_id):
    rows = answer(cli("list", "--as", "ops:alice", "--json"))
    assert [r["id"] for r in rows] == [case_id]
    assert (
        answer(cli("assign", case_id, "--to", "ops:bob", "--as", "ops:alice", "--json"))["state"]
        == "open"
    )
    assert (
        answer(cli("note", case_id, "--text", "checking", "--as", "ops:bob", "--json"))["state"]
        == "open"
    )
    proposed = cli(
        "accept", case_id, "--loss", "2500.00", "--reason", "fills", "--as", "ops:bob", "--json"
    )
    assert answer(proposed) == {"id": case_id, "state": "proposed"}
    refused = cli("approve", case_id, "--reason", "me", "--as", "ops:bob")
    assert (refused.exit_code, "maker-checker" in refused.stderr) == (2, True)
    assert (
        answer(cli("approve", case_id, "--reason", "ok", "--as", "ops:carol", "--json"))["state"]
        == "accepted"
    )
    detail = answer(cli("show", case_id, "--as", "auditor:ann", "--json"))
    assert detail["decisions"][0]["loss_cents"] == 250_000


def test_return_and_reject(cli, case_id):
    cli("accept", case_id, "--net-assets", "1", "--reason", "r", "--as", "ops:alice")
    assert (
        answer(cli("return", case_id, "--reason", "no", "--as", "ops:bob", "--json"))["state"]
        == "open"
    )
    assert (
        answer(cli("request-info", case_id, "--message", "fills?", "--as", "ops:bob", "--json"))[
            "state"
        ]
        == "info_requested"
    )
    result = cli(
        "reject",
        case_id,
        "--code",
        "INSUFFICIENT_EVIDENCE",
        "--text",
        "none came",
        "--as",
        "ops:bob",
        "--json",
    )
    assert answer(result)["state"] == "rejected"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["accept", "{case}", "--loss", "12.345", "--reason", "r", "--as", "ops:a"],
            "at most cents",
        ),
        (
            ["accept", "{case}", "--loss", "ten", "--reason", "r", "--as", "ops:a"],
            "not a USD amount",
        ),
        (
            ["accept", "{case}", "--claim", "5", "--reason", "r", "--as", "ops:a"],
            "decide it with a correction",
        ),
        (["reject", "{case}", "--code", "NOPE", "--text", "t", "--as", "ops:a"], "reason code"),
        (["show", "{case}", "--as", "user:1002"], "not found"),
        (["show", "{case}", "--as", "boss:x"], "unknown role"),
        (["note", "{case}", "--text", "t", "--as", "auditor:ann"], "cannot note"),
        (["list", "--state", "lost", "--as", "ops:a"], "state 'lost'"),
    ],
)
def test_mistakes_exit_2_with_one_line_and_no_traceback(cli, case_id, args, words):
    result = cli(*[a.format(case=case_id) for a in args])
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert "Traceback" not in result.output


def test_a_decided_case_conflicts_with_exit_2(cli, case_id):
    cli("reject", case_id, "--code", "DUPLICATE_CASE", "--text", "dup", "--as", "ops:a")
    result = cli("accept", case_id, "--loss", "1", "--reason", "r", "--as", "ops:a")
    assert (result.exit_code, "is rejected" in result.stderr) == (2, True)


def test_list_due_within_shows_what_is_about_to_miss(cli, case_id):
    assert [
        r["id"] for r in answer(cli("list", "--due-within", "8760", "--as", "ops:a", "--json"))
    ] == [case_id]


def test_every_cases_command_has_an_example():
    group = typer.main.get_command(app).commands["cases"]
    missing = [
        name for name, command in group.commands.items() if "Example:" not in (command.help or "")
    ]
    assert missing == []
