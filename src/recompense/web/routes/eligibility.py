""" "Am I eligible?": one user's result in a programme, explained with the numbers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from recompense.web import pages
from recompense.web.auth import Principal, check_owner
from recompense.web.i18n import Translator, criterion_text, payout_text
from recompense.web.models import ERRORS, CriterionOut, EligibilityOut, PayoutOut
from recompense.web.routes.common import ProgramId, UserId, UserOrStaff, note_access, service
from recompense.web.story import Story, story

router = APIRouter(responses=ERRORS)


@router.get("/api/programs/{program_id}/users/{user_id}/eligibility")
async def eligibility_api(
    request: Request, program_id: ProgramId, user_id: UserId, principal: UserOrStaff
) -> EligibilityOut:
    """The user's result: each criterion with its numbers, and why the amount is what it is."""
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
    index = service(request).index(program_id)
    note_access(request, principal, user_id, "eligibility", program_id)
    locale = pages.locale_for(request, principal)
    return eligibility_out(story(index, user_id), Translator(locale))


@router.get("/programs/{program_id}/users/{user_id}/eligibility", response_class=HTMLResponse)
def eligibility_page(
    request: Request, program_id: ProgramId, user_id: UserId, principal: UserOrStaff
) -> HTMLResponse:
    check_owner(principal, user_id)
    index = service(request).index(program_id)
    note_access(request, principal, user_id, "eligibility page", program_id)
    return pages.render(
        request,
        "eligibility.html",
        principal,
        story=story(index, user_id),
        params=index.params,
        programme=service(request).programme(program_id),
    )


def eligibility_out(s: Story, t: Translator) -> EligibilityOut:
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
                code=c.code, passed=c.passed, detail=criterion_text(t, s, c.code, c.passed)
            )
            for c in s.criteria
        ],
        payout=payout,
    )
