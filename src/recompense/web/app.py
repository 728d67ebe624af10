"""The FastAPI application: ``create_app(settings)`` wires settings, state and routers.

Routers come from one list, :data:`ROUTERS`; adding a resource is one line there.
Deny by default: :func:`create_app` refuses to start if any route declares neither
allowed roles (:func:`recompense.web.auth.allow`) nor :data:`~recompense.web.auth.PUBLIC`.

Errors: every error, whatever raised it, is answered by :mod:`.problems` (problem
details under ``/api``, the styled page elsewhere, in the caller's language); request
bodies past their limit (:data:`BODY_LIMITS`, else 1 MiB) are refused with 413 before
they are read. Every response carries a strict Content-Security-Policy (scripts and
styles only from the service itself, vendored, no internet needed) and, except the
static assets, ``Cache-Control: no-store``: pages and answers carry personal or
confidential data, and none may be kept by a browser's or a proxy's cache.
"""

from __future__ import annotations

import gc
import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recompense import __version__
from recompense.gil import SWITCH_INTERVAL_S
from recompense.web import pages, problems
from recompense.web.auth import PublicRoute, RoleCheck, Verifier
from recompense.web.routes import (
    approvals,
    audit,
    cases,
    cases_api,
    cases_ops,
    eligibility,
    health,
    loans,
    ops,
    proofs,
    selfcheck,
    session,
    vouchers,
    whatif,
)
from recompense.web.service import Service
from recompense.web.settings import Settings
from recompense.web.telemetry import install_telemetry

ROUTERS: list[APIRouter] = [
    session.router,
    health.router,  # /healthz, /readyz, /metrics (issue 16)
    eligibility.router,
    vouchers.router,
    proofs.router,
    ops.router,
    whatif.router,
    selfcheck.router,  # "Check with your own exports" (issue 14)
    approvals.router,  # sign-off of runs before distribution (issue 16)
    audit.router,  # the audit trail for auditors (issue 16)
    loans.router,  # the loan fund (issue 6): /api/loans, /console/loans
    cases.router,  # users' cases (issue 15): /cases
    cases_api.router,  # ... and their JSON API: /api/cases
    cases_ops.router,  # ... worked by operations: /ops/cases
]

# Paths whose request bodies may be larger than 1 MiB (bytes). The self-check refuses
# past its own limits first (its page says which); a loan application carries up to
# 1,000,000 characters of statements, 6 bytes each at worst as JSON escapes.
BODY_LIMITS = {
    "/selfcheck": selfcheck.LIMITS.body_bytes + problems.MIB,
    "/api/loans": 8 * problems.MIB,
    **dict.fromkeys(cases.UPLOAD_PATHS, cases.LIMITS.body_bytes),  # one evidence file
}
CACHEABLE = ("/static/",)  # public files, the same for everyone
TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s]*")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def create_app(
    settings: Settings | None = None, *, warm: bool = True, tune: bool = False
) -> FastAPI:
    """The service. ``settings`` default to the environment (see :mod:`.settings`).

    ``warm`` loads every programme's run at start-up; ``tune`` (``recompense serve``'s
    worker processes, never a test's) then sets the process up for serving: see
    :func:`tune_process`.
    """
    settings = settings or Settings.from_env()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm:
            service.warm()
        if tune:
            tune_process()
        yield

    app = FastAPI(
        title="recompense",
        version=__version__,
        description="Rewards Hub, eligibility, vouchers, proofs and the operations console.",
        docs_url=None,  # Swagger UI loads from a CDN: the service must work offline
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.verifier = Verifier(settings)
    app.state.routers = list(ROUTERS)
    loans.configure(app)  # the loan desk's settings, read once (its routes build the desk)
    for router in app.state.routers:
        app.include_router(router)  # no prefix: each router writes its paths in full
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    _refuse_undeclared(app)
    # Inside SecurityHeaders: errors get the headers too. The self-check says its own limits.
    problems.install(app, BODY_LIMITS, frozenset({"/selfcheck"}))
    problems.document(app)
    app.add_middleware(SecurityHeaders)
    install_telemetry(app, settings, service)  # request ids, metrics, logs (outermost)
    _redact_tokens_in_access_log()
    return app


def tune_process() -> None:
    """Set a worker process up for serving, once its start-up is done.

    - ``gc.freeze()``: the imported packages and the loaded runs are a few hundred
      thousand objects that live as long as the process; a full collection scanned them
      all (70–85 ms in a worker under load, every few seconds, finding nothing to free)
      and every request arriving meanwhile waited. Frozen, they are no longer scanned
      (0.8 ms a full collection); CPython's documentation recommends it for servers.
    - The GIL's switch interval, 5 ms → 0.5 ms (:mod:`recompense.gil`): the voucher list
      reads PostgreSQL from the thread pool while the event loop thread keeps parsing
      requests, and psycopg gives the GIL back at every wait on the socket; each time,
      taking it back cost up to a full interval. Measured in ``docs/benchmarks.md``
      ("Web service").
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of the app: its own and those of the included routers."""
    found = [route for route in app.routes if isinstance(route, APIRoute)]
    for router in app.state.routers:
        found.extend(route for route in router.routes if isinstance(route, APIRoute))
    return found


def route_roles(route: APIRoute) -> frozenset[str] | None:
    """The roles a route allows; ``frozenset()`` for a public one; None if undeclared."""
    for dependant in _walk(route.dependant):
        if isinstance(dependant.call, RoleCheck):
            return frozenset(dependant.call.roles)
        if isinstance(dependant.call, PublicRoute):
            return frozenset()
    return None


def _refuse_undeclared(app: FastAPI) -> None:
    for route in api_routes(app):
        if route_roles(route) is None:
            raise RuntimeError(
                f"route {sorted(route.methods or ())} {route.path} declares no roles: add "
                "allow(...) or PUBLIC (deny by default)"
            )


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for child in dependant.dependencies:
        yield child
        yield from _walk(child)


class _RedactTokens(logging.Filter):
    """Sign-in links carry the token in the query string: keep it out of the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                TOKEN_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def _redact_tokens_in_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactTokens) for f in access.filters):
        access.addFilter(_RedactTokens())


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = not str(scope.get("path", "")).startswith(CACHEABLE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if no_store or "set-cookie" in headers:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
