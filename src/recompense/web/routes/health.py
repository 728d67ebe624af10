"""Probes and metrics: ``/healthz`` (alive), ``/readyz`` (can serve), ``/metrics``.

- ``GET /healthz``: the process answers; no database, no file (a liveness probe that
  failed with the database would have every healthy process restarted during an
  outage). Public.
- ``GET /readyz``: 200 when the database answers, its schema is at the code's revision
  and every distributed programme's run folder is in place; 503 otherwise, the JSON
  body naming what failed (:mod:`recompense.web.readiness`). Public, for the
  orchestrator's probes; results are reused for a second.
- ``GET /metrics``: the Prometheus exposition, for the metrics scraper only: it must
  send ``Authorization: Bearer <RECOMPENSE_METRICS_TOKEN>``. Anyone else — and everyone
  when no token is configured — gets the same 404 as a path that does not exist, so the
  endpoint is not advertised. Not in the OpenAPI schema.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from recompense.web.auth import PUBLIC
from recompense.web.readiness import Probe
from recompense.web.routes.common import service
from recompense.web.telemetry import MEDIA_TYPE, WebMetrics

router = APIRouter()


class Health(BaseModel):
    status: str
    programmes: int


class ReadyCheck(BaseModel):
    state: str
    detail: str


class Ready(BaseModel):
    status: str
    failed: list[str]
    checks: dict[str, ReadyCheck]


@router.get("/healthz", dependencies=[PUBLIC])
async def health(request: Request) -> Health:
    """Alive, with the number of programmes as last read (no database read)."""
    return Health(status="ok", programmes=service(request).known())


@router.get(
    "/readyz",
    dependencies=[PUBLIC],
    response_model=Ready,
    responses={503: {"model": Ready, "description": "not ready: `failed` names the checks"}},
)
async def ready(request: Request) -> Response:
    """Ready to serve: database reachable, schema at the code's revision, run folders."""
    probe: Probe = request.app.state.readiness
    result = await run_in_threadpool(probe)
    return JSONResponse(
        result.as_dict(), 200 if result.ready else 503, headers={"Cache-Control": "no-store"}
    )


@router.get("/metrics", dependencies=[PUBLIC], include_in_schema=False)
def metrics(request: Request) -> Response:
    """The metrics, to the scraper holding the token; 404 to anyone else."""
    expected: bytes | None = request.app.state.settings.metrics_token
    given = request.headers.get("authorization", "")
    scheme, _, credentials = given.partition(" ")
    if (
        expected is None
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(credentials.strip().encode("utf-8"), expected)
    ):
        raise HTTPException(404, "Not Found")
    found: WebMetrics = request.app.state.metrics
    return Response(found.exposition(), media_type=MEDIA_TYPE)
