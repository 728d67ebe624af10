"""The what-if simulator (operations): change the rules, see the effect, export a policy.

The computation is :mod:`recompense.whatif` (the published run loaded once per process
and cached, then one :func:`~recompense.whatif.simulate` per request). The published
run is only read: a what-if never changes it, and exporting writes nothing on the
server: the new policy file is returned for download.

Every input error of the simulator (a :class:`~recompense.whatif.ChangeError`, or any
other ``InputError`` it lets through) is answered with 422 and its message: an
operator's formula, however long or deep, never reaches a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, ValidationError

from recompense.errors import InputError, RecompenseError
from recompense.web import pages
from recompense.web.charts import whatif_histogram_chart, whatif_lorenz_chart
from recompense.web.csrf import CSRF
from recompense.web.models import ERRORS
from recompense.web.routes.common import Ops, ProgramId, service

router = APIRouter(responses=ERRORS)
FIELDS = (
    "min_loss_usd",
    "min_ratio",
    "min_payout_usd",
    "max_payout_usd",
    "cap_at_loss",
    "budget_usd",
    "weight",
)


class WhatIfIn(BaseModel):
    """Changes to the published policy; a missing or empty field keeps the published value."""

    min_loss_usd: str | None = Field(None, max_length=40, examples=["100"])
    min_ratio: str | None = Field(None, max_length=40, examples=["0.25"])
    min_payout_usd: str | None = Field(None, max_length=40)
    max_payout_usd: str | None = Field(None, max_length=40)
    cap_at_loss: bool | None = None
    budget_usd: str | None = Field(None, max_length=40)
    weight: str | None = Field(None, max_length=1000)


class WhatIfSettings(BaseModel):
    min_loss_cents: int
    min_ratio: str
    min_payout_cents: int
    max_payout_cents: int
    cap_at_loss: bool
    budget_cents: int
    weight: str


class WhatIfHistogram(BaseModel):
    edges_cents: list[int]
    counts: list[int]
    published: list[int]


class WhatIfDistribution(BaseModel):
    histogram: WhatIfHistogram
    quantiles: list[tuple[float, int]]
    published_quantiles: list[tuple[float, int]]
    lorenz: list[tuple[float, float]]
    published_lorenz: list[tuple[float, float]]
    gini: float
    published_gini: float


class MoverOut(BaseModel):
    user_id: int
    before_cents: int
    after_cents: int
    change_cents: int


class MovementOut(BaseModel):
    gainers: int
    losers: int
    unchanged: int
    gained_cents: int
    lost_cents: int
    top_gainers: list[MoverOut]
    top_losers: list[MoverOut]


class WhatIfOut(BaseModel):
    """The outcome compared with the published run (money in cents)."""

    fingerprint: str
    changes: dict[str, Any]
    settings: WhatIfSettings
    liquidated: int
    eligible: int
    published_eligible: int
    newly_eligible: int
    no_longer_eligible: int
    rejected_by_reason: dict[str, int]
    total_cents: int
    budget_cents: int
    unallocated_cents: int
    published_total_cents: int
    lam: float
    published_lambda: float
    by_bound: dict[str, int]
    distribution: WhatIfDistribution
    movement: MovementOut
    elapsed_s: float


class PolicyOut(BaseModel):
    filename: str
    toml: str


@router.post("/api/programs/{program_id}/whatif", dependencies=[CSRF])
def whatif_api(request: Request, program_id: ProgramId, body: WhatIfIn, _: Ops) -> WhatIfOut:
    """Simulate the changes on the published run; 422 names a field that cannot be used."""
    return WhatIfOut.model_validate(_simulate(request, program_id, _changes(body)).as_dict())


@router.post("/api/programs/{program_id}/whatif/policy", dependencies=[CSRF])
def policy_api(request: Request, program_id: ProgramId, body: WhatIfIn, _: Ops) -> PolicyOut:
    """The programme file with the changes applied (TOML), for a new run."""
    return PolicyOut(filename=f"{program_id}-whatif.toml", toml=_export(request, program_id, body))


@router.get("/ops/programs/{program_id}/whatif", response_class=HTMLResponse)
def whatif_page(request: Request, program_id: ProgramId, principal: Ops) -> HTMLResponse:
    population = _population(request, program_id)
    return pages.render(
        request,
        "whatif.html",
        principal,
        programme=service(request).programme(program_id),
        published=population.published,
        form={},
        outcome=None,
        error=None,
    )


@router.post("/ops/programs/{program_id}/whatif", dependencies=[CSRF], response_class=HTMLResponse)
async def whatif_form(request: Request, program_id: ProgramId, principal: Ops) -> Response:
    """The form's Simulate (the page with the outcome) or Export (a TOML download)."""
    form = await request.form()
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in FIELDS if k != "cap_at_loss"}
    cap = str(form.get("cap_at_loss", ""))
    values["cap_at_loss"] = None if cap == "" else cap == "true"
    try:
        body = WhatIfIn(**values)
    except ValidationError as exc:  # e.g. a formula past the length limit: the page, 422
        return _page(
            request, program_id, principal, WhatIfIn.model_construct(**values), None, _problem(exc)
        )
    if form.get("action") == "export":
        try:
            text = _export(request, program_id, body)
        except HTTPException as exc:
            return _page(request, program_id, principal, body, None, str(exc.detail))
        name = f"{program_id}-whatif.toml"
        return Response(
            text,
            media_type="application/toml",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    try:
        outcome = _simulate(request, program_id, _changes(body))
    except HTTPException as exc:
        return _page(request, program_id, principal, body, None, str(exc.detail))
    return _page(request, program_id, principal, body, outcome, None)


def _page(
    request: Request,
    program_id: str,
    principal: Any,
    body: WhatIfIn,
    outcome: Any,
    error: str | None,
) -> HTMLResponse:
    charts = {}
    if outcome is not None:
        d = outcome.distribution
        charts = {
            "histogram_svg": whatif_histogram_chart(d.histogram),
            "lorenz_svg": whatif_lorenz_chart(
                d.lorenz, d.published_lorenz, d.gini, d.published_gini
            ),
        }
    return pages.render(
        request,
        "whatif.html",
        principal,
        status_code=422 if error else 200,
        programme=service(request).programme(program_id),
        published=_population(request, program_id).published,
        form=body.model_dump(),
        outcome=outcome,
        error=error,
        **charts,
    )


def _problem(exc: ValidationError) -> str:
    """The first problem of a form that does not fit :class:`WhatIfIn`, field first."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])
    return f"what-if {field}: {error['msg']}"


def _population(request: Request, program_id: str) -> Any:
    from recompense.whatif import load

    svc = service(request)
    index = svc.index(program_id)
    key = ("whatif", program_id, index.fingerprint)
    population = svc.cache.get(key)
    if population is None:
        try:
            population = svc.cache[key] = load(index.run)
        except RecompenseError as exc:
            raise HTTPException(503, f"programme {program_id}: {exc}") from exc
    return population


def _changes(body: WhatIfIn) -> Any:
    from recompense.whatif import Changes

    try:
        return Changes.from_form(body.model_dump())
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc


def _simulate(request: Request, program_id: str, changes: Any) -> Any:
    from recompense.whatif import simulate

    population = _population(request, program_id)
    try:
        return simulate(population, changes)
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc


def _export(request: Request, program_id: str, body: WhatIfIn) -> str:
    from recompense.whatif import export_policy

    population = _population(request, program_id)
    try:
        return export_policy(population, _changes(body))
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
