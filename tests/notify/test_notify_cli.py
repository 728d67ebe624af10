"""``recompense notify`` in-process: what the operator reads."""

from __future__ import annotations

import json

from notify_support import insert_rows, outbox_rows, table
from sqlalchemy import update
from typer.testing import CliRunner

from recompense.cli.main import app
from recompense.ledger.db import connect
from recompense.ledger.schema import notifications


def run(*args, env):
    return CliRunner().invoke(app, ["notify", *args], env=env, catch_exceptions=False)


def test_human_summary_and_the_missing_push_gateway_warning(db_url, smtp):
    insert_rows(db_url, outbox_rows([1, 2]))

    result = run("--db", db_url, env={"RECOMPENSE_SMTP_PORT": str(smtp.port)})

    assert result.exit_code == 0, result.output
    assert "Sent 2 · retried 0 · failed 0 · left pending 2" in result.stdout
    assert "RECOMPENSE_PUSH_URL is not set: push notifications stay pending" in result.stderr


def test_requeue_failed_then_deliver(db_url, smtp, gateway):
    rows = outbox_rows([1], channels=("email",))
    insert_rows(db_url, rows)
    with connect(db_url).begin() as conn:
        conn.execute(
            update(notifications).values(status="failed", attempts=8, last_error="gave-up: x")
        )
    env = {"RECOMPENSE_SMTP_PORT": str(smtp.port), "RECOMPENSE_PUSH_URL": gateway.url}

    result = run("--db", db_url, "--requeue-failed", "--json", env=env)

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["requeued"], summary["sent"], summary["pending_left"]) == (1, 1, 0)
    assert table(db_url)[rows[0]["id"]]["status"] == "sent"


def test_an_unmigrated_database_is_refused_with_the_fix(tmp_path):
    result = run("--db", f"sqlite:///{tmp_path / 'empty.db'}", env={})
    assert result.exit_code == 2
    assert "recompense db upgrade" in result.stderr
