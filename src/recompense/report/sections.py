"""The page's sections as data for ``templates/report.html``: charts, tables and the few
sentences that depend on the run.

Headings, introductions and captions are written in the template; this module supplies
what changes from run to run, as plain text (the template escapes it) or as the charts
:mod:`.charts` drew. A table cell is text, or one of two typed cells the template draws
itself: :class:`BoundName` (a colour swatch, the bound and its meaning) and
:class:`Code` (a reason code, set in monospace).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

from recompense.money import format_usd
from recompense.report import charts
from recompense.report.facts import Facts
from recompense.report.inputs import ReportInput
from recompense.report.svg import no_data, percent

REASON_TEXT = {
    "LOSS_BELOW_MINIMUM": "Loss below the programme's minimum",
    "RATIO_BELOW_MINIMUM": "Loss below the minimum share of net assets",
    "ALREADY_COMPENSATED": "Already compensated for this incident",
}
BOUND_TEXT = {
    "floor": "raised to the minimum payout",
    "share": "proportional share of the budget",
    "cap": "held at the user's cap",
}


@dataclass(frozen=True, slots=True)
class BoundName:
    """The bound column's cell: ``swatch`` is a CSS class (a known bound or ``other``)."""

    swatch: str
    bound: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Code:
    """A stable reason code, shown as code."""

    code: str


Cell = str | BoundName | Code


@dataclass(frozen=True, slots=True)
class Table:
    """``headers`` are ``(label, numeric)``; numeric columns are right-aligned."""

    caption: str
    headers: tuple[tuple[str, bool], ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True, slots=True)
class View:
    """One section's figures: a chart (or its "no data" note), a table, and ``note``,
    the one sentence of the section that depends on the run ("" when none)."""

    chart: Markup = field(default_factory=Markup)
    table: Table | None = None
    note: str = ""


def sections(data: ReportInput, facts: Facts) -> dict[str, View]:
    """The eight sections below the header, by the key the template names them with."""
    return {
        "funnel": View(charts.funnel_chart(data.funnel)),
        "histogram": _histogram(data, facts),
        "scatter": _scatter(data, facts),
        "lorenz": _lorenz(facts),
        "hourly": _hourly(data, facts),
        "bounds": _bounds(facts),
        "top": _top(facts),
        "reasons": _reasons(facts),
    }


def _histogram(data: ReportInput, facts: Facts) -> View:
    hist = facts.histogram
    chart = charts.histogram_chart(hist, data.min_payout_cents, data.max_payout_cents)
    rows = []
    for i in range(hist.edges.size - 1):
        counts = [int(c[i]) for c in hist.counts.values()]
        if sum(counts):
            lo, hi = round(hist.edges[i]), round(hist.edges[i + 1])
            rows.append(
                (format_usd(lo), format_usd(hi), *[f"{c:,}" for c in counts], f"{sum(counts):,}")
            )
    headers = (("From", True), ("To", True), *((b, True) for b in hist.counts), ("Users", True))
    table = Table("Users per payout bin, by bound", headers, tuple(rows)) if rows else None
    return View(chart, table, "log-spaced" if hist.log else "equal-width")


def _scatter(data: ReportInput, facts: Facts) -> View:
    s = facts.scatter
    chart = charts.scatter_chart(s, data.min_payout_cents, data.max_payout_cents)
    shown = s.loss_usd.size
    note = f"Showing {shown:,} of {s.population:,} eligible users"
    if shown < s.population:
        note += ", chosen by a hash of the user id (the same users every time)"
    if s.unplotted:
        note += f"; {s.unplotted:,} sampled users without a positive loss or payout are not shown"
    return View(chart, note=note + ".")


def _lorenz(facts: Facts) -> View:
    p = facts.payouts
    chart = charts.lorenz_chart(p)
    if not p.count:
        return View(chart)
    shares = (
        ("Gini coefficient", f"{p.gini:.4f}"),
        ("Top 1% of users receive", f"{p.top_1pct_share:.1%}"),
        ("Top 10% of users receive", f"{p.top_10pct_share:.1%}"),
        ("Bottom 50% of users receive", f"{p.bottom_50pct_share:.1%}"),
    )
    headers = (("Measure", False), ("Value", True))
    return View(chart, Table("How concentrated the payouts are", headers, shares))


def _hourly(data: ReportInput, facts: Facts) -> View:
    chart = charts.hourly_chart(facts.hours, data.incidents)
    rows = tuple(
        (f"{b.hour:%Y-%m-%d %H:00}", f"{b.fills:,}", f"{b.users:,}", format_usd(b.loss_cents))
        for b in facts.hours
    )
    headers = (("Hour (UTC)", False), ("Fills", True), ("Users", True), ("Loss", True))
    table = Table("Counted liquidation losses per UTC hour", headers, rows) if rows else None
    marked = (
        "Shaded: incident windows."
        if data.incidents
        else "Highlighted: the hour with the largest loss."
    )
    return View(chart, table, marked)


def _bounds(facts: Facts) -> View:
    rows = [r for r in facts.bounds if r.users or r.bound in BOUND_TEXT]
    users = sum(r.users for r in rows)
    cents = sum(r.amount_cents for r in rows)
    if not users:
        return View(no_data("No eligible users."))
    table_rows = []
    for r in rows:
        swatch = r.bound if r.bound in BOUND_TEXT else "other"
        name = BoundName(swatch, r.bound, BOUND_TEXT.get(r.bound, "other"))
        average = format_usd((2 * r.amount_cents + r.users) // (2 * r.users)) if r.users else "—"
        money = format_usd(r.amount_cents)
        share = percent(r.amount_cents, cents)
        table_rows.append((name, f"{r.users:,}", percent(r.users, users), money, share, average))
    headers = (
        ("Bound", False),
        ("Users", True),
        ("% users", True),
        ("Amount", True),
        ("% amount", True),
        ("Average", True),
    )
    table = Table("Users and amounts by bound", headers, tuple(table_rows))
    return View(charts.bounds_chart(rows), table)


def _top(facts: Facts) -> View:
    if not facts.top:
        return View(no_data("No eligible users."))
    rows = tuple(
        (
            str(i),
            str(u.user_id),
            _money(u.loss_cents),
            _money(u.net_assets_cents),
            "—" if u.loss_ratio is None else f"{u.loss_ratio:.1%}",
            format_usd(u.amount_cents),
            u.bound,
        )
        for i, u in enumerate(facts.top, start=1)
    )
    headers = (
        ("#", True),
        ("User", True),
        ("Loss", True),
        ("Net assets", True),
        ("Loss / net assets", True),
        ("Payout", True),
        ("Bound", False),
    )
    return View(table=Table(f"Top {len(rows)} payouts (ties by smallest user id)", headers, rows))


def _reasons(facts: Facts) -> View:
    r = facts.reasons
    if not r.rejected_users:
        return View(no_data("No user was rejected."))
    rows: list[tuple[Cell, ...]] = [
        (
            Code(code),
            REASON_TEXT.get(code, "other reason"),
            f"{count:,}",
            percent(count, r.rejected_users),
        )
        for code, count in r.counts
    ]
    if r.without_reason:
        rows.append(
            (
                "(none)",
                "no reason recorded",
                f"{r.without_reason:,}",
                percent(r.without_reason, r.rejected_users),
            )
        )
    headers = (("Code", False), ("Meaning", False), ("Users", True), ("% of rejected", True))
    intro = (
        f"{r.rejected_users:,} users were considered but are not eligible. "
        "A user can fail several rules, so the counts can add up to more than that."
    )
    table = Table("Rejection reasons among non-eligible users", headers, tuple(rows))
    return View(table=table, note=intro)


def _money(cents: int | None) -> str:
    return "—" if cents is None else format_usd(cents)
