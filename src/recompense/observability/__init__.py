"""Seeing the service run: structured logs, request ids, Prometheus metrics of the ledger.

Map of the package::

    logs.py       one JSON object per log line; the request id (a context variable) on
                  every line emitted while a request is served, in its thread-pool work
                  and its database errors too; the filter that keeps tokens, email
                  addresses and loan fields out of every line; the logging configuration
                  ``recompense serve`` hands uvicorn
    gauges.py     the ledger's figures as Prometheus gauges, read from the database when
                  scraped (vouchers, outbox, distribution progress, the loan fund), a few
                  cheap aggregate queries cached for a few seconds

The web service's request metrics and ``/metrics``, ``/healthz`` and ``/readyz`` are in
:mod:`recompense.web.telemetry` and :mod:`recompense.web.routes.health`; the notification
worker's counters in :mod:`recompense.notify.metrics`. What is exported, and the Grafana
dashboard built on it (``ops/grafana/recompense.json``), are described in
``docs/operations.md``.
"""
