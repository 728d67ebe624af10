"""``recompense cases …``: the operations side of users' cases (appeals and claims).

Thin: parse, call one function of :mod:`recompense.cases.service`, render. Who is acting
is ``--as ops:NAME`` (``auditor:NAME`` may list and show; every staff read is logged).
Amounts are USD strings parsed exactly (``1234.56``). Encryption keys come from
``RECOMPENSE_CASES_KEYS`` (the loan fund's format), never from options.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from recompense.cli.app import Commands, app, guard, out
from recompense.ledger.db import DEFAULT_URL
from recompense.money import D, format_usd, to_cents

cases_app = Commands(
    help="Users' cases (appeals and claims): the queue, decisions under four eyes.",
    no_args_is_help=True,
)
app.add_typer(cases_app, name="cases")

DB = Annotated[
    str, typer.Option("--db", help="Database URL (sqlite:///file.db or postgresql://…).")
]
AS = Annotated[str, typer.Option("--as", help="Who is acting, ROLE:NAME (e.g. ops:alice).")]
REASON = Annotated[str, typer.Option("--reason", help="Why (recorded, encrypted).")]
JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
CASE_ID = Annotated[str, typer.Argument(help="The case id.")]


def _desk(db: str) -> Any:
    from recompense.cases.service import open_desk

    return guard(lambda: open_desk(db))


def _actor(text: str) -> Any:
    from recompense.cases.service import parse_actor

    return guard(lambda: parse_actor(text))


def _usd(option: str, value: str | None) -> int | None:
    from recompense.cases.errors import CaseError

    def parse() -> int | None:
        if value is None:
            return None
        try:
            return to_cents(D(value))
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise CaseError(f"{option} {value!r}: not a USD amount with at most cents") from exc

    return guard(parse)


def _emit(as_json: bool, data: Any, render: Callable[[], None]) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        render()


def _money(cents: int | None) -> str:
    return "" if cents is None else format_usd(cents)


@cases_app.command("list")
def list_cmd(
    actor: AS,
    state: Annotated[
        str | None,
        typer.Option(help="open, info_requested, proposed, accepted, rejected, withdrawn, all."),
    ] = None,
    category: Annotated[str | None, typer.Option(help="e.g. appeal_loss, claim_earn.")] = None,
    min_age_hours: Annotated[
        float | None, typer.Option(min=0, help="Only cases opened at least this long ago.")
    ] = None,
    assigned_to: Annotated[
        str | None, typer.Option(help="ops:NAME, or none for unassigned cases.")
    ] = None,
    due_within: Annotated[
        float | None,
        typer.Option(min=0, help="Only undecided cases due within HOURS (overdue included)."),
    ] = None,
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """The queue, most urgent first, with the decision clock (logged in the audit trail).

    Default: the open states (open, info_requested, proposed).

    Example: recompense cases list --state open --due-within 24 --as ops:alice --db URL
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    if due_within is not None:
        rows = guard(lambda: service.about_to_miss(desk, who, within_hours=due_within))
    else:
        rows = guard(
            lambda: service.queue(
                desk, who, state=state, category=category,
                min_age_hours=min_age_hours, assigned_to=assigned_to,
            )
        )  # fmt: skip

    def render() -> None:
        table = Table("case", "category", "state", "user", "assigned", "age h", "left h", "due")
        for r in rows:
            left = f"[red]{r.hours_left:.1f}[/]" if r.overdue else f"{r.hours_left:.1f}"
            table.add_row(
                r.id, r.category, r.state, str(r.user_id), r.assigned_to or "",
                f"{r.age_hours:.1f}", left, f"{r.due_at:%Y-%m-%d %H:%M}Z",
            )  # fmt: skip
        out.print(table)
        out.print(f"{len(rows)} case(s); {sum(r.overdue for r in rows)} overdue")

    _emit(as_json, [asdict(r) for r in rows], render)


@cases_app.command("show")
def show_cmd(
    case_id: CASE_ID,
    actor: AS,
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """One case in full: the user's words, events, internal notes, evidence, decisions.

    The read is logged (an event on the case and ``case.read`` in the audit trail).

    Example: recompense cases show 6f1c… --as ops:alice --db URL
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    detail = guard(lambda: service.case_detail(desk, who, case_id))

    def render() -> None:
        c = detail.case
        out.print(f"[bold]{c.id}[/] {c.category} — {c.state} (user {c.user_id}, {c.program_id})")
        out.print(f"assigned: {detail.assigned_to or '-'}; stated: {_money(c.stated_cents) or '-'}")
        out.print(
            f"clock: due {detail.clock.due_at:%Y-%m-%d %H:%M}Z, {detail.clock.status}, "
            f"{detail.clock.hours_left:.1f} h left"
        )
        out.print(detail.summary, markup=False, highlight=False)
        for e in detail.events:
            text = f": {e.text}" if e.text else ""
            out.print(f"  {e.at:%Y-%m-%d %H:%M}Z {e.actor} {e.action}{text}", markup=False)
        for f in detail.evidence:
            out.print(f"  evidence {f.id} {f.filename} ({f.size_bytes} bytes)", markup=False)
        for d in detail.decisions:
            out.print(
                f"  decision {d.round} {d.kind} {_money(d.amount_cents)} "
                f"by {', '.join(d.approvals)}; accepted {d.accepted_at or '-'}"
            )

    _emit(as_json, asdict(detail), render)


@cases_app.command("assign")
def assign_cmd(
    case_id: CASE_ID,
    to: Annotated[str, typer.Option("--to", help="ops:NAME, or none to unassign.")],
    actor: AS,
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """Give a case to an officer.

    Example: recompense cases assign 6f1c… --to ops:bob --as ops:alice --db URL
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    state = guard(lambda: service.assign(desk, who, case_id, None if to == "none" else to))
    _done(as_json, case_id, state)


@cases_app.command("note")
def note_cmd(
    case_id: CASE_ID,
    text: Annotated[str, typer.Option("--text", help="The note (internal, encrypted).")],
    actor: AS,
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """Add an internal note (never shown to the user).

    Example: recompense cases note 6f1c… --text "fills at 21:14 checked" --as ops:alice
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    state = guard(lambda: service.note(desk, who, case_id, text))
    _done(as_json, case_id, state)


@cases_app.command("request-info")
def request_info_cmd(
    case_id: CASE_ID,
    message: Annotated[str, typer.Option("--message", help="The question the user reads.")],
    actor: AS,
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """Ask the user for more information (the clock stops until they answer).

    Example: recompense cases request-info 6f1c… --message "Please attach the
    transfer receipt" --as ops:alice
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    state = guard(lambda: service.request_info(desk, who, case_id, message))
    _done(as_json, case_id, state)


@cases_app.command("accept")
def accept_cmd(
    case_id: CASE_ID,
    actor: AS,
    reason: REASON,
    loss: Annotated[str | None, typer.Option(help="Corrected loss, USD (appeals).")] = None,
    net_assets: Annotated[
        str | None, typer.Option(help="Corrected net assets, USD (appeals).")
    ] = None,
    incident_loss: Annotated[
        str | None, typer.Option(help="Corrected incident loss, USD (appeals).")
    ] = None,
    not_compensated: Annotated[
        bool | None,
        typer.Option(
            "--not-compensated/--was-compensated",
            help="Correct the 'already compensated' flag (appeals).",
        ),
    ] = None,
    claim: Annotated[str | None, typer.Option(help="Verified claim amount, USD (claims).")] = None,
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """Accept with a corrected input (appeals) or a claim amount (claims).

    At or below the programme's four-eyes amount the case is accepted; above it, it is
    proposed and a different officer must `approve` it.

    Example: recompense cases accept 6f1c… --loss 2500.00 --reason "fills confirm" --as ops:alice
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    decision: Any
    if claim is not None:
        decision = service.Claim(_usd("--claim", claim) or 0)
    else:
        decision = service.Correction(
            loss_cents=_usd("--loss", loss),
            net_assets_cents=_usd("--net-assets", net_assets),
            incident_loss_cents=_usd("--incident-loss", incident_loss),
            not_compensated=not_compensated,
        )
    state = guard(lambda: service.accept(desk, who, case_id, decision, reason))
    _done(as_json, case_id, state)


@cases_app.command("approve")
def approve_cmd(
    case_id: CASE_ID, actor: AS, reason: REASON, db: DB = DEFAULT_URL, as_json: JSON = False
) -> None:
    """Approve a proposed decision (a different officer than the proposer; no bypass).

    Example: recompense cases approve 6f1c… --reason "checked the fills" --as ops:bob
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    state = guard(lambda: service.approve(desk, who, case_id, reason))
    _done(as_json, case_id, state)


@cases_app.command("return")
def return_cmd(
    case_id: CASE_ID, actor: AS, reason: REASON, db: DB = DEFAULT_URL, as_json: JSON = False
) -> None:
    """Send a proposed decision back: the case is open again for a new decision.

    Example: recompense cases return 6f1c… --reason "loss double-counts a fill" --as ops:bob
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    state = guard(lambda: service.return_proposal(desk, who, case_id, reason))
    _done(as_json, case_id, state)


@cases_app.command("reject")
def reject_cmd(
    case_id: CASE_ID,
    code: Annotated[str, typer.Option("--code", help="Reason code, e.g. LOSS_CONFIRMED.")],
    text: Annotated[str, typer.Option("--text", help="Words for the user, with the code.")],
    actor: AS,
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """Reject with a reason code the user reads explained in their language.

    Codes: LOSS_CONFIRMED, NET_ASSETS_CONFIRMED, NOT_FORCED_LIQUIDATION, OUTSIDE_WINDOW,
    PRODUCT_NOT_COVERED, ALREADY_COMPENSATED_CONFIRMED, INSUFFICIENT_EVIDENCE,
    DUPLICATE_CASE, NOT_VERIFIED.

    Example: recompense cases reject 6f1c… --code LOSS_CONFIRMED --text "Your fills at
    21:14 were voluntary closes." --as ops:alice
    """
    from recompense.cases import service

    desk, who = _desk(db), _actor(actor)
    state = guard(lambda: service.reject(desk, who, case_id, code, text))
    _done(as_json, case_id, state)


def _done(as_json: bool, case_id: str, state: str) -> None:
    _emit(as_json, {"id": case_id, "state": state}, lambda: out.print(f"{case_id}: {state}"))
