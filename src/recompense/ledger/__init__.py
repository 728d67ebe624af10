"""The double-entry voucher ledger (SQLAlchemy 2 Core, Alembic; SQLite or PostgreSQL).

- :mod:`~recompense.ledger.schema`: tables; :mod:`~recompense.ledger.db`: engines, migrations;
- :mod:`~recompense.ledger.limits`: timeouts and keepalives (``RECOMPENSE_DB_*``);
  :mod:`~recompense.ledger.retry`: bounded retries of idempotent transactions;
- :mod:`~recompense.ledger.journal`: balanced, append-only entries and accounts;
- :mod:`~recompense.ledger.vouchers`: redeem, expire, revoke (state transitions);
- :mod:`~recompense.ledger.bulk`: COPY / executemany inside a transaction.

Errors are drawn in :mod:`~recompense.ledger.errors`.
"""
