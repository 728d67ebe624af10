"""Sign-off in the console: the runs awaiting approval, a run's review and diff, Approve.

Operations only. A run is found by its fingerprint among the runs the console knows
(:func:`recompense.distribution.approvals.known_runs`: the sub-folders of
``RECOMPENSE_RUNS_DIR`` and the folders an approval or a distribution recorded), never
by a path sent in the request. The Approve form posts the fingerprint the officer
reviewed (CSRF-protected), and the approval is refused if the folder no longer has it;
then POST/redirect/GET. A refusal is the review again with its reason: 403 (their own
run), 409 (approved by them already, or already distributed). Each approval is an audit
event with the signed-in principal as its actor.
"""

from __future__ import annotations

from pathlib import Path as FolderPath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recompense.audit import actor_for
from recompense.distribution.approvals import (
    REQUIRED_APPROVALS,
    Differ,
    RunState,
    approve,
    known_runs,
    review,
)
from recompense.ledger.errors import ApprovalConflict, ApproverForbidden
from recompense.runs.diff import RunDiff, diff_runs
from recompense.runs.errors import RunFolderError
from recompense.web import pages
from recompense.web.auth import Principal
from recompense.web.csrf import CSRF
from recompense.web.models import ERRORS, ErrorOut
from recompense.web.routes.common import Ops, service

router = APIRouter(responses=ERRORS)
Fingerprint = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="the run's fingerprint (SHA-256 of manifest)")
]
TOP = 10


@router.get("/ops/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, principal: Ops) -> HTMLResponse:
    """Every run the console knows: awaiting approval first, then approved, distributed."""
    settings = service(request).settings
    runs = known_runs(settings.db_url, settings.runs_dir)
    return pages.render(
        request, "approvals.html", principal, runs=runs, required=REQUIRED_APPROVALS
    )


@router.get("/ops/approvals/{fingerprint}", response_class=HTMLResponse)
def review_page(
    request: Request,
    fingerprint: Fingerprint,
    principal: Ops,
    approved: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    """What the officer signs: the run's figures, its approvals and the diff."""
    return _review(request, principal, fingerprint, flash=approved)


@router.post(
    "/ops/approvals/{fingerprint}",
    dependencies=[CSRF],
    response_class=HTMLResponse,
    responses={
        303: {"description": "approved: back to the review"},
        409: {"model": ErrorOut, "description": "approved by them already, or distributed"},
    },
)
def approve_form(request: Request, fingerprint: Fingerprint, principal: Ops) -> Response:
    settings = service(request).settings
    run = _find(request, fingerprint).path
    actor = actor_for(principal.role, principal.subject)
    try:
        approve(run, settings.db_url, actor, fingerprint=fingerprint)
    except ApproverForbidden as exc:
        return _review(request, principal, fingerprint, refused=str(exc), status=403)
    except ApprovalConflict as exc:
        return _review(request, principal, fingerprint, refused=str(exc), status=409)
    except RunFolderError as exc:  # its files changed since it was listed
        raise HTTPException(404, f"run {fingerprint[:12]}…: {exc}") from exc
    return RedirectResponse(f"/ops/approvals/{fingerprint}?approved=true", 303)


def _review(
    request: Request,
    principal: Principal,
    fingerprint: str,
    *,
    flash: bool = False,
    refused: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    svc = service(request)
    state = _find(request, fingerprint)
    try:
        found = review(state.path, svc.settings.db_url, top=TOP, differ=_cached_diff(request))
    except RunFolderError as exc:  # changed or damaged since it was listed
        raise HTTPException(404, f"run {fingerprint[:12]}…: {exc}") from exc
    return pages.render(
        request,
        "approval.html",
        principal,
        status_code=status,
        review=found,
        required=REQUIRED_APPROVALS,
        actor=actor_for(principal.role, principal.subject),
        flash=flash,
        refused=refused,
    )


def _find(request: Request, fingerprint: str) -> RunState:
    settings = service(request).settings
    for state in known_runs(settings.db_url, settings.runs_dir):
        if state.fingerprint == fingerprint:
            return state
    raise HTTPException(404, f"no run with fingerprint {fingerprint[:12]}… (changed, or gone)")


def _cached_diff(request: Request) -> Differ:
    """A differ that remembers each (previous, new) pair: run folders never change in
    place (a change is a new fingerprint, hence a new key)."""
    from recompense.runs.folder import run_fingerprint

    cache = service(request).cache

    def differ(old: FolderPath, new: FolderPath) -> RunDiff:
        key = ("run-diff", run_fingerprint(old), run_fingerprint(new))
        found = cache.get(key)
        if not isinstance(found, RunDiff):
            found = cache[key] = diff_runs(old, new, top=TOP)
        return found

    return differ
