"""``render_report``: the run's aggregates laid out as one self-contained HTML page.

This module draws the header (key figures, consistency checks) and the footer;
``sections`` draws the rest. Every piece of text from the input is escaped with
``svg.esc``; only markup built in this package is inserted raw.
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
from recompense.report.svg import esc, percent
from recompense.report.template import page


def render_report(data: ReportInput) -> str:
    """One complete HTML document (UTF-8 text) with inline CSS and SVG, nothing external.

    Deterministic: the same input gives byte-identical output. Aggregation is
    vectorised, so a million eligible users render in about a second into < 1 MB.
    """
    check_input(data)
    facts = collect(data)
    title = f"{data.program_name} — compensation report"
    return page(title, _header(data, facts), sections(data, facts), _footer(data))


def write_report(data: ReportInput, path: Path) -> None:
    """Render and write ``path`` atomically (:func:`recompense.atomic.replace_file`: a
    synced temporary file beside it, then a rename), mode 0644: the report is meant to be
    shared. A failed write leaves no temporary file; its ``OSError`` propagates."""
    document = render_report(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, document, mode=0o644, exact=True)


def _header(data: ReportInput, facts: Facts) -> str:
    p = facts.payouts
    kpis = [
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
    boxes = "".join(
        f'<div class="kpi"><dt>{esc(k)}</dt><dd>{esc(v)}<small>{esc(s)}</small></dd></div>'
        for k, v, s in kpis
    )
    nav = "".join(
        f'<a href="#{key}">{esc(label)}</a>'
        for key, label in (
            ("funnel", "Funnel"),
            ("histogram", "Payouts"),
            ("scatter", "Payout vs loss"),
            ("lorenz", "Inequality"),
            ("hourly", "By hour"),
            ("bounds", "Floor & cap"),
            ("top", "Top payouts"),
            ("reasons", "Rejections"),
        )
    )
    return (
        f"<header>\n<h1>{esc(data.program_name)}</h1>\n"
        f'<p class="sub">Programme <code>{esc(data.program_id)}</code> · {esc(data.currency)}'
        f' · generated <time datetime="{esc(data.generated_at)}">{esc(data.generated_at)}</time>'
        f'</p>\n<nav aria-label="Sections">{nav}</nav>\n'
        f'<dl class="kpis">{boxes}</dl>\n{_checks(facts.checks)}\n</header>'
    )


def _checks(checks: Sequence[Check]) -> str:
    items = []
    for check in checks:
        shown = format_usd if check.money else (lambda v: f"{v:,}")
        if check.ok:
            mark, detail = '<span class="ok" aria-label="passed">✓</span>', ""
        else:
            mark = '<span class="bad" aria-label="failed">✗</span>'
            detail = f": expected {shown(check.expected)}, found {shown(check.actual)}"
        items.append(f"<li>{mark} {esc(check.label + detail)}</li>")
    failed = sum(not c.ok for c in checks)
    status = "all passed" if not failed else f"{failed} failed"
    open_attr = " open" if failed else ""
    return (
        f"<details{open_attr}><summary>Consistency checks: {status}</summary>"
        f'<ul class="checks">{"".join(items)}</ul></details>'
    )


def _footer(data: ReportInput) -> str:
    return (
        f"<footer><p>allocations.parquet SHA-256 <code>{esc(data.allocations_sha256)}</code><br>"
        f"Programme <code>{esc(data.program_id)}</code> · generated "
        f"{esc(data.generated_at)} · a self-contained file: it loads nothing from the network."
        "</p></footer>"
    )
