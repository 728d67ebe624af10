"""``recompense loans …`` as an operator meets it: JSON for scripts, exit code 2 on mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from loan_support import LOAN_POLICY, keys_env, random_keyring
from typer.testing import CliRunner

from recompense.cli.main import app


@pytest.fixture
def cli(loans_url, tmp_path):
    """Run ``recompense loans ARGS --db URL --policy FILE`` in process with fresh keys."""
    env = keys_env(random_keyring("k1"))
    statements = tmp_path / "fy2024.txt"
    statements.write_text("FY2024 audited statements: revenue 48.2M\n", encoding="utf-8")

    def run(*args: str, env_override: dict[str, str | None] | None = None, db: bool = True):
        extra = ["--db", loans_url, "--policy", str(LOAN_POLICY)] if db else []
        result = CliRunner().invoke(
            app, ["loans", *args, *extra], env={**env, **(env_override or {})}
        )
        return result

    run.statements = statements  # type: ignore[attr-defined]
    return run


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_loan_from_application_to_repayment(cli):
    assert (
        cli(
            "borrower",
            "1001",
            "--tier",
            "institutional",
            "--manager",
            "am7",
            "--as",
            "credit_committee:cc1",
        ).exit_code
        == 0
    )
    created = _json(
        cli(
            "apply", "--borrower", "1001", "--amount", "2500000", "--term-days", "360",
            "--repayment", "instalments", "--statements", str(cli.statements),
            "--losses", "3100000", "--notes", "bridge liquidity", "--as", "account_manager:am7", "--json",
        )
    )  # fmt: skip
    app_id = created["id"]
    assert (
        _json(
            cli("submit", app_id, "--as", "account_manager:am7", "--reason", "complete", "--json")
        )["state"]
        == "submitted"
    )
    first = _json(
        cli("approve", app_id, "--as", "credit_committee:cc1", "--reason", "ok", "--json")
    )
    assert first["state"] == "submitted"  # $2.5M is above the four-eyes amount
    assert (
        _json(cli("approve", app_id, "--as", "credit_committee:cc2", "--reason", "ok", "--json"))[
            "state"
        ]
        == "approved"
    )
    assert (
        _json(cli("disburse", app_id, "--as", "credit_committee:cc1", "--reason", "go", "--json"))[
            "state"
        ]
        == "active"
    )
    paid = _json(
        cli(
            "repay",
            app_id,
            "--amount",
            "100000.00",
            "--reference",
            "SWIFT-1",
            "--as",
            "account_manager:am7",
            "--json",
        )
    )
    assert paid["principal_cents"] == 10_000_000
    assert not paid["duplicate"]
    again = _json(
        cli(
            "repay",
            app_id,
            "--amount",
            "100000.00",
            "--reference",
            "SWIFT-1",
            "--as",
            "credit_committee:cc1",
            "--json",
        )
    )
    assert again["duplicate"]
    assert _json(cli("accrue", "--as", "credit_committee:cc1", "--json"))["loans"] == 1
    shown = _json(cli("show", app_id, "--as", "auditor:aud1", "--reason", "audit", "--json"))
    assert shown["financial_statements"].startswith("FY2024")
    assert len(shown["schedule"]) == 12
    assert shown["principal_outstanding_cents"] == 240_000_000
    listed = _json(cli("list", "--as", "credit_committee:cc1", "--json"))
    assert [r["id"] for r in listed] == [app_id]
    assert "notes" not in listed[0]
    fund = _json(cli("fund", "--as", "auditor:aud1", "--json"))
    assert fund["committed_cents"] == fund["outstanding_cents"] == 240_000_000
    log = _json(cli("access-log", "--application", app_id, "--as", "auditor:aud1", "--json"))
    assert [(r["actor_id"], r["action"]) for r in log] == [("cc1", "list"), ("aud1", "show")]
    readable = cli("show", app_id, "--as", "credit_committee:cc1", "--reason", "committee")
    assert readable.exit_code == 0
    assert "Schedule" in readable.stdout
    assert "bridge liquidity" in readable.stdout
    assert cli("fund", "--as", "credit_committee:cc1").exit_code == 0
    written = _json(
        cli("write-off", app_id, "--as", "credit_committee:cc1", "--reason", "default", "--json")
    )
    assert written["state"] == "written_off"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--as", "root"], "expected ROLE:ID"),
        (["list", "--as", "admin:1"], "unknown role 'admin'"),
        (["show", "nope", "--as", "user:1", "--reason", "x"], "not found"),
        (["fund", "--as", "account_manager:am7"], "for the committee and auditors"),
        (["access-log", "--as", "credit_committee:cc1"], "only auditors"),
        (["access-log", "--since", "yesterday", "--as", "auditor:a"], "--since 'yesterday'"),
        (
            ["repay", "x", "--amount", "12.345", "--reference", "r", "--as", "auditor:a"],
            "--amount '12.345'",
        ),
        (["list", "--state", "lost", "--as", "auditor:a"], "--state 'lost'"),
        (
            ["repay", "x", "--amount", "1e999999999", "--reference", "r", "--as", "auditor:a"],
            "not a USD amount",
        ),
        (
            ["borrower", "5", "--tier", "vip", "--manager", "", "--as", "credit_committee:c"],
            "--manager ''",
        ),
        (
            ["borrower", "5", "--tier", "whale", "--manager", "m", "--as", "credit_committee:c"],
            "--tier 'whale'",
        ),
    ],
)
def test_mistakes_exit_2_with_a_clear_message(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_missing_keys_and_policy_exit_2(cli, loans_url, tmp_path):
    result = cli("list", "--as", "auditor:a", env_override={"RECOMPENSE_LOANS_KEYS": None})
    assert result.exit_code == 2
    assert "RECOMPENSE_LOANS_KEYS is not set" in result.stderr
    missing = tmp_path / "nope.toml"
    result = cli("list", "--as", "auditor:a", "--db", loans_url, "--policy", str(missing), db=False)
    assert result.exit_code == 2
    assert "no such loan policy file" in result.stderr
    statements = tmp_path / "missing.txt"
    result = cli(
        "apply", "--borrower", "1", "--amount", "20000", "--term-days", "90", "--repayment", "bullet",
        "--statements", str(statements), "--losses", "1", "--as", "account_manager:am7",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_new_key_prints_a_usable_key():
    result = subprocess.run(
        [sys.executable, "-m", "recompense.cli", "loans", "new-key", "--id", "k9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    from recompense.loans.crypto import Keyring

    ring = Keyring.from_env({"RECOMPENSE_LOANS_KEYS": result.stdout.strip()})
    assert ring.active == "k9"
    assert len(ring.keys["k9"]) == 32
