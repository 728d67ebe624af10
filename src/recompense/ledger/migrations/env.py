"""Alembic environment: the URL comes from the caller (``recompense db upgrade --db URL``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

import recompense.cases.schema  # noqa: F401  (the cases' tables are on the same metadata)
from recompense.ledger.schema import metadata

config = context.config


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section) or {},
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
