"""Reading cases: a user's list, one case in detail, the operations queue and its clock.

A user sees only their own cases and, in a case, only the events meant for them (the
officers' names replaced by ``ops``; internal notes, proposals and staff reads left
out). Staff (``ops``, ``auditor``) see everything, and every staff read of a case is
logged: a ``view`` event on the case (not shown to the user) and a ``case.read`` event
in the audit trail. Listing the queue is logged in the audit trail (``case.list``).

The decision clock: ``due_at`` is set when the case opens (``opened_at`` + the
programme's ``decision_target_hours``) and moves later by the time the case waited for
the user's answer (``request_info`` → ``respond``), so the clock measures operations'
time only. Hours are floats, for display; money stays integer cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, select

from recompense import audit
from recompense.cases.desk import (
    Actor,
    CasePolicy,
    Desk,
    as_actor,
    as_utc,
    case_policy,
    parse_actor,
    record_event,
    require_role,
    unit,
    visible_case,
)
from recompense.cases.errors import CaseError
from recompense.cases.schema import (
    CASE_STATES,
    CATEGORIES,
    OPEN_STATES,
    case_approvals,
    case_decisions,
    case_events,
    case_evidence,
    cases,
)

DUE_SOON_HOURS = 24
# Events whose text a user reads (their own words, our questions, a rejection's words);
# the reasons officers give for accepting stay internal.
USER_TEXT_ACTIONS = frozenset({"open", "respond", "request_info", "reject", "evidence"})


@dataclass(frozen=True, slots=True)
class Clock:
    """The decision clock against its target (``hours_left`` < 0: overdue)."""

    due_at: datetime
    hours_left: float
    overdue: bool
    status: str  # running | due_soon | overdue | met | missed | closed


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A case without its text: what a list shows."""

    id: str
    program_id: str
    user_id: int
    category: str
    state: str
    stated_cents: int | None
    occurred_at: datetime | None
    locale: str
    reason_code: str | None
    opened_at: datetime
    updated_at: datetime
    due_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventView:
    """One step. ``actor`` is ``ops`` (no name) for a user; ``text`` None: none to show."""

    at: datetime
    actor: str
    action: str
    state_after: str
    visible_to_user: bool
    text: str | None


@dataclass(frozen=True, slots=True)
class EvidenceInfo:
    """An evidence file's metadata (the bytes: :func:`recompense.cases.evidence.read_evidence`)."""

    id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


@dataclass(frozen=True, slots=True)
class DecisionView:
    """A proposed or accepted decision (cents); ``approvals``: the officers who signed."""

    id: str
    round: int
    kind: str  # correction | claim
    loss_cents: int | None
    net_assets_cents: int | None
    incident_loss_cents: int | None
    not_compensated: bool | None
    claim_cents: int | None
    amount_cents: int  # the most it can pay: what the four-eyes rule compares
    proposed_by: str
    proposed_at: datetime
    accepted_at: datetime | None
    withdrawn_at: datetime | None
    applied_in: str | None
    approvals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """One case as ``viewer`` may see it.

    For a user: their words, their evidence, the events meant for them, accepted
    decisions only, no assignee. For staff: everything, including internal notes.
    """

    case: CaseSummary
    summary: str  # the user's words, decrypted
    assigned_to: str | None  # None for a user
    events: tuple[EventView, ...]
    evidence: tuple[EvidenceInfo, ...]
    decisions: tuple[DecisionView, ...]
    clock: Clock
    four_eyes_above_cents: int
    viewer: str  # "user:42", "ops:alice"


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A case in the operations queue, with its clock."""

    id: str
    program_id: str
    user_id: int
    category: str
    state: str
    assigned_to: str | None
    stated_cents: int | None
    opened_at: datetime
    updated_at: datetime
    due_at: datetime
    age_hours: float
    hours_left: float  # negative: overdue by that many hours
    overdue: bool
    proposed_by: str | None  # a proposal awaiting a second officer


def user_cases(desk: Desk, actor: Actor | str) -> list[CaseSummary]:
    """The acting user's cases, newest first (users only; staff use :func:`queue`)."""
    who = as_actor(actor)
    require_role(who, ("user",), "list_own")
    with unit(desk) as conn:
        rows = conn.execute(
            select(cases)
            .where(cases.c.user_id == who.user_id)
            .order_by(cases.c.opened_at.desc(), cases.c.id)
        ).fetchall()
    return [_summary(r) for r in rows]


def case_detail(
    desk: Desk, actor: Actor | str, case_id: str, now: datetime | None = None
) -> CaseDetail:
    """One case as the actor may see it; "not found" for another user's case.

    A staff read is logged: a ``view`` event (not shown to the user) and ``case.read`` in
    the audit trail, in the same transaction as the read.
    """
    who, now = as_actor(actor), desk.now(now)
    with unit(desk) as conn:
        row = visible_case(conn, who, case_id)
        policy = case_policy(conn, row.program_id)
        if who.is_staff:
            record_event(conn, desk, who, row.id, "view", row.state, now, visible_to_user=False)
            audit.record(
                conn, actor=str(who), action="case.read", subject=f"case:{row.id}",
                details={"program_id": row.program_id, "user_id": row.user_id}, at=now,
            )  # fmt: skip
        events = _events(conn, desk, who, row.id)
        evidence = _evidence(conn, row.id)
        decisions = _decisions(conn, row.id, policy)
    if not who.is_staff:
        decisions = tuple(d for d in decisions if d.accepted_at is not None)
    return CaseDetail(
        case=_summary(row),
        summary=desk.unseal("cases", "summary", row.id, row.summary_enc),
        assigned_to=row.assigned_to if who.is_staff else None,
        events=events,
        evidence=evidence,
        decisions=decisions,
        clock=clock(row, now),
        four_eyes_above_cents=policy.four_eyes_above_cents,
        viewer=str(who),
    )


def queue(
    desk: Desk,
    actor: Actor | str,
    *,
    state: str | None = None,
    category: str | None = None,
    min_age_hours: float | None = None,
    assigned_to: str | None = None,
    now: datetime | None = None,
) -> list[QueueRow]:
    """Cases for operations, most urgent first (``due_at``); default: the open states.

    ``state``: a case state or ``"all"``; ``assigned_to``: ``"ops:NAME"`` or ``"none"``
    (unassigned). Staff only; the listing is logged in the audit trail (``case.list``).
    """
    who, now = as_actor(actor), desk.now(now)
    require_role(who, ("ops", "auditor"), "list")
    query = select(cases).order_by(cases.c.due_at, cases.c.id)
    query = query.where(*_filters(state, category, min_age_hours, assigned_to, now))
    with unit(desk) as conn:
        rows = conn.execute(query).fetchall()
        proposers = _proposers(conn, [r.id for r in rows if r.state == "proposed"])
        audit.record(
            conn, actor=str(who), action="case.list", subject="cases",
            details={"state": state, "category": category, "min_age_hours": min_age_hours,
                     "assigned_to": assigned_to, "cases": len(rows)}, at=now,
        )  # fmt: skip
    return [_queue_row(r, now, proposers.get(r.id)) for r in rows]


def about_to_miss(
    desk: Desk, actor: Actor | str, *, within_hours: float = 24, now: datetime | None = None
) -> list[QueueRow]:
    """Undecided cases (open or proposed; not those waiting for the user) due within
    ``within_hours`` — overdue ones included — most urgent first."""
    now = desk.now(now)
    if not 0 <= within_hours <= 24 * 365:
        raise CaseError(f"within {within_hours} hours: 0 to 8,760", code="bad_hours")
    rows = queue(desk, actor, state="all", now=now)
    limit = now + timedelta(hours=within_hours)
    return [r for r in rows if r.state in ("open", "proposed") and r.due_at <= limit]


def clock(row: Row[Any], now: datetime) -> Clock:
    """The decision clock of a case row at ``now``."""
    due = as_utc(row.due_at)
    if row.decided_at is not None:
        decided = as_utc(row.decided_at)
        left = (due - decided).total_seconds() / 3600
        status = "closed" if row.state == "withdrawn" else ("met" if left >= 0 else "missed")
        return Clock(due, round(left, 2), False, status)
    left = (due - now).total_seconds() / 3600
    status = "overdue" if left < 0 else "due_soon" if left <= DUE_SOON_HOURS else "running"
    return Clock(due, round(left, 2), left < 0, status)


def _filters(
    state: str | None,
    category: str | None,
    min_age_hours: float | None,
    assigned_to: str | None,
    now: datetime,
) -> list[ColumnElement[bool]]:
    c = cases.c
    where: list[ColumnElement[bool]] = []
    if state is None:
        where.append(c.state.in_(OPEN_STATES))
    elif state != "all":
        if state not in CASE_STATES:
            raise CaseError(
                f"state {state!r}: one of {', '.join(CASE_STATES)}, or all", code="bad_state"
            )
        where.append(c.state == state)
    if category is not None:
        if category not in CATEGORIES:
            raise CaseError(
                f"category {category!r}: one of {', '.join(CATEGORIES)}", code="bad_category"
            )
        where.append(c.category == category)
    if min_age_hours is not None:
        if not 0 <= min_age_hours <= 24 * 3650:
            raise CaseError(f"min age {min_age_hours} hours: 0 to 87,600", code="bad_hours")
        where.append(c.opened_at <= now - timedelta(hours=min_age_hours))
    if assigned_to is not None:
        if assigned_to == "none":
            where.append(c.assigned_to.is_(None))
        else:
            where.append(c.assigned_to == str(parse_actor(assigned_to)))
    return where


def _summary(row: Row[Any]) -> CaseSummary:
    return CaseSummary(
        id=str(row.id),
        program_id=str(row.program_id),
        user_id=int(row.user_id),
        category=str(row.category),
        state=str(row.state),
        stated_cents=None if row.stated_cents is None else int(row.stated_cents),
        occurred_at=None if row.occurred_at is None else as_utc(row.occurred_at),
        locale=str(row.locale),
        reason_code=row.reason_code,
        opened_at=as_utc(row.opened_at),
        updated_at=as_utc(row.updated_at),
        due_at=as_utc(row.due_at),
        decided_at=None if row.decided_at is None else as_utc(row.decided_at),
    )


def _queue_row(row: Row[Any], now: datetime, proposer: str | None) -> QueueRow:
    tick = clock(row, now)
    return QueueRow(
        id=str(row.id),
        program_id=str(row.program_id),
        user_id=int(row.user_id),
        category=str(row.category),
        state=str(row.state),
        assigned_to=row.assigned_to,
        stated_cents=None if row.stated_cents is None else int(row.stated_cents),
        opened_at=as_utc(row.opened_at),
        updated_at=as_utc(row.updated_at),
        due_at=tick.due_at,
        age_hours=round((now - as_utc(row.opened_at)).total_seconds() / 3600, 2),
        hours_left=tick.hours_left,
        overdue=tick.overdue,
        proposed_by=proposer,
    )


def _events(conn: Connection, desk: Desk, who: Actor, case_id: str) -> tuple[EventView, ...]:
    e = case_events.c
    query = select(case_events).where(e.case_id == case_id).order_by(e.id)
    if not who.is_staff:
        query = query.where(e.visible_to_user.is_(True))
    views = []
    for r in conn.execute(query):
        shown = who.is_staff or r.action in USER_TEXT_ACTIONS
        text = (
            desk.unseal("case_events", "text", case_id, r.text_enc)
            if shown and r.text_enc is not None
            else None
        )
        actor = r.actor if who.is_staff or r.actor.startswith("user:") else r.actor.split(":")[0]
        views.append(
            EventView(as_utc(r.at), actor, r.action, r.state_after, bool(r.visible_to_user), text)
        )
    return tuple(views)


def _evidence(conn: Connection, case_id: str) -> tuple[EvidenceInfo, ...]:
    v = case_evidence.c
    rows = conn.execute(
        select(v.id, v.filename, v.content_type, v.size_bytes, v.sha256, v.uploaded_at,
               v.uploaded_by).where(v.case_id == case_id).order_by(v.uploaded_at, v.id)
    )  # fmt: skip
    return tuple(
        EvidenceInfo(
            str(r.id),
            str(r.filename),
            str(r.content_type),
            int(r.size_bytes),
            str(r.sha256),
            as_utc(r.uploaded_at),
            str(r.uploaded_by),
        )
        for r in rows
    )


def _decisions(conn: Connection, case_id: str, policy: CasePolicy) -> tuple[DecisionView, ...]:
    d = case_decisions.c
    rows = conn.execute(select(case_decisions).where(d.case_id == case_id).order_by(d.round))
    result = []
    for r in rows.fetchall():
        signed = conn.execute(
            select(case_approvals.c.officer)
            .where(case_approvals.c.decision_id == r.id)
            .order_by(case_approvals.c.id)
        ).scalars()
        result.append(_decision_view(r, tuple(str(s) for s in signed), policy))
    return tuple(result)


def _decision_view(r: Row[Any], approvals: tuple[str, ...], policy: CasePolicy) -> DecisionView:
    def opt(value: Any) -> int | None:
        return None if value is None else int(value)

    claim = opt(r.claim_cents) if r.kind == "claim" else None
    amount = policy.decision_amount(claim, None if claim is not None else opt(r.loss_cents))
    return DecisionView(
        id=str(r.id),
        round=int(r.round),
        kind=str(r.kind),
        loss_cents=opt(r.loss_cents),
        net_assets_cents=opt(r.net_assets_cents),
        incident_loss_cents=opt(r.incident_loss_cents),
        not_compensated=None if r.not_compensated is None else bool(r.not_compensated),
        claim_cents=opt(r.claim_cents),
        amount_cents=amount,
        proposed_by=str(r.proposed_by),
        proposed_at=as_utc(r.proposed_at),
        accepted_at=None if r.accepted_at is None else as_utc(r.accepted_at),
        withdrawn_at=None if r.withdrawn_at is None else as_utc(r.withdrawn_at),
        applied_in=r.applied_in,
        approvals=approvals,
    )


def _proposers(conn: Connection, case_ids: list[str]) -> dict[str, str]:
    if not case_ids:
        return {}
    d = case_decisions.c
    rows = conn.execute(
        select(d.case_id, d.proposed_by).where(
            d.case_id.in_(case_ids), d.accepted_at.is_(None), d.withdrawn_at.is_(None)
        )
    )
    return {str(r.case_id): str(r.proposed_by) for r in rows}
