"""Distribution: vouchers into the ledger, exactly once; status, SLA and reconciliation.

- :mod:`~recompense.distribution.distribute`: batches of vouchers + journal + outbox;
- :mod:`~recompense.distribution.status`: progress and the 24 h / 96 h promises;
- :mod:`~recompense.distribution.reconcile`: proving the books.
"""
