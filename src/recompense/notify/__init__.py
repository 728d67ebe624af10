"""Notifications: drain the transactional outbox to email (SMTP) and app push (HTTP).

Distribution writes one ``notifications`` row per voucher and channel in the same
transaction as the voucher; this package delivers them, at least once, with a stable
idempotency key so a receiver that dedupes sees each notification once.

- :mod:`~recompense.notify.settings`: ``NotifySettings`` from ``RECOMPENSE_*`` variables;
- :mod:`~recompense.notify.outbox`: the row state machine, one function per transition;
- :mod:`~recompense.notify.worker`: ``drain()``: claim a batch, send it, record outcomes;
- :mod:`~recompense.notify.dispatch`: sender threads, rate limit, error → outcome, probes;
- :mod:`~recompense.notify.breaker`: a circuit breaker per channel: while the relay or
  the gateway is down its rows wait (no attempt counted) until a probe finds it back; a
  channel-down answer while the peer is shown up counts against the notification;
- :mod:`~recompense.notify.mail`: SMTP sender and the MIME message (text + HTML);
- :mod:`~recompense.notify.push`: push-gateway sender (JSON POST with ``Idempotency-Key``);
- :mod:`~recompense.notify.deadline`: one deadline per send on every socket operation
  (SMTP and HTTP), so no send outlives its row's lease;
- :mod:`~recompense.notify.templates`: the payload contract and localized texts (en, es);
- :mod:`~recompense.notify.pacing`: exponential backoff with full jitter, token bucket;
- :mod:`~recompense.notify.metrics`: the worker's Prometheus counters (sent, retried,
  failed by channel, send latency), served on ``--metrics-port`` or written to a file.

Errors (in :mod:`~recompense.notify.errors`)::

    RecompenseError
    └── NotifyError
        ├── NotifySettingsError (also InputError)  a setting that cannot be used: exit 2
        ├── OutboxError (also UnavailableError)  the database failed mid-drain: exit 3;
        │                        leases expire, rows return, a re-run resumes
        └── DeliveryError        one notification, with its id and channel
            ├── TransientDeliveryError  retry with backoff (refused, timeout, 4xx SMTP,
            │                           HTTP 5xx/429/408); ``retry_after`` when told;
            │                           ``channel_down``: the peer, not the row (refused,
            │                           auth, SMTP 421, HTTP 502-504): wait, no attempt
            │                           (unless the peer is shown up: breaker.py)
            └── PermanentDeliveryError  record and stop (SMTP 5xx, HTTP 4xx, bad payload)

SMTP, HTTP and database exceptions are translated at the boundary (``raise … from exc``).
Opening the database raises :class:`~recompense.ledger.errors.LedgerError`.
"""

from __future__ import annotations

from recompense.notify.errors import (
    DeliveryError,
    NotifyError,
    NotifySettingsError,
    OutboxError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from recompense.notify.settings import NotifySettings
from recompense.notify.worker import DrainResult, drain

__all__ = [
    "DeliveryError",
    "DrainResult",
    "NotifyError",
    "NotifySettings",
    "NotifySettingsError",
    "OutboxError",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "drain",
]
