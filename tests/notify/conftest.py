"""Fixtures for the notification tests: a migrated ledger on every backend, real sinks.

``db_url`` runs each test on SQLite (a file in tmp_path) and PostgreSQL (a schema of its
own, created and dropped around the test, reached through ``search_path`` in the URL).
PostgreSQL comes from ``RECOMPENSE_TEST_POSTGRES_URL`` (default: the local server); an
unreachable server fails the tests, naming the variable. Set it to ``skip`` to run
without PostgreSQL: those tests are then reported as skipped with that reason.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from recompense.ledger.db import connect, upgrade
from recompense.notify import NotifySettings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from notify_support import HttpSink, SmtpSink

POSTGRES_URL = os.environ.get(
    "RECOMPENSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty ledger; the URL as ``--db`` would take it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        upgrade(url)
        yield url
        connect(url).dispose()
        return
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    if POSTGRES_URL == "skip":
        pytest.skip("RECOMPENSE_TEST_POSTGRES_URL=skip: PostgreSQL not tested")
    schema = f"notify_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} is unreachable ({exc.orig}); set "
            "RECOMPENSE_TEST_POSTGRES_URL to a server, or to 'skip'"
        )
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    shown = url.render_as_string(hide_password=False)
    try:
        upgrade(shown)
        yield shown
    finally:
        connect(shown).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def gateway() -> Iterator[HttpSink]:
    with HttpSink() as sink:
        yield sink


@pytest.fixture
def settings(smtp: SmtpSink, gateway: HttpSink) -> NotifySettings:
    """Settings for the sinks, with retries fast enough for a test."""
    return NotifySettings(
        smtp_port=smtp.port,
        push_url=gateway.url,
        smtp_timeout=5,
        push_timeout=5,
        lease_seconds=30,
        backoff_base=0.02,
        backoff_cap=0.1,
        poll_seconds=0.05,
        probe_base=0.05,
        probe_cap=0.2,
        redeem_url="https://www.binance.com/en/my/coupon",
    )
