"""Reading applications: one record, lists, the decision clock, the access log, keys.

Every read of an application — one record or a row in a list — appends to the access
log (who, when, which record, why) in the same transaction as the read, so a read that
is not logged did not happen. A refused attempt to read one (an application the actor
may not see, or that does not exist: the same "not found" to them) is logged as well,
in a transaction of its own (:func:`refused`). Only auditors review the log. Sensitive
fields are decrypted only in :func:`show`; lists carry no sensitive field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select

from recompense.loans.actors import ACCOUNT_MANAGER, AUDITOR, COMMITTEE, Actor
from recompense.loans.crypto import key_id_of
from recompense.loans.desk import (
    SENSITIVE,
    Desk,
    as_utc,
    check_text,
    log_access,
    log_refusal,
    unit,
    utcnow,
    visible_application,
)
from recompense.loans.errors import LoanError, LoanForbidden, LoanNotFound
from recompense.loans.fund import Dashboard, dashboard
from recompense.loans.schedule import lateness
from recompense.loans.schema import (
    STATES,
    loan_access_log,
    loan_applications,
    loan_approvals,
    loan_events,
)
from recompense.loans.servicing import schedule_of

apps = loan_applications.c
SUMMARY = (
    "id", "borrower_id", "account_manager_id", "state", "amount_cents", "term_days",
    "repayment", "apr", "created_at", "submitted_at", "decided_at", "disbursed_on",
    "maturity_on", "principal_outstanding_cents", "principal_repaid_cents",
    "interest_accrued_cents", "interest_paid_cents", "fees_charged_cents", "fees_paid_cents",
    "written_off_cents",
)  # fmt: skip


# Why a read is refused, as the access log says it: the actor is told "not found" either
# way, so an id cannot be probed; PostgreSQL's row-level security hides the difference
# from the actor's own transaction too.
NOT_VISIBLE = "no such application, or not one this actor may see"


@dataclass(frozen=True, slots=True)
class Decision:
    """Time to decision against the target: ``open``, ``due_soon``, ``met`` or ``missed``."""

    deadline: datetime | None
    hours_taken: float | None
    status: str


def decision_clock(row: Row[Any], desk: Desk, now: datetime) -> Decision:
    if row.submitted_at is None:
        return Decision(None, None, "not submitted")
    submitted = as_utc(row.submitted_at)
    deadline = submitted + timedelta(hours=desk.policy.decisions.target_hours)
    if row.decided_at is not None:
        decided = as_utc(row.decided_at)
        taken = (decided - submitted).total_seconds() / 3600
        return Decision(deadline, round(taken, 2), "met" if decided <= deadline else "missed")
    if row.state != "submitted":
        return Decision(deadline, None, "closed undecided")
    if now > deadline:
        return Decision(deadline, None, "missed")
    soon = now >= deadline - timedelta(hours=desk.policy.decisions.warn_hours)
    return Decision(deadline, None, "due soon" if soon else "open")


def summary(row: Row[Any], desk: Desk, now: datetime) -> dict[str, Any]:
    """The non-sensitive fields of an application, with its decision clock and lateness."""
    data = {name: getattr(row, name) for name in SUMMARY}
    for name in ("created_at", "submitted_at", "decided_at"):
        data[name] = as_utc(data[name]) if data[name] is not None else None
    data["decision"] = asdict(decision_clock(row, desk, now))
    return data


def show(
    desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime | None = None
) -> dict[str, Any]:
    """One application in full (decrypted), logged; "not found" for anyone else (the
    refusal logged)."""
    now = now or utcnow()
    try:
        return _show(desk, actor, app_id, reason, now)
    except LoanNotFound:
        refused(desk, actor, app_id, "show", NOT_VISIBLE, reason, now)
        raise


def _show(desk: Desk, actor: Actor, app_id: str, reason: str, now: datetime) -> dict[str, Any]:
    with unit(desk, actor) as conn:
        row = visible_application(conn, actor, app_id)
        log_access(conn, actor, [app_id], "show", reason, now)
        data = summary(row, desk, now)
        for name in SENSITIVE:
            data[name] = desk.unseal("loan_applications", name, app_id, getattr(row, f"{name}_enc"))
        schedule = schedule_of(conn, app_id)
        data["schedule"] = [asdict(item) for item in schedule]
        if row.state == "active":
            late = lateness(schedule, row.principal_repaid_cents, now.date())
            data["late"] = {**asdict(late), "late": late.late}
        data["approvals"] = _approvals(conn, row)
        data["events"] = _events(conn, desk, app_id)
    return data


def check_visible(desk: Desk, actor: Actor, app_id: str) -> None:
    """:class:`LoanNotFound` unless ``actor`` may see the application; reads nothing of it.

    For a page that asks the reader's reason before showing anything (not logged: no
    field of the application leaves the database; a refusal is logged).
    """
    try:
        with unit(desk, actor) as conn:
            visible_application(conn, actor, app_id)
    except LoanNotFound:
        refused(desk, actor, app_id, "open", NOT_VISIBLE)
        raise


def refused(
    desk: Desk,
    actor: Actor,
    app_id: str,
    action: str,
    why: str,
    reason: str = "",
    now: datetime | None = None,
) -> None:
    """Log that ``actor`` was refused ``action`` on application ``app_id`` and why.

    In a transaction of its own: the attempt's transaction ended with the refusal.
    """
    with unit(desk, actor) as conn:
        log_refusal(conn, actor, app_id, action, why, reason, now or utcnow())


def list_applications(
    desk: Desk,
    actor: Actor,
    reason: str = "list applications",
    state: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Summaries of the applications the actor may see, each read logged."""
    now = now or utcnow()
    query = select(loan_applications).where(apps.fund_id == desk.policy.fund_id)
    if state is not None:
        if state not in STATES:
            raise LoanError(f"--state {state!r}: one of {', '.join(STATES)}")
        query = query.where(apps.state == state)
    if actor.role == ACCOUNT_MANAGER:
        query = query.where(apps.account_manager_id == actor.id)
    elif actor.role not in (COMMITTEE, AUDITOR):
        return []  # sees none: nothing read, nothing to log
    with unit(desk, actor) as conn:
        rows = [
            r
            for r in conn.execute(query.order_by(apps.created_at, apps.id))
            if actor.can_see(r.account_manager_id)  # the rule, once more
        ]
        log_access(conn, actor, [r.id for r in rows], "list", reason, now)
        return [summary(r, desk, now) for r in rows]


def due_soon(desk: Desk, actor: Actor, now: datetime | None = None) -> list[dict[str, Any]]:
    """Submitted applications about to miss (or past) the decision target, soonest first."""
    now = now or utcnow()
    rows = list_applications(desk, actor, "decision deadline watch", "submitted", now)
    late = [r for r in rows if r["decision"]["status"] in ("due soon", "missed")]
    return sorted(late, key=lambda r: r["decision"]["deadline"])


def fund_figures(desk: Desk, actor: Actor) -> Dashboard:
    """The dashboard: committee members and auditors (who see every application)."""
    if actor.role not in (COMMITTEE, AUDITOR):
        raise LoanForbidden(f"{actor}: the fund dashboard is for the committee and auditors")
    with unit(desk, actor) as conn:
        return dashboard(conn, desk.policy)


def access_log(
    desk: Desk,
    actor: Actor,
    app_id: str | None = None,
    since: date | None = None,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The access log (auditors only), newest first.

    A page at a time, by row id (stable while new readings are logged): ``before`` the
    rows older than that id, ``after`` the rows newer than it (the ``limit`` nearest to
    it, still newest first).
    """
    if actor.role != AUDITOR:
        raise LoanForbidden(f"{actor}: only auditors review the access log")
    log = loan_access_log.c
    query = select(loan_access_log).order_by(log.id if after is not None else log.id.desc())
    if app_id is not None:
        query = query.where(log.application_id == check_text("application", app_id))
    if since is not None:
        query = query.where(log.at >= datetime.combine(since, datetime.min.time()))
    if before is not None:
        query = query.where(log.id < before)
    if after is not None:
        query = query.where(log.id > after)
    if limit is not None:
        query = query.limit(limit)
    with unit(desk, actor) as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return rows[::-1] if after is not None else rows


def rotate_keys(desk: Desk, actor: Actor) -> int:
    """Re-encrypt every sensitive value not under the active key; returns values rewritten.

    Run by a committee member (who sees every application). Old keys can be removed from
    ``RECOMPENSE_LOANS_KEYS`` once this reports nothing left to rewrite.
    """
    if actor.role != COMMITTEE:
        raise LoanForbidden(f"{actor}: key rotation is run by the credit committee")
    active, changed = desk.keys.active, 0
    with unit(desk, actor) as conn:
        for row in conn.execute(select(loan_applications)).fetchall():
            values = {}
            for name in SENSITIVE:
                stored = getattr(row, f"{name}_enc")
                if key_id_of(stored) != active:
                    plain = desk.unseal("loan_applications", name, row.id, stored)
                    values[f"{name}_enc"] = desk.seal("loan_applications", name, row.id, plain)
            if values:
                conn.execute(loan_applications.update().where(apps.id == row.id).values(**values))
                changed += len(values)
        changed += _rotate_events(conn, desk)
    return changed


def _rotate_events(conn: Connection, desk: Desk) -> int:
    events, changed = loan_events.c, 0
    for event in conn.execute(
        select(events.id, events.application_id, events.reason_enc)
    ).fetchall():
        if key_id_of(event.reason_enc) == desk.keys.active:
            continue
        plain = desk.unseal("loan_events", "reason", event.application_id, event.reason_enc)
        sealed = desk.seal("loan_events", "reason", event.application_id, plain)
        conn.execute(loan_events.update().where(events.id == event.id).values(reason_enc=sealed))
        changed += 1
    return changed


def _approvals(conn: Connection, row: Row[Any]) -> list[dict[str, Any]]:
    votes = loan_approvals.c
    query = (
        select(votes.member_id, votes.at)
        .where(votes.application_id == row.id, votes.round == row.approval_round)
        .order_by(votes.at)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def _events(conn: Connection, desk: Desk, app_id: str) -> list[dict[str, Any]]:
    query = (
        select(loan_events).where(loan_events.c.application_id == app_id).order_by(loan_events.c.id)
    )
    out = []
    for event in conn.execute(query):
        data = {k: v for k, v in event._mapping.items() if k != "reason_enc"}
        data["reason"] = desk.unseal("loan_events", "reason", app_id, event.reason_enc)
        out.append(data)
    return out
