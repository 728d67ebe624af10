"""``/healthz`` (alive, no database) and ``/readyz`` (database, schema, run folders).

Readiness is tested against real causes: a database migrated to an older revision with
Alembic, the schema moved back under a running service, a run folder moved away, and a
database that does not answer.
"""

from __future__ import annotations

import shutil

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event

from recompense.ledger.db import MIGRATIONS, connect, current_revision, upgrade
from recompense.web.app import create_app
from recompense.web.readiness import code_revision, readiness


def migrate(url: str, revision: str, *, down: bool = False) -> None:
    """Alembic to ``revision`` (up or down), on the connection the ledger uses."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with connect(url).begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_healthz_answers_without_the_database(served):
    from starlette.testclient import TestClient

    app = create_app(served.settings)
    service = app.state.service
    checkouts: list[object] = []

    def taken(*args: object) -> None:
        checkouts.append(args)

    engines = {service.engine, service.reads}
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok", "programmes": 1}
        for engine in engines:
            event.listen(engine, "checkout", taken)
        try:
            for _ in range(5):
                assert client.get("/healthz").status_code == 200
        finally:
            for engine in engines:
                event.remove(engine, "checkout", taken)
    assert checkouts == []  # not one connection taken from either pool


def test_readyz_when_everything_is_in_place(served):
    from starlette.testclient import TestClient

    with TestClient(create_app(served.settings)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ready"
    assert body["failed"] == []
    assert {name: c["state"] for name, c in body["checks"].items()} == {
        "database": "ok",
        "schema": "ok",
        "runs": "ok",
    }
    assert code_revision() in body["checks"]["schema"]["detail"]


def test_a_schema_moved_back_under_a_running_service_is_not_ready(served):
    """The service started at the code's revision; a migration is undone under it."""
    from starlette.testclient import TestClient

    app = create_app(served.settings)
    app.state.readiness.ttl = 0
    head = code_revision()
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        migrate(served.url, "-1", down=True)
        behind = current_revision(connect(served.url))
        answer = client.get("/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["status"] == "not ready"
        assert body["failed"] == ["schema"]
        detail = body["checks"]["schema"]["detail"]
        assert detail == f"at revision {behind}, the code needs {head}"
        assert body["checks"]["runs"]["state"] == "skipped"
        assert answer.headers["cache-control"] == "no-store"
        assert client.get("/healthz").status_code == 200  # alive all the same
        migrate(served.url, "head")
        assert client.get("/readyz").status_code == 200


def test_a_database_at_an_older_revision_is_not_ready(tmp_path):
    """A ledger Alembic migrated only to 0004 (before the audit trail)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0004")
    result = readiness(connect(url))
    assert not result.ready
    assert result.as_dict()["failed"] == ["schema"]
    assert result.as_dict()["checks"]["schema"]["detail"] == (
        f"at revision 0004, the code needs {code_revision()}"
    )
    upgrade(url)
    assert readiness(connect(url)).ready


def test_a_missing_run_folder_is_not_ready(served, tmp_path):
    from starlette.testclient import TestClient

    app = create_app(served.settings)
    app.state.readiness.ttl = 0
    away = tmp_path / "moved"
    with TestClient(app) as client:
        shutil.move(served.run, away)
        try:
            answer = client.get("/readyz")
        finally:
            shutil.move(away, served.run)
        assert answer.status_code == 503
        body = answer.json()
        assert body["failed"] == ["runs"]
        detail = body["checks"]["runs"]["detail"]
        assert detail == "programme together-2025-10: its run folder is missing"
        assert str(served.run) not in answer.text  # no file paths to the public
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"])
def test_an_unreachable_database_is_not_ready(url):
    engine = create_engine(url)
    result = readiness(engine).as_dict()
    assert result["status"] == "not ready"
    assert result["failed"] == ["database"]
    assert result["checks"]["database"]["detail"] == "unreachable (OperationalError)"
    assert result["checks"]["schema"]["state"] == "skipped"
    assert "127.0.0.1" not in str(result)  # no host names to the public
