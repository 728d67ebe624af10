"""The notification worker's own counters, for Prometheus.

What the worker did, per process, counted as it happens (the ledger's gauges — the
outbox's backlog and its failures — come from the database through the web service's
``/metrics``, :mod:`recompense.observability.gauges`):

=============================================  =============================================
``recompense_notify_sent_total``               delivered and recorded, by ``channel``
``recompense_notify_retried_total``            transient failures put back to pending
``recompense_notify_failed_total``             given up, by ``channel`` and ``reason``
                                               (``rejected``: permanent; ``gave_up``:
                                               transient ``max_attempts`` times)
``recompense_notify_abandoned_total``          rows whose lease expired ``max_attempts``
                                               times (their worker kept dying)
``recompense_notify_lease_lost_total``         outcomes not recorded: another worker had
                                               taken the row over
``recompense_notify_send_duration_seconds``    one send (SMTP or push), by ``channel`` and
                                               ``result`` (``sent``, ``retry``, ``failed``)
``recompense_notify_batches_total``            batches claimed and recorded
``recompense_notify_last_batch_timestamp``     when the last batch was recorded (Unix s):
``_seconds``                                   a stalled worker shows as a flat line
``recompense_notify_channel_open``             1 while this worker's breaker for
                                               ``channel`` is open (the relay or gateway
                                               is down: its rows wait), else 0
``recompense_notify_channel_trips_total``      times the breaker opened, by ``channel``
``recompense_notify_channel_probes_total``     probes of a channel found down, by
                                               ``channel`` and ``result`` (``up``, ``down``)
``recompense_notify_deferred_total``           rows put back because their channel was
                                               down, by ``channel``: no attempt counted
=============================================  =============================================

Two ways out, chosen per worker (``recompense notify --help``):

- ``--metrics-port PORT``: an HTTP endpoint (prometheus-client's own server, in a thread)
  on ``--metrics-host`` (default ``127.0.0.1``: the scraper runs beside the worker, or the
  operator publishes the port on purpose). For workers that keep running (``--loop``).
- ``--metrics-textfile PATH.prom``: the same text written atomically to ``PATH.prom``
  every few seconds and once more at exit, for node_exporter's textfile collector. For
  workers started by a scheduler (``--once``, ``--until-done``) that exit before any
  scrape.

Counters are process-wide (one worker per process); the CLI exposes them, the library
(:func:`recompense.notify.drain`) only counts.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter as Tally
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
    write_to_textfile,
)

from recompense.notify.errors import NotifySettingsError

REGISTRY = CollectorRegistry()
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TEXTFILE_EVERY_S = 5.0

SENT = Counter(
    "recompense_notify_sent",
    "Notifications delivered and recorded.",
    ["channel"],
    registry=REGISTRY,
)
RETRIED = Counter(
    "recompense_notify_retried",
    "Transient failures put back to pending (after backoff).",
    ["channel"],
    registry=REGISTRY,
)
FAILED = Counter(
    "recompense_notify_failed",
    "Notifications given up: rejected (permanent) or gave_up (max attempts).",
    ["channel", "reason"],
    registry=REGISTRY,
)
ABANDONED = Counter(
    "recompense_notify_abandoned",
    "Rows failed because their lease expired max_attempts times.",
    registry=REGISTRY,
)
LEASE_LOST = Counter(
    "recompense_notify_lease_lost",
    "Outcomes not recorded: another worker had taken the row over.",
    registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "recompense_notify_send_duration_seconds",
    "One send to the SMTP server or the push gateway.",
    ["channel", "result"],
    buckets=SEND_BUCKETS,
    registry=REGISTRY,
)
BATCHES = Counter("recompense_notify_batches", "Batches claimed and recorded.", registry=REGISTRY)
LAST_BATCH = Gauge(
    "recompense_notify_last_batch_timestamp_seconds",
    "When this worker last recorded a batch (Unix seconds).",
    registry=REGISTRY,
)


CHANNEL_OPEN = Gauge(
    "recompense_notify_channel_open",
    "1 while this worker's circuit breaker for the channel is open (peer down), else 0.",
    ["channel"],
    registry=REGISTRY,
)
TRIPS = Counter(
    "recompense_notify_channel_trips",
    "Times this worker's breaker for the channel opened (a send found it down).",
    ["channel"],
    registry=REGISTRY,
)
PROBES = Counter(
    "recompense_notify_channel_probes",
    "Probes of a channel found down, or made right after a send drew a channel-down "
    "answer while others went through: up (answered) or down.",
    ["channel", "result"],
    registry=REGISTRY,
)
DEFERRED = Counter(
    "recompense_notify_deferred",
    "Rows put back to pending because their channel was down (no attempt counted).",
    ["channel"],
    registry=REGISTRY,
)


def channel_open(channel: str, is_open: bool) -> None:
    CHANNEL_OPEN.labels(channel).set(1 if is_open else 0)


def count_recorded(
    sent: Iterable[str],
    retried: Iterable[str],
    failed: Iterable[tuple[str, str]],
    lost: int,
    *,
    deferred: Iterable[str] = (),
) -> None:
    """One recorded batch: the channels of its sent, retried and deferred rows, the
    (channel, reason) of its failures, and how many outcomes were lost to another worker."""
    for channel, n in Tally(sent).items():
        SENT.labels(channel).inc(n)
    for channel, n in Tally(retried).items():
        RETRIED.labels(channel).inc(n)
    for channel, n in Tally(deferred).items():
        DEFERRED.labels(channel).inc(n)
    for (channel, reason), n in Tally(failed).items():
        FAILED.labels(channel, reason).inc(n)
    if lost:
        LEASE_LOST.inc(lost)
    BATCHES.inc()
    LAST_BATCH.set_to_current_time()


class Exposition:
    """Serve :data:`REGISTRY` on ``host:port`` and/or keep ``textfile`` written, from
    :meth:`start` to :meth:`stop` (which writes the file once more). A context manager."""

    def __init__(
        self, *, port: int | None = None, host: str = "127.0.0.1", textfile: Path | None = None
    ) -> None:
        _check(host, textfile)
        self.port, self.host, self.textfile = port, host, textfile
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._writer = _TextfileWriter(textfile) if textfile is not None else None

    def start(self) -> Exposition:
        """Start now; a port in use or a file that cannot be written raises
        :class:`~recompense.notify.errors.NotifySettingsError` naming the option."""
        try:
            if self.port is not None:
                self._server, self._thread = start_http_server(
                    self.port, addr=self.host, registry=REGISTRY
                )
        except OSError as exc:
            raise NotifySettingsError(
                f"--metrics-port {self.port} on {self.host}: {exc.strerror or exc}"
            ) from exc
        try:
            if self._writer is not None:
                self._writer.start()
        except OSError as exc:
            self.stop()
            raise NotifySettingsError(
                f"--metrics-textfile {self.textfile}: {exc.strerror or exc}"
            ) from exc
        return self

    def stop(self) -> None:
        if self._writer is not None and self._writer.started:
            self._writer.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = None

    def __enter__(self) -> Exposition:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _check(host: str, textfile: Path | None) -> None:
    """An IP address to bind (no name lookup), and a ``.prom`` file — what node_exporter
    reads — that is not something else already (the file is replaced by a rename)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise NotifySettingsError(
            f"--metrics-host {host!r}: an IP address to listen on, such as 127.0.0.1"
        ) from None
    if textfile is None:
        return
    if textfile.suffix != ".prom":
        raise NotifySettingsError(
            f"--metrics-textfile {textfile}: must end in .prom (node_exporter reads only those)"
        )
    if textfile.exists() and not textfile.is_file():
        raise NotifySettingsError(f"--metrics-textfile {textfile}: exists and is not a file")


class _TextfileWriter:
    def __init__(self, path: Path, every: float = TEXTFILE_EVERY_S) -> None:
        self.path, self.every = path, every
        self.started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-textfile", daemon=True)

    def start(self) -> None:
        self.write()  # fail now, on a path that cannot be written, not in the thread
        self._thread.start()
        self.started = True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.write()

    def write(self) -> None:
        write_to_textfile(str(self.path), REGISTRY)  # a temporary file, then a rename

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.write()
