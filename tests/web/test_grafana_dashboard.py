"""The Grafana dashboard (``ops/grafana/recompense.json``) asks only for metrics that exist.

Every PromQL expression of every panel is read, the metric names in it extracted, and
each looked up in what the processes really export after real work: the web service's
``/metrics`` after a distribution, a redemption, a loan fund and a few requests; the
notification worker's after it drained that distribution's outbox into a real SMTP
server and a push gateway that rejects some pushes and asks to retry others.
``recompense_notify_*`` names must come from the worker, every other from the service.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from recompense.ledger.db import connect
from recompense.loans.fund import ensure_fund
from recompense.loans.policy import load_loan_policy
from recompense.notify import NotifySettings, drain
from recompense.notify.metrics import REGISTRY
from recompense.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "recompense.json"
METRIC = re.compile(r"\brecompense_[a-z0-9_]+\b")
TOKEN = "dashboard-scraper-" + "d" * 32
sys.path.insert(0, str(ROOT / "tests" / "notify"))

from notify_support import HttpSink, SmtpSink  # noqa: E402


def expressions(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, rows' nested panels included."""
    found = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def names(exposition: str) -> set[str]:
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def test_the_dashboard_is_valid_json_with_queries():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = expressions(dashboard)
    assert len(queries) >= 20
    for title, expr in queries:
        assert METRIC.search(expr), f"{title!r}: {expr} names none of our metrics"
        assert expr.count("(") == expr.count(")"), f"{title!r}: unbalanced parentheses"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_query_names_a_metric_the_processes_export(served):
    from starlette.testclient import TestClient

    # the web service: a loan fund, a redemption, some answers of every kind
    with connect(served.url).begin() as conn:
        ensure_fund(
            conn, load_loan_policy(ROOT / "programs" / "loans-2025-10.toml"), datetime.now(UTC)
        )
    app = create_app(dataclasses.replace(served.settings, metrics_token=TOKEN.encode()))
    with TestClient(app, raise_server_exceptions=False) as client:
        owner = served.bearer("user", served.owner)
        assert (
            client.post(
                f"/api/vouchers/{served.voucher(served.owner)}/redeem", headers=owner
            ).status_code
            == 200
        )
        client.get("/no/such/page")
        # the worker drains the distribution's outbox (the web gauges move with it)
        _drain(served.url)
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    web = names(answer.text)
    worker = names(generate_latest(REGISTRY).decode())

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    missing = []
    for title, expr in expressions(dashboard):
        for name in METRIC.findall(expr):
            exported = worker if name.startswith("recompense_notify_") else web
            if name not in exported:
                missing.append(f"{title}: {name}")
    assert not missing, "queried but not exported:\n" + "\n".join(sorted(set(missing)))


def _drain(url: str) -> None:
    """Email to a real SMTP server; pushes: every 5th rejected, every 7th told to retry."""

    def respond(push):
        user = push.body["user_id"]
        if user % 5 == 0:
            return 404, {}, b'{"error":"no such device"}'
        if user % 7 == 0:
            return 503, {}, b"busy"
        return 200, {}, b'{"ok":true}'

    with SmtpSink() as smtp, HttpSink(respond=respond) as gateway:
        settings = NotifySettings(
            smtp_port=smtp.port,
            push_url=gateway.url,
            smtp_timeout=5,
            push_timeout=5,
            lease_seconds=30,
            backoff_base=0.01,
            backoff_cap=0.02,
            max_attempts=2,
            poll_seconds=0.05,
        )
        result = drain(url, settings, once=False, stop_when_idle=True)
    assert result.sent
    assert result.failed
    assert result.retried
