"""The ``recompense`` command. Thin: parse, call one domain function, render.

Every command runs inside one boundary (:func:`boundary`, applied by :class:`Commands` to
every command of every group) that maps what went wrong to the exit codes of
:mod:`recompense.errors`: the operator's input (2), the infrastructure (3, via
:func:`recompense.failures.classify`), an interruption (130/143), and a bug (70, with its
traceback). Each is one clear message on stderr; only a bug prints a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from recompense import __version__
from recompense.atomic import disk_error
from recompense.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    InputError,
    RecompenseError,
)
from recompense.failures import classify
from recompense.money import format_usd

err = Console(stderr=True)
out = Console()

T = TypeVar("T")


def boundary(func: Callable[..., T]) -> Callable[..., T]:
    """Run a command so that whatever escapes it becomes one message and a documented code."""

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException):
            raise
        except InputError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            err.print(
                "[bold red]interrupted:[/] what was committed stays committed; "
                "run the same command again to resume.",
                highlight=False,
            )
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        except Exception as exc:
            unavailable = classify(exc)
            if unavailable is not None:
                err.print(
                    f"[bold red]unavailable:[/] {unavailable}", highlight=False, soft_wrap=True
                )
                raise typer.Exit(code=unavailable.exit_code) from None
            if isinstance(exc, RecompenseError):
                err.print(f"[bold red]failed:[/] {exc}", highlight=False, soft_wrap=True)
                raise typer.Exit(code=getattr(exc, "exit_code", 1)) from None
            traceback.print_exc(file=sys.stderr)
            err.print(
                "[bold red]internal error:[/] this is a bug in recompense; please "
                "report it with the traceback above.",
                highlight=False,
            )
            raise typer.Exit(code=EXIT_INTERNAL) from None

    return command


class Commands(typer.Typer):
    """A command group whose every command runs inside :func:`boundary`."""

    def command(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        register = super().command(*args, **kwargs)

        def decorator(func: Callable[..., T]) -> Callable[..., T]:
            register(boundary(func))
            return func

        return decorator


app = Commands(
    name="recompense",
    help="Run a crypto exchange's compensation programme end to end, exactly and verifiably.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Ids are int64 everywhere (data contract, run folder, ledger): a larger number is
# refused by the option parser with exit code 2, before any file or database is read.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_SYNTH_USERS = 1_000_000_000  # 20x the exchange-scale benchmark; beyond is a typo
BOUND_LABELS = {"min_payout": "floor", "max_payout": "cap", "own_loss": "own-loss cap"}

# Who is acting, for the audit trail and the run's sign-off; default: login@host.
ACTOR = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Who is acting, ROLE:NAME (e.g. ops:alice); recorded in the audit trail. "
        "Default: cli:LOGIN@HOST.",
    ),
]

RUN_STAGES = ("validate", "losses", "features", "allocate", "write")
# A full-payment programme's stages (recompense.engine.collateral).
FULL_RUN_STAGES = ("validate", "references", "events", "users", "allocate", "write")
STAGE_LABELS = {
    "validate": "Checking the dataset against the contract",
    "losses": "Pricing and summing liquidation fills",
    "features": "Net assets, rules and weights per user",
    "references": "Adjusting the reference prices",
    "events": "Pricing each collateral liquidation event",
    "users": "Summing each user's events",
    "allocate": "Allocating the budget to the cent",
    "write": "Writing the run folder and report",
}


def guard(func: Callable[[], T]) -> T:
    """Call ``func`` inside the command boundary (kept for call sites that render after it)."""
    return boundary(func)()


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()


@app.command()
def run(
    program: Annotated[Path, typer.Option(help="Programme policy file (TOML).")],
    data: Annotated[Path, typer.Option(help="Dataset folder (Parquet or CSV files).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder to create (must not exist).")],
    budget_usd: Annotated[
        str | None,
        typer.Option(help="Override the policy's budget, in USD (e.g. 250000000; at most 10^12)."),
    ] = None,
    engine: Annotated[str, typer.Option(help="Compute engine: duckdb or spark.")] = "duckdb",
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL (default local[*]); with --engine spark.")
    ] = None,
    naive_timestamps_are_utc: Annotated[
        bool, typer.Option(help="Accept timestamps without a time zone as UTC.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    actor: ACTOR = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Ledger database URL: also exclude the users it shows paid by a programme "
            "in the policy's excluding_programs (kept as ledger_exclusions.parquet).",
        ),
    ] = None,
) -> None:
    """Decide who is eligible and allocate the budget; write an immutable run folder.

    The manifest records who ran it (--as, as run_by): they may not approve it.

    Example: recompense run --program programs/together-2025-10.toml --data demo/data
    --out demo/run --as ops:alice --db postgresql://recompense@db/ledger
    """
    from recompense.audit import cli_actor
    from recompense.runs import execute_run

    budget = guard(lambda: parse_budget(budget_usd))
    runner = guard(lambda: cli_actor(actor))
    stages = len(FULL_RUN_STAGES if _is_full_programme(program) else RUN_STAGES)
    with _stage_progress(as_json, stages) as on_stage:
        summary = guard(
            lambda: execute_run(
                program,
                data,
                out_dir,
                budget_usd=budget,
                engine=engine,
                spark_master=spark_master,
                naive_timestamps_are_utc=naive_timestamps_are_utc,
                on_stage=on_stage,
                run_by=runner,
                db=db,
                on_warning=_warn,
            )
        )
    if as_json:
        print(json.dumps(_summary_json(summary.out, summary.manifest), indent=2))
        return
    _print_summary(summary.out, summary.manifest)


def _warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def _is_full_programme(program: Path) -> bool:
    """For the progress bar only: a file that cannot be read is reported by the run."""
    import tomllib

    try:
        kind = tomllib.loads(program.read_text(encoding="utf-8")).get("program", {}).get("kind")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        return False
    return bool(kind == "full")


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Option("--run", help="Run folder.")],
    user_id: Annotated[
        int, typer.Argument(min=INT64_MIN, max=INT64_MAX, help="The user to explain.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
) -> None:
    """Tell one user's story: features, each rule with its numbers, weight, payout, bound.

    Example: recompense explain --run demo/run 1234
    """
    from recompense.runs import explain as explain_user

    story = guard(lambda: explain_user(run_dir, user_id))
    if as_json:
        print(json.dumps(story.as_dict(), indent=2, default=str))
        return
    verdict = "[bold green]ELIGIBLE[/]" if story.eligible else "[bold red]NOT ELIGIBLE[/]"
    out.print(f"User {story.user_id} in programme {story.program_id}: {verdict}")
    if story.features:
        table = Table(title="Features", show_header=False)
        for key, value in story.features.items():
            table.add_row(key, str(value))
        out.print(table)
    for check in story.checks:
        mark = "[green]✔[/]" if check.passed else f"[red]✘ {check.code}[/]"
        out.print(f"  {mark} {check.detail}", highlight=False)
    if story.amount_cents is not None:
        if not story.events:  # a full-payment run pays the sum of its events: no weight
            out.print(f"Weight: {story.weight:.6g}")
        label = BOUND_LABELS.get(story.limit or "", story.bound)
        out.print(
            f"Payout: [bold]{format_usd(story.amount_cents)}[/] ({label}) — {story.bound_detail}",
            highlight=False,
        )


@app.command()
def synth(
    users: Annotated[
        int, typer.Option(min=1, max=MAX_SYNTH_USERS, help="Number of users to generate.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder to create.")],
    seed: Annotated[int, typer.Option(min=0, help="Random seed (≥ 0); same seed, same bytes.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Generate a deterministic synthetic crash calibrated to 2025-10-10.

    Example: recompense synth --users 100000 --seed 7 --out demo/data
    """
    from recompense.data.synth import generate

    def build() -> Any:
        try:
            with bar_progress(as_json, "Generating users") as progress:
                return generate(users, seed, out_dir, progress=progress)
        except FileExistsError as exc:
            if exc.errno is None:  # generate's own refusal, not a parent that is a file
                raise InputError(f"{out_dir}: already exists and is not empty") from exc
            raise InputError(f"--out {out_dir}: cannot create: {exc.strerror}") from exc
        except OSError as exc:  # a full or read-only disk (3); a bad path, no permission (2)
            raise disk_error(exc, out_dir) or InputError(
                f"--out {out_dir}: cannot create: {exc.strerror or exc}"
            ) from exc

    summary = guard(build)
    fields = {k: getattr(summary, k) for k in summary.__slots__ if k != "out"}
    if as_json:
        print(json.dumps({"out": str(summary.out), **fields}, indent=2))
        return
    table = Table(title=f"Synthetic crash in {summary.out}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for key, value in fields.items():
        table.add_row(key, f"{value:,}")
    out.print(table)


@app.command()
def check(
    program: Annotated[Path, typer.Option(help="Programme policy file (TOML).")],
    data: Annotated[Path | None, typer.Option(help="Dataset folder to validate too.")] = None,
    naive_timestamps_are_utc: Annotated[
        bool, typer.Option(help="Accept naive timestamps as UTC.")
    ] = False,
) -> None:
    """Validate a policy file (and optionally a dataset) without running anything.

    Example: recompense check --program programs/together-2025-10.toml --data demo/data
    """
    from recompense.data import open_dataset, validate
    from recompense.engine import connect
    from recompense.engine.collateral import require_tables
    from recompense.policy import load_programme
    from recompense.policy.full import FullPolicy

    policy = guard(lambda: load_programme(program))
    full = isinstance(policy, FullPolicy)
    budget = policy.budget_cents
    out.print(
        f"[green]✔[/] {program}: programme {policy.program.id} "
        f"({'full payment' if full else 'shared budget'}), "
        + (f"budget {format_usd(budget)}" if budget is not None else "no budget limit")
    )
    if data is not None:

        def validate_data() -> None:
            dataset = open_dataset(
                connect(), data, naive_timestamps_are_utc=naive_timestamps_are_utc
            )
            if full:
                require_tables(dataset)
            validate(dataset)

        guard(validate_data)
        out.print(f"[green]✔[/] {data}: matches the data contract")


def parse_budget(value: str | None) -> Decimal | None:
    """``--budget-usd``, bounded exactly as the policy's ``program.budget_usd`` is."""
    from recompense.policy.model import budget_usd

    if value is None:
        return None
    try:
        return budget_usd(value.strip())
    except ValueError as exc:
        raise InputError(f"--budget-usd: {exc} (got {value!r})") from None


@contextmanager
def _stage_progress(
    quiet: bool, stages: int = len(RUN_STAGES)
) -> Iterator[Callable[[str], None] | None]:
    if quiet or (not err.is_terminal and not sys.stderr.isatty()):
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("Starting", total=stages)
        seen: list[str] = []

        def on_stage(name: str) -> None:
            seen.append(name)
            progress.update(task, description=STAGE_LABELS.get(name, name), completed=len(seen) - 1)

        yield on_stage
        progress.update(task, completed=stages)


@contextmanager
def bar_progress(
    quiet: bool, label: str, unit: str = "users"
) -> Iterator[Callable[[int, int], None] | None]:
    """A bar with count, rate and ETA on stderr when it is a terminal; else no callback."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None, rate="")

        def on_progress(done: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 0.0
            rate = f"{done / elapsed:,.0f} {unit}/s" if elapsed > 0 else ""
            progress.update(task, completed=done, total=total, rate=rate)

        yield on_progress


def _summary_json(run_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": str(run_dir),
        "report": str(run_dir / "report.html"),
        "program_id": manifest["program"]["id"],
        "budget_cents": manifest["budget_cents"],
        "allocated_cents": manifest["allocated_cents"],
        "unallocated_cents": manifest["unallocated_cents"],
        "lambda_cents_per_weight": manifest["lambda_cents_per_weight"],
        "counts": manifest["counts"],
        "funnel": manifest["funnel"],
        "timings_s": manifest["timings_s"],
        "run_by": manifest.get("run_by"),
    }


def _print_summary(run_dir: Path, manifest: dict[str, Any]) -> None:
    table = Table(title=f"{manifest['program']['name']} — run summary")
    table.add_column("stage")
    table.add_column("users", justify="right")
    first = manifest["funnel"][0]["users"] or 1
    for stage in manifest["funnel"]:
        table.add_row(stage["stage"], f"{stage['users']:,} ({stage['users'] / first:.1%})")
    out.print(table)
    out.print(f"Budget      {format_usd(manifest['budget_cents'])}")
    out.print(f"Allocated   {format_usd(manifest['allocated_cents'])}")
    out.print(f"Unallocated {format_usd(manifest['unallocated_cents'])}")
    bounds = manifest["counts"]["by_bound"]
    if manifest["program"].get("kind") == "full":
        out.print(
            f"Collateral events counted: {manifest['counts']['events']:,}; paid in full / at "
            f"the ceiling: {bounds.get('full', 0):,} / {bounds.get('ceiling', 0):,}"
        )
    else:
        out.print(
            "Payouts at the floor / in between / at the cap: "
            f"{bounds.get('floor', 0):,} / {bounds.get('share', 0):,} / {bounds.get('cap', 0):,}"
        )
    out.print(f"Run by      {manifest.get('run_by')}", highlight=False)
    out.print(f"Run folder  {run_dir}")
    out.print(f"Report      {run_dir / 'report.html'}")
    out.print(f"Took {manifest['timings_s']['total']:.2f} s")
