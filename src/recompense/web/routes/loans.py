"""The loan fund in the web service: JSON API (`/api/loans`) and console (`/console/loans`).

Thin: each route turns the caller (:class:`~recompense.web.auth.Principal`) into an
:class:`~recompense.loans.actors.Actor` (role, token subject), calls one library
function, and renders. The library decides who may see and do what; this layer maps
its answers to HTTP: not found → 404, forbidden → 403, wrong state or a full fund → 409,
other bad input → 422, keys or policy not configured → 503. Roles other than account
managers, the credit committee and auditors get 404 from every route here — the same as
an application that does not exist — before anything of the request is read or
validated (:class:`LoanRoute`), and their attempts to open an application are in the
access log. A body that does not validate is 422 naming the field, never echoing it.
State-changing requests of a cookie session carry the CSRF token (the ``X-CSRF-Token``
header for the JSON API, the form field for the console); bearer-token calls need none.

Settings (environment), read once when the app is created (:func:`configure`):
``RECOMPENSE_LOANS_POLICY`` (default ``programs/loans-2025-10.toml``) and
``RECOMPENSE_LOANS_DB_URL``: on PostgreSQL, the non-owner role row-level security
applies to (default: the service's database URL). The policy file is loaded, and
``RECOMPENSE_LOANS_KEYS`` read (see :mod:`recompense.loans.crypto`), when the desk is
first used: a service whose loan desk is not set up still starts, and its loan routes
answer 503.

The routes live in the web package (not in :mod:`recompense.loans`), so the loan
library never imports the web service: see ``docs/architecture.md``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from recompense.loans import lifecycle, servicing, views
from recompense.loans.actors import ACCOUNT_MANAGER, AUDITOR, COMMITTEE, Actor
from recompense.loans.crypto import Keyring
from recompense.loans.desk import Desk, is_plain
from recompense.loans.errors import LoanError, LoanKeyError, LoanPolicyError
from recompense.loans.policy import load_loan_policy
from recompense.loans.settings import LoanDeskSettings
from recompense.money import D, to_cents
from recompense.web import i18n, pages
from recompense.web.auth import ROLES, Principal, allow, current_principal
from recompense.web.csrf import CSRF
from recompense.web.models import ERRORS, ErrorOut


class LoanRoute(APIRoute):
    """A loan route: a caller whose role may never see a loan is told "not found" (404)
    before the request's body is read, parsed or validated — the same answer as for an
    application that does not exist, and no list of fields, no echo — and an attempt of
    theirs to open an application is logged as refused."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        reads = self.path in READS

        async def guarded(request: Request) -> Response:
            principal = await current_principal(request)  # 401 first, as everywhere
            if _outsider(principal):
                if reads and request.method == "GET":
                    await run_in_threadpool(_log_refused, request, principal)
                raise HTTPException(404, "not found")
            return await handler(request)

        return guarded


router = APIRouter(
    route_class=LoanRoute,
    responses={
        **ERRORS,
        400: {"model": ErrorOut, "description": "a request body that cannot be parsed"},
        409: {"model": ErrorOut, "description": "not allowed in the current state, or fund full"},
        503: {"model": ErrorOut, "description": "the loan desk's keys or policy are not set up"},
    },
)
Caller = Annotated[Principal, allow(*ROLES)]  # everyone signed in; the library decides
LOAN_ID = r"^[0-9a-f-]{1,36}$"
LoanId = Annotated[
    str, PathParam(min_length=1, max_length=36, pattern=LOAN_ID, description="a UUID")
]
Action = Literal[
    "submit", "approve", "reject", "withdraw", "undo-approval", "disburse", "write-off"
]
INSIDERS = (ACCOUNT_MANAGER, COMMITTEE, AUDITOR)
ACCESS_PAGE = 100  # readings per page of the access log
READS = frozenset({"/api/loans/{loan_id}", "/console/loans/{loan_id}"})  # one application
MAX_ACTOR_ID = 100  # the access log's actor_id column
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoanSettings:
    """Where the loan desk's data and policy are: read once, when the app is created."""

    db_url: str  # on PostgreSQL, the role row-level security applies to
    policy_path: Path

    @classmethod
    def from_env(
        cls, service_db_url: str, environ: Mapping[str, str] | None = None
    ) -> LoanSettings:
        declared = LoanDeskSettings.from_env(environ)  # the one declaration of the names
        return cls(
            db_url=declared.loans_db_url or service_db_url,
            policy_path=Path(declared.loans_policy),
        )


def configure(app: FastAPI) -> None:
    """Read the loan desk's settings for ``app`` (its service settings already set)."""
    app.state.loans_settings = LoanSettings.from_env(app.state.settings.db_url)


class ApplicationIn(BaseModel):
    borrower_id: int = Field(ge=0, le=2**63 - 1)
    amount_usd: str = Field(max_length=30, description='principal, e.g. "2500000.00"')
    term_days: int = Field(ge=1, le=100_000)
    repayment: Literal["bullet", "instalments"]
    financial_statements: str = Field(max_length=1_000_000)
    stated_losses_usd: str = Field(max_length=30)
    notes: str = Field(default="", max_length=100_000)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=10_000)


class RepaymentIn(BaseModel):
    amount_usd: str = Field(max_length=30)
    reference: str = Field(min_length=1, max_length=150)
    on: date | None = None


@router.get("/api/loans")
def list_api(
    request: Request,
    who: Caller,
    state: Annotated[str | None, Query(max_length=20)] = None,
    due_soon: bool = False,
    reason: Annotated[str, Query(min_length=1, max_length=500)] = "api: list applications",
) -> Any:
    actor = _insider(who)
    if due_soon:
        return _json(_call(lambda: views.due_soon(desk(request), actor)))
    return _json(_call(lambda: views.list_applications(desk(request), actor, reason, state)))


@router.get("/api/loans/fund")
def fund_api(request: Request, who: Caller) -> Any:
    actor = _insider(who)
    return _json(_call(lambda: views.fund_figures(desk(request), actor).as_dict()))


@router.get("/api/loans/access-log")
def access_log_api(
    request: Request,
    who: Caller,
    application: Annotated[str | None, Query(max_length=36)] = None,
    since: date | None = None,
) -> Any:
    actor = _insider(who)
    return _json(_call(lambda: views.access_log(desk(request), actor, application, since)))


@router.get("/api/loans/{loan_id}")
def show_api(
    request: Request,
    loan_id: LoanId,
    who: Caller,
    reason: Annotated[str, Query(min_length=1, max_length=500, description="logged")],
) -> Any:
    actor = _insider(who)
    return _json(_call(lambda: views.show(desk(request), actor, loan_id, reason)))


@router.post("/api/loans", status_code=201, dependencies=[CSRF])
def apply_api(request: Request, body: ApplicationIn, who: Caller) -> Any:
    actor = _insider(who)

    def create() -> dict[str, str]:
        _cents("stated_losses_usd", body.stated_losses_usd)
        new = lifecycle.NewApplication(
            body.borrower_id,
            _cents("amount_usd", body.amount_usd),
            body.term_days,
            body.repayment,
            body.financial_statements,
            body.stated_losses_usd,
            body.notes,
        )
        return {"id": lifecycle.apply(desk(request), actor, new), "state": "draft"}

    return _call(create)


@router.post("/api/loans/{loan_id}/repayments", dependencies=[CSRF])
def repay_api(request: Request, loan_id: LoanId, body: RepaymentIn, who: Caller) -> Any:
    actor = _insider(who)

    def pay() -> Any:
        cents = _cents("amount_usd", body.amount_usd)
        done = servicing.repay(desk(request), actor, loan_id, cents, body.reference, body.on)
        return {k: getattr(done, k) for k in done.__slots__}

    return _call(pay)


@router.post("/api/loans/{loan_id}/{action}", dependencies=[CSRF])
def transition_api(
    request: Request, loan_id: LoanId, action: Action, body: ReasonIn, who: Caller
) -> Any:
    actor = _insider(who)
    state = _call(lambda: _transition(desk(request), actor, loan_id, action, body.reason))
    return {"id": loan_id, "state": state}


@router.get("/console/loans", response_class=HTMLResponse)
def console_list(request: Request, who: Caller) -> HTMLResponse:
    actor = _insider(who)
    the_desk = desk(request)
    rows = _call(lambda: views.list_applications(the_desk, actor, "console: list"))
    watch = [r for r in rows if r["decision"]["status"] in ("due soon", "missed")]
    watch.sort(key=lambda r: r["decision"]["deadline"])
    figures = None
    if actor.role in (COMMITTEE, AUDITOR):
        figures = _call(lambda: views.fund_figures(the_desk, actor))
    return pages.render(request, "loans_list.html", who, rows=rows, watch=watch, figures=figures)


@router.get("/console/loans/access-log", response_class=HTMLResponse)
def console_access_log(
    request: Request,
    who: Caller,
    application: Annotated[str | None, Query(max_length=36)] = None,
    before: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> HTMLResponse:
    """The log a page of :data:`ACCESS_PAGE` readings at a time, newest first."""
    actor = _insider(who)
    found = _call(
        lambda: views.access_log(
            desk(request),
            actor,
            application or None,
            before=before,
            after=None if before is not None else after,
            limit=ACCESS_PAGE + 1,
        )
    )
    more = len(found) > ACCESS_PAGE
    if after is not None and before is None:  # the page just newer than `after`
        rows, has_newer, has_older = found[-ACCESS_PAGE:], more, True
    else:
        rows, has_newer, has_older = found[:ACCESS_PAGE], before is not None, more
    newer = rows[0]["id"] if rows and has_newer else None
    older = rows[-1]["id"] if rows and has_older else None
    return pages.render(
        request,
        "loans_access_log.html",
        who,
        rows=rows,
        application=application,
        page_size=ACCESS_PAGE,
        newer=newer,
        older=older,
    )


@router.get("/console/loans/{loan_id}", response_class=HTMLResponse)
def console_detail(
    request: Request,
    loan_id: LoanId,
    who: Caller,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """Without a reason, only a form asking why (nothing is read); with one, the file."""
    actor = _insider(who)
    if not (reason or "").strip():
        _call(lambda: views.check_visible(desk(request), actor, loan_id))
        return pages.render(request, "loans_reason.html", who, loan_id=loan_id)
    data = _call(lambda: views.show(desk(request), actor, loan_id, reason or ""))
    actions = _allowed_actions(actor, data["state"])
    return pages.render(
        request, "loans_detail.html", who, loan=data, actions=actions, reason=reason
    )


@router.post(
    "/console/loans/{loan_id}/{action}",
    dependencies=[CSRF],
    responses={303: {"description": "done: back to the application's page"}},
)
def console_transition(
    request: Request,
    loan_id: LoanId,
    action: Action,
    who: Caller,
    reason: Annotated[str, Form(min_length=1, max_length=10_000)],
) -> RedirectResponse:
    actor = _insider(who)
    _call(lambda: _transition(desk(request), actor, loan_id, action, reason))
    return RedirectResponse(f"/console/loans/{loan_id}?reason=after+{action}", status_code=303)


def desk(request: Request) -> Desk:
    """The app's loan desk, built on first use from :class:`LoanSettings` (503 if unusable)."""
    found: Desk | None = getattr(request.app.state, "loans_desk", None)
    if found is not None:
        return found
    config: LoanSettings = request.app.state.loans_settings
    try:
        policy = load_loan_policy(config.policy_path)
    except LoanPolicyError as exc:
        raise HTTPException(503, f"loan desk not configured: {exc}") from exc
    try:
        keyring: Keyring | None = Keyring.from_env()
    except LoanKeyError:
        keyring = None  # lists and figures work; reading or writing a file answers 503
    built = Desk(config.db_url, policy, keyring)
    request.app.state.loans_desk = built
    return built


def _insider(principal: Principal) -> Actor:
    """The caller as an actor; roles that may never see a loan get 404 right away."""
    if _outsider(principal):
        raise HTTPException(404, "not found")
    return Actor(principal.role, principal.subject)


def _outsider(principal: Principal) -> bool:
    """A role that may never see a loan, or a subject the access log cannot record."""
    subject = principal.subject
    return principal.role not in INSIDERS or not is_plain(subject) or len(subject) > MAX_ACTOR_ID


def _log_refused(request: Request, principal: Principal) -> None:
    """Log an outsider's attempt to open an application (a well-formed id only). The
    refusal stands even if it cannot be logged: that failure goes to the error log."""
    loan_id = str(request.path_params.get("loan_id", ""))
    subject = principal.subject
    if not re.fullmatch(LOAN_ID, loan_id) or not is_plain(subject):
        return
    actor = Actor(principal.role, subject[:MAX_ACTOR_ID])
    reason = request.query_params.get("reason", "")[:500]
    why = f"the {principal.role} role may never read a loan file"
    try:
        views.refused(desk(request), actor, loan_id, "show", why, reason)
    except Exception:
        log.exception("a refused read of a loan application could not be logged")


def _call(function: Callable[[], T]) -> T:
    try:
        return function()
    except (LoanKeyError, LoanPolicyError) as exc:
        raise HTTPException(503, f"loan desk not configured: {exc}") from exc
    except LoanError as exc:  # its sentence in the reader's language, no CLI flag names
        raise HTTPException(exc.http_status, i18n.error_message(exc)) from exc


def _transition(the_desk: Desk, actor: Actor, loan_id: str, action: str, reason: str) -> str:
    if action == "write-off":
        servicing.write_off(the_desk, actor, loan_id, reason)
        return "written_off"
    function: Callable[..., str] = getattr(lifecycle, action.replace("-", "_"))
    return function(the_desk, actor, loan_id, reason)


def _allowed_actions(actor: Actor, state: str) -> list[str]:
    return [
        name.replace("_", "-")
        for name, rule in lifecycle.TRANSITIONS.items()
        if name != "repay" and actor.role in rule.roles and state in rule.sources
    ]


def _cents(field: str, value: str) -> int:
    try:
        return to_cents(D(value))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise LoanError(f"{field}: not a USD amount with at most cents") from exc


def _json(value: Any) -> Any:
    return jsonable_encoder(value)
