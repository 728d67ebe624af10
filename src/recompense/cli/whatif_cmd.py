"""``recompense whatif``: change a published run's rules and see the effect (read-only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from recompense.cli.app import app, guard, out, parse_budget
from recompense.errors import InputError
from recompense.money import format_usd

FLAGS = {
    "min_loss_usd": "--min-loss-usd",
    "min_ratio": "--min-ratio",
    "min_payout_usd": "--min-payout-usd",
    "max_payout_usd": "--max-payout-usd",
    "cap_at_loss": "--cap-at-loss",
    "budget_usd": "--budget-usd",
    "weight": "--formula",
}


@app.command()
def whatif(
    run_dir: Annotated[Path, typer.Option("--run", help="Published run folder (only read).")],
    min_loss_usd: Annotated[str | None, typer.Option(help="Minimum loss, USD.")] = None,
    min_ratio: Annotated[
        str | None, typer.Option(help="Minimum loss as a share of net assets, e.g. 0.25.")
    ] = None,
    min_payout_usd: Annotated[str | None, typer.Option(help="Minimum payout, USD.")] = None,
    max_payout_usd: Annotated[str | None, typer.Option(help="Maximum payout, USD.")] = None,
    cap_at_loss: Annotated[
        bool | None,
        typer.Option("--cap-at-loss/--no-cap-at-loss", help="Never pay more than the loss."),
    ] = None,
    budget_usd: Annotated[str | None, typer.Option(help="Budget, USD.")] = None,
    formula: Annotated[
        str | None, typer.Option(help="Weight formula, e.g. 'sqrt(loss_usd)' (docs/policy.md).")
    ] = None,
    export_to: Annotated[
        Path | None,
        typer.Option("--export-policy", help="Also write the changed policy to this new file."),
    ] = None,
    top: Annotated[int, typer.Option(min=0, help="How many top gainers and losers.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Simulate changed rules on a published run: who becomes eligible, cost, distribution,
    and who gains or loses. The run folder is never modified.

    Example: recompense whatif --run demo/run --min-loss-usd 100 --budget-usd 250000000
    --export-policy whatif.toml
    """
    from recompense.whatif import ChangeError, Changes, export_policy, load, simulate

    if budget_usd and budget_usd.strip():  # blank is "as published", as in the web form
        guard(lambda: parse_budget(budget_usd))  # the policy's own bounds on a budget
    form: dict[str, Any] = {
        "min_loss_usd": min_loss_usd,
        "min_ratio": min_ratio,
        "min_payout_usd": min_payout_usd,
        "max_payout_usd": max_payout_usd,
        "cap_at_loss": cap_at_loss,
        "budget_usd": budget_usd,
        "weight": formula,
    }

    def compute() -> tuple[Any, str | None]:
        try:
            changes = Changes.from_form(form)
            population = load(run_dir)
            outcome = simulate(population, changes, top=top)
            text = export_policy(population, changes) if export_to else None
        except ChangeError as exc:
            flag = FLAGS.get(exc.field, exc.field)
            raise InputError(f"{flag}: {exc.problem} (got {exc.value!r})") from None
        if export_to is not None and text is not None:
            _write_new(export_to, run_dir, text)
        return outcome, text

    outcome, _ = guard(compute)
    if as_json:
        data = outcome.as_dict()
        data["exported_policy"] = str(export_to) if export_to else None
        print(json.dumps(data, indent=2))
        return
    _render(run_dir, outcome)
    if export_to is not None:
        out.print(f"[green]✔[/] Wrote the changed policy to {export_to}", highlight=False)


def _write_new(path: Path, run_dir: Path, text: str) -> None:
    """Create ``path``; refuse an existing file and anything inside the run folder."""
    if path.resolve().is_relative_to(run_dir.resolve()):
        raise InputError(f"--export-policy {path}: is inside the run folder, which is read-only")
    from recompense.atomic import disk_error, write_new

    try:
        write_new(path, text)  # complete or absent, never over an existing file
    except FileExistsError as exc:
        raise InputError(f"--export-policy {path}: already exists; choose a new file") from exc
    except OSError as exc:  # a full or read-only disk: exit 3; a bad path: exit 2
        raise disk_error(exc, path) or InputError(
            f"--export-policy {path}: cannot write: {exc.strerror or exc}"
        ) from exc


def _render(run_dir: Path, o: Any) -> None:
    out.print(
        f"What-if on run {run_dir} (manifest {o.fingerprint[:12]}), {o.liquidated:,} liquidated "
        f"users, computed in {o.elapsed_s * 1000:.0f} ms",
        highlight=False,
    )
    summary = Table(title="Published run vs what-if")
    for name in ("", "published", "what-if", "change"):
        summary.add_column(name, justify="left" if not name else "right")
    s, d = o.settings, o.distribution
    published_median = dict(d.published_quantiles)[0.5]
    rows = [
        ("eligible users", o.published_eligible, o.eligible, _count),
        ("total paid", o.published_total_cents, o.total_cents, format_usd),
        ("median payout", published_median, dict(d.quantiles)[0.5], format_usd),
    ]
    for label, before, after, fmt in rows:
        summary.add_row(label, fmt(before), fmt(after), _signed(after - before, fmt))
    summary.add_row("budget", "", format_usd(o.budget_cents), "")
    summary.add_row("unallocated", "", format_usd(o.unallocated_cents), "")
    summary.add_row("λ (cents per weight)", f"{o.published_lambda:.6g}", f"{o.lam:.6g}", "")
    summary.add_row("Gini", f"{d.published_gini:.3f}", f"{d.gini:.3f}", "")
    out.print(summary)
    bounds = ", ".join(f"{count:,} at {bound}" for bound, count in o.by_bound.items())
    out.print(
        f"Newly eligible {o.newly_eligible:,}; no longer eligible {o.no_longer_eligible:,}; "
        f"{bounds}. Rules: min loss {format_usd(s.min_loss_cents)}, min ratio {s.min_ratio}, "
        f"payout {format_usd(s.min_payout_cents)}–{format_usd(s.max_payout_cents)}, "
        f"cap at loss {'on' if s.cap_at_loss else 'off'}, weight {s.weight}",
        highlight=False,
    )
    out.print(_histogram(d.histogram))
    m = o.movement
    out.print(
        f"{m.gainers:,} users gain {format_usd(m.gained_cents)}; {m.losers:,} lose "
        f"{format_usd(m.lost_cents)}; {m.unchanged:,} unchanged",
        highlight=False,
    )
    for title, movers in (("Top gainers", m.top_gainers), ("Top losers", m.top_losers)):
        if movers:
            out.print(_movers(title, movers))


def _histogram(h: Any) -> Table:
    table = Table(title="Payout distribution (bins of whole cents, [from, to))")
    for name in ("from", "to", "published", "what-if", ""):
        table.add_column(name, justify="right" if name else "left")
    peak = max(max(h.counts), max(h.published), 1)
    for i, (new, old) in enumerate(zip(h.counts, h.published, strict=True)):
        bar = "█" * round(30 * new / peak)
        lo, hi = h.edges_cents[i], h.edges_cents[i + 1]
        table.add_row(format_usd(lo), format_usd(hi), f"{old:,}", f"{new:,}", bar)
    return table


def _movers(title: str, movers: Any) -> Table:
    table = Table(title=title)
    for name in ("user", "published", "what-if", "change"):
        table.add_column(name, justify="right")
    for mover in movers:
        table.add_row(
            str(mover.user_id),
            format_usd(mover.before_cents),
            format_usd(mover.after_cents),
            _signed(mover.change_cents, format_usd),
        )
    return table


def _count(value: int) -> str:
    return f"{value:,}"


def _signed(value: int, fmt: Any) -> str:
    return ("+" if value > 0 else "") + fmt(value) if value else "0"
