"""``render_report``: the run's aggregates laid out as one self-contained HTML page.

The page is ``templates/report.html`` (:mod:`.template`), rendered with autoescape on:
this module gathers the header's figures and checks, :mod:`.sections` the sections',
and the template escapes every piece of text from the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from recompense.atomic import replace_file
from recompense.money import format_usd
from recompense.report.facts import Facts, collect
from recompense.report.inputs import ReportInput, check_input
from recompense.report.sections import sections
from recompense.report.stats import Check
from recompense.report.svg import percent
from recompense.report.template import render


def render_report(data: ReportInput) -> str:
    """One complete HTML document (UTF-8 text) with inline CSS and SVG, nothing external.

    Deterministic: the same input gives byte-identical output. Aggregation is
    vectorised, so a million eligible users render in about a second into < 1 MB.
    """
    check_input(data)
    facts = collect(data)
    return render(
        "report.html",
        data=data,
        kpis=_kpis(data, facts),
        checks=_checks(facts.checks),
        failed=sum(not c.ok for c in facts.checks),
        sections=sections(data, facts),
    )


def write_report(data: ReportInput, path: Path) -> None:
    """Render and write ``path`` atomically (:func:`recompense.atomic.replace_file`: a
    synced temporary file beside it, then a rename), mode 0644: the report is meant to be
    shared. A failed write leaves no temporary file; its ``OSError`` propagates."""
    document = render_report(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, document, mode=0o644, exact=True)


def _kpis(data: ReportInput, facts: Facts) -> list[tuple[str, str, str]]:
    """The header's boxes: ``(label, figure, what the figure is against)``."""
    p = facts.payouts
    return [
        ("Budget", format_usd(data.budget_cents), data.currency),
        (
            "Allocated",
            format_usd(data.allocated_cents),
            f"{percent(data.allocated_cents, data.budget_cents)} of budget",
        ),
        (
            "Unallocated",
            format_usd(data.unallocated_cents),
            f"{percent(data.unallocated_cents, data.budget_cents)} of budget",
        ),
        ("Eligible users", f"{p.count:,}", f"of {facts.considered:,} considered"),
        ("Average payout", format_usd(p.mean_cents) if p.count else "—", "per eligible user"),
        ("Median payout", format_usd(p.median_cents) if p.count else "—", "half get more"),
        (
            "Payout range",
            f"{format_usd(p.min_cents)} – {format_usd(p.max_cents)}" if p.count else "—",
            f"policy {format_usd(data.min_payout_cents)} – {format_usd(data.max_payout_cents)}",
        ),
        ("Gini", f"{p.gini:.3f}" if p.count else "—", "0 = everyone gets the same"),
    ]


def _checks(checks: Sequence[Check]) -> list[tuple[bool, str]]:
    """``(passed, what was checked)``; a failed check says what was expected and found."""
    shown = []
    for check in checks:
        show = format_usd if check.money else (lambda v: f"{v:,}")
        found = f": expected {show(check.expected)}, found {show(check.actual)}"
        shown.append((check.ok, check.label + ("" if check.ok else found)))
    return shown
