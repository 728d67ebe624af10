"""Verifiable payouts: the published commitment, a user's proof, and "Verify my payout".

The page downloads the two JSON files and checks the proof in the browser
(``static/verify.js``: the same steps as :mod:`recompense.proofs.verify`, with
SHA-256 and Keccak-256 in plain JavaScript), so the user need not trust the server's
word: only the published commitment. It checks the commitment's Ed25519 signature too
(WebCrypto) against the programme's publication key (``RECOMPENSE_PUBLICATION_KEY``),
which it shows in full so the user can compare it with the key published elsewhere, and
it accepts a commitment the user obtained elsewhere: pasted, from a file or fetched from
an address they give (hence this page's wider ``connect-src``). A server that was
tampered with then cannot show a matching fake commitment and proof.

For an amendment run the page also shows the chain of commitments (base → amendment 1 →
…) with the user's cumulative amount at each and what each amendment added for them,
and the browser checks the chain (``/api/programs/{id}/commitments``) and the user's
proof back to the base (``docs/proofs.md``, "Proofs across amendments").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompense.errors import NotFoundError
from recompense.proofs.amendments import Step, user_history, walk
from recompense.web import pages
from recompense.web.auth import AnyRole, check_owner
from recompense.web.models import ERRORS, Commitment, ErrorOut, ProofOut
from recompense.web.routes.common import ProgramId, UserId, UserOrStaff, note_access, service
from recompense.web.service import served

router = APIRouter(responses=ERRORS)

# The service's policy (app.CSP) but for connect-src: the page fetches a commitment from
# an address the user types. Over HTTPS the browser refuses plain-http addresses anyway.
VERIFY_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' https: http:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


@router.get(
    "/api/programs/{program_id}/commitment",
    responses={404: {"model": ErrorOut, "description": "not committed yet"}},
)
def commitment_api(request: Request, program_id: ProgramId, _: AnyRole) -> Commitment:
    """The programme's published ``commitment.json`` (public data; 404 until committed)."""
    return Commitment.model_validate(service(request).prover(program_id).commitment)


@router.get(
    "/api/programs/{program_id}/commitments",
    responses={404: {"model": ErrorOut, "description": "not committed yet"}},
)
def commitments_api(request: Request, program_id: ProgramId, _: AnyRole) -> list[Commitment]:
    """The programme's chain of published commitments, base first (one for a base run)."""
    prover = service(request).prover(program_id)
    with served(program_id):  # an earlier run of the chain that cannot be read: 503
        chain = prover.chain()
    return [Commitment.model_validate(c) for c in chain]


@router.get("/api/programs/{program_id}/users/{user_id}/proof", response_model_exclude_none=True)
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
    reason, history = None, []
    try:
        history = _history(request, program_id, _bundle(request, program_id, user_id))
    except NotFoundError as exc:  # not committed yet, or no payout: said on the page
        reason = str(exc)
    response = pages.render(
        request,
        "verify.html",
        principal,
        programme=programme,
        user_id=user_id,
        unavailable=reason,
        history=history if len(history) > 1 else [],
        publication_key=service(request).settings.publication_key,
    )
    response.headers["Content-Security-Policy"] = VERIFY_CSP
    return response


def _history(request: Request, program_id: str, bundle: dict[str, Any]) -> list[Step]:
    """The user's amount at each commitment of the chain (one row for a base run)."""
    prover = service(request).prover(program_id)
    if prover.amendment is None:
        return []
    with served(program_id):  # a chain that cannot be read is the server's failure
        return user_history(walk(prover.run), bundle)


def _bundle(request: Request, program_id: str, user_id: int) -> dict[str, Any]:
    """The user's bundle: :class:`~recompense.proofs.UnknownUserError` (404, shown) for
    a user without a payout; a store or key that fails is the server's (503)."""
    prover = service(request).prover(program_id)
    with served(program_id):
        return prover.bundle(user_id)
