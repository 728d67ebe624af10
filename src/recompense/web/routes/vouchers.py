"""The Rewards Hub: vouchers with their expiry, redemption, and what was credited.

Redemption goes through :func:`recompense.ledger.vouchers.redeem`, which is idempotent
for its owner: a double click (two POSTs) credits once and both answer with the same
redemption. The form posts, then redirects to the hub (POST/redirect/GET), so a reload
never posts again. Someone else's voucher is "not found" (404), never "forbidden".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from recompense.ledger.errors import VoucherError, VoucherNotFound
from recompense.ledger.vouchers import Redemption, redeem
from recompense.web import pages, queries
from recompense.web.auth import Principal, check_owner
from recompense.web.csrf import CSRF
from recompense.web.errors import ProgrammeUnavailable
from recompense.web.models import (
    ERRORS,
    CreditOut,
    ErrorOut,
    RedemptionOut,
    VoucherOut,
    VouchersOut,
)
from recompense.web.routes.common import (
    UUID_PATTERN,
    UserId,
    UserOnly,
    UserOrStaff,
    VoucherId,
    note_access,
    service,
)
from recompense.web.service import ProgrammeNotFound
from recompense.web.story import story

router = APIRouter(responses=ERRORS)


@router.get("/api/users/{user_id}/vouchers", response_model=VouchersOut)
def vouchers_api(request: Request, user_id: UserId, principal: UserOrStaff) -> Response:
    """The user's vouchers (all programmes) and the credits to their reward wallet."""
    check_owner(principal, user_id)
    note_access(request, principal, user_id, "vouchers")
    found, credited = queries.vouchers_and_credits(service(request).reads, user_id)
    # The hot path: the models are built from typed rows without validating them again,
    # and serialized once (the schema still documents VouchersOut).
    body = VouchersOut.model_construct(
        user_id=user_id,
        vouchers=[voucher_out(v) for v in found],
        credits=[credit_out(c) for c in credited],
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/api/vouchers/{voucher_id}")
def voucher_api(request: Request, voucher_id: VoucherId, principal: UserOrStaff) -> VoucherOut:
    found = _owned_voucher(request, voucher_id, principal)
    note_access(request, principal, found.user_id, "voucher", voucher_id)
    return voucher_out(found)


@router.post(
    "/api/vouchers/{voucher_id}/redeem",
    dependencies=[CSRF],
    responses={409: {"model": ErrorOut, "description": "expired or revoked"}},
)
def redeem_api(request: Request, voucher_id: VoucherId, principal: UserOnly) -> RedemptionOut:
    """Credit the voucher to the caller's wallet; again: the same answer, ``already`` true."""
    done = _redeem(request, voucher_id, principal)
    return RedemptionOut(
        voucher_id=done.voucher_id,
        user_id=done.user_id,
        amount_cents=done.amount_cents,
        currency=done.currency,
        redeemed_at=done.redeemed_at,
        entry_id=done.entry_id,
        already=done.already,
    )


@router.get("/hub", response_class=HTMLResponse)
def hub_page(
    request: Request,
    principal: UserOnly,
    redeemed: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    failed: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
) -> HTMLResponse:
    """Each programme's result, the vouchers with Redeem buttons, and the credit history."""
    user_id = principal.user_id
    if user_id is None:  # pragma: no cover - a user token always carries user_id
        raise HTTPException(401, "token without user_id")
    return pages.render(
        request,
        "hub.html",
        principal,
        **hub_context(request, user_id),
        flash=_flash(request, user_id, redeemed),
        failed=failed,
        owner=True,
    )


@router.post(
    "/vouchers/{voucher_id}/redeem",
    dependencies=[CSRF],
    response_class=HTMLResponse,
    responses={303: {"description": "to the hub, with the credit (or the refusal) shown"}},
)
def redeem_form(request: Request, voucher_id: VoucherId, principal: UserOnly) -> RedirectResponse:
    try:
        done = _redeem(request, voucher_id, principal)
    except HTTPException as exc:
        if exc.status_code != 409:
            raise
        return RedirectResponse(f"/hub?failed={voucher_id}#voucher-{voucher_id}", 303)
    return RedirectResponse(f"/hub?redeemed={done.voucher_id}#voucher-{done.voucher_id}", 303)


def hub_context(request: Request, user_id: int) -> dict[str, Any]:
    """What a user sees on their hub (also shown to operations on the user's page)."""
    svc = service(request)
    found, credited = queries.vouchers_and_credits(svc.reads, user_id)
    stories = []
    for programme in svc.programmes():
        try:
            stories.append((programme, story(svc.index(programme.id), user_id)))
        except (ProgrammeNotFound, ProgrammeUnavailable):
            continue  # a programme whose run cannot be read is reported on its own page
    return {
        "user_id": user_id,
        "stories": stories,
        "programme_names": {p.id: p.name for p in svc.programmes()},
        "vouchers": [voucher_out(v) for v in found],
        "credits": credited,
        "now": datetime.now(UTC),
    }


def voucher_out(v: queries.Voucher) -> VoucherOut:
    """The voucher as the API shows it (typed fields from the ledger: not validated again)."""
    left = (v.expires_at - datetime.now(UTC)).total_seconds() if v.status == "issued" else 0
    return VoucherOut.model_construct(
        id=v.id,
        program_id=v.program_id,
        user_id=v.user_id,
        amount_cents=v.amount_cents,
        currency=v.currency,
        status=v.status,
        issued_at=v.issued_at,
        expires_at=v.expires_at,
        closed_at=v.closed_at,
        seconds_left=max(0, int(left)),
    )


def credit_out(c: queries.Credit) -> CreditOut:
    return CreditOut.model_construct(
        entry_id=c.entry_id,
        kind=c.kind,
        program_id=c.program_id,
        voucher_id=c.voucher_id,
        amount_cents=c.amount_cents,
        currency=c.currency,
        at=c.at,
    )


def _owned_voucher(request: Request, voucher_id: str, principal: Principal) -> queries.Voucher:
    found = queries.voucher(service(request).reads, voucher_id)
    if found is None:
        raise HTTPException(404, "not found")
    check_owner(principal, found.user_id)
    return found


def _redeem(request: Request, voucher_id: str, principal: Principal) -> Redemption:
    if principal.user_id is None:  # pragma: no cover - a user token always carries user_id
        raise HTTPException(404, "not found")
    try:
        return redeem(service(request).engine, voucher_id, principal.user_id)
    except VoucherNotFound as exc:
        raise HTTPException(404, "not found") from exc
    except VoucherError as exc:
        raise HTTPException(409, str(exc)) from exc


def _flash(request: Request, user_id: int, voucher_id: str | None) -> queries.Voucher | None:
    """The voucher just redeemed (shown as "credited"), if it is the caller's."""
    if not voucher_id:
        return None
    found = queries.voucher(service(request).reads, voucher_id)
    return found if found is not None and found.user_id == user_id else None
