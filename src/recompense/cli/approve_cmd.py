"""``recompense approve``: review a run (and what changed since the previous one), sign it.

Thin: the rules and the diff live in :mod:`recompense.distribution.approvals` and
:mod:`recompense.runs.diff`; this module shows the review and asks before signing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from recompense.cli.app import app, err, guard, out
from recompense.cli.ledger_cmd import DB, JSON
from recompense.errors import InputError
from recompense.ledger.db import DEFAULT_URL
from recompense.money import format_usd

if TYPE_CHECKING:
    from recompense.distribution.approvals import Review
    from recompense.runs.diff import RunDiff


@app.command()
def approve(
    run_dir: Annotated[Path, typer.Option("--run", help="The run folder to approve.")],
    actor: Annotated[
        str, typer.Option("--as", help="The approving officer, ops:NAME (not the one who ran it).")
    ],
    db: DB = DEFAULT_URL,
    yes: Annotated[
        bool, typer.Option("--yes", help="Approve without asking (for scripts).")
    ] = False,
    top: Annotated[
        int, typer.Option(min=0, max=1000, help="How many of the largest changes to show.")
    ] = 10,
    as_json: JSON = False,
) -> None:
    """Show what is being signed — counts, money, the funnel and the diff against the
    programme's previous run — then record your approval of the run as it is now.

    `distribute` needs two approvals by different ops officers of the run's current
    fingerprint (the SHA-256 of its manifest.json; a changed folder needs new ones).
    Refused with exit 2: a role other than ops, the one who ran it, a second approval by
    the same officer, a run already distributed, a folder that is not a run, no terminal
    to ask at and no --yes. Exit 1: declined at the prompt.

    Example: recompense approve --run demo/run --db sqlite:///demo/ledger.db --as ops:bob
    """
    from recompense.audit import cli_actor
    from recompense.distribution import approvals

    who = guard(lambda: cli_actor(actor))
    guard(lambda: approvals.check_approver(run_dir, db, who))
    found = guard(lambda: approvals.review(run_dir, db, top=top))
    if not as_json:
        show_review(found)
    if not yes:
        if not _interactive():
            guard(_no_terminal)
        question = f"Approve run {found.fingerprint} as {who}?"
        if not typer.confirm(question, default=False, err=True):
            err.print("Not approved; nothing recorded.")
            raise typer.Exit(code=1)
    done = guard(lambda: approvals.approve(run_dir, db, who, fingerprint=found.fingerprint))
    count = len(found.approvals) + 1
    if as_json:
        body: dict[str, Any] = found.as_dict()
        body["approval"] = done.as_dict()
        body["approvals_now"] = count
        print(json.dumps(body, indent=2, default=str))
        return
    needed = max(0, approvals.REQUIRED_APPROVALS - count)
    then = "it can be distributed" if needed == 0 else f"{needed} more needed before distribute"
    out.print(
        f"[green]✔[/] approved by {done.approver} at {done.approved_at:%Y-%m-%d %H:%M:%S} UTC: "
        f"{count} of {approvals.REQUIRED_APPROVALS} approvals; {then}",
        highlight=False,
        soft_wrap=True,
    )


def _interactive() -> bool:
    return sys.stdin.isatty()


def _no_terminal() -> None:
    raise InputError("not a terminal to ask for confirmation: pass --yes to approve from a script")


def show_review(review: Review) -> None:
    """The run, its approvals so far, and the diff, as tables."""
    from recompense.distribution.approvals import REQUIRED_APPROVALS

    m = review.manifest
    head = Table(
        title=f"Run {review.fingerprint[:12]}… — {m['program'].get('name')}", show_header=False
    )
    head.add_row("Programme", str(review.program_id))
    head.add_row("Folder", str(review.run))
    head.add_row("Fingerprint", review.fingerprint)
    head.add_row("Created", str(m.get("created_at")))
    head.add_row("Run by", review.run_by or "not recorded (a run made before sign-off)")
    head.add_row("Budget", format_usd(int(m.get("budget_cents", 0))))
    head.add_row("Allocated", format_usd(int(m.get("allocated_cents", 0))))
    head.add_row("Unallocated", format_usd(int(m.get("unallocated_cents", 0))))
    bounds = m.get("counts", {}).get("by_bound", {})
    head.add_row(
        "Payouts at floor / share / cap",
        f"{bounds.get('floor', 0):,} / {bounds.get('share', 0):,} / {bounds.get('cap', 0):,}",
    )
    given = ", ".join(
        f"{a.approver} ({a.approved_at:%Y-%m-%d %H:%M} UTC)" for a in review.approvals
    )
    head.add_row(
        "Approvals", f"{len(review.approvals)} of {REQUIRED_APPROVALS}: {given or 'none yet'}"
    )
    if review.distributed:
        head.add_row("Distributed", "yes")
    out.print(head)
    funnel = Table(title="Eligibility funnel")
    funnel.add_column("stage")
    funnel.add_column("users", justify="right")
    for stage in m.get("funnel", []):
        funnel.add_row(str(stage["stage"]), f"{int(stage['users']):,}")
    out.print(funnel)
    if review.diff is None or review.baseline is None:
        out.print("No previous run of this programme to compare with.")
        return
    why = "distributed" if review.baseline.why == "distributed" else "last approved"
    out.print(
        f"Compared with the {why} run {review.baseline.fingerprint[:12]}… ({review.baseline.path})",
        highlight=False,
    )
    show_diff(review.diff)


def show_diff(diff: RunDiff) -> None:
    table = Table(title="What changed", show_header=False)
    table.add_row("Users paid", f"{diff.old_users:,} → {diff.new_users:,}")
    table.add_row(
        "Added / removed / changed / unchanged",
        f"{diff.added:,} / {diff.removed:,} / {diff.changed:,} / {diff.unchanged:,}",
    )
    if diff.old_budget_cents is not None and diff.new_budget_cents is not None:
        table.add_row(
            "Budget", f"{format_usd(diff.old_budget_cents)} → {format_usd(diff.new_budget_cents)}"
        )
    table.add_row(
        "Allocated",
        f"{format_usd(diff.old_total_cents)} → {format_usd(diff.new_total_cents)} "
        f"(net {_signed(diff.net_cents)})",
    )
    table.add_row("Paid to added users", format_usd(diff.added_cents))
    table.add_row("No longer paid to removed users", format_usd(diff.removed_cents))
    table.add_row("Increases", f"+{format_usd(diff.increase_cents)} ({diff.increased:,} users)")
    table.add_row("Decreases", f"−{format_usd(diff.decrease_cents)} ({diff.decreased:,} users)")
    table.add_row("Money moved (Σ |change|)", format_usd(diff.moved_cents))
    for stage in diff.funnel:
        if stage.old_users != stage.new_users:
            table.add_row(
                f"Funnel: {stage.stage}", f"{_count(stage.old_users)} → {_count(stage.new_users)}"
            )
    out.print(table)
    if diff.largest:
        largest = Table(title=f"The {len(diff.largest)} largest changes")
        for column in ("user", "change", "before", "after", "difference"):
            largest.add_column(column, justify="left" if column == "change" else "right")
        for change in diff.largest:
            largest.add_row(
                str(change.user_id),
                change.kind,
                format_usd(change.old_cents),
                format_usd(change.new_cents),
                _signed(change.delta_cents),
            )
        out.print(largest)


def _signed(cents: int) -> str:
    return ("+" if cents > 0 else "−" if cents < 0 else "") + format_usd(abs(cents))


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
