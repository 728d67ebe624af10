"""The page's sections, each a ``<section>`` with a heading, a chart and/or a table.

Cells and captions are plain text, escaped here; :class:`Raw` marks the few cells
whose markup this module builds itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recompense.money import format_usd
from recompense.report import charts
from recompense.report.facts import Facts
from recompense.report.inputs import ReportInput
from recompense.report.svg import esc, no_data, percent

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


def sections(data: ReportInput, facts: Facts) -> tuple[str, ...]:
    """The eight sections below the header, in reading order."""
    return (
        _funnel_section(data),
        _histogram_section(data, facts),
        _scatter_section(data, facts),
        _lorenz_section(facts),
        _hourly_section(data, facts),
        _bounds_section(facts),
        _top_section(facts),
        _reasons_section(facts),
    )


@dataclass(frozen=True, slots=True)
class Raw:
    """Markup built by this module, inserted into a table cell without escaping."""

    html: str


Cell = str | Raw


def _section(key: str, title: str, intro: str, body: str) -> str:
    lead = f'<p class="caption">{esc(intro)}</p>\n' if intro else ""
    return (
        f'<section id="{key}" aria-labelledby="h-{key}">\n<h2 id="h-{key}">{esc(title)}</h2>\n'
        f"{lead}{body}\n</section>"
    )


def _figure(chart: str, caption: str) -> str:
    """A chart and its caption; a "no data" placeholder stands alone (nothing to explain)."""
    if not chart.startswith("<svg"):
        return chart
    return f"<figure>{chart}<figcaption>{esc(caption)}</figcaption></figure>"


def _table(
    caption: str, headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[Cell]]
) -> str:
    """``headers`` are ``(label, numeric)``; numeric columns are right-aligned."""
    numeric_class = ' class="n"'
    head = "".join(
        f'<th scope="col"{numeric_class if numeric else ""}>{esc(label)}</th>'
        for label, numeric in headers
    )
    body = []
    for row in rows:
        cells = "".join(
            f"<td{numeric_class if numeric else ''}>"
            f"{cell.html if isinstance(cell, Raw) else esc(cell)}</td>"
            for cell, (_, numeric) in zip(row, headers, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _funnel_section(data: ReportInput) -> str:
    chart = charts.funnel_chart(data.funnel)
    return _section(
        "funnel",
        "Eligibility funnel",
        "Users remaining after each rule, with their share of the first stage.",
        _figure(chart, "Each bar is the number of users still eligible after that rule."),
    )


def _histogram_section(data: ReportInput, facts: Facts) -> str:
    hist = facts.histogram
    chart = charts.histogram_chart(hist, data.min_payout_cents, data.max_payout_cents)
    rows = []
    for i in range(hist.edges.size - 1):
        counts = [int(c[i]) for c in hist.counts.values()]
        if sum(counts):
            lo, hi = round(hist.edges[i]), round(hist.edges[i + 1])
            rows.append(
                [format_usd(lo), format_usd(hi), *[f"{c:,}" for c in counts], f"{sum(counts):,}"]
            )
    headers = [("From", True), ("To", True)]
    headers += [(bound, True) for bound in hist.counts] + [("Users", True)]
    details = (
        "<details><summary>Bin counts</summary>"
        + _table("Users per payout bin, by bound", headers, rows)
        + "</details>"
        if rows
        else ""
    )
    scale = "log-spaced" if hist.log else "equal-width"
    return _section(
        "histogram",
        "Payout distribution",
        f"How many users receive each amount ({scale} bins), split by what set the amount.",
        _figure(chart, "Hover a bar for its exact range and counts.") + details,
    )


def _scatter_section(data: ReportInput, facts: Facts) -> str:
    s = facts.scatter
    chart = charts.scatter_chart(s, data.min_payout_cents, data.max_payout_cents)
    shown = s.loss_usd.size
    note = f"Showing {shown:,} of {s.population:,} eligible users"
    if shown < s.population:
        note += ", chosen by a hash of the user id (the same users every time)"
    if s.unplotted:
        note += f"; {s.unplotted:,} sampled users without a positive loss or payout are not shown"
    note += "."
    return _section(
        "scatter",
        "Payout versus loss",
        "Each dot is a user: the loss they suffered and the payout they receive.",
        _figure(chart, note),
    )


def _lorenz_section(facts: Facts) -> str:
    p = facts.payouts
    chart = charts.lorenz_chart(p)
    if not p.count:
        return _section("lorenz", "Inequality of payouts", "", chart)
    shares = [
        ("Gini coefficient", f"{p.gini:.4f}"),
        ("Top 1% of users receive", f"{p.top_1pct_share:.1%}"),
        ("Top 10% of users receive", f"{p.top_10pct_share:.1%}"),
        ("Bottom 50% of users receive", f"{p.bottom_50pct_share:.1%}"),
    ]
    table = _table(
        "How concentrated the payouts are", [("Measure", False), ("Value", True)], shares
    )
    body = (
        f'<div class="row lorenz"><figure>{chart}</figure><div>{table}'
        '<p class="muted">The further the curve sags below the diagonal, the more the budget '
        "goes to a few users. The Gini coefficient is twice the shaded area: 0 when everyone "
        "receives the same, close to 1 when one user receives everything. It is computed "
        "exactly from every payout, in cents.</p></div></div>"
    )
    return _section(
        "lorenz", "Inequality of payouts", "Lorenz curve of payouts, smallest first.", body
    )


def _hourly_section(data: ReportInput, facts: Facts) -> str:
    chart = charts.hourly_chart(facts.hours, data.incidents)
    rows = [
        [f"{b.hour:%Y-%m-%d %H:00}", f"{b.fills:,}", f"{b.users:,}", format_usd(b.loss_cents)]
        for b in facts.hours
    ]
    headers = [("Hour (UTC)", False), ("Fills", True), ("Users", True), ("Loss", True)]
    details = (
        "<details><summary>Hourly figures</summary>"
        + _table("Counted liquidation losses per UTC hour", headers, rows)
        + "</details>"
        if rows
        else ""
    )
    marked = (
        "Shaded: incident windows."
        if data.incidents
        else "Highlighted: the hour with the largest loss."
    )
    return _section(
        "hourly",
        "Losses by hour of the crash",
        "Liquidation losses of counted fills, per hour (UTC).",
        _figure(chart, f"{marked} Hover a bar for its fills and users.") + details,
    )


def _bounds_section(facts: Facts) -> str:
    rows = [r for r in facts.bounds if r.users or r.bound in BOUND_TEXT]
    users = sum(r.users for r in rows)
    cents = sum(r.amount_cents for r in rows)
    if not users:
        return _section("bounds", "Floor, share and cap", "", no_data("No eligible users."))
    table_rows: list[list[Cell]] = []
    for r in rows:
        swatch = r.bound if r.bound in BOUND_TEXT else "other"
        name = Raw(
            f'<span class="swatch {swatch}" aria-hidden="true"></span>{esc(r.bound)}'
            f' <span class="muted">— {esc(BOUND_TEXT.get(r.bound, "other"))}</span>'
        )
        average = format_usd((2 * r.amount_cents + r.users) // (2 * r.users)) if r.users else "—"
        money = format_usd(r.amount_cents)
        share = percent(r.amount_cents, cents)
        table_rows.append([name, f"{r.users:,}", percent(r.users, users), money, share, average])
    headers = [
        ("Bound", False),
        ("Users", True),
        ("% users", True),
        ("Amount", True),
        ("% amount", True),
        ("Average", True),
    ]
    body = _table("Users and amounts by bound", headers, table_rows) + _figure(
        charts.bounds_chart(rows), "Share of users (top) and of the money (bottom) by bound."
    )
    return _section(
        "bounds",
        "Floor, share and cap",
        "Who sits at the minimum payout, who is held at their cap, and who gets a pure share.",
        body,
    )


def _top_section(facts: Facts) -> str:
    if not facts.top:
        return _section("top", "Largest payouts", "", no_data("No eligible users."))
    rows = [
        [
            str(i),
            str(u.user_id),
            _money(u.loss_cents),
            _money(u.net_assets_cents),
            "—" if u.loss_ratio is None else f"{u.loss_ratio:.1%}",
            format_usd(u.amount_cents),
            u.bound,
        ]
        for i, u in enumerate(facts.top, start=1)
    ]
    headers = [
        ("#", True),
        ("User", True),
        ("Loss", True),
        ("Net assets", True),
        ("Loss / net assets", True),
        ("Payout", True),
        ("Bound", False),
    ]
    caption = f"Top {len(rows)} payouts (ties by smallest user id)"
    note = '<p class="muted">A ratio of “—” means net assets were zero or negative.</p>'
    return _section("top", "Largest payouts", "", _table(caption, headers, rows) + note)


def _reasons_section(facts: Facts) -> str:
    r = facts.reasons
    if not r.rejected_users:
        return _section(
            "reasons", "Why users were not eligible", "", no_data("No user was rejected.")
        )
    rows: list[list[Cell]] = [
        [
            Raw(f"<code>{esc(code)}</code>"),
            REASON_TEXT.get(code, "other reason"),
            f"{count:,}",
            percent(count, r.rejected_users),
        ]
        for code, count in r.counts
    ]
    if r.without_reason:
        rows.append(
            [
                "(none)",
                "no reason recorded",
                f"{r.without_reason:,}",
                percent(r.without_reason, r.rejected_users),
            ]
        )
    headers = [("Code", False), ("Meaning", False), ("Users", True), ("% of rejected", True)]
    intro = (
        f"{r.rejected_users:,} users were considered but are not eligible. "
        "A user can fail several rules, so the counts can add up to more than that."
    )
    return _section(
        "reasons",
        "Why users were not eligible",
        intro,
        _table("Rejection reasons among non-eligible users", headers, rows),
    )


def _money(cents: int | None) -> str:
    return "—" if cents is None else format_usd(cents)
