"""Helpers the routers share: path parameters, the caller aliases, access records."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from recompense.web import queries
from recompense.web.auth import STAFF, Principal, StaffRole, allow
from recompense.web.service import Service

MAX_ID = 2**63 - 1
UserId = Annotated[int, Path(ge=0, le=MAX_ID, description="the exchange's user id")]
ProgramId = Annotated[str, Path(min_length=1, max_length=64, description="programme id")]
# Voucher ids are UUIDs: anything else is refused (422) before it reaches the database.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
VoucherId = Annotated[str, Path(pattern=UUID_PATTERN, description="voucher id (a UUID)")]

# Who may read a user's programme data: the user (their own only) and the staff.
UserOrStaff = Annotated[Principal, allow("user", *STAFF)]
Staff = StaffRole
UserOnly = Annotated[Principal, allow("user")]
Ops = Annotated[Principal, allow("ops")]


def service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


def note_access(
    request: Request, principal: Principal, user_id: int, action: str, target: str = ""
) -> None:
    """Record a staff member's look at a user's data (the user's own views are not kept)."""
    if principal.role == "user":
        return
    queries.record_access(
        service(request).engine,
        subject=principal.subject,
        role=principal.role,
        user_id=user_id,
        action=action,
        target=target,
    )
