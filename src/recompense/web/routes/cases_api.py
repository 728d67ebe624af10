"""The JSON API of users' cases: ``/api/cases`` (the user's own; problem+json errors).

The same actions as the pages of :mod:`.cases` (open, list, show, respond, withdraw,
upload, download), as the signed-in user; the same rules, limits and one error handler.
Money: ``stated_usd`` is typed in US dollars (exact, at most cents) and answered in
integer cents (``*_cents``); times are ISO 8601 in UTC. A cookie session's POSTs carry
the ``X-CSRF-Token`` header; bearer-token calls need none.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from recompense.cases import reasons, service
from recompense.cases.schema import CATEGORIES
from recompense.web import pages
from recompense.web.csrf import CSRF
from recompense.web.models import CASES_ERRORS
from recompense.web.routes.cases import (
    MAX_AMOUNT,
    MAX_TEXT,
    CaseId,
    EvidenceId,
    actor_of,
    desk,
    download,
    open_case,
    upload,
)
from recompense.web.routes.common import UserOnly

router = APIRouter(responses=CASES_ERRORS)


class CaseIn(BaseModel):
    program_id: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=30, description=", ".join(CATEGORIES))
    summary: str = Field(min_length=1, max_length=MAX_TEXT, description="what is wrong")
    stated_usd: str = Field(
        default="", max_length=MAX_AMOUNT, description='the amount you state, e.g. "1250.50"'
    )
    occurred_at: datetime | None = Field(
        default=None, description="claims: when the transfer or redemption was delayed (UTC)"
    )
    email: str = Field(default="", max_length=254, description="where to write about the case")


class MessageIn(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_TEXT)


class CaseOut(BaseModel):
    id: str
    program_id: str
    category: str
    category_label: str = Field(description="the category in the caller's language")
    state: str
    state_label: str = Field(description="the state in the caller's language")
    stated_cents: int | None
    occurred_at: datetime | None
    opened_at: datetime
    due_at: datetime
    decided_at: datetime | None
    reason_code: str | None
    reason: str | None = Field(description="a rejection's reason, explained")


class EventOut(BaseModel):
    at: datetime
    actor: str
    action: str
    state_after: str
    text: str | None


class EvidenceOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime


class DecisionOut(BaseModel):
    kind: str
    loss_cents: int | None
    net_assets_cents: int | None
    incident_loss_cents: int | None
    not_compensated: bool | None
    claim_cents: int | None
    accepted_at: datetime | None


class CaseDetailOut(CaseOut):
    summary: str
    events: list[EventOut]
    evidence: list[EvidenceOut]
    decisions: list[DecisionOut]


class CasesOut(BaseModel):
    cases: list[CaseOut]


class CaseStateOut(BaseModel):
    id: str
    state: str


class UploadedOut(BaseModel):
    id: str
    case_id: str


@router.get("/api/cases")
def list_api(request: Request, principal: UserOnly) -> CasesOut:
    """The caller's cases, newest first."""
    locale = pages.locale_for(request, principal)
    found = service.user_cases(desk(request), actor_of(principal))
    return CasesOut(cases=[case_out(c, locale) for c in found])


@router.post("/api/cases", status_code=201, dependencies=[CSRF])
def open_api(request: Request, body: CaseIn, principal: UserOnly) -> CaseStateOut:
    """Open a case; 201 with its id."""
    moment = body.occurred_at.isoformat() if body.occurred_at is not None else ""
    case_id = open_case(
        request,
        principal,
        body.program_id,
        body.category,
        body.summary,
        body.stated_usd,
        moment,
        body.email,
    )
    return CaseStateOut(id=case_id, state="open")


@router.get("/api/cases/{case_id}")
def show_api(request: Request, case_id: CaseId, principal: UserOnly) -> CaseDetailOut:
    detail = service.case_detail(desk(request), actor_of(principal), case_id)
    return detail_out(detail, pages.locale_for(request, principal))


@router.post("/api/cases/{case_id}/respond", dependencies=[CSRF])
def respond_api(
    request: Request, case_id: CaseId, body: MessageIn, principal: UserOnly
) -> CaseStateOut:
    state = service.respond(desk(request), actor_of(principal), case_id, body.message)
    return CaseStateOut(id=case_id, state=state)


@router.post("/api/cases/{case_id}/withdraw", dependencies=[CSRF])
def withdraw_api(request: Request, case_id: CaseId, principal: UserOnly) -> CaseStateOut:
    state = service.withdraw(desk(request), actor_of(principal), case_id)
    return CaseStateOut(id=case_id, state=state)


@router.post(
    "/api/cases/{case_id}/evidence",
    status_code=201,
    responses={
        400: {"description": "a body that is not a multipart form"},
        413: {"description": "a file larger than 5 MiB, or more than one file"},
    },
)
async def evidence_api(request: Request, case_id: CaseId, principal: UserOnly) -> UploadedOut:
    """Attach one file (``multipart/form-data``, field ``file``)."""
    evidence_id = await upload(request, case_id, principal)
    return UploadedOut(id=evidence_id, case_id=case_id)


@router.get(
    "/api/cases/{case_id}/evidence/{evidence_id}",
    response_class=Response,
    responses={200: {"description": "the file, as a download"}},
)
def evidence_download_api(
    request: Request, case_id: CaseId, evidence_id: EvidenceId, principal: UserOnly
) -> Response:
    return download(request, principal, case_id, evidence_id)


def case_out(c: service.CaseSummary, locale: str) -> CaseOut:
    return CaseOut(
        id=c.id,
        program_id=c.program_id,
        category=c.category,
        category_label=reasons.category_label(c.category, locale),
        state=c.state,
        state_label=reasons.state_label(c.state, locale),
        stated_cents=c.stated_cents,
        occurred_at=c.occurred_at,
        opened_at=c.opened_at,
        due_at=c.due_at,
        decided_at=c.decided_at,
        reason_code=c.reason_code,
        reason=reasons.reason_text(c.reason_code, locale) if c.reason_code else None,
    )


def detail_out(d: service.CaseDetail, locale: str) -> CaseDetailOut:
    return CaseDetailOut(
        **case_out(d.case, locale).model_dump(),
        summary=d.summary,
        events=[
            EventOut(
                at=e.at, actor=e.actor, action=e.action, state_after=e.state_after, text=e.text
            )
            for e in d.events
        ],
        evidence=[
            EvidenceOut(
                id=f.id,
                filename=f.filename,
                content_type=f.content_type,
                size_bytes=f.size_bytes,
                sha256=f.sha256,
                uploaded_at=f.uploaded_at,
            )
            for f in d.evidence
        ],
        decisions=[
            DecisionOut(
                kind=x.kind,
                loss_cents=x.loss_cents,
                net_assets_cents=x.net_assets_cents,
                incident_loss_cents=x.incident_loss_cents,
                not_compensated=x.not_compensated,
                claim_cents=x.claim_cents,
                accepted_at=x.accepted_at,
            )
            for x in d.decisions
            if x.accepted_at is not None
        ],
    )
