"""Verifiable payouts: the published commitment, a user's proof, and "Verify my payout".

The page downloads the two JSON files and checks the proof in the browser
(``static/verify.js``: the same steps as :mod:`recompense.proofs.verify`, with
SHA-256 and Keccak-256 in plain JavaScript), so the user need not trust the server's
word: only the published commitment.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from recompense.errors import RecompenseError
from recompense.web import pages
from recompense.web.auth import AnyRole, check_owner
from recompense.web.models import ERRORS, Commitment, ErrorOut, ProofOut
from recompense.web.routes.common import ProgramId, UserId, UserOrStaff, note_access, service

router = APIRouter(responses=ERRORS)


@router.get(
    "/api/programs/{program_id}/commitment",
    responses={404: {"model": ErrorOut, "description": "not committed yet"}},
)
def commitment_api(request: Request, program_id: ProgramId, _: AnyRole) -> Commitment:
    """The programme's published ``commitment.json`` (public data; 404 until committed)."""
    return Commitment.model_validate(service(request).prover(program_id).commitment)


@router.get("/api/programs/{program_id}/users/{user_id}/proof")
def proof_api(
    request: Request, program_id: ProgramId, user_id: UserId, principal: UserOrStaff
) -> ProofOut:
    """The user's proof bundle (it holds their private salt: only for them and the staff)."""
    check_owner(principal, user_id)
    bundle = _bundle(request, program_id, user_id)
    note_access(request, principal, user_id, "proof", program_id)
    return ProofOut.model_validate(bundle)


@router.get("/programs/{program_id}/users/{user_id}/verify", response_class=HTMLResponse)
def verify_page(
    request: Request, program_id: ProgramId, user_id: UserId, principal: UserOrStaff
) -> HTMLResponse:
    check_owner(principal, user_id)
    programme = service(request).programme(program_id)
    reason = None
    try:
        _bundle(request, program_id, user_id)
    except HTTPException as exc:
        reason = str(exc.detail)
    return pages.render(
        request,
        "verify.html",
        principal,
        programme=programme,
        user_id=user_id,
        unavailable=reason,
    )


def _bundle(request: Request, program_id: str, user_id: int) -> dict[str, Any]:
    prover = service(request).prover(program_id)
    try:
        return prover.bundle(user_id)
    except RecompenseError as exc:
        raise HTTPException(404, str(exc)) from exc
