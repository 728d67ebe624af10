""" "Am I eligible?": one user's result in a programme, explained with the numbers.

A shared programme's result is each criterion with the numbers the engine compared; a
full-payment programme's (the de-peg compensation) is each counted collateral liquidation
event in one sentence, their sum, and whether it is paid in full or capped at the
ceiling (:mod:`recompense.web.story_full`). The page and the API say the same words.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from recompense.web import i18n_full, pages
from recompense.web.auth import Principal, check_owner
from recompense.web.i18n import Translator, criterion_text, payout_text
from recompense.web.models import (
    ERRORS,
    CollateralEventOut,
    CriterionOut,
    EligibilityOut,
    PayoutOut,
)
from recompense.web.routes.common import ProgramId, UserId, UserOrStaff, note_access, service
from recompense.web.story import Story, story
from recompense.web.story_full import FullStory

router = APIRouter(responses=ERRORS)


@router.get("/api/programs/{program_id}/users/{user_id}/eligibility")
async def eligibility_api(
    request: Request, program_id: ProgramId, user_id: UserId, principal: UserOrStaff
) -> EligibilityOut:
    """The user's result: each criterion with its numbers (a full-payment programme: each
    counted event), and why the amount is what it is."""
    check_owner(principal, user_id)
    # A user's question is answered from memory, on the event loop (no thread hop, no
    # contention for the GIL with the threads that read the database); anything that
    # needs I/O (a run not loaded yet, a staff read written to the access log) is not.
    if principal.role == "user" and service(request).in_memory(program_id):
        return _eligibility(request, program_id, user_id, principal)
    return await run_in_threadpool(_eligibility, request, program_id, user_id, principal)


def _eligibility(
    request: Request, program_id: str, user_id: int, principal: Principal
) -> EligibilityOut:
    svc = service(request)
    index = svc.index(program_id)
    note_access(request, principal, user_id, "eligibility", program_id)
    locale = pages.locale_for(request, principal)
    return eligibility_out(story(index, user_id), Translator(locale), svc.names())


@router.get("/programs/{program_id}/users/{user_id}/eligibility", response_class=HTMLResponse)
def eligibility_page(
    request: Request, program_id: ProgramId, user_id: UserId, principal: UserOrStaff
) -> HTMLResponse:
    check_owner(principal, user_id)
    svc = service(request)
    index = svc.index(program_id)
    note_access(request, principal, user_id, "eligibility page", program_id)
    return pages.render(
        request,
        "eligibility.html",
        principal,
        story=story(index, user_id),
        params=index.params,
        programme=svc.programme(program_id),
        programme_names=svc.names(),
    )


def eligibility_out(
    s: Story | FullStory, t: Translator, names: Mapping[str, str] | None = None
) -> EligibilityOut:
    """The API's answer; ``names``: the programmes' names by id (who paid an excluded user)."""
    if isinstance(s, FullStory):
        return _full_out(s, t)
    p = s.payout
    payout = None
    if p is not None:
        payout = PayoutOut(
            amount_cents=p.amount_cents,
            bound=p.bound,
            weight=p.weight,
            floor_cents=p.floor_cents,
            cap_cents=p.cap_cents,
            share_cents=p.share_cents,
            cap_is_own_loss=p.cap_is_own_loss,
            detail=payout_text(t, s),
        )
    return EligibilityOut(
        user_id=s.user_id,
        program_id=s.program_id,
        kind=s.kind,
        currency=s.currency,
        locale=t.locale,
        liquidated=s.liquidated,
        eligible=s.eligible,
        reasons=list(s.reasons),
        loss_cents=s.loss_cents,
        net_assets_cents=s.net_assets_cents,
        incident_loss_cents=s.incident_loss_cents,
        fills=s.fills,
        loss_share_of_net=s.loss_share_of_net,
        min_loss_cents=s.min_loss_cents,
        min_loss_ratio=s.min_loss_ratio,
        needed_loss_cents=s.needed_loss_cents,
        criteria=[
            CriterionOut(
                code=c.code, passed=c.passed, detail=criterion_text(t, s, c.code, c.passed, names)
            )
            for c in s.criteria
        ],
        payout=payout,
    )


def _full_out(s: FullStory, t: Translator) -> EligibilityOut:
    """A full-payment programme's answer: the shared kind's fields that do not apply are
    null; the events, the reference time and the summary are added."""
    p = s.payout
    payout = None
    if p is not None:
        payout = PayoutOut(
            amount_cents=p.amount_cents,
            bound=p.bound,
            weight=p.weight,
            floor_cents=0,
            cap_cents=p.cap_cents,
            share_cents=None,
            cap_is_own_loss=s.loss_cents is not None and p.cap_cents == s.loss_cents,
            detail=i18n_full.summary_text(t, s),
        )
    return EligibilityOut(
        user_id=s.user_id,
        program_id=s.program_id,
        kind=s.kind,
        currency=s.currency,
        locale=t.locale,
        liquidated=s.liquidated,
        eligible=s.eligible,
        reasons=list(s.reasons),
        loss_cents=s.loss_cents,
        net_assets_cents=None,
        incident_loss_cents=None,
        fills=None,
        loss_share_of_net=None,
        min_loss_cents=None,
        min_loss_ratio=None,
        needed_loss_cents=None,
        criteria=[
            CriterionOut(code=c.code, passed=c.passed, detail=i18n_full.criterion_text(t, s, k))
            for k, c in enumerate(s.criteria)
        ],
        payout=payout,
        events=[
            CollateralEventOut(
                **{k: v for k, v in e.as_dict().items() if k not in {"ts"}},
                ts=e.ts,
                detail=i18n_full.event_text(t, e, s),
            )
            for e in s.events
        ],
        reference_at=s.reference_at,
        ceiling_cents=s.ceiling_cents,
        summary=i18n_full.summary_text(t, s),
    )
