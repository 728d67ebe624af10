"""``/metrics`` after a real distribution: the ledger's numbers, the request metrics, the
token gate, and a scrape storm that reads the database once.

Everything runs on the ``served`` app (SQLite and PostgreSQL), scraped through HTTP
with the scraper's bearer token, and parsed with prometheus-client's own parser.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from recompense.ledger.db import connect
from recompense.ledger.schema import notifications
from recompense.runs import read_allocations, read_manifest
from recompense.web.app import create_app

METRICS_TOKEN = "scraper-" + "m" * 40
PROGRAM = "together-2025-10"


def metered(served, **changes):
    """The served app again, with the scraper's token configured (and ``changes``)."""
    settings = dataclasses.replace(served.settings, metrics_token=METRICS_TOKEN.encode(), **changes)
    return create_app(settings)


def scrape(client, token: str = METRICS_TOKEN) -> dict[str, dict[tuple, float]]:
    """``{sample name: {sorted label items: value}}`` from ``/metrics``."""
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    found: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return found


def one(samples: dict[tuple, float], **labels: str) -> float:
    return samples[tuple(sorted(labels.items()))]


def test_a_scrape_after_a_distribution_shows_the_ledger(served):
    from starlette.testclient import TestClient

    allocations = read_allocations(served.run).to_pylist()
    manifest = read_manifest(served.run)
    with TestClient(metered(served)) as client:
        got = scrape(client)
    issued = len(allocations)
    cents = sum(a["amount_cents"] for a in allocations)
    assert issued == manifest["counts"]["eligible"] > 0
    assert one(got["recompense_vouchers"], program=PROGRAM, status="issued") == issued
    for state in ("redeemed", "expired", "revoked"):
        assert one(got["recompense_vouchers"], program=PROGRAM, status=state) == 0
    amounts = got["recompense_vouchers_amount_cents"]
    assert one(amounts, program=PROGRAM, currency="USDC", status="issued") == cents
    assert one(got["recompense_distribution_vouchers_planned"], program=PROGRAM) == issued
    assert one(got["recompense_distribution_vouchers_issued"], program=PROGRAM) == issued
    planned = got["recompense_distribution_amount_planned_cents"]
    assert one(planned, program=PROGRAM, currency="USDC") == cents
    assert got["recompense_distribution_completed_timestamp_seconds"]
    deadlines = got["recompense_distribution_deadline_timestamp_seconds"]
    start = one(deadlines, program=PROGRAM, promise="start")
    assert one(deadlines, program=PROGRAM, promise="complete") - start == 72 * 3600
    # the outbox as the database has it: every notification pending, none failed
    with connect(served.url).connect() as conn:
        rows = conn.execute(
            select(notifications.c.channel, func.count()).group_by(notifications.c.channel)
        ).fetchall()
    outbox = got["recompense_outbox_notifications"]
    for channel, count in rows:
        assert one(outbox, channel=channel, status="pending") == count
        assert one(outbox, channel=channel, status="failed") == 0
        assert one(got["recompense_outbox_oldest_pending_age_seconds"], channel=channel) >= 0
    assert dict(rows)["push"] == issued  # an app push per voucher (and most have an email)
    assert one(got["recompense_ledger_metrics_ok"]) == 1


def test_redemptions_move_the_gauges_and_requests_are_counted_by_route(served):
    from starlette.testclient import TestClient

    app = metered(served)
    app.state.metrics.ledger.ttl = 0  # read the ledger at every scrape, for this test
    owner, voucher = served.owner, served.voucher(served.owner)
    amount = next(
        a["amount_cents"] for a in read_allocations(served.run).to_pylist() if a["user_id"] == owner
    )
    with TestClient(app) as client:
        before = scrape(client)
        headers = served.bearer("user", owner)
        assert client.post(f"/api/vouchers/{voucher}/redeem", headers=headers).status_code == 200
        for _ in range(3):
            assert client.get(f"/api/users/{owner}/vouchers", headers=headers).status_code == 200
        assert client.get(f"/api/users/{served.other}/vouchers", headers=headers).status_code == 404
        assert client.get("/no/such/page").status_code == 404
        after = scrape(client)
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text

    redeemed = after["recompense_vouchers"]
    assert one(redeemed, program=PROGRAM, status="redeemed") == 1
    assert one(redeemed, program=PROGRAM, status="issued") == (
        one(before["recompense_vouchers"], program=PROGRAM, status="issued") - 1
    )
    amounts = after["recompense_vouchers_amount_cents"]
    assert one(amounts, program=PROGRAM, currency="USDC", status="redeemed") == amount

    route = "/api/users/{user_id}/vouchers"
    count = after["recompense_http_request_duration_seconds_count"]
    assert one(count, method="GET", route=route) == 4
    responses = after["recompense_http_responses_total"]
    assert one(responses, method="GET", route=route, status="2xx") == 3
    assert one(responses, method="GET", route=route, status="4xx") == 1
    assert one(responses, method="GET", route="unmatched", status="4xx") == 1
    redeem = "/api/vouchers/{voucher_id}/redeem"
    assert one(responses, method="POST", route=redeem, status="2xx") == 1
    buckets = after["recompense_http_request_duration_seconds_bucket"]
    assert one(buckets, method="GET", route=route, le="+Inf") == 4
    # labels are route templates: no user id, no voucher id anywhere in the request metrics
    labels = [
        line.split("}")[0] for line in text.splitlines() if line.startswith("recompense_http_")
    ]
    assert labels
    assert not [line for line in labels if str(owner) in line or voucher in line]


def test_the_metrics_are_for_the_scraper_only(served):
    from starlette.testclient import TestClient

    with TestClient(metered(served)) as client:
        unknown = client.get("/no-such-endpoint")
        refused = [
            client.get("/metrics"),
            client.get("/metrics", headers={"Authorization": "Bearer wrong-" + "x" * 40}),
            client.get("/metrics", headers={"Authorization": METRICS_TOKEN}),  # no scheme
            client.get("/metrics", headers=served.bearer("ops")),  # a staff token is not it
            client.get("/metrics", headers=served.bearer("auditor")),
            client.get(f"/metrics?token={METRICS_TOKEN}"),
        ]
        for answer in refused:  # not advertised: the same answer as a path that does not exist
            assert (answer.status_code, answer.json()) == (404, unknown.json())
        assert scrape(client)["recompense_ledger_metrics_ok"]
        schema = client.get("/api/openapi.json").json()
    assert "/metrics" not in schema["paths"]
    # and with no token configured, nobody gets them
    with TestClient(create_app(served.settings)) as client:
        assert served.settings.metrics_token is None
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 404


def test_a_scrape_storm_reads_the_database_once(served):
    from starlette.testclient import TestClient

    app = metered(served)
    with TestClient(app) as client:
        for _ in range(25):
            assert scrape(client)["recompense_ledger_metrics_ok"]
    assert app.state.metrics.ledger.reads == 1  # the 5 s cache answered the other 24


def test_request_metrics_and_access_log_can_be_switched_off(served, caplog):
    from starlette.testclient import TestClient

    app = metered(served, request_metrics=False, access_log=False)
    with TestClient(app) as client, caplog.at_level("INFO", logger="recompense.web.access"):
        assert client.get("/healthz").headers["x-request-id"]  # the request id stays
        got = scrape(client)
    assert "recompense_http_request_duration_seconds_count" not in got
    assert got["recompense_vouchers"]  # the ledger's gauges are still there
    assert not [r for r in caplog.records if r.name == "recompense.web.access"]


@pytest.mark.parametrize("value", ["short", ""])
def test_a_short_metrics_token_is_refused_at_start_up(value, tmp_path):
    from recompense.web.errors import WebSettingsError
    from recompense.web.settings import Settings

    env = {"RECOMPENSE_JWT_SECRET": "s" * 40, "RECOMPENSE_METRICS_TOKEN": value}
    if not value:  # empty: not configured
        assert Settings.from_env(env, db_url="sqlite://").metrics_token is None
        return
    with pytest.raises(WebSettingsError, match="RECOMPENSE_METRICS_TOKEN"):
        Settings.from_env(env, db_url="sqlite://")
    token_file = tmp_path / "metrics-token"
    token_file.write_text("t" * 40 + "\n")
    env = {"RECOMPENSE_JWT_SECRET": "s" * 40, "RECOMPENSE_METRICS_TOKEN_FILE": str(token_file)}
    assert Settings.from_env(env, db_url="sqlite://").metrics_token == b"t" * 40
