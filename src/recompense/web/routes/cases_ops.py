"""The operations console's cases: the queue with its decision clock, a case, decisions.

Operations work here; auditors read (every staff read of a case is logged by the desk:
an event on the case and an audit-trail entry). Each form posts one action, as the
signed-in officer (``ops:<name>``), to one function of :mod:`recompense.cases.service`,
then redirects back (POST/redirect/GET). The desk enforces the rules — four eyes above
the programme's amount (a second, different officer approves; nobody bypasses it), the
states each action needs — and its refusals are answered by the app's one handler.

=================================================  ==========  =========================
route                                              roles       what
=================================================  ==========  =========================
``GET /ops/cases``                                 ops, audit  the queue: filters, clock,
                                                               the about-to-miss list
``GET /ops/cases/{case_id}``                       ops, audit  everything about a case
``GET /ops/cases/{case_id}/evidence/{eid}``        ops, audit  a file (a logged read)
``POST /ops/cases/{case_id}/assign``               ops         to me, to someone, to no one
``POST /ops/cases/{case_id}/note``                 ops         an internal note
``POST /ops/cases/{case_id}/request-info``         ops         ask the user for more
``POST /ops/cases/{case_id}/accept``               ops         a corrected input or a
                                                               claim amount (USD, exact)
``POST /ops/cases/{case_id}/approve``              ops         the second officer's yes
``POST /ops/cases/{case_id}/return``               ops         send a proposal back
``POST /ops/cases/{case_id}/reject``               ops         a reason code and words
=================================================  ==========  =========================
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recompense.cases import reasons, service
from recompense.cases.schema import CASE_STATES, CATEGORIES
from recompense.web import pages
from recompense.web.csrf import CSRF
from recompense.web.i18n import Message
from recompense.web.models import CASES_ERRORS
from recompense.web.routes.cases import (
    MAX_TEXT,
    CaseId,
    EvidenceId,
    actor_of,
    cents,
    desk,
    download,
)
from recompense.web.routes.common import Ops, Staff

router = APIRouter(responses=CASES_ERRORS)

SOON_HOURS = 24  # the about-to-miss list: undecided cases due within this many hours
DONE = r"^(assigned|noted|info_requested|accepted|proposed|approved|returned|rejected)$"
Text = Annotated[str, Form(min_length=1, max_length=MAX_TEXT)]
BACK: dict[int | str, dict[str, Any]] = {303: {"description": "done: back to the case"}}


@router.get("/ops/cases", response_class=HTMLResponse)
def queue_page(
    request: Request,
    principal: Staff,
    state: Annotated[str, Query(max_length=20)] = "",
    category: Annotated[str, Query(max_length=30)] = "",
    min_age_hours: Annotated[str, Query(max_length=6, pattern=r"^\d*$")] = "",
    assigned: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """The queue, most urgent first, filtered; and what is about to miss its target."""
    the_desk, actor = desk(request), actor_of(principal)
    assigned_to = actor if assigned == "me" else (assigned or None)
    rows = service.queue(
        the_desk,
        actor,
        state=state or None,
        category=category or None,
        min_age_hours=int(min_age_hours) if min_age_hours else None,  # empty: any age
        assigned_to=assigned_to,
    )
    soon = service.about_to_miss(the_desk, actor, within_hours=SOON_HOURS)
    return pages.render(
        request,
        "cases_queue.html",
        principal,
        rows=rows,
        soon=soon,
        soon_hours=SOON_HOURS,
        reasons=reasons,
        states=CASE_STATES,
        categories=CATEGORIES,
        chosen={
            "state": state,
            "category": category,
            "min_age_hours": min_age_hours,
            "assigned": assigned,
        },
    )


@router.get("/ops/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    case_id: CaseId,
    principal: Staff,
    done: Annotated[str | None, Query(pattern=DONE)] = None,
) -> HTMLResponse:
    """Everything about the case (the read is logged), and the officer's forms."""
    detail = service.case_detail(desk(request), actor_of(principal), case_id)
    return pages.render(
        request,
        "cases_ops_detail.html",
        principal,
        detail=detail,
        done=done,
        actor=actor_of(principal),
        reasons=reasons,
        reason_codes=reasons.REASON_CODES,
    )


@router.get(
    "/ops/cases/{case_id}/evidence/{evidence_id}",
    response_class=Response,
    responses={200: {"description": "the file, as a download (the read is logged)"}},
)
def evidence_download(
    request: Request, case_id: CaseId, evidence_id: EvidenceId, principal: Staff
) -> Response:
    return download(request, principal, case_id, evidence_id)


@router.post("/ops/cases/{case_id}/assign", dependencies=[CSRF], responses=BACK)
def assign_form(
    request: Request,
    case_id: CaseId,
    principal: Ops,
    to: Annotated[Literal["me", "someone", "none"], Form()],
    name: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    """To the officer themself, to another officer (``ops:NAME``), or to no one."""
    if to == "someone" and not name.strip():
        raise HTTPException(422, Message("case_assignee_missing"))
    officer = {"me": actor_of(principal), "none": None}.get(to, f"ops:{name.strip()}")
    service.assign(desk(request), actor_of(principal), case_id, officer)
    return _back(case_id, "assigned")


@router.post("/ops/cases/{case_id}/note", dependencies=[CSRF], responses=BACK)
def note_form(request: Request, case_id: CaseId, principal: Ops, text: Text) -> RedirectResponse:
    service.note(desk(request), actor_of(principal), case_id, text)
    return _back(case_id, "noted")


@router.post("/ops/cases/{case_id}/request-info", dependencies=[CSRF], responses=BACK)
def request_info_form(
    request: Request, case_id: CaseId, principal: Ops, message: Text
) -> RedirectResponse:
    service.request_info(desk(request), actor_of(principal), case_id, message)
    return _back(case_id, "info_requested")


@router.post("/ops/cases/{case_id}/accept", dependencies=[CSRF], responses=BACK)
def accept_form(
    request: Request,
    case_id: CaseId,
    principal: Ops,
    kind: Annotated[Literal["correction", "claim"], Form()],
    reason: Text,
    loss_usd: Annotated[str, Form(max_length=30)] = "",
    net_assets_usd: Annotated[str, Form(max_length=30)] = "",
    incident_loss_usd: Annotated[str, Form(max_length=30)] = "",
    not_compensated: Annotated[bool, Form()] = False,
    claim_usd: Annotated[str, Form(max_length=30)] = "",
) -> RedirectResponse:
    """Accept with a corrected input or a claim amount (USD, parsed exactly): accepted
    at once at or below the four-eyes amount, else proposed for a second officer."""
    decision: service.Decision
    if kind == "claim":
        amount = cents("claim_usd", claim_usd)
        if amount is None:
            raise HTTPException(422, Message("case_amount_invalid", field="claim_usd"))
        decision = service.Claim(amount)
    else:
        decision = service.Correction(
            loss_cents=cents("loss_usd", loss_usd),
            net_assets_cents=cents("net_assets_usd", net_assets_usd),
            incident_loss_cents=cents("incident_loss_usd", incident_loss_usd),
            not_compensated=True if not_compensated else None,
        )
    state = service.accept(desk(request), actor_of(principal), case_id, decision, reason)
    return _back(case_id, "proposed" if state == "proposed" else "accepted")


@router.post("/ops/cases/{case_id}/approve", dependencies=[CSRF], responses=BACK)
def approve_form(
    request: Request, case_id: CaseId, principal: Ops, reason: Text
) -> RedirectResponse:
    service.approve(desk(request), actor_of(principal), case_id, reason)
    return _back(case_id, "approved")


@router.post("/ops/cases/{case_id}/return", dependencies=[CSRF], responses=BACK)
def return_form(
    request: Request, case_id: CaseId, principal: Ops, reason: Text
) -> RedirectResponse:
    service.return_proposal(desk(request), actor_of(principal), case_id, reason)
    return _back(case_id, "returned")


@router.post("/ops/cases/{case_id}/reject", dependencies=[CSRF], responses=BACK)
def reject_form(
    request: Request,
    case_id: CaseId,
    principal: Ops,
    reason_code: Annotated[str, Form(min_length=1, max_length=40)],
    text: Text,
) -> RedirectResponse:
    service.reject(desk(request), actor_of(principal), case_id, reason_code, text)
    return _back(case_id, "rejected")


def _back(case_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/ops/cases/{case_id}?done={done}#done", 303)
