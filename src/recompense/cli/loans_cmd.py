"""``recompense loans …``: the loan fund desk (apply, decide, disburse, service, audit).

Every command names who is acting with ``--as ROLE:ID`` (account_manager, credit_committee,
auditor, …); the library decides what that identity may see and do. Encryption keys come
from ``RECOMPENSE_LOANS_KEYS`` (see ``recompense loans new-key``), never from options.
The read commands are in :mod:`.loans_views_cmd`; the options both share, in
:mod:`.loans_options`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recompense.cli.app import INT64_MAX, INT64_MIN, guard, out
from recompense.cli.loans_options import (
    APP_ID,
    AS,
    DB,
    JSON,
    POLICY,
    REASON,
    actor_of,
    day_option,
    desk_for,
    emit,
    loans_app,
    usd_option,
)
from recompense.ledger.db import DEFAULT_URL
from recompense.loans.errors import LoanError
from recompense.loans.policy import DEFAULT_POLICY
from recompense.money import format_usd


@loans_app.command("borrower")
def borrower(
    user_id: Annotated[
        int,
        typer.Argument(min=INT64_MIN, max=INT64_MAX, help="The exchange user id of the borrower."),
    ],
    tier: Annotated[str, typer.Option(help="vip, institutional or regular.")],
    manager: Annotated[str, typer.Option(help="Id of the assigned account manager.")],
    actor: AS,
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
) -> None:
    """Record a borrower's tier and assigned account manager (credit committee).

    Example: recompense loans borrower 1001 --tier vip --manager am7 --as credit_committee:cc1
    """
    from recompense.loans import register_borrower

    desk, who = desk_for(db, policy), actor_of(actor)
    guard(lambda: register_borrower(desk, who, user_id, tier, manager))
    out.print(f"[green]✔[/] user {user_id}: {tier}, account manager {manager}")


@loans_app.command("apply")
def apply_cmd(
    borrower_id: Annotated[
        int,
        typer.Option("--borrower", min=INT64_MIN, max=INT64_MAX, help="The borrower's user id."),
    ],
    amount: Annotated[str, typer.Option(help="Principal in USD, e.g. 2500000.00.")],
    term_days: Annotated[
        int, typer.Option(help="Term in days (instalments: a multiple of the period).")
    ],
    repayment: Annotated[str, typer.Option(help="bullet or instalments.")],
    statements: Annotated[
        Path, typer.Option(help="File with the financial statements (stored encrypted).")
    ],
    losses: Annotated[str, typer.Option(help="The borrower's stated losses in USD (encrypted).")],
    actor: AS,
    notes: Annotated[str, typer.Option(help="Notes (encrypted).")] = "",
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
    as_json: JSON = False,
) -> None:
    """Create a draft application for one of your borrowers (account managers).

    Example: recompense loans apply --borrower 1001 --amount 2500000 --term-days 360
    --repayment instalments --statements fy2024.txt --losses 3100000 --as account_manager:am7
    """
    from recompense.loans import NewApplication, apply

    desk, who = desk_for(db, policy), actor_of(actor)
    cents = usd_option("--amount", amount)
    usd_option("--losses", losses)

    def read() -> str:
        try:
            return statements.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LoanError(f"--statements {statements}: cannot read: {exc}") from exc

    text = guard(read)
    new = NewApplication(borrower_id, cents, term_days, repayment, text, losses, notes)
    app_id = guard(lambda: apply(desk, who, new))
    emit(as_json, {"id": app_id, "state": "draft"}, lambda: out.print(f"Draft {app_id}"))


def _transition(name: str, verb: str, example: str) -> None:
    """Register ``loans NAME ID --as … --reason …`` for one lifecycle transition."""

    def command(
        app_id: APP_ID,
        actor: AS,
        reason: REASON,
        db: DB = DEFAULT_URL,
        policy: POLICY = DEFAULT_POLICY,
        as_json: JSON = False,
    ) -> None:
        from recompense.loans import lifecycle

        desk, who = desk_for(db, policy), actor_of(actor)
        function = getattr(lifecycle, name.replace("-", "_"))
        state = guard(lambda: function(desk, who, app_id, reason))
        emit(as_json, {"id": app_id, "state": state}, lambda: out.print(f"{app_id}: {state}"))

    command.__doc__ = f"{verb}\n\nExample: {example}"
    loans_app.command(name)(command)


AM, CC = "account_manager:am7", "credit_committee:cc1"
TRANSITION_HELP = {
    "submit": ("Submit a draft for a credit decision (the borrower's account manager).", AM),
    "approve": (
        "Approve (credit committee; never the submitter; two members above the four-eyes "
        "amount). The last approval needed checks the fund's cap under its lock.",
        CC,
    ),
    "reject": ("Reject a submitted application (credit committee).", CC),
    "withdraw": ("Withdraw a submitted application (the account manager).", AM),
    "undo-approval": ("Undo an approval before disbursement (credit committee).", CC),
    "disburse": ("Pay out an approved loan: journal entry, schedule from today.", CC),
}
for _name, (_verb, _who) in TRANSITION_HELP.items():
    _transition(_name, _verb, f'recompense loans {_name} ID --as {_who} --reason "..."')


@loans_app.command("repay")
def repay_cmd(
    app_id: APP_ID,
    amount: Annotated[str, typer.Option(help="Amount received in USD.")],
    reference: Annotated[str, typer.Option(help="The payment's reference (recorded once).")],
    actor: AS,
    on: Annotated[str | None, typer.Option(help="Value date YYYY-MM-DD (default today).")] = None,
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
    as_json: JSON = False,
) -> None:
    """Record a repayment: fees, then interest, then principal; early repayment closes the loan.

    Example: recompense loans repay ID --amount 215000 --reference SWIFT-8812
    --as account_manager:am7
    """
    from recompense.loans import repay

    desk, who = desk_for(db, policy), actor_of(actor)
    cents, day = usd_option("--amount", amount), day_option("--on", on)
    done = guard(lambda: repay(desk, who, app_id, cents, reference, day))
    data = {k: getattr(done, k) for k in done.__slots__}

    def render() -> None:
        if done.duplicate:
            out.print(f"Payment {reference} was already recorded; nothing changed")
            return
        out.print(
            f"{app_id}: {done.state}; fees {format_usd(done.fees_cents)}, interest "
            f"{format_usd(done.interest_cents)}, principal {format_usd(done.principal_cents)}"
        )

    emit(as_json, data, render)


@loans_app.command("accrue")
def accrue_cmd(
    actor: AS,
    through: Annotated[
        str | None, typer.Option(help="Accrue through YYYY-MM-DD (default today).")
    ] = None,
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
    as_json: JSON = False,
) -> None:
    """Book daily interest and late fees on every active loan (run daily; catches up).

    Example: recompense loans accrue --as credit_committee:cc1
    """
    from recompense.loans import accrue
    from recompense.loans.desk import utcnow

    desk, who = desk_for(db, policy), actor_of(actor)
    day = day_option("--through", through) or utcnow().date()
    run = guard(lambda: accrue(desk, who, day))
    data = {k: getattr(run, k) for k in run.__slots__}
    emit(
        as_json,
        data,
        lambda: out.print(
            f"{run.loans} active loans through {run.through}: interest "
            f"{format_usd(run.interest_cents)}, late fees {format_usd(run.fees_cents)}"
        ),
    )


@loans_app.command("write-off")
def write_off_cmd(
    app_id: APP_ID,
    actor: AS,
    reason: REASON,
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
    as_json: JSON = False,
) -> None:
    """Write off what an active loan still owes (credit committee).

    Example: recompense loans write-off ID --as credit_committee:cc1 --reason "insolvent"
    """
    from recompense.loans import write_off

    desk, who = desk_for(db, policy), actor_of(actor)
    cents = guard(lambda: write_off(desk, who, app_id, reason))
    data = {"id": app_id, "state": "written_off", "written_off_cents": cents}
    emit(as_json, data, lambda: out.print(f"{app_id}: written off {format_usd(cents)}"))
