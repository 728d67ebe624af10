"""The worker's counters: what it sent, retried and gave up, per channel, and how they
leave the process (an HTTP endpoint, or a text file for node_exporter).

The counters are process-wide, so each test compares them before and after its drain.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from notify_support import HttpSink, free_port, insert_rows, outbox_rows, table
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from recompense.cli.main import app
from recompense.notify import NotifySettingsError, drain
from recompense.notify.metrics import REGISTRY, Exposition


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def parse(text: str) -> dict[str, dict[tuple, float]]:
    found: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[s.name][tuple(sorted(s.labels.items()))] = s.value
    return found


def by_user(push) -> tuple[int, dict[str, str], bytes]:
    """Users 1–4 are delivered, 5–6 rejected for good (404), 7–8 told to retry (500)."""
    user = push.body["user_id"]
    if user in (5, 6):
        return 404, {}, b'{"error":"no such device"}'
    if user in (7, 8):
        return 500, {}, b"busy"
    return 200, {}, b'{"ok":true}'


def test_the_counters_follow_what_the_worker_did(db_url, settings, smtp):
    before = {
        "sent_email": sample("recompense_notify_sent_total", channel="email"),
        "sent_push": sample("recompense_notify_sent_total", channel="push"),
        "rejected": sample("recompense_notify_failed_total", channel="push", reason="rejected"),
        "retried": sample("recompense_notify_retried_total", channel="push"),
        "sends": sample(
            "recompense_notify_send_duration_seconds_count", channel="push", result="sent"
        ),
        "batches": sample("recompense_notify_batches_total"),
    }
    insert_rows(db_url, outbox_rows(range(1, 9)))
    with HttpSink(respond=by_user) as gateway:
        later = settings.replace(push_url=gateway.url, backoff_base=60, backoff_cap=60)
        result = drain(db_url, later)  # the retries are due in a minute: not in this drain
    assert (result.sent, result.failed, result.retried) == (12, 2, 2)  # 8 emails + 4 pushes

    statuses = defaultdict(int)
    for row in table(db_url).values():
        statuses[row["channel"], row["status"]] += 1
    assert sample("recompense_notify_sent_total", channel="email") - before["sent_email"] == 8
    assert sample("recompense_notify_sent_total", channel="push") - before["sent_push"] == 4
    rejected = sample("recompense_notify_failed_total", channel="push", reason="rejected")
    assert rejected - before["rejected"] == statuses["push", "failed"] == 2
    retried = sample("recompense_notify_retried_total", channel="push")
    assert retried - before["retried"] == statuses["push", "pending"] == 2
    sends = sample("recompense_notify_send_duration_seconds_count", channel="push", result="sent")
    assert sends - before["sends"] == 4
    assert sample("recompense_notify_send_duration_seconds_count", channel="push", result="retry")
    assert sample("recompense_notify_batches_total") - before["batches"] >= 1
    assert sample("recompense_notify_last_batch_timestamp_seconds") > 0

    port = free_port()
    with Exposition(port=port).start():
        scraped = parse(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
    assert scraped["recompense_notify_sent_total"][(("channel", "push"),)] == sample(
        "recompense_notify_sent_total", channel="push"
    )
    with pytest.raises(httpx.TransportError):  # stopped with the worker
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_the_cli_writes_a_textfile_and_refuses_a_port_in_use(db_url, smtp, gateway, tmp_path):
    insert_rows(db_url, outbox_rows([1, 2, 3]))
    env = {"RECOMPENSE_SMTP_PORT": str(smtp.port), "RECOMPENSE_PUSH_URL": gateway.url}
    path = tmp_path / "notify.prom"
    before = sample("recompense_notify_sent_total", channel="email")
    result = CliRunner().invoke(
        app,
        ["notify", "--db", db_url, "--json", "--metrics-textfile", str(path)],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sent"] == 6
    written = parse(path.read_text())
    assert written["recompense_notify_sent_total"][(("channel", "email"),)] == before + 3
    assert not list(tmp_path.glob("notify.prom.*"))  # written through a temporary file

    with Exposition(port=free_port()) as taken:
        taken.start()
        busy = CliRunner().invoke(
            app,
            ["notify", "--db", db_url, "--metrics-port", str(taken.port)],
            env=env,
            catch_exceptions=False,
        )
    assert busy.exit_code == 2
    assert f"--metrics-port {taken.port} on 127.0.0.1" in busy.stderr


def test_unusable_settings_are_refused_before_any_work(tmp_path):
    for textfile, reason in (
        (tmp_path / "no" / "such" / "dir" / "notify.prom", "No such file or directory"),
        (tmp_path / "notify.txt", "must end in .prom"),
        (Path("/dev/null"), "must end in .prom"),
        (tmp_path, "must end in .prom"),
    ):
        with pytest.raises(NotifySettingsError, match=f"--metrics-textfile .*{reason}"):
            Exposition(textfile=textfile).start()
    (tmp_path / "a-folder.prom").mkdir()
    with pytest.raises(NotifySettingsError, match="exists and is not a file"):
        Exposition(textfile=tmp_path / "a-folder.prom").start()
    with pytest.raises(NotifySettingsError, match="--metrics-host 'localhost': an IP address"):
        Exposition(port=free_port(), host="localhost").start()
