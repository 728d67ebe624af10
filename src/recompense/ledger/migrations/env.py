"""Alembic environment: the URL comes from the caller (``recompense db upgrade --db URL``).

The target is the one :data:`recompense.db.metadata`, which holds every table (importing
:mod:`recompense.db` imports each domain's module), compared with the options of
:func:`recompense.db.comparison.comparison_options`, so ``alembic revision
--autogenerate`` proposes only what the models changed (``docs/ledger.md``, "Schema and
migrations"). Batch mode, for SQLite, which alters a table by rebuilding it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from recompense.db import metadata
from recompense.db.comparison import comparison_options

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
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        **comparison_options(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
