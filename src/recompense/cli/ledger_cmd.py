"""Ledger commands: db upgrade, distribute, amend, status, reconcile, redeem, expire, revoke."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from recompense.cli.app import (
    ACTOR,
    INT64_MAX,
    INT64_MIN,
    Commands,
    app,
    bar_progress,
    err,
    guard,
    out,
)
from recompense.errors import EXIT_INTERRUPTED, EXIT_TERMINATED
from recompense.ledger.db import DEFAULT_URL
from recompense.money import format_usd

DB = Annotated[
    str, typer.Option("--db", help="Database URL (sqlite:///file.db or postgresql://…).")
]
JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

db_app = Commands(help="Manage the ledger database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(db: DB = DEFAULT_URL) -> None:
    """Create or migrate the ledger schema to the latest revision.

    Example: recompense db upgrade --db sqlite:///recompense.db
    """
    from recompense.ledger.db import upgrade

    revision = guard(lambda: upgrade(db))
    out.print(f"[green]✔[/] {db}: schema at revision {revision}")


@app.command()
def amend(
    run_dir: Annotated[
        Path,
        typer.Option(
            "--run",
            help="The run to amend: the base run, or the programme's latest amendment "
            "(the one distributed last).",
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="The new amendment run folder.")],
    db: DB = DEFAULT_URL,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Full-payment programmes: the newer dataset the next batch is computed on "
            "(it pays only what earlier batches did not)."
        ),
    ] = None,
    naive_timestamps_are_utc: Annotated[
        bool, typer.Option(help="With --data: accept timestamps without a time zone as UTC.")
    ] = False,
    as_json: JSON = False,
    actor: ACTOR = None,
) -> None:
    """Build an amendment run: the run plus every accepted case decision not yet paid.

    A full-payment programme (the de-peg compensation) is paid in batches instead: with
    --data, its rule runs again on the newer dataset and each user is paid what the
    earlier batches did not (from what is left of the budget; refused, never scaled).

    Corrected users are judged again by the same rules and paid at the base run's price
    per weight; each user's new cumulative amount minus what was issued is their top-up,
    paid from the policy's amendment reserve (refused, or scaled, when it is short — the
    policy says which). Decreases are recorded, never clawed back. Nothing is paid here:
    two officers approve the new folder, then `distribute` issues the top-ups exactly
    once. No decision waiting: no folder, exit 0. See docs/amendments.md.

    Example: recompense amend --run demo/run --db sqlite:///recompense.db --out demo/run-a1
    """
    from recompense.amend import amend_run

    result = guard(
        lambda: amend_run(
            run_dir,
            db,
            out_dir,
            run_by=actor,
            data=data,
            naive_timestamps_are_utc=naive_timestamps_are_utc,
        )
    )
    summary = (result.manifest or {}).get("amendment", {})
    if as_json:
        shown = {k: v for k, v in summary.items() if k != "decisions"}
        print(
            json.dumps(
                {"amended": result.out is not None, "out": str(result.out or "")}
                | {"decisions": result.decisions}
                | shown,
                indent=2,
            )
        )
        return
    if result.out is None:
        if data is not None:
            out.print(f"{data} changes nobody's amount since {run_dir}: no batch to pay.")
        else:
            out.print(f"No accepted case decision is waiting for {run_dir}: nothing to amend.")
        return
    left = summary["reserve_cents"] - summary["reserve_used_before_cents"] - summary["topup_cents"]
    what = (
        f"batch {summary['sequence'] + 1} on {summary['data']}"
        if "data" in summary
        else f"{result.decisions:,} decision(s)"
    )
    out.print(
        f"[green]✔[/] {result.out}: amendment {summary['sequence']} "
        f"({summary['ledger_program_id']}) of {what}: "
        f"{summary['topups']:,} top-up(s), {format_usd(summary['topup_cents'])}"
        + (" (scaled to the reserve)" if summary["scaled"] else "")
        + f"; {summary['decreases']:,} decrease(s) recorded, nothing taken back. "
        f"Reserve left after it: {format_usd(left)}.",
        highlight=False,
        soft_wrap=True,
    )
    out.print(f"Next: recompense approve --run {result.out} (two officers), then distribute.")


@app.command()
def distribute(
    run_dir: Annotated[Path, typer.Option("--run", help="Run folder to distribute.")],
    db: DB = DEFAULT_URL,
    # distribution.DEFAULT_BATCH (not imported here: the CLI starts without pyarrow).
    batch_size: Annotated[int, typer.Option(min=1, help="Vouchers per transaction.")] = 20_000,
    as_json: JSON = False,
    actor: ACTOR = None,
) -> None:
    """Issue one voucher per eligible user, exactly once (safe to re-run and to run twice).

    Refused (exit 2) unless two different ops officers approved the run folder as it is
    now (`recompense approve`); recorded in the audit trail as run.distribute.

    A dropped connection, a timeout or a server restart is retried a few times with
    backoff (each retry on stderr); if the database stays away, exit 3 says what was
    committed. Ctrl-C or SIGTERM finishes the batch in flight, prints what was committed
    and exits 130/143 (twice: stop at once, the batch in flight rolls back). Running the
    same command again always resumes exactly. Limits: RECOMPENSE_DB_* (docs/operations.md).
    The command runs with a 0.5 ms GIL switch interval (docs/benchmarks.md, Distribution).

    Example: recompense distribute --run demo/run --db sqlite:///recompense.db --as ops:alice
    """
    from recompense.audit import cli_actor
    from recompense.distribution.distribute import distribute as run_distribution
    from recompense.gil import short_switch_interval

    who = guard(lambda: cli_actor(actor))
    with (
        short_switch_interval(),  # process-wide: set here, at the entry point, not in the library
        _stop_on_signals() as stop,
        bar_progress(as_json, "Issuing vouchers", "vouchers") as on_progress,
    ):
        result = guard(
            lambda: run_distribution(
                run_dir,
                db,
                batch_size=batch_size,
                on_progress=on_progress,
                actor=who,
                on_retry=_announce_retry,
                stop=stop,
            )
        )
    if as_json:
        print(json.dumps(_fields(result), indent=2))
    elif result.stopped:
        out.print(
            f"Programme {result.program_id}: stopped after {result.batches_done:,} of "
            f"{result.batches_total:,} batches; this run issued {result.issued_now:,} "
            f"vouchers ({format_usd(result.amount_issued_now_cents)}). "
            "Run the same command again to resume.",
            highlight=False,
            soft_wrap=True,
        )
    else:
        out.print(
            f"Programme {result.program_id}: issued {result.issued_now:,} vouchers "
            f"({format_usd(result.amount_issued_now_cents)}) now; "
            f"{result.already_issued:,} were already issued; "
            f"{result.total:,} in all."
        )
    if result.stopped:
        code = EXIT_TERMINATED if stop.received == signal.SIGTERM else EXIT_INTERRUPTED
        raise typer.Exit(code=code)


@app.command()
def status(
    program: Annotated[str, typer.Option(help="Programme id, e.g. together-2025-10.")],
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """Show issued/total, amounts, redemptions, notifications and the 24 h / 96 h promises.

    Example: recompense status --program together-2025-10 --db sqlite:///recompense.db
    """
    from recompense.distribution.status import status as read_status

    state = guard(lambda: read_status(program, db, on_retry=_announce_retry))
    if as_json:
        print(json.dumps(state.as_dict(), indent=2, default=str))
        return
    table = Table(title=f"{state.name} ({state.program_id})", show_header=False)
    if state.method == "credit":
        table.add_row("Paid as", "direct credits to the reward wallets (nothing to redeem)")
    table.add_row("Issued", f"{state.issued:,} / {state.vouchers_total:,} vouchers")
    table.add_row(
        "Amount issued",
        f"{format_usd(state.amount_issued_cents)} / {format_usd(state.amount_total_cents)}",
    )
    for voucher_state in ("issued", "redeemed", "expired", "revoked"):
        n = state.by_state.get(voucher_state, 0)
        cents = state.amount_by_state_cents.get(voucher_state, 0)
        table.add_row(f"  {voucher_state}", f"{n:,} ({format_usd(cents)})")
    for channel, states in sorted(state.notifications.items()):
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(states.items()))
        table.add_row(f"Notifications ({channel})", shown)
    for label, promise in (("Start", state.start), ("Completion", state.complete)):
        colour = {"kept": "green", "missed": "red", "open": "yellow"}[promise.state]
        done = promise.done_at.isoformat() if promise.done_at else "not yet"
        table.add_row(
            f"{label} promise",
            f"[{colour}]{promise.state}[/] (due {promise.deadline.isoformat()}, done {done})",
        )
    for amendment in state.amendments:
        done = "complete" if amendment.completed_at else "in progress"
        table.add_row(
            f"Amendment {amendment.sequence}",
            f"{amendment.issued:,} / {amendment.vouchers_total:,} top-ups, "
            f"{format_usd(amendment.amount_issued_cents)} / "
            f"{format_usd(amendment.amount_total_cents)} ({done})",
        )
    if state.amendments:
        table.add_row(
            "Programme total",
            f"{format_usd(state.programme_issued_cents)} / "
            f"{format_usd(state.programme_total_cents)} (base run and amendments)",
        )
        table.add_row(
            "Amendment reserve",
            f"{format_usd(state.reserve_left_cents)} left of {format_usd(state.reserve_cents)}",
        )
    out.print(table)


@app.command()
def reconcile(
    run_dir: Annotated[
        Path, typer.Option("--run", help="The run the programme was distributed from.")
    ],
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
) -> None:
    """Prove the books against the run; exit code 1 on any difference.

    Example: recompense reconcile --run demo/run --db sqlite:///recompense.db
    """
    from recompense.distribution.reconcile import reconcile as run_checks
    from recompense.ledger.retry import retrying

    checks = guard(
        lambda: retrying(
            lambda: run_checks(run_dir, db), what="reconciling", on_retry=_announce_retry
        )
    )
    if as_json:
        print(json.dumps([_fields(c) for c in checks], indent=2))
    else:
        for check in checks:
            mark = "[green]✔[/]" if check.passed else "[red]✘[/]"
            out.print(f"{mark} {check.name}: {check.detail}", highlight=False)
    if not all(c.passed for c in checks):
        raise typer.Exit(code=1)


@app.command()
def redeem(
    voucher: Annotated[str, typer.Argument(help="Voucher id.")],
    user_id: Annotated[
        int,
        typer.Option("--user-id", min=INT64_MIN, max=INT64_MAX, help="The voucher's owner."),
    ],
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
    actor: ACTOR = None,
) -> None:
    """Credit a voucher to its owner's reward wallet (idempotent; refused after expiry).

    A staff redemption for the user: recorded in the audit trail as voucher.redeem.

    Example: recompense redeem 1b4e…-… --user-id 1234 --db sqlite:///recompense.db --as ops:alice
    """
    from recompense.audit import cli_actor
    from recompense.ledger.vouchers import redeem as redeem_voucher

    who = guard(lambda: cli_actor(actor))
    result = guard(lambda: redeem_voucher(_ledger(db), voucher, user_id, actor=who))
    if as_json:
        print(json.dumps(_fields(result), indent=2, default=str))
        return
    word = "was already redeemed" if result.already else "redeemed"
    out.print(
        f"Voucher {result.voucher_id} {word}: {format_usd(result.amount_cents)} "
        f"{result.currency} to user {result.user_id}"
    )


@app.command()
def expire(
    program: Annotated[str, typer.Option(help="Programme id.")],
    db: DB = DEFAULT_URL,
    as_json: JSON = False,
    actor: ACTOR = None,
) -> None:
    """Expire unredeemed vouchers past their expiry; their amount goes back to the fund.

    Each batch is recorded in the audit trail as voucher.expire.

    Example: recompense expire --program together-2025-10 --db sqlite:///recompense.db
    """
    from recompense.audit import cli_actor
    from recompense.ledger.vouchers import expire_due

    who = guard(lambda: cli_actor(actor))
    result = guard(lambda: expire_due(_ledger(db), program, actor=who))
    if as_json:
        print(json.dumps(_fields(result), indent=2))
        return
    out.print(
        f"Expired {result.expired:,} vouchers; clawed back {format_usd(result.clawed_back_cents)}"
    )


@app.command()
def revoke(
    voucher: Annotated[str, typer.Argument(help="Voucher id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the journal).")],
    db: DB = DEFAULT_URL,
    actor: ACTOR = None,
) -> None:
    """Revoke an issued voucher (a correction: its amount returns to the fund).

    Recorded in the audit trail as voucher.revoke, with the reason.

    Example: recompense revoke 1b4e…-… --reason "duplicate account" --db sqlite:///recompense.db
    --as ops:alice
    """
    from recompense.audit import cli_actor
    from recompense.ledger.vouchers import revoke as revoke_voucher

    who = guard(lambda: cli_actor(actor))
    entry = guard(lambda: revoke_voucher(_ledger(db), voucher, reason=reason, actor=who))
    out.print(f"Voucher {voucher} revoked (journal entry {entry})")


def _ledger(db: str) -> Any:
    """The ledger at ``db``, reachable and migrated, as ``distribute`` and ``status`` need
    it too: an unmigrated file is an exit-2 message naming ``--db``, a refused connection
    an exit-3 one, not a SQL error from the first query."""
    from recompense.ledger.db import connect, require_schema

    engine = connect(db)
    require_schema(engine)
    return engine


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


def _announce_retry(message: str) -> None:
    err.print(f"[yellow]retrying:[/] {message}", highlight=False, soft_wrap=True)


class _Stop(threading.Event):
    """Set by the first SIGINT or SIGTERM; remembers which (exit code 130 or 143)."""

    received: int | None = None


@contextmanager
def _stop_on_signals() -> Iterator[_Stop]:
    """The first Ctrl-C or SIGTERM sets the event (the batch in flight finishes and
    commits, then the command stops); a second one gets the previous handler back, so it
    interrupts at once (the batch in flight rolls back). Process-wide, so only here at the
    command's entry, and only in the main thread (tests call commands from others)."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_signal(sig: int, _frame: Any) -> None:
        signal.signal(sig, previous[signal.Signals(sig)])  # first: a second one stops now
        stop.received = sig
        stop.set()
        err.print(
            f"[yellow]{signal.Signals(sig).name}:[/] finishing the batch in flight, then "
            "stopping (again to stop at once)",
            highlight=False,
        )

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
