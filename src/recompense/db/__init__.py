"""The database's schema: every table on one ``MetaData``, one module per domain.

::

    base     the one MetaData, TS (UTC timestamps), BIG_ID (auto-numbered ids), one_of()
    ledger   programmes, accounts, the journal, vouchers, the outbox, audit, approvals
    loans    the loan fund: applications, approvals, schedule, events, access log
    cases    appeals and claims, their events, evidence, decisions and approvals
    web      the web service's access log and sign-in sessions

Why one package: the Alembic environment (``recompense/ledger/migrations/env.py``)
targets :data:`metadata`, and autogenerate compares it with the database, so a table
missing here is a table ``alembic revision --autogenerate`` proposes to drop.
Importing any module of this package imports all of them, so :data:`metadata` always
holds every table. The package imports nothing else of recompense (SQLAlchemy only), so
every domain can use it without an import cycle; each domain's ``schema`` module
(``recompense.ledger.schema``, ``recompense.loans.schema``, ``recompense.cases.schema``)
re-exports its tables and the constants their CHECK constraints are written from.

The migrations create these tables and, beyond what SQLAlchemy describes, the triggers
(append-only journals, balance checks) and PostgreSQL's row-level security; the models
must match what they create — ``tests/ledger/test_schema_matches_migrations.py``.
How to add a migration: ``docs/ledger.md``, "Schema and migrations".
"""

from __future__ import annotations

from recompense.db import cases, ledger, loans, web
from recompense.db.base import metadata

__all__ = ["cases", "ledger", "loans", "metadata", "web"]
