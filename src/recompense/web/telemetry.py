"""The web service's request metrics, access log and request ids: one ASGI middleware.

For each HTTP request, :class:`Telemetry`:

- takes the caller's ``X-Request-ID`` if it is well formed (1 to 128 of
  ``A-Z a-z 0-9 . _ : -``, so nothing can be smuggled into a log line), else makes one
  (32 hex digits); sets it in :data:`recompense.observability.logs.REQUEST_ID` for
  everything the request does, and returns it in the ``X-Request-ID`` response header;
- observes the request's duration in ``recompense_http_request_duration_seconds`` and
  counts its answer in ``recompense_http_responses_total`` by status class, labelled by
  method and **route template** (``/api/users/{user_id}/vouchers``, never the path: a
  label per user id would grow without bound, and would put user ids in the metrics);
  a path no route matches is ``unmatched``;
- writes one access log line (``recompense.web.access``, level info) with the method,
  route, path (without the query string: sign-in links carry tokens there), status,
  duration and request id. ``recompense serve`` turns uvicorn's own access log off.

``RECOMPENSE_REQUEST_METRICS=0`` and ``RECOMPENSE_ACCESS_LOG=0`` turn the two off (the
request id stays); the load test measures the service with and without them
(``docs/benchmarks.md``, "Metrics and logs").

**Several worker processes.** ``recompense serve --workers N`` (N > 1) gives its workers
a shared directory in ``PROMETHEUS_MULTIPROC_DIR``: each worker's counters and
histograms live in memory-mapped files there, and whichever worker answers a scrape
adds up all of them (prometheus-client's multiprocess mode). The ledger's gauges
(:mod:`recompense.observability.gauges`) come from the database, the same in every
worker.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recompense.observability.gauges import LedgerCollector
from recompense.observability.logs import REQUEST_ID

if TYPE_CHECKING:
    from fastapi import FastAPI

    from recompense.web.service import Service
    from recompense.web.settings import Settings

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# Seconds. The service answers in a few ms (docs/benchmarks.md); the upper buckets are
# for the staff pages and the self-check (3 to 4 s).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MEDIA_TYPE = CONTENT_TYPE_LATEST
access_log = logging.getLogger("recompense.web.access")
error_log = logging.getLogger("recompense.web.errors")


class WebMetrics:
    """The request metrics and the ledger's gauges of one app, and their exposition."""

    def __init__(self, engine: Engine) -> None:
        own = CollectorRegistry()
        self.latency = Histogram(
            "recompense_http_request_duration_seconds",
            "Time to answer a request, by method and route template.",
            ["method", "route"],
            buckets=BUCKETS,
            registry=own,
        )
        self.responses = Counter(
            "recompense_http_responses",
            "Answers by method, route template and status class (2xx, 3xx, 4xx, 5xx).",
            ["method", "route", "status"],
            registry=own,
        )
        self.ledger = LedgerCollector(engine)
        shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if shared:  # several workers: every worker's files, added up
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, path=shared)  # type: ignore[no-untyped-call]
        else:
            self.registry = own
            ProcessCollector(registry=own)
        self.registry.register(self.ledger)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() once per (method, route, status), not per request
            children = (
                self.latency.labels(method, route),
                self.responses.labels(method, route, f"{status // 100}xx"),
            )
            self._children[key] = children
        children[0].observe(seconds)
        children[1].inc()

    def exposition(self) -> bytes:
        """The Prometheus text format of everything: reads the ledger (cached)."""
        return generate_latest(self.registry)


class Telemetry:
    """Pure ASGI middleware (no per-request task): request id, metrics, access log."""

    def __init__(self, app: ASGIApp, metrics: WebMetrics | None, access: bool) -> None:
        self.app, self.metrics, self.access = app, metrics, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Logged here with the request id (the id stays set for the server's own
            # line); the error's message is never written (RedactSecrets).
            self._done(scope, 500, started)
            error_log.error("unhandled error", exc_info=exc, extra=_where(scope))
            raise
        self._done(scope, status, started)
        REQUEST_ID.reset(token)

    def _done(self, scope: Scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        if self.metrics is None and not self.access:
            return
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = route_template(scope)
        if self.metrics is not None:
            self.metrics.observe(method, route, status, seconds)
        if self.access:
            client = scope.get("client")
            access_log.info(
                "%s %s %d",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": client[0] if client else None,
                },
            )


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/vouchers/{voucher_id}``), else
    ``unmatched``: Starlette's router puts the route it chose in the scope."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def new_request_id() -> str:
    return secrets.token_hex(16)


def _request_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            given = value.decode("latin-1")
            return given if WELL_FORMED.fullmatch(given) else new_request_id()
    return new_request_id()


def _where(scope: Scope) -> dict[str, Any]:
    return {"method": scope.get("method"), "route": route_template(scope), "path": scope["path"]}


def install_telemetry(app: FastAPI, settings: Settings, service: Service) -> None:
    """Wire telemetry into ``app`` (a FastAPI app being built): the metrics and the
    readiness probe on ``app.state``, the middleware outermost (added last), database
    errors logged with their request id."""
    from recompense.observability.logs import log_database_errors
    from recompense.web.readiness import Probe

    app.state.metrics = WebMetrics(service.engine)
    app.state.readiness = Probe(service.reads)
    metrics = app.state.metrics if settings.request_metrics else None
    app.add_middleware(Telemetry, metrics=metrics, access=settings.access_log)
    log_database_errors()
