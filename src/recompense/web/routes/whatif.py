"""The what-if simulator (operations): change the rules, see the effect, export a policy.

The computation is :mod:`recompense.whatif` (the published run loaded once per process
and cached, then one :func:`~recompense.whatif.simulate` per request). The published
run is only read: a what-if never changes it, and exporting writes nothing on the
server: the new policy file is returned for download.

Every input error of the simulator (a :class:`~recompense.whatif.ChangeError`, or any
other ``InputError`` it lets through) is answered with 422 and its message: an
operator's formula, however long or deep, never reaches a 500. The message names the
field and the problem (a formula's position and token, an amount's limit) but not the
value given, and a value past its field's length is not put back into the form.
"""

from __future__ import annotations

import re
from typing import Any

from babel.numbers import NumberFormatError, parse_decimal
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, ValidationError

from recompense.errors import InputError, RecompenseError
from recompense.web import pages, problems
from recompense.web.charts import whatif_histogram_chart, whatif_lorenz_chart
from recompense.web.csrf import CSRF
from recompense.web.i18n import Label, Message, Translator, localize
from recompense.web.models import ERRORS
from recompense.web.routes.common import Ops, ProgramId, service

router = APIRouter(responses=ERRORS)
NUMBERS = ("min_loss_usd", "min_ratio", "min_payout_usd", "max_payout_usd", "budget_usd")
MAX_TYPED = 40  # WhatIfIn's limit for a figure: longer text is refused as it is
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
    locale = pages.locale_for(request, principal)
    for name in NUMBERS:  # "0,30" on a Spanish page, "1,000" on an English one
        values[name] = typed_number(values[name], locale)
    try:
        body = WhatIfIn(**values)
    except ValidationError as exc:  # e.g. a formula past the length limit: the page, 422
        refused = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        kept = {k: (None if k in refused else v) for k, v in values.items()}
        detail = problems.validation_detail(exc.errors(), problems.translator(request))
        return _page(request, program_id, principal, WhatIfIn.model_construct(**kept), None, detail)
    if form.get("action") == "export":
        try:
            text = _export(request, program_id, body)
        except HTTPException as exc:
            return _page(request, program_id, principal, body, None, exc.detail)
        name = f"{program_id}-whatif.toml"
        return Response(
            text,
            media_type="application/toml",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    try:
        outcome = _simulate(request, program_id, _changes(body))
    except HTTPException as exc:
        return _page(request, program_id, principal, body, None, exc.detail)
    return _page(request, program_id, principal, body, outcome, None)


# Beyond 10^±40 no field of the form can hold the figure; the simulator refuses it as typed.
MAX_EXPONENT = 40


def typed_number(text: str, locale: str) -> str:
    """A figure as the page's language writes it (``12.500,50`` in Spanish), in the
    policy's notation (``12500.50``); anything that is not one, unchanged, for the
    simulator to refuse with its own message."""
    if not text.strip() or len(text) > MAX_TYPED:
        return text
    try:
        value = parse_decimal(text.strip(), locale=locale, strict=True)
    except NumberFormatError:
        return text
    if not value.is_finite() or abs(value.adjusted()) > MAX_EXPONENT:
        return text  # "1e999999999" written out in full would be a billion digits
    return format(value, "f")


def _page(
    request: Request,
    program_id: str,
    principal: Any,
    body: WhatIfIn,
    outcome: Any,
    error: Any,
) -> HTMLResponse:
    """The page; ``error`` is shown in the page's language (a :class:`~.i18n.Message`)."""
    t = Translator(pages.locale_for(request, principal))
    charts = {}
    if outcome is not None:
        d = outcome.distribution
        charts = {
            "histogram_svg": whatif_histogram_chart(d.histogram, t),
            "lorenz_svg": whatif_lorenz_chart(
                d.lorenz, d.published_lorenz, d.gini, d.published_gini, t
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
        error=None if error is None else localize(error, t.locale),
        **charts,
    )


def _population(request: Request, program_id: str) -> Any:
    from recompense.whatif import load

    svc = service(request)
    index = svc.index(program_id)
    if index.kind != "shared":  # a full-payment programme has no rule to vary
        raise HTTPException(422, Message("whatif_full_programme", program=program_id))
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
        raise HTTPException(422, refusal(exc)) from exc


def _simulate(request: Request, program_id: str, changes: Any) -> Any:
    from recompense.whatif import simulate

    population = _population(request, program_id)
    try:
        return simulate(population, changes)
    except InputError as exc:
        raise HTTPException(422, refusal(exc)) from exc


def _export(request: Request, program_id: str, body: WhatIfIn) -> str:
    from recompense.whatif import export_policy

    population = _population(request, program_id)
    try:
        return export_policy(population, _changes(body))
    except InputError as exc:
        raise HTTPException(422, refusal(exc)) from exc


_QUOTED = re.compile(r"""\s?\('(?:[^'\\]|\\.)*'\)|\s?'(?:[^'\\]|\\.)*'""")
LONG_ENOUGH = 6  # a value this long is not in a message by chance ("between 0 and 10")


def refusal(exc: InputError) -> str:
    """``what-if FIELD: PROBLEM`` without the value given: a :class:`ChangeError` quotes
    it (``'abc' is not a number``, ``weight formula 'x': unknown name 'x'``); the quoted
    parts go, the field, the problem and a formula's position stay."""
    from recompense.whatif import ChangeError

    if not isinstance(exc, ChangeError):
        return str(exc)
    problem = _QUOTED.sub("", exc.problem)
    for given in {str(exc.value), str(exc.value).strip()} - {""}:
        problem = problem.replace(repr(given), "")
        if len(given) >= LONG_ENOUGH:
            problem = problem.replace(given, "…")
    problem = re.sub(r"\s+([:;,])", r"\1", re.sub(r"\s+", " ", problem)).strip(" :")
    return Message("whatif_refused", field=Label("whatif_field", exc.field), problem=problem)
