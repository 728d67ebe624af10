"""``recompense notify`` in-process: what the operator reads."""

from __future__ import annotations

import json

from notify_support import SmtpSink, insert_rows, outbox_rows, table
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


def test_rejected_rows_are_requeued_only_with_include_rejected(db_url, gateway):
    """The relay refuses our recipients (a policy since fixed) and one row gave up: plain
    --requeue-failed retries the one that gave up; --include-rejected the rejected too."""
    relaying_denied = True

    def rcpt(address):
        return "550 5.7.1 Relaying denied" if relaying_denied else None

    rows = outbox_rows([1, 2, 3], channels=("email",))
    insert_rows(db_url, rows)
    gave_up = rows[0]["id"]
    with SmtpSink(rcpt_reply=rcpt) as smtp:
        env = {"RECOMPENSE_SMTP_PORT": str(smtp.port), "RECOMPENSE_PUSH_URL": gateway.url}
        first = run("--db", db_url, "--json", env=env)
        assert json.loads(first.stdout)["failed"] == 3
        with connect(db_url).begin() as conn:  # as if an outage had outlasted its retries
            conn.execute(
                update(notifications)
                .where(notifications.c.id == gave_up)
                .values(last_error="gave-up: after 8 attempts; last error: SMTP 451")
            )
        relaying_denied = False

        plain = run("--db", db_url, "--requeue-failed", "--json", env=env)
        summary = json.loads(plain.stdout)
        assert (summary["requeued"], summary["requeued_rejected"], summary["sent"]) == (1, 0, 1)
        assert {r["status"] for r in table(db_url).values()} == {"sent", "failed"}

        fixed = run("--db", db_url, "--requeue-failed", "--include-rejected", env=env)
        assert fixed.exit_code == 0, fixed.output
        assert "Requeued 2 failed notifications (2 of them rejected before)" in fixed.stdout
        assert "Sent 2 · retried 0 · failed 0" in fixed.stdout
        assert smtp.keys() == dict.fromkeys(table(db_url), 1)
    stored = table(db_url)
    assert {r["status"] for r in stored.values()} == {"sent"}
    assert {r["attempts"] for r in stored.values()} == {1}  # a fresh attempt budget


def test_include_rejected_alone_is_refused(db_url, smtp):
    result = run("--db", db_url, "--include-rejected", env={"RECOMPENSE_SMTP_PORT": str(smtp.port)})
    assert result.exit_code == 2
    assert "--include-rejected only goes with --requeue-failed" in result.stderr


def test_a_channel_still_down_at_exit_is_named_with_what_to_do(db_url, gateway):
    insert_rows(db_url, outbox_rows([1, 2]))
    down = SmtpSink()  # nothing listens on its port
    env = {"RECOMPENSE_SMTP_PORT": str(down.port), "RECOMPENSE_PUSH_URL": gateway.url}

    result = run("--db", db_url, env=env)

    assert result.exit_code == 3, result.output  # the relay is unavailable; nothing lost
    assert (
        "Sent 2 · retried 0 · failed 0 · waited for a channel 2 · left pending 2" in result.stdout
    )
    assert "warning: email channel down: cannot open an SMTP session" in result.stderr
    assert "warning: the email channel is still down" in result.stderr
    assert "its rows wait in the outbox with their attempts intact" in result.stderr
