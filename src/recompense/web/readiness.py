"""Whether this process can serve: the checks behind ``GET /readyz``.

Three checks, in order, each ``ok``, ``failed`` or ``skipped`` (when an earlier one
makes it meaningless), with a reason:

- ``database``: a ``SELECT 1`` on the service's read engine answers;
- ``schema``: the database is at the code's Alembic revision (the one
  :func:`recompense.ledger.db.require_schema` demands of every command). Behind, the
  code needs tables that are not there; ahead, a newer release migrated it. The service
  refuses to *start* on such a database; this check sees it change under a running one
  (a restore, a migration run while it serves);
- ``runs``: every distributed programme's run folder is where the ledger says, and its
  ``manifest.json`` is the one distributed (its SHA-256 is the recorded fingerprint):
  without it the service answers 503 for that programme's pages.

``liveness`` (``/healthz``) is not here: it must not depend on the database, or a
database outage would have the orchestrator restart every healthy process.

Reasons name what failed without internal detail (no host names, no file paths: the
endpoint is public, for the orchestrator's probes); the log line of the failure has the
detail.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from recompense.errors import RecompenseError
from recompense.ledger.db import MIGRATIONS, current_revision
from recompense.runs import run_fingerprint
from recompense.web import queries

State = Literal["ok", "failed", "skipped"]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    state: State
    detail: str


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.state == "ok" for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not ready",
            "failed": [c.name for c in self.checks if c.state == "failed"],
            "checks": {c.name: {"state": c.state, "detail": c.detail} for c in self.checks},
        }


def readiness(engine: Engine, *, head: str | None = None) -> Readiness:
    """Run the three checks against ``engine`` (``head``: the code's revision)."""
    database = _database(engine)
    if database.state != "ok":
        skipped = "not checked: the database is unreachable"
        return Readiness(
            (database, Check("schema", "skipped", skipped), Check("runs", "skipped", skipped))
        )
    schema = _schema(engine, head or code_revision())
    if schema.state != "ok":
        skipped = "not checked: the schema is not the code's"
        return Readiness((database, schema, Check("runs", "skipped", skipped)))
    return Readiness((database, schema, _runs(engine)))


class Probe:
    """:func:`readiness`, answered from the last result for ``ttl`` seconds: the
    endpoint is public, and a burst of probes must not become a burst of queries."""

    def __init__(self, engine: Engine, *, ttl: float = 1.0) -> None:
        self.engine, self.ttl = engine, ttl
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._last: Readiness | None = None

    def __call__(self) -> Readiness:
        with self._lock:
            if self._last is None or time.monotonic() - self._at >= self.ttl:
                self._last = readiness(self.engine)
                self._at = time.monotonic()
            return self._last


@cache
def code_revision() -> str:
    """The Alembic head this code was written for."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    return head or "none"


def _database(engine: Engine) -> Check:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("readiness: the database is unreachable", exc_info=exc)
        return Check("database", "failed", f"unreachable ({type(exc).__name__})")
    return Check("database", "ok", "reachable")


def _schema(engine: Engine, head: str) -> Check:
    try:
        at = current_revision(engine)
    except SQLAlchemyError as exc:
        log.warning("readiness: cannot read the schema revision", exc_info=exc)
        return Check("schema", "failed", f"cannot read the revision ({type(exc).__name__})")
    if at != head:
        return Check("schema", "failed", f"at revision {at}, the code needs {head}")
    return Check("schema", "ok", f"at revision {head}")


def _runs(engine: Engine) -> Check:
    try:
        found = queries.programmes(engine)
    except SQLAlchemyError as exc:
        log.warning("readiness: cannot read the programmes", exc_info=exc)
        return Check("runs", "failed", f"cannot read the programmes ({type(exc).__name__})")
    problems = []
    for programme in found:
        problem = _run_problem(programme)
        if problem:
            log.warning("readiness: %s", problem, extra={"run_path": programme.run_path})
            problems.append(problem)
    if problems:
        return Check("runs", "failed", "; ".join(problems))
    return Check("runs", "ok", f"{len(found)} programme(s), every run folder present")


def _run_problem(p: queries.Programme) -> str | None:
    run = Path(p.run_path)
    if not (run / "manifest.json").is_file():
        return f"programme {p.id}: its run folder is missing"
    try:
        fingerprint = run_fingerprint(run)
    except (RecompenseError, OSError):
        return f"programme {p.id}: its run folder cannot be read"
    if fingerprint != p.run_fingerprint:
        return f"programme {p.id}: its run folder is not the distributed run"
    return None
