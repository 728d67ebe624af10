"""A case's lifecycle, one function per transition (the state machine: :mod:`.schema`).

Each transition checks, in this order: the actor may see the case (else "not found"),
the actor's role may do this (else "forbidden"), the state allows it (else "conflict");
then, in one transaction, a conditional ``UPDATE … WHERE state = … AND version = …``,
an append-only ``case_events`` row (who, when, what, the encrypted why), for decisions
an audit-trail event (``case.accept``, ``case.propose``, ``case.approve``,
``case.return``, ``case.reject``), and the user's notifications (:mod:`.notices`).

Maker-checker, as the loan fund: a decision whose amount is above the programme's
four-eyes amount is *proposed* by one officer and *accepted* only when a different
officer approves it; at or below, one officer accepts. The proposer can never approve
their own proposal and no role bypasses this. The decision amount is a claim's amount,
or for a correction the most it can pay: ``min(corrected loss, max payout)`` (the max
payout when the loss is not corrected).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, select

from recompense.cases import notices
from recompense.cases.desk import (
    Actor,
    CasePolicy,
    Desk,
    as_actor,
    as_utc,
    case_policy,
    check_text,
    is_plain,
    move,
    new_id,
    parse_actor,
    record_audit,
    record_event,
    require_role,
    require_state,
    unit,
    visible_case,
)
from recompense.cases.errors import CaseConflict, CaseError, CaseForbidden
from recompense.cases.reasons import LOCALES, REASON_CODES
from recompense.cases.schema import (
    APPEALS,
    CATEGORIES,
    CLAIMS,
    OPEN_STATES,
    case_approvals,
    case_decisions,
    case_events,
    cases,
)
from recompense.money import format_usd

MAX_CENTS = 10**15  # $10 trillion: beyond any real figure, within BIGINT


@dataclass(frozen=True, slots=True)
class Correction:
    """Corrected inputs for the user (integer cents; None: unchanged). At least one set."""

    loss_cents: int | None = None
    net_assets_cents: int | None = None
    incident_loss_cents: int | None = None
    not_compensated: bool | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A verified loss of another kind (a delayed transfer or redemption), in cents (> 0)."""

    amount_cents: int


Decision = Correction | Claim


def open_case(
    desk: Desk,
    actor: Actor | str,
    program_id: str,
    category: str,
    summary: str,
    *,
    stated_cents: int | None = None,
    occurred_at: datetime | None = None,
    locale: str = "en",
    email: str | None = None,
    now: datetime | None = None,
) -> str:
    """A user opens a case on a distributed programme; returns its id.

    ``summary``: 1–4,000 characters. Claims (``claim_*``) need ``stated_cents`` > 0 and
    ``occurred_at`` inside the programme's incident window (the policy's ``window``,
    start and end inclusive) and not in the future; appeals take no ``occurred_at``
    (``stated_cents``, the figure the user believes right, is optional there). The user
    is acknowledged by notification; the decision clock starts now.
    """
    who, now = as_actor(actor), desk.now(now)
    require_role(who, ("user",), "open")
    text = check_text("summary", summary)
    if category not in CATEGORIES:
        raise CaseError(
            f"category {category!r}: one of {', '.join(CATEGORIES)}",
            code="bad_category",
            category=str(category)[:40],
        )
    _check_cents("stated amount", stated_cents, positive=category in CLAIMS)
    mail = _check_email(email)
    case_id = new_id()
    with unit(desk) as conn:
        policy = case_policy(conn, program_id)
        when = _check_occurred(category, occurred_at, policy, now)
        conn.execute(
            cases.insert().values(
                id=case_id,
                program_id=program_id,
                user_id=who.user_id,
                category=category,
                state="open",
                version=0,
                summary_enc=desk.seal("cases", "summary", case_id, text),
                stated_cents=stated_cents,
                occurred_at=when,
                locale=_check_locale(locale),
                email_enc=None if mail is None else desk.seal("cases", "email", case_id, mail),
                opened_at=now,
                updated_at=now,
                due_at=now + timedelta(hours=policy.decision_target_hours),
            )
        )
        row = visible_case(conn, who, case_id)
        record_event(conn, desk, who, case_id, "open", "open", now, text=text)
        record_audit(conn, who, "open", row, now, to_state="open", stated_cents=stated_cents)
        notices.enqueue(conn, desk, row, "opened", "open", 0, now)
    return case_id


def respond(
    desk: Desk, actor: Actor | str, case_id: str, message: str, now: datetime | None = None
) -> str:
    """The user answers a request for information: ``info_requested`` → ``open``.

    The decision clock moves later by the time the case waited for the answer.
    """
    who, now = as_actor(actor), desk.now(now)
    text = check_text("message", message)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "respond")
        asked = conn.execute(
            select(func.max(case_events.c.at)).where(
                case_events.c.case_id == row.id, case_events.c.action == "request_info"
            )
        ).scalar_one()
        waited = max(now - as_utc(asked), timedelta(0)) if asked is not None else timedelta(0)
        move(conn, row, now, state="open", due_at=as_utc(row.due_at) + waited)
        record_event(conn, desk, who, row.id, "respond", "open", now, text=text)
    return "open"


def withdraw(desk: Desk, actor: Actor | str, case_id: str, now: datetime | None = None) -> str:
    """The user withdraws an undecided case (a pending proposal is withdrawn with it)."""
    who, now = as_actor(actor), desk.now(now)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "withdraw")
        _withdraw_proposal(conn, row.id, now)
        move(conn, row, now, state="withdrawn", decided_at=now)
        record_event(conn, desk, who, row.id, "withdraw", "withdrawn", now)
        record_audit(conn, who, "withdraw", row, now, to_state="withdrawn")
    return "withdrawn"


def assign(
    desk: Desk, actor: Actor | str, case_id: str, to: str | None, now: datetime | None = None
) -> str:
    """Give an undecided case to an officer (``ops:NAME``), or None to unassign."""
    who, now = as_actor(actor), desk.now(now)
    officer = None
    if to is not None:
        target = parse_actor(to)
        if target.role != "ops":
            raise CaseError(f"assign to {to!r}: cases go to ops:NAME", code="assign_not_ops")
        officer = str(target)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "assign")
        move(conn, row, now, assigned_to=officer)
        record_event(
            conn, desk, who, row.id, "assign", row.state, now,
            text=officer or "unassigned", visible_to_user=False,
        )  # fmt: skip
    return str(row.state)


def note(
    desk: Desk, actor: Actor | str, case_id: str, text: str, now: datetime | None = None
) -> str:
    """An internal note (never shown to the user), in any state."""
    who, now = as_actor(actor), desk.now(now)
    body = check_text("note", text)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "note")
        record_event(
            conn, desk, who, row.id, "note", row.state, now, text=body, visible_to_user=False
        )
    return str(row.state)


def request_info(
    desk: Desk, actor: Actor | str, case_id: str, message: str, now: datetime | None = None
) -> str:
    """Ask the user for more (``open`` → ``info_requested``); the message is shown to them."""
    who, now = as_actor(actor), desk.now(now)
    text = check_text("message", message)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "request_info")
        move(conn, row, now, state="info_requested")
        record_event(conn, desk, who, row.id, "request_info", "info_requested", now, text=text)
        record_audit(conn, who, "request_info", row, now, to_state="info_requested")
        notices.enqueue(conn, desk, row, "info_requested", "info_requested", row.version + 1, now)
    return "info_requested"


def accept(
    desk: Desk,
    actor: Actor | str,
    case_id: str,
    decision: Decision,
    reason: str,
    now: datetime | None = None,
) -> str:
    """Decide in the user's favour; returns ``accepted``, or ``proposed`` above the
    programme's four-eyes amount (a different officer must then :func:`approve`).

    Corrections go with appeals, claims with claims. The reason is internal.
    """
    who, now = as_actor(actor), desk.now(now)
    why = check_text("reason", reason)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "accept")
        policy = case_policy(conn, row.program_id)
        amount = decision_amount(_check_decision(row, decision), policy)
        final = amount <= policy.four_eyes_above_cents
        state = "accepted" if final else "proposed"
        decision_id = _insert_decision(conn, row, decision, who, now, accepted=final)
        conn.execute(
            case_approvals.insert().values(decision_id=decision_id, officer=str(who), at=now)
        )
        move(conn, row, now, state=state, **({"decided_at": now} if final else {}))
        action = "accept" if final else "propose"
        record_event(conn, desk, who, row.id, action, state, now, text=why, visible_to_user=final)
        record_audit(
            conn, who, action, row, now,
            to_state=state, decision_id=decision_id, amount_cents=amount,
            four_eyes_above_cents=policy.four_eyes_above_cents,
        )  # fmt: skip
        if final:
            notices.enqueue(conn, desk, row, "accepted", "accepted", row.version + 1, now)
    return state


def approve(
    desk: Desk, actor: Actor | str, case_id: str, reason: str, now: datetime | None = None
) -> str:
    """A second, different officer approves the proposal: ``proposed`` → ``accepted``.

    The proposer cannot approve their own proposal, and nobody approves twice; there is no
    bypass for any role.
    """
    who, now = as_actor(actor), desk.now(now)
    why = check_text("reason", reason)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "approve")
        pending = _pending(conn, row.id)
        signed = (
            conn.execute(
                select(case_approvals.c.officer).where(case_approvals.c.decision_id == pending.id)
            )
            .scalars()
            .all()
        )
        if str(who) == pending.proposed_by or str(who) in signed:
            raise CaseForbidden(
                f"{who}: maker-checker — {pending.proposed_by} proposed this decision on case "
                f"{row.id}; a different officer must approve it",
                code="proposer_cannot_approve",
                case=row.id,
            )
        conn.execute(
            case_approvals.insert().values(decision_id=pending.id, officer=str(who), at=now)
        )
        conn.execute(
            case_decisions.update()
            .where(case_decisions.c.id == pending.id, case_decisions.c.accepted_at.is_(None))
            .values(accepted_at=now)
        )
        move(conn, row, now, state="accepted", decided_at=now)
        record_event(conn, desk, who, row.id, "approve", "accepted", now, text=why)
        record_audit(conn, who, "approve", row, now, to_state="accepted", decision_id=pending.id)
        notices.enqueue(conn, desk, row, "accepted", "accepted", row.version + 1, now)
    return "accepted"


def return_proposal(
    desk: Desk, actor: Actor | str, case_id: str, reason: str, now: datetime | None = None
) -> str:
    """Send a proposal back (``proposed`` → ``open``): it is withdrawn, a new round may follow.

    Any officer may return it, the proposer included (to correct their own proposal).
    """
    who, now = as_actor(actor), desk.now(now)
    why = check_text("reason", reason)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "return")
        pending = _pending(conn, row.id)
        _withdraw_proposal(conn, row.id, now)
        move(conn, row, now, state="open")
        record_event(
            conn, desk, who, row.id, "return", "open", now, text=why, visible_to_user=False
        )
        record_audit(conn, who, "return", row, now, to_state="open", decision_id=pending.id)
    return "open"


def reject(
    desk: Desk,
    actor: Actor | str,
    case_id: str,
    reason_code: str,
    text: str,
    now: datetime | None = None,
) -> str:
    """Decide against the user with a reason code (:mod:`.reasons`, explained to them in
    their language); ``text`` is shown to the user with it."""
    who, now = as_actor(actor), desk.now(now)
    if reason_code not in REASON_CODES:
        raise CaseError(
            f"reason code {reason_code!r}: one of {', '.join(REASON_CODES)}",
            code="bad_reason_code",
            reason_code=str(reason_code)[:40],
        )
    body = check_text("text", text)
    with unit(desk) as conn:
        row = _guard(conn, who, case_id, "reject")
        move(conn, row, now, state="rejected", reason_code=reason_code, decided_at=now)
        record_event(conn, desk, who, row.id, "reject", "rejected", now, text=body)
        record_audit(conn, who, "reject", row, now, to_state="rejected", reason_code=reason_code)
        notices.enqueue(
            conn, desk, row, "rejected", "rejected", row.version + 1, now, reason_code=reason_code
        )
    return "rejected"


def decision_amount(decision: Decision, policy: CasePolicy) -> int:
    """What the four-eyes rule compares (cents): :meth:`CasePolicy.decision_amount`."""
    if isinstance(decision, Claim):
        return policy.decision_amount(decision.amount_cents, None)
    return policy.decision_amount(None, decision.loss_cents)


# Who may do what, from which states (the target is in each function).
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "respond": (("user",), ("info_requested",)),
    "withdraw": (("user",), OPEN_STATES),
    "assign": (("ops",), OPEN_STATES),
    "note": (("ops",), ("open", "info_requested", "proposed", "accepted", "rejected", "withdrawn")),
    "request_info": (("ops",), ("open",)),
    "accept": (("ops",), ("open",)),
    "approve": (("ops",), ("proposed",)),
    "return": (("ops",), ("proposed",)),
    "reject": (("ops",), ("open", "info_requested")),
}


def _guard(conn: Connection, actor: Actor, case_id: str, action: str) -> Row[Any]:
    """Visible (else not found) → role allowed (else forbidden) → state allows (else 409)."""
    roles, states = RULES[action]
    visible_case(conn, actor, case_id)
    require_role(actor, roles, action)  # type: ignore[arg-type]
    row = visible_case(conn, actor, case_id, lock=True)
    require_state(row, states, action)
    return row


def _pending(conn: Connection, case_id: str) -> Row[Any]:
    d = case_decisions.c
    row = conn.execute(
        select(case_decisions).where(
            d.case_id == case_id, d.accepted_at.is_(None), d.withdrawn_at.is_(None)
        )
    ).first()
    if row is None:  # a proposed case always has one; a broken invariant, not input
        raise CaseConflict(f"case {case_id} has no pending proposal", code="no_proposal")
    return row


def _withdraw_proposal(conn: Connection, case_id: str, now: datetime) -> None:
    d = case_decisions.c
    conn.execute(
        case_decisions.update()
        .where(d.case_id == case_id, d.accepted_at.is_(None), d.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
    )


def _insert_decision(
    conn: Connection,
    row: Row[Any],
    decision: Decision,
    who: Actor,
    now: datetime,
    *,
    accepted: bool,
) -> str:
    rounds = conn.execute(
        select(func.count()).where(case_decisions.c.case_id == row.id)
    ).scalar_one()
    values: dict[str, Any] = (
        {"kind": "claim", "claim_cents": decision.amount_cents}
        if isinstance(decision, Claim)
        else {
            "kind": "correction",
            "loss_cents": decision.loss_cents,
            "net_assets_cents": decision.net_assets_cents,
            "incident_loss_cents": decision.incident_loss_cents,
            "not_compensated": decision.not_compensated,
        }
    )
    decision_id = new_id()
    conn.execute(
        case_decisions.insert().values(
            id=decision_id,
            case_id=row.id,
            program_id=row.program_id,
            user_id=row.user_id,
            round=int(rounds),
            proposed_by=str(who),
            proposed_at=now,
            accepted_at=now if accepted else None,
            **values,
        )
    )
    return decision_id


def _check_decision(row: Row[Any], decision: Decision) -> Decision:
    if isinstance(decision, Claim):
        if row.category not in CLAIMS:
            raise CaseError(
                f"case {row.id} is an appeal ({row.category}): decide it with a correction",
                code="claim_on_appeal",
            )
        _check_cents("claim amount", decision.amount_cents, positive=True, required=True)
        return decision
    if not isinstance(decision, Correction):
        raise CaseError("a decision is a Correction or a Claim", code="bad_decision")
    if row.category not in APPEALS:
        raise CaseError(
            f"case {row.id} is a claim ({row.category}): decide it with a claim amount",
            code="correction_on_claim",
        )
    fields = (decision.loss_cents, decision.net_assets_cents, decision.incident_loss_cents)
    if all(v is None for v in fields) and decision.not_compensated is None:
        raise CaseError(
            "a correction changes at least one of: loss, net assets, incident loss, "
            "not compensated",
            code="empty_correction",
        )
    for label, value in zip(("loss", "net assets", "incident loss"), fields, strict=True):
        _check_cents(label, value)
    if decision.not_compensated not in (None, True, False):
        raise CaseError("not_compensated: true, false or unset", code="bad_decision")
    loss, incident = decision.loss_cents, decision.incident_loss_cents
    if loss is not None and incident is not None and incident > loss:
        raise CaseError(
            f"incident loss {format_usd(incident)} is above the loss {format_usd(loss)}",
            code="incident_above_loss",
        )
    return decision


def _check_cents(
    label: str, value: int | None, *, positive: bool = False, required: bool = False
) -> None:
    if value is None:
        if positive or required:
            raise CaseError(
                f"{label}: required, in cents above zero", code="amount_required", field=label
            )
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise CaseError(
            f"{label}: {value!r} is not a whole number of cents", code="amount_type", field=label
        )
    if not (1 if positive else 0) <= value <= MAX_CENTS:
        raise CaseError(
            f"{label}: {format_usd(value)} is out of range "
            f"({'above' if positive else 'at least'} $0.00, at most {format_usd(MAX_CENTS)})",
            code="amount_range",
            field=label,
            amount_cents=value,
        )


def _check_occurred(
    category: str, occurred_at: datetime | None, policy: CasePolicy, now: datetime
) -> datetime | None:
    if category in APPEALS:
        if occurred_at is not None:
            raise CaseError("occurred at: only claims take a time", code="occurred_on_appeal")
        return None
    if occurred_at is None:
        raise CaseError(
            "occurred at: a claim needs the time of the delay", code="occurred_required"
        )
    if occurred_at.tzinfo is None:
        raise CaseError("occurred at: give a time zone (UTC)", code="occurred_naive")
    when = as_utc(occurred_at)
    start, end = policy.window or (when, now)
    if not start <= when <= min(end, now):
        raise CaseError(
            f"occurred at {when:%Y-%m-%d %H:%M} UTC: outside the programme's incident window "
            f"({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC)",
            code="occurred_outside_window",
            start=start.isoformat(),
            end=end.isoformat(),
        )
    return when


def _check_locale(locale: str) -> str:
    if not isinstance(locale, str) or not 0 < len(locale) <= 35 or not is_plain(locale):
        return "en"
    base = locale.replace("_", "-").split("-")[0].lower()
    return locale if base in LOCALES else "en"


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    address = email.strip()
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(address) > 254
        or any(ch.isspace() or ord(ch) < 32 for ch in address)
    ):
        raise CaseError("e-mail: not an e-mail address", code="bad_email")
    return address
