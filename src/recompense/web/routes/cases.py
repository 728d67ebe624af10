"""Users' cases in the Rewards Hub: open an appeal or a claim, follow it, answer, attach files.

Thin, like every route: each parses the request, calls one function of
:mod:`recompense.cases.service` as the signed-in user (``user:<id>``), and renders. The
desk decides who may see and do what; its refusals (not found, forbidden, conflict,
invalid input) are answered by the app's one handler (:func:`recompense.web.problems.
domain_error`), never caught here. Someone else's case or file is "not found" (404),
the same as one that does not exist.

=========================================  ======  ==========================================
route                                      roles   what
=========================================  ======  ==========================================
``GET /cases``                             user    my cases, and the form to open one
``POST /cases``                            user    open a case (form; 303 to the case)
``GET /cases/{case_id}``                   user    status in words, events, decision, files
``POST /cases/{case_id}/respond``          user    answer a request for information
``POST /cases/{case_id}/withdraw``         user    withdraw an undecided case
``POST /cases/{case_id}/evidence``         user    attach a file (multipart, streamed)
``GET /cases/{case_id}/evidence/{eid}``    user    download one's own file (attachment)
``/api/cases…``                            user    the same as JSON: :mod:`.cases_api`
=========================================  ======  ==========================================

Money is typed in US dollars (``1250.50`` or ``1250,50``, at most two decimals, no
grouping) and parsed exactly to integer cents. A claim's moment is typed in UTC. Forms
carry the CSRF token (the upload's is checked as soon as it arrives, before the file);
after a POST the page redirects (POST/redirect/GET). Evidence files are served only as
downloads (``Content-Disposition: attachment``, ``nosniff``), never rendered inline.
Without ``RECOMPENSE_CASES_KEYS`` every route answers 503.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from recompense.cases import reasons, service
from recompense.cases.schema import CATEGORIES, CLAIMS
from recompense.money import D, to_cents
from recompense.web import pages
from recompense.web.auth import Principal
from recompense.web.csrf import CSRF, FIELD, verify_sent
from recompense.web.i18n import Message
from recompense.web.models import CASES_ERRORS
from recompense.web.routes.common import UserOnly
from recompense.web.routes.common import service as web_service
from recompense.web.uploads import Limits, UploadRefused, read_form

router = APIRouter(responses=CASES_ERRORS)

ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CaseId = Annotated[str, Path(pattern=ID_PATTERN, description="the case's id (a UUID)")]
EvidenceId = Annotated[str, Path(pattern=ID_PATTERN, description="the file's id (a UUID)")]
MAX_TEXT = 4000  # the desk's limit for a person's words
MAX_AMOUNT = 30  # characters of a typed amount
# One file per upload, at most the desk's size; the desk decides the type by content.
SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".xlsx", ".json", ".csv", ".txt")
LIMITS = Limits(
    files=1,
    file_bytes=service.MAX_BYTES,
    total_bytes=service.MAX_BYTES,
    fields=2,
    field_bytes=1024,
    suffixes=SUFFIXES,
)
UPLOAD_PATHS = ("/cases/{case_id}/evidence", "/api/cases/{case_id}/evidence")
DONE = r"^(opened|responded|withdrawn|uploaded)$"  # what the page confirms after a POST
_AMOUNT = re.compile(r"^\d{1,13}(?:[.,]\d{1,2})?$")


@dataclass(frozen=True, slots=True)
class Choice:
    """An option of a form's select: its code and its words in the page's language."""

    code: str
    label: str


# --- pages ------------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, principal: UserOnly) -> HTMLResponse:
    """My cases, newest first, and the form to open one."""
    found = service.user_cases(desk(request), actor_of(principal))
    locale = pages.locale_for(request, principal)
    return _render(
        request, principal, "cases_list.html", cases=found, **_form_choices(request, locale)
    )


@router.post(
    "/cases",
    dependencies=[CSRF],
    response_class=HTMLResponse,
    responses={303: {"description": "opened: to the case's page"}},
)
def open_form(
    request: Request,
    principal: UserOnly,
    program_id: Annotated[str, Form(min_length=1, max_length=64)],
    category: Annotated[str, Form(min_length=1, max_length=30)],
    summary: Annotated[str, Form(min_length=1, max_length=MAX_TEXT)],
    stated_usd: Annotated[str, Form(max_length=MAX_AMOUNT)] = "",
    occurred_at: Annotated[str, Form(max_length=30)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
) -> RedirectResponse:
    case_id = open_case(
        request, principal, program_id, category, summary, stated_usd, occurred_at, email
    )
    return RedirectResponse(f"/cases/{case_id}?done=opened", 303)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    case_id: CaseId,
    principal: UserOnly,
    done: Annotated[str | None, Query(pattern=DONE)] = None,
) -> HTMLResponse:
    """The case as its user sees it: status in words, what happened, the decision."""
    detail = service.case_detail(desk(request), actor_of(principal), case_id)
    return _render(request, principal, "cases_detail.html", detail=detail, done=done)


@router.post(
    "/cases/{case_id}/respond",
    dependencies=[CSRF],
    response_class=HTMLResponse,
    responses={303: {"description": "answered: back to the case"}},
)
def respond_form(
    request: Request,
    case_id: CaseId,
    principal: UserOnly,
    message: Annotated[str, Form(min_length=1, max_length=MAX_TEXT)],
) -> RedirectResponse:
    service.respond(desk(request), actor_of(principal), case_id, message)
    return RedirectResponse(f"/cases/{case_id}?done=responded", 303)


@router.post(
    "/cases/{case_id}/withdraw",
    dependencies=[CSRF],
    response_class=HTMLResponse,
    responses={303: {"description": "withdrawn: back to the case"}},
)
def withdraw_form(request: Request, case_id: CaseId, principal: UserOnly) -> RedirectResponse:
    service.withdraw(desk(request), actor_of(principal), case_id)
    return RedirectResponse(f"/cases/{case_id}?done=withdrawn", 303)


@router.post(
    "/cases/{case_id}/evidence",
    response_class=HTMLResponse,
    responses={
        303: {"description": "attached: back to the case"},
        413: {"description": "a file larger than 5 MiB, or more than one file"},
    },
)
async def evidence_form(request: Request, case_id: CaseId, principal: UserOnly) -> Response:
    await upload(request, case_id, principal)
    return RedirectResponse(f"/cases/{case_id}?done=uploaded", 303)


@router.get(
    "/cases/{case_id}/evidence/{evidence_id}",
    response_class=Response,
    responses={200: {"description": "the file, as a download"}},
)
def evidence_download(
    request: Request, case_id: CaseId, evidence_id: EvidenceId, principal: UserOnly
) -> Response:
    return download(request, principal, case_id, evidence_id)


# --- shared with the operations console -----------------------------------------------


def desk(request: Request) -> service.Desk:
    """The app's cases desk, built once on the service's database with the keys read at
    start-up (503 without them: nothing about a case can be read or written)."""
    found: service.Desk | None = getattr(request.app.state, "cases_desk", None)
    if found is not None:
        return found
    settings = web_service(request).settings
    if settings.cases_keyring is None:
        raise HTTPException(503, Message("case_not_configured"))
    built = service.open_desk(settings.db_url, keyring=settings.cases_keyring)
    request.app.state.cases_desk = built
    return built


def actor_of(principal: Principal) -> str:
    """``user:<id>`` for a user (from the verified id, never the subject); ``role:name``
    for staff."""
    if principal.role == "user":
        return f"user:{principal.user_id}"
    name = principal.subject.removeprefix(f"{principal.role}:")
    return f"{principal.role}:{name}"


def cents(field: str, typed: str) -> int | None:
    """A typed USD amount, exactly, in cents: ``1250.50`` or ``1250,50``; empty: None."""
    cleaned = typed.strip().replace(" ", "").removeprefix("$").removeprefix("US$")
    if not cleaned:
        return None
    if not _AMOUNT.fullmatch(cleaned):
        raise HTTPException(422, Message("case_amount_invalid", field=field))
    return to_cents(D(cleaned.replace(",", ".")))


def download(request: Request, principal: Principal, case_id: str, evidence_id: str) -> Response:
    """The file as a download, if it belongs to ``case_id`` and the caller may read it."""
    found = service.read_evidence(desk(request), actor_of(principal), evidence_id)
    if found.case_id != case_id:
        raise HTTPException(404, "not found")
    quoted = quote(found.filename, safe="")
    plain = found.filename.encode("ascii", "replace").decode().replace('"', "")
    headers = {
        "Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quoted}",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(found.data, media_type=found.content_type, headers=headers)


async def upload(request: Request, case_id: str, principal: Principal) -> str:
    """Read one file under :data:`LIMITS` (the CSRF token checked as it arrives, before
    the file) and attach it; the new evidence id. A refused upload says which limit."""
    try:
        form = await read_form(
            request.headers.get("content-type", ""),
            request.headers.get("content-length"),
            request.stream(),
            LIMITS,
            on_field=partial(_early_csrf, request),
        )
    except UploadRefused as exc:
        raise HTTPException(exc.status, Message(exc.key, **exc.values)) from exc
    verify_sent(request, form.fields.get(FIELD) or request.headers.get("x-csrf-token"))
    if not form.files:
        raise HTTPException(422, Message("case_no_file"))
    file = form.files[0]
    return await run_in_threadpool(
        service.add_evidence,
        desk(request),
        actor_of(principal),
        case_id,
        file.name,
        "application/octet-stream",  # the desk decides the type from the content
        file.data,
    )


def _early_csrf(request: Request, name: str, value: str) -> None:
    if name == FIELD:
        verify_sent(request, value)


def open_case(
    request: Request,
    principal: Principal,
    program_id: str,
    category: str,
    summary: str,
    stated_usd: str,
    occurred_at: str,
    email: str,
) -> str:
    """Open a case as typed in the form or the API (amount in USD, moment in UTC); its id."""
    return service.open_case(
        desk(request),
        actor_of(principal),
        program_id,
        category,
        summary,
        stated_cents=cents("stated_usd", stated_usd),
        occurred_at=_moment(occurred_at),
        locale=pages.locale_for(request, principal),
        email=email.strip() or None,
    )


def _moment(typed: str) -> datetime | None:
    """``2025-10-10T21:15`` (a browser's datetime-local, read as UTC) or ISO 8601 with
    an offset; empty: None."""
    if not typed.strip():
        return None
    try:
        moment = datetime.fromisoformat(typed.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise HTTPException(422, Message("case_moment_invalid")) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _form_choices(request: Request, locale: str) -> dict[str, list[Choice]]:
    """The open-a-case form's options: the distributed programmes and the categories."""
    programmes = [Choice(p.id, p.name) for p in web_service(request).programmes()]
    categories = [Choice(c, reasons.category_label(c, locale)) for c in CATEGORIES]
    return {"programmes": programmes, "categories": categories}


def _render(request: Request, principal: Principal, template: str, **context: Any) -> HTMLResponse:
    return pages.render(
        request,
        template,
        principal,
        reasons=reasons,
        claims=CLAIMS,
        max_bytes=service.MAX_BYTES,
        max_files=service.MAX_FILES,
        suffixes=", ".join(SUFFIXES),
        **context,
    )
