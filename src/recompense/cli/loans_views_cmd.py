"""``recompense loans`` read commands: show, list, fund, access-log; keys and the DB role.

Every read of an application is written to the access log with the ``--reason`` given.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from recompense.cli.app import guard, out
from recompense.cli.loans_options import (
    APP_ID,
    AS,
    DB,
    JSON,
    POLICY,
    actor_of,
    day_option,
    desk_for,
    emit,
    loans_app,
)
from recompense.ledger.db import DEFAULT_URL
from recompense.loans.policy import DEFAULT_POLICY
from recompense.money import format_usd

READ_REASON = Annotated[
    str, typer.Option("--reason", help="Why you are reading it (written to the access log).")
]


@loans_app.command("show")
def show_cmd(
    app_id: APP_ID,
    actor: AS,
    reason: READ_REASON,
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
    as_json: JSON = False,
) -> None:
    """Show one application in full, decrypted (logged; "not found" if it is not yours).

    Example: recompense loans show ID --as auditor:aud1 --reason "quarterly review"
    """
    from recompense.loans import show

    desk, who = desk_for(db, policy), actor_of(actor)
    data = guard(lambda: show(desk, who, app_id, reason))
    emit(as_json, data, lambda: _render_one(data))


@loans_app.command("list")
def list_cmd(
    actor: AS,
    state: Annotated[str | None, typer.Option(help="Only this state (e.g. submitted).")] = None,
    due_soon: Annotated[
        bool, typer.Option("--due-soon", help="Only those about to miss the decision target.")
    ] = False,
    reason: READ_REASON = "list applications",
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
    as_json: JSON = False,
) -> None:
    """List the applications you may see (no sensitive fields; each row is logged).

    Example: recompense loans list --due-soon --as credit_committee:cc1
    """
    from recompense.loans import due_soon as watch
    from recompense.loans import list_applications

    desk, who = desk_for(db, policy), actor_of(actor)
    if due_soon:
        rows = guard(lambda: watch(desk, who))
    else:
        rows = guard(lambda: list_applications(desk, who, reason, state))
    emit(as_json, rows, lambda: _render_list(rows))


@loans_app.command("fund")
def fund_cmd(
    actor: AS,
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
    as_json: JSON = False,
) -> None:
    """The fund dashboard: cap, committed, disbursed, outstanding, interest, repaid, written off.

    Example: recompense loans fund --as auditor:aud1
    """
    from recompense.loans import fund_figures

    desk, who = desk_for(db, policy), actor_of(actor)
    figures = guard(lambda: fund_figures(desk, who))
    data = figures.as_dict()

    def render() -> None:
        table = Table(title=f"Loan fund {figures.fund_id}", show_header=False)
        for key, value in data.items():
            if key.endswith("_cents"):
                table.add_row(key.removesuffix("_cents").replace("_", " "), format_usd(value))
        shown = ", ".join(f"{k} {v}" for k, v in sorted(figures.by_state.items()))
        table.add_row("applications", shown or "none")
        out.print(table)

    emit(as_json, data, render)


@loans_app.command("access-log")
def access_log_cmd(
    actor: AS,
    application: Annotated[str | None, typer.Option(help="Only this application.")] = None,
    since: Annotated[str | None, typer.Option(help="Only from YYYY-MM-DD.")] = None,
    db: DB = DEFAULT_URL,
    policy: POLICY = DEFAULT_POLICY,
    as_json: JSON = False,
) -> None:
    """Review who read which application, when and why (auditors).

    Example: recompense loans access-log --application ID --as auditor:aud1
    """
    from recompense.loans import access_log

    desk, who = desk_for(db, policy), actor_of(actor)
    day = day_option("--since", since)
    rows = guard(lambda: access_log(desk, who, application, day))

    def render() -> None:
        table = Table(title="Loan access log")
        for column in ("at", "actor", "application", "action", "reason"):
            table.add_column(column)
        for r in rows:
            actor_text = f"{r['actor_role']}:{r['actor_id']}"
            table.add_row(str(r["at"]), actor_text, r["application_id"], r["action"], r["reason"])
        out.print(table)

    emit(as_json, rows, render)


@loans_app.command("rotate-keys")
def rotate_keys_cmd(actor: AS, db: DB = DEFAULT_URL, policy: POLICY = DEFAULT_POLICY) -> None:
    """Re-encrypt every sensitive value under the active key (credit committee).

    Put the new key first in RECOMPENSE_LOANS_KEYS (or name it in RECOMPENSE_LOANS_ACTIVE_KEY),
    keep the old ones listed, run this, then drop the old keys.

    Example: recompense loans rotate-keys --as credit_committee:cc1
    """
    from recompense.loans.views import rotate_keys

    desk, who = desk_for(db, policy), actor_of(actor)
    changed = guard(lambda: rotate_keys(desk, who))
    out.print(f"Re-encrypted {changed:,} values under key {desk.keys.active}")


@loans_app.command("new-key")
def new_key_cmd(
    key_id: Annotated[str, typer.Option("--id", help="Key id to print with it.")] = "k1",
) -> None:
    """Print a fresh 256-bit key as ID:KEY for RECOMPENSE_LOANS_KEYS.

    Example: recompense loans new-key --id k2
    """
    from recompense.loans.crypto import new_key

    print(f"{key_id}:{new_key()}")


@loans_app.command("grant-app-role")
def grant_app_role_cmd(
    role: Annotated[str, typer.Option(help="The PostgreSQL role the service connects as.")],
    create: Annotated[bool, typer.Option(help="Create the login role if missing.")] = False,
    db: DB = DEFAULT_URL,
) -> None:
    """Grant a non-owner role the loan desk's privileges (PostgreSQL; run as the owner).

    Row-level security does not apply to the tables' owner: the service must connect as
    this role for the database to enforce confidentiality as well.

    Example: recompense loans grant-app-role --role recompense_app --db postgresql://owner@db/x
    """
    from recompense.loans.rls import grant_app_role

    schema = guard(lambda: grant_app_role(db, role, create=create))
    out.print(f"[green]✔[/] {role} may use the loan desk in schema {schema}")


def _render_one(data: dict[str, Any]) -> None:
    table = Table(title=f"Loan application {data['id']}", show_header=False)
    for key in ("state", "borrower_id", "account_manager_id", "repayment", "term_days", "apr"):
        table.add_row(key, str(data[key]))
    for key, value in data.items():
        if key.endswith("_cents") and value is not None:
            table.add_row(key.removesuffix("_cents"), format_usd(value))
    table.add_row("decision", f"{data['decision']['status']} (due {data['decision']['deadline']})")
    if "late" in data:
        late = data["late"]
        table.add_row("late", f"{late['days_late']} days" if late["days_late"] else "no")
    for key in ("financial_statements", "stated_losses", "notes"):
        table.add_row(key, str(data[key]))
    out.print(table)
    if data["schedule"]:
        schedule = Table(title="Schedule")
        for column in ("n", "due", "principal", "interest", "total"):
            schedule.add_column(column, justify="right")
        for row in data["schedule"]:
            total = row["principal_cents"] + row["interest_cents"]
            schedule.add_row(
                str(row["n"]),
                str(row["due_on"]),
                format_usd(row["principal_cents"]),
                format_usd(row["interest_cents"]),
                format_usd(total),
            )
        out.print(schedule)
    for event in data["events"]:
        who = f"{event['actor_role']}:{event['actor_id']}"
        out.print(f"  {event['at']}  {event['action']:<14} {who:<28} {event['reason']}")


def _render_list(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Loan applications")
    for column in ("id", "borrower", "state", "amount", "outstanding", "decision"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["id"],
            str(r["borrower_id"]),
            r["state"],
            format_usd(r["amount_cents"]),
            format_usd(r["principal_outstanding_cents"]),
            r["decision"]["status"],
        )
    out.print(table)
