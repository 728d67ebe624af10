"""Request ids and the JSON logs, through real requests on the ``served`` app.

The logs are captured as ``recompense serve`` writes them: the JSON handler with the
redacting filter (:func:`recompense.observability.logs.json_handler`) on the root logger,
recompense's loggers at debug, everything else at the production levels.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from web_support import captured_logs

from builders import sign_in
from recompense.ledger.db import connect
from recompense.loans import Actor, register_borrower
from recompense.loans.crypto import Keyring
from recompense.loans.desk import Desk
from recompense.loans.policy import load_loan_policy
from recompense.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
LOAN_POLICY = ROOT / "programs" / "loans-2025-10.toml"
HEX32 = re.compile(r"[0-9a-f]{32}")
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
# Values a loan application carries: none may reach a log line.
STATEMENTS = "FY2024 audited kangaroo-5513: revenue 48.2M"
NOTES = "bridge liquidity zebra-7731"
AMOUNT, LOSSES = "123457.89", "987654.32"
LOAN_VALUES = (
    STATEMENTS,
    "kangaroo-5513",
    NOTES,
    "zebra-7731",
    AMOUNT,
    "12345789",
    LOSSES,
    "98765432",
)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # each one JSON


def test_a_well_formed_request_id_is_kept_and_returned(served):
    client = served.client()
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a:2026.12.08_01"})
    assert given.headers["x-request-id"] == "lb-7f3a:2026.12.08_01"
    made = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3
    assert all(HEX32.fullmatch(m) for m in made)
    for bad in ("two words", "x" * 129, 'quote"d', "new\\nline", "ümlaut", ""):
        answer = client.get("/healthz", headers={"X-Request-ID": bad.encode("utf-8")})
        assert HEX32.fullmatch(answer.headers["x-request-id"]), bad


def test_the_request_id_follows_the_request_into_its_database_work(served, caplog):
    """A staff read records the access in ``web_accesses`` from the thread pool; with that
    table gone the insert fails there, and every line of the request carries its id."""
    with connect(served.url).begin() as conn:
        conn.execute(text("DROP TABLE web_accesses"))
    client = served.client(raise_server_exceptions=False)
    headers = {**served.bearer("ops"), "X-Request-ID": "req-db-error-1"}
    with captured_logs() as stream, caplog.at_level(logging.DEBUG, logger="recompense"):
        answer = client.get(f"/api/users/{served.owner}/vouchers", headers=headers)
        client.get("/healthz", headers={"X-Request-ID": "req-after"})
    assert answer.status_code == 500
    found = lines(stream)
    database = [line for line in found if line["logger"] == "recompense.db"]
    assert database
    assert {line["request_id"] for line in database} == {"req-db-error-1"}
    assert database[0]["database"]["message"]  # SQLSTATE / the driver's primary message
    errors = [line for line in found if line["logger"] == "recompense.web.errors"]
    assert [e["request_id"] for e in errors] == ["req-db-error-1"]
    assert errors[0]["error"]["type"].startswith("sqlalchemy.exc.")
    assert any("in record_access" in where for where in errors[0]["error"]["where"])
    access = {
        line["request_id"]: line for line in found if line["logger"] == "recompense.web.access"
    }
    assert access["req-db-error-1"]["status"] == 500
    assert access["req-db-error-1"]["route"] == "/api/users/{user_id}/vouchers"
    assert access["req-after"]["status"] == 200
    # the database error was logged from the thread pool, not the event loop's thread
    threads = {r.name: r.threadName for r in caplog.records}
    assert threads["recompense.db"] != threads["recompense.web.access"]


def test_no_token_email_or_loan_field_is_ever_logged(served, monkeypatch):
    keyring = Keyring({"k1": os.urandom(32)}, "k1")
    monkeypatch.setenv("RECOMPENSE_LOANS_POLICY", str(LOAN_POLICY))
    monkeypatch.setenv(
        "RECOMPENSE_LOANS_KEYS", f"k1:{base64.b64encode(keyring.keys['k1']).decode()}"
    )
    desk = Desk(served.url, load_loan_policy(LOAN_POLICY), keyring)
    register_borrower(desk, Actor("credit_committee", "cc-1"), 1001, "institutional", "am-1")
    recipients = pq.read_table(served.run / "recipients.parquet").to_pylist()
    emails = [
        r["email"]
        for r in recipients
        if r["email"] and r["user_id"] in (served.owner, served.other)
    ]
    assert emails, "the users whose pages are read have email addresses on file"
    secrets: list[str] = [*emails, *LOAN_VALUES, "someone@example.org", "uploaded@example.net"]

    with captured_logs() as stream:
        app = create_app(served.settings)
        from starlette.testclient import TestClient

        with TestClient(app) as client:
            secrets += _browse_as_user(served, client)
        with TestClient(app) as client:
            secrets += _browse_as_staff(served, client)
        with TestClient(app) as client:
            secrets += _loans(served, client)
        with TestClient(app, raise_server_exceptions=False) as client, _refusing_loans(served.url):
            # the database refuses the application: its error (and the statement's
            # parameters, the loan's amount among them) reaches the error log's path
            manager = {"Authorization": f"Bearer {served.token('account_manager', subject='am-1')}"}
            failed = client.post("/api/loans", json=_application(), headers=manager)
            assert failed.status_code == 500
            client.get("/users/someone@example.org/profile")  # a path nobody serves
            client.get("/api/me", headers={"Authorization": "Bearer not-a-jwt-but-secret"})
            secrets.append("not-a-jwt-but-secret")

    logged = stream.getvalue()
    found = lines(stream)
    access = [line for line in found if line["logger"] == "recompense.web.access"]
    assert len(access) >= 25, "every request wrote its access line"
    assert any(line["path"] == "/users/[email]/profile" for line in access)
    assert [line["request_id"] for line in found if line["logger"] == "recompense.db"]
    leaked = [secret for secret in secrets if secret in logged]
    assert not leaked, f"logged: {leaked}"


def _browse_as_user(served, client) -> list[str]:
    """Sign in with a link, read the hub, the explanation, the proof; upload exports."""
    token = served.token("user", served.owner)
    sign_in(client, token)
    for path in (
        "/hub",
        f"/programs/together-2025-10/users/{served.owner}/eligibility",
        f"/programs/together-2025-10/users/{served.owner}/verify",
        f"/api/users/{served.owner}/vouchers",
        "/selfcheck",
    ):
        assert client.get(path).status_code == 200, path
    csrf = CSRF.search(client.get("/selfcheck").text).group(1)
    export = b"Time,Symbol,Realized Profit\n2025-10-10 21:20:00,BTCUSDT,uploaded@example.net\n"
    answer = client.post(
        "/selfcheck",
        data={"csrf_token": csrf, "net_assets_usd": ""},
        files=[("files", ("trades.csv", export, "text/csv"))],
    )
    assert answer.status_code == 422
    bearer = served.token("user", served.other)
    headers = {"Authorization": f"Bearer {bearer}"}
    assert client.get(f"/api/users/{served.other}/vouchers", headers=headers).status_code == 200
    return [token, bearer]


def _browse_as_staff(served, client) -> list[str]:
    token = served.token("ops")
    sign_in(client, token)
    for path in (
        "/ops",
        "/ops/programs/together-2025-10",
        f"/ops/users?user_id={served.owner}",
        f"/api/users/{served.owner}/audit",
        f"/api/users/{served.other}/audit",
    ):
        assert client.get(path).status_code == 200, path
    return [token]


def _loans(served, client) -> list[str]:
    """An application with its sensitive fields, through the API and the console."""
    manager = served.token("account_manager", subject="am-1")
    committee = served.token("credit_committee", subject="cc-1")
    auditor = served.token("auditor", subject="aud-1")
    am, cc = ({"Authorization": f"Bearer {t}"} for t in (manager, committee))
    body = _application()
    created = client.post("/api/loans", json=body, headers=am)
    assert created.status_code == 201, created.text
    loan = created.json()["id"]
    assert (
        client.post(f"/api/loans/{loan}/submit", json={"reason": "ok"}, headers=am).status_code
        == 200
    )
    assert (
        client.post(f"/api/loans/{loan}/approve", json={"reason": "ok"}, headers=cc).status_code
        == 200
    )
    shown = client.get(f"/api/loans/{loan}", params={"reason": "review"}, headers=cc)
    assert shown.status_code == 200
    assert shown.json()["notes"] == NOTES
    bad = client.post("/api/loans", json={**body, "amount_usd": "1.001"}, headers=am)
    assert bad.status_code == 422
    sign_in(client, auditor)
    page = client.get(f"/console/loans/{loan}", params={"reason": "audit"})
    assert page.status_code == 200
    assert "kangaroo-5513" in page.text
    assert client.get("/console/loans").status_code == 200
    return [manager, committee, auditor]


def _application() -> dict[str, object]:
    return {
        "borrower_id": 1001,
        "amount_usd": AMOUNT,
        "term_days": 180,
        "repayment": "instalments",
        "financial_statements": STATEMENTS,
        "stated_losses_usd": LOSSES,
        "notes": NOTES,
    }


@contextmanager
def _refusing_loans(url: str) -> Iterator[None]:
    """A trigger that makes the database refuse every new loan application."""
    engine = connect(url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_loans() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_loans BEFORE INSERT ON loan_applications "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_loans()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_loans BEFORE INSERT ON loan_applications "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("DROP TRIGGER refuse_loans" + (" ON loan_applications" if postgres else ""))
            )
            if postgres:
                conn.execute(text("DROP FUNCTION refuse_loans()"))


def test_serve_with_two_workers_adds_up_their_metrics_and_logs_json(served, tmp_path):
    """``recompense serve --workers 2`` as deployed: whichever worker answers a scrape
    counts every worker's requests, and stderr carries JSON lines only. On PostgreSQL,
    the production database (SQLite's in-process path is the same code, tested above)."""
    if not served.url.startswith("postgresql"):
        pytest.skip("a server process per run is slow: the deployment test runs on PostgreSQL")
    import subprocess
    import sys
    import threading
    import time

    import httpx
    from prometheus_client.parser import text_string_to_metric_families
    from web_support import SECRET

    port, metrics_token = _free_port(), "scrape-" + "z" * 40
    env = {**os.environ, "RECOMPENSE_JWT_SECRET": SECRET, "RECOMPENSE_METRICS_TOKEN": metrics_token}
    for name in ("RECOMPENSE_JWT_PUBLIC_KEY", "RECOMPENSE_JWT_ISSUER", "RECOMPENSE_JWT_AUDIENCE"):
        env.pop(name, None)
    shared = tmp_path / "metrics"
    shared.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)  # so that the test can see the files
    (shared / "counter_1.db").write_bytes(b"stale")  # left by an earlier run: removed
    command = [sys.executable, "-m", "recompense.cli", "serve", "--db", served.url]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(server.stderr), daemon=True)
    reader.start()  # a full pipe would stall the server
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            last = ""
            try:
                answer = httpx.get(f"{base}/readyz", timeout=2)
                if answer.status_code == 200:
                    break
                last = answer.text
            except httpx.TransportError as exc:
                last = repr(exc)
            alive = server.poll() is None and time.monotonic() < deadline
            assert alive, f"server did not start: {last}\n{''.join(stderr)[-3000:]}"
            time.sleep(0.2)
        from recompense.web.auth import mint_token
        from recompense.web.settings import Settings

        local = Settings.from_env({"RECOMPENSE_JWT_SECRET": SECRET}, db_url=served.url)
        bearer = {"Authorization": f"Bearer {mint_token(local, role='ops')}"}
        for n in range(40):  # a new connection each: the kernel spreads them over the workers
            headers = {**bearer, "X-Request-ID": f"two-workers-{n}"}
            assert httpx.get(f"{base}/api/programs", headers=headers, timeout=5).status_code == 200
        scrape = {"Authorization": f"Bearer {metrics_token}"}
        for _ in range(6):
            answer = httpx.get(f"{base}/metrics", headers=scrape, timeout=10)
            assert answer.status_code == 200, "".join(stderr)[-3000:]
            text = answer.text
            counts = {
                s.labels["route"]: s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "recompense_http_request_duration_seconds_count"
            }
            assert counts["/api/programs"] == 40
        assert not (shared / "counter_1.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
        reader.join(timeout=30)
        server.stderr.close()
    logged = [json.loads(line) for line in stderr if line.strip()]  # JSON lines only
    ids = {line.get("request_id") for line in logged if line["logger"] == "recompense.web.access"}
    assert {f"two-workers-{n}" for n in range(40)} <= ids
    assert any(line["logger"].startswith("uvicorn") for line in logged)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
