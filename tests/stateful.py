"""A fresh, migrated ledger database for each example of a Hypothesis state machine.

Each example of a ``RuleBasedStateMachine`` must start from the same empty state, or a
failure would depend on the examples before it and could not be shrunk. Migrating takes
about 0.4 s; an SQLite example instead copies a file migrated once per test (a few ms),
and a PostgreSQL example gets a schema of its own (created, migrated, dropped: ~0.6 s).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from recompense.ledger.db import connect, upgrade

POSTGRES_URL = os.environ.get(
    "RECOMPENSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class Databases:
    """``fresh()`` gives a new migrated database URL; ``close()`` drops every one."""

    def __init__(self, backend: str, root: Path) -> None:
        self.backend, self.root = backend, root
        self.made: list[str] = []
        self.schemas: list[str] = []
        self.template: Path | None = None
        if backend == "sqlite":
            self.template = root / "template.db"
            template = f"sqlite:///{self.template}"
            upgrade(template)
            connect(template).dispose()  # the last connection closed: the WAL is checkpointed
            assert not Path(f"{self.template}-wal").exists(), "a copy would miss the WAL"
        else:
            _reachable()

    def fresh(self) -> str:
        if self.template is not None:
            copy = self.root / f"{uuid.uuid4().hex[:12]}.db"
            shutil.copyfile(self.template, copy)
            url = f"sqlite:///{copy}"
        else:
            schema = f"m_{uuid.uuid4().hex[:12]}"
            _admin(f"CREATE SCHEMA {schema}")
            self.schemas.append(schema)
            sep = "&" if "?" in POSTGRES_URL else "?"
            url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
            upgrade(url)
        self.made.append(url)
        return url

    def release(self, url: str) -> None:
        """Close the pooled connections of one example's database (its engine is cached)."""
        connect(url).dispose()

    def close(self) -> None:
        for url in self.made:
            connect(url).dispose()
        for schema in self.schemas:
            _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _admin(statement: str) -> None:
    import psycopg

    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def _reachable() -> None:
    import psycopg

    try:
        _admin("SELECT 1")
    except psycopg.OperationalError as exc:
        if os.environ.get("RECOMPENSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
