"""The audit trail in the console: events, newest first, searchable, with the chain's state.

Auditors and operations (read only: nothing here changes anything). Filters match as
prefixes (:func:`recompense.audit.search`); pages go back by sequence number (``before``),
so a page costs one indexed range scan however long the chain is. The chain is verified
in full (:func:`recompense.audit.verify`) when the page is shown, at most once every
:data:`VERIFY_EVERY_S` seconds per process (a million events take seconds), and the
result is shown with its time and the head hash an auditor can keep for
``recompense audit verify --expect-head``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from recompense.audit import Verification, search, verify
from recompense.web import pages
from recompense.web.models import ERRORS
from recompense.web.routes.common import MAX_ID, Staff, service

router = APIRouter(responses=ERRORS)
PAGE = 50
VERIFY_EVERY_S = 30.0
CACHE_KEY = ("audit-verify", "", "")


@router.get("/ops/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    principal: Staff,
    action: Annotated[str, Query(max_length=60)] = "",
    subject: Annotated[str, Query(max_length=200)] = "",
    actor: Annotated[str, Query(max_length=200)] = "",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Events matching the filters, newest first, :data:`PAGE` at a time."""
    engine = service(request).engine
    filters = {"action": action.strip(), "subject": subject.strip(), "actor": actor.strip()}
    found = search(engine, **filters, before_seq=before, limit=PAGE + 1)
    older = found[PAGE - 1].seq if len(found) > PAGE else None
    checked_at, chain = _verification(request)
    return pages.render(
        request,
        "audit_log.html",
        principal,
        events=[
            (e, json.dumps(e.details, ensure_ascii=False, sort_keys=True)) for e in found[:PAGE]
        ],
        filters=filters,
        older=older,
        paged=before is not None,
        chain=chain,
        checked_at=checked_at,
    )


def _verification(request: Request) -> tuple[datetime, Verification]:
    cache = service(request).cache
    found = cache.get(CACHE_KEY)
    if found is not None and time.monotonic() - found[0] < VERIFY_EVERY_S:
        return found[1], found[2]  # (checked at, verification)
    result, now = verify(service(request).engine), datetime.now(UTC)
    cache[CACHE_KEY] = (time.monotonic(), now, result)
    return now, result
