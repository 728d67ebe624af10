"""The report's six charts as inline SVG, drawn from the aggregates in ``stats``.

Each function returns either one ``<svg role="img" aria-label=…>`` (its ``data-chart``
attribute names the chart) or a "no data" paragraph, never raises on empty input. The
result is :class:`markupsafe.Markup` built here from numbers; every text in it (stage
names, bounds, incident labels) is escaped with :func:`recompense.rendering.escape`, so
the report's and the web's templates insert it as is.
Exact figures sit in each mark's ``<title>`` (a native tooltip) and in the tables
beside the charts; the charts themselves only need to be right to the pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from markupsafe import Markup

from recompense.money import format_usd
from recompense.rendering import escape
from recompense.report.rows import HourBar, ScatterSample
from recompense.report.stats import BoundRow, Histogram, PayoutStats
from recompense.report.svg import (
    WIDTH,
    Scale,
    axis_titles,
    count_short,
    legend,
    line,
    log_ticks,
    nice_ticks,
    no_data,
    num,
    percent,
    rect,
    svg,
    text,
    usd_short,
    x_axis,
    y_axis,
)

LEFT, RIGHT, TOP, BOTTOM = 64.0, 16.0, 28.0, 44.0
KNOWN_BOUNDS = ("floor", "share", "cap")


def bound_class(bound: str) -> str:
    """CSS class of a bound's colour; unknown values share one colour (never data in a class)."""
    return f"c-{bound}" if bound in KNOWN_BOUNDS else "c-other"


def funnel_chart(stages: Sequence[tuple[str, int]]) -> Markup:
    """Horizontal bars, one per stage, with the count and its share of the first stage."""
    if not stages:
        return no_data("No funnel was recorded for this run.")
    first = stages[0][1]
    label_w, bar_x, bar_w, row = 250.0, 258.0, 330.0, 34.0
    height = 12 + row * len(stages)
    top_count = max(1, *(count for _, count in stages))
    parts, previous = [], None
    for i, (stage, count) in enumerate(stages):
        y = 8 + i * row
        share = percent(count, first)
        drop = "" if previous is None else f"; {previous - count:,} fewer than the stage before"
        tip = f"{stage}: {count:,} users ({share} of the first stage){drop}"
        width = bar_w * max(count, 0) / top_count
        parts.append(text(label_w, y + 17, _clip(stage, 38), "label", "end"))
        parts.append(rect(bar_x, y, max(width, 1.0), row - 10, "bar c-funnel", tip))
        parts.append(text(bar_x + width + 6, y + 17, f"{count:,} ({share})", "value"))
        previous = count
    summary = "; ".join(f"{stage}: {count:,}" for stage, count in stages)
    return svg("Eligibility funnel", summary, height, parts, "funnel")


def histogram_chart(hist: Histogram, floor_cents: int, max_cents: int) -> Markup:
    """Users per payout bin (log-spaced), stacked by bound, with the floor and max marked."""
    totals = sum(hist.counts.values(), np.zeros(hist.edges.size - 1, dtype=np.int64))
    if int(totals.sum()) == 0:
        return no_data("No eligible users: no payouts to show.")
    height, top = 320.0, TOP + 22  # room for the legend above the floor/max labels
    x = Scale(hist.edges[0], hist.edges[-1], LEFT, WIDTH - RIGHT, log=hist.log)
    y_ticks = nice_ticks(float(totals.max()))
    y = Scale(0, y_ticks[-1], height - BOTTOM, top)
    x_ticks = (
        log_ticks(hist.edges[0], hist.edges[-1], 10)
        if hist.log
        else [float(t) for t in np.linspace(hist.edges[0], hist.edges[-1], 6)]
    )
    parts = [
        y_axis(y, y_ticks, [count_short(t) for t in y_ticks], LEFT, WIDTH - RIGHT),
        x_axis(x, x_ticks, [usd_short(t / 100) for t in x_ticks], top, height - BOTTOM),
    ]
    for i in range(totals.size):
        lo, hi = hist.edges[i], hist.edges[i + 1]
        x0, x1 = x(lo) + 0.5, x(hi) - 0.5
        tip = _bin_tip(hist, i)
        base = 0
        for bound, counts in hist.counts.items():
            count = int(counts[i])
            if count:
                top_y, base_y = y(base + count), y(base)
                parts.append(rect(x0, top_y, x1 - x0, base_y - top_y, bound_class(bound), tip))
                base += count
    for cents, label in ((floor_cents, "floor"), (max_cents, "max")):
        if hist.edges[0] <= cents <= hist.edges[-1]:
            px = x(cents)
            parts.append(line(px, top - 6, px, height - BOTTOM, "ref"))
            anchor = "start" if label == "floor" else "end"
            shift = 3 if label == "floor" else -3
            parts.append(text(px + shift, top - 8, f"{label} {format_usd(cents)}", "note", anchor))
    parts.append(_bound_legend(hist.counts, WIDTH - RIGHT, 14))
    scale = "log scale" if hist.log else "linear scale"
    parts.append(axis_titles(f"Payout (USD, {scale})", "Users", WIDTH / 2, 170, height))
    summary = f"{int(totals.sum()):,} payouts in {totals.size} bins from " + (
        f"{format_usd(round(hist.edges[0]))} to {format_usd(round(hist.edges[-1]))}"
    )
    return svg("Payout histogram", summary, height, parts, "histogram")


def scatter_chart(sample: ScatterSample, floor_cents: int, max_cents: int) -> Markup:
    """Payout against loss on log–log axes, one dot per sampled user, coloured by bound."""
    if sample.loss_usd.size == 0:
        return no_data("No eligible users with a positive loss and payout to plot.")
    height = 340.0
    x_lo, x_hi = _log_range(float(sample.loss_usd.min()), float(sample.loss_usd.max()))
    y_lo, y_hi = _log_range(
        min(float(sample.payout_usd.min()), max(floor_cents, 1) / 100),
        max(float(sample.payout_usd.max()), max_cents / 100),
    )
    x = Scale(x_lo, x_hi, LEFT, WIDTH - RIGHT, log=True)
    y = Scale(y_lo, y_hi, height - BOTTOM, TOP, log=True)
    xt, yt = log_ticks(x_lo, x_hi), log_ticks(y_lo, y_hi, 7)
    parts = [
        y_axis(y, yt, [usd_short(t) for t in yt], LEFT, WIDTH - RIGHT),
        x_axis(x, xt, [usd_short(t) for t in xt], TOP, height - BOTTOM),
        _identity_line(x, y),
    ]
    xs, ys = x.many(sample.loss_usd), y.many(sample.payout_usd)
    # Shares first so the rarer floor and cap dots are drawn on top of them.
    present = [b for b in ("share", "floor", "cap") if np.any(sample.bound == b)]
    present += sorted(set(sample.bound.tolist()) - set(present))
    for bound in present:
        mask = np.flatnonzero(sample.bound == bound)
        dots = [
            f'<circle cx="{num(xs[i])}" cy="{num(ys[i])}" r="2.2"><title>'
            f"user {int(sample.user_id[i])}: loss {format_usd(round(sample.loss_usd[i] * 100))}, "
            f"payout {format_usd(round(sample.payout_usd[i] * 100))} ({escape(bound)})"
            "</title></circle>"
            for i in mask
        ]
        parts.append(f'<g class="dots {bound_class(bound)}">' + "".join(dots) + "</g>")
    keyed = [b for b in KNOWN_BOUNDS if b in present] + [
        b for b in present if b not in KNOWN_BOUNDS
    ]
    parts.append(legend([(b, bound_class(b)) for b in keyed], WIDTH - RIGHT, 14))
    parts.append(
        axis_titles("Loss (USD, log scale)", "Payout (USD, log scale)", WIDTH / 2, 170, height)
    )
    summary = (
        f"{sample.loss_usd.size:,} of {sample.population:,} eligible users, payout against loss"
    )
    return svg("Payout versus loss scatter", summary, height, parts, "scatter")


def lorenz_chart(stats: PayoutStats) -> Markup:
    """The Lorenz curve of payouts against the line of equality, with the Gini."""
    if stats.count == 0:
        return no_data("No eligible users: no payout distribution.")
    size, left, bottom = 360.0, 56.0, 44.0
    x = Scale(0, 1, left, left + size - 72)
    y = Scale(0, 1, size - bottom, 16)
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    labels = [f"{t:.0%}" for t in ticks]
    curve = " ".join(
        f"{num(px)},{num(py)}"
        for px, py in zip(x.many(stats.lorenz_x), y.many(stats.lorenz_y), strict=True)
    )
    area = f"{curve} {num(x(1))},{num(y(1))} {num(x(0))},{num(y(0))}"
    parts = [
        y_axis(y, ticks, labels, left, x(1)),
        x_axis(x, ticks, labels, 16, y(0)),
        f'<polygon points="{area}" class="lorenz-gap"/>',
        line(x(0), y(0), x(1), y(1), "equality"),
        f'<polyline points="{curve}" class="lorenz-curve"/>',
        text(x(0.04), y(0.9), f"Gini {stats.gini:.3f}", "big"),
        text(x(0.04), y(0.82), "dashed: perfect equality", "note"),
    ]
    parts.append(
        text(
            left + (size - 72) / 2,
            size - 4,
            "Share of users, smallest payouts first",
            "axis-title",
            "middle",
        )
    )
    parts.append(
        text(
            0,
            0,
            "Share of all payouts",
            "axis-title",
            "middle",
            f' transform="translate(12 {num((y(0) + y(1)) / 2)}) rotate(-90)"',
        )
    )
    summary = f"Gini coefficient {stats.gini:.4f} over {stats.count:,} payouts"
    return svg("Lorenz curve of payouts", summary, size, parts, "lorenz", width=size)


def hourly_chart(
    bars: Sequence[HourBar], incidents: Sequence[tuple[str, datetime, datetime]]
) -> Markup:
    """Loss per UTC hour; incident spans shaded, or the peak hour marked when none are given."""
    if not bars or all(b.fills == 0 and b.loss_cents == 0 for b in bars):
        return no_data("No counted fills: no hourly losses to show.")
    height = 300.0
    first = bars[0].hour
    slots = [int((b.hour - first).total_seconds() // 3600) for b in bars]
    compact = slots[-1] > 24 * 31  # a sparse, very long series: one slot per row instead
    if compact:
        slots = list(range(len(bars)))
    count = slots[-1] + 1
    slot_w = (WIDTH - RIGHT - LEFT) / count
    loss_ticks = nice_ticks(max(b.loss_cents for b in bars) / 100)
    y = Scale(0, loss_ticks[-1], height - BOTTOM, TOP)
    parts = [y_axis(y, loss_ticks, [usd_short(t) for t in loss_ticks], LEFT, WIDTH - RIGHT)]
    if not compact:
        parts.extend(_incident_spans(incidents, first, slot_w, count, height))
    peak = max(range(len(bars)), key=lambda i: (bars[i].loss_cents, -i))
    for i, (bar, slot) in enumerate(zip(bars, slots, strict=True)):
        x0 = LEFT + slot * slot_w
        top_y = y(bar.loss_cents / 100)
        tip = (
            f"{bar.hour:%Y-%m-%d %H:00} UTC: {format_usd(bar.loss_cents)} lost, "
            f"{bar.fills:,} fills, {bar.users:,} users"
        )
        cls = "bar c-peak" if i == peak and not incidents else "bar c-hour"
        parts.append(rect(x0 + 0.15 * slot_w, top_y, 0.7 * slot_w, y(0) - top_y, cls, tip))
    parts.extend(_hour_labels(bars, slots, slot_w, height))
    if not incidents:
        px = LEFT + (slots[peak] + 0.5) * slot_w
        note = f"peak {bars[peak].hour:%H:00} UTC: {format_usd(bars[peak].loss_cents)}"
        anchor = "end" if px > WIDTH / 2 else "start"
        parts.append(text(px, TOP - 10, note, "note", anchor))
    parts.append(
        text(
            0, 0, "Loss (USD)", "axis-title", "middle", ' transform="translate(12 140) rotate(-90)"'
        )
    )
    total = sum(b.loss_cents for b in bars)
    summary = (
        f"{format_usd(total)} of counted losses over {len(bars)} hours "
        f"starting {first:%Y-%m-%d %H:00} UTC"
    )
    return svg("Losses by hour of the crash", summary, height, parts, "hourly")


def bounds_chart(rows: Sequence[BoundRow]) -> Markup:
    """Two 100% bars: how users, and how the money, split between floor, share and cap."""
    users = sum(r.users for r in rows)
    cents = sum(r.amount_cents for r in rows)
    if users == 0:
        return no_data("No eligible users: nobody at the floor or the cap.")
    height, left, width = 112.0, 80.0, WIDTH - 80.0 - RIGHT
    parts = []
    for row_i, (label, values, total) in enumerate(
        (
            ("Users", [r.users for r in rows], users),
            ("Amount", [r.amount_cents for r in rows], cents),
        )
    ):
        y0, x0 = 14 + row_i * 44, left
        parts.append(text(left - 8, y0 + 19, label, "label", "end"))
        for row, value in zip(rows, values, strict=True):
            if value <= 0 or total <= 0:
                continue
            w = width * value / total
            shown = format_usd(value) if label == "Amount" else f"{value:,}"
            tip = f"{row.bound}: {shown} ({percent(value, total)} of {label.lower()})"
            parts.append(rect(x0, y0, w, 28, bound_class(row.bound), tip))
            if w > 90:
                parts.append(text(x0 + 6, y0 + 19, f"{row.bound} {percent(value, total)}", "inbar"))
            x0 += w
    summary = "; ".join(f"{r.bound}: {r.users:,} users, {format_usd(r.amount_cents)}" for r in rows)
    return svg("Users and payouts by bound", summary, height, parts, "bounds")


def _bin_tip(hist: Histogram, i: int) -> str:
    lo, hi = round(hist.edges[i]), round(hist.edges[i + 1])
    split = ", ".join(f"{b} {int(c[i]):,}" for b, c in hist.counts.items() if c[i])
    total = sum(int(c[i]) for c in hist.counts.values())
    return f"{format_usd(lo)}–{format_usd(hi)}: {total:,} users ({split})"


def _bound_legend(counts: dict[str, np.ndarray], right: float, y: float) -> str:
    present = [b for b, c in counts.items() if int(c.sum())]
    return legend([(b, bound_class(b)) for b in present], right, y)


def _identity_line(x: Scale, y: Scale) -> str:
    """The dashed ``payout = loss`` diagonal, where it crosses the plot."""
    lo, hi = max(x.lo, y.lo), min(x.hi, y.hi)
    if lo >= hi:
        return ""
    return line(x(lo), y(lo), x(hi), y(hi), "equality") + text(
        x(hi) - 10, y(hi) + 2, "payout = loss", "note", "end"
    )


def _incident_spans(
    incidents: Sequence[tuple[str, datetime, datetime]],
    first: datetime,
    slot_w: float,
    count: int,
    height: float,
) -> list[str]:
    parts = []
    for label, raw_start, raw_end in incidents:
        start, end = _utc(raw_start), _utc(raw_end)
        a = max(0.0, (start - first) / timedelta(hours=1))
        b = min(float(count), (end - first) / timedelta(hours=1))
        if b <= a:
            continue
        x0, x1 = LEFT + a * slot_w, LEFT + b * slot_w
        tip = f"incident {label}: {start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
        parts.append(rect(x0, TOP, x1 - x0, height - BOTTOM - TOP, "incident", tip))
        parts.append(text(x0 + 3, TOP - 10, f"incident: {label}", "note"))
    return parts


def _hour_labels(
    bars: Sequence[HourBar], slots: list[int], slot_w: float, height: float
) -> list[str]:
    every = max(1, round(len(bars) / 12 + 0.49))
    parts, last_day = [], None
    for i, (bar, slot) in enumerate(zip(bars, slots, strict=True)):
        if i % every:
            continue
        cx = LEFT + (slot + 0.5) * slot_w
        parts.append(text(cx, height - BOTTOM + 15, f"{bar.hour:%H}:00", "tick", "middle"))
        day = bar.hour.date()
        if day != last_day:
            parts.append(text(cx, height - BOTTOM + 29, f"{bar.hour:%b %d}", "tick day", "middle"))
            last_day = day
    parts.append(line(LEFT, height - BOTTOM, WIDTH - RIGHT, height - BOTTOM, "axis"))
    return parts


def _utc(moment: datetime) -> datetime:
    """Incident bounds as aware UTC datetimes (naive ones are taken to be UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _log_range(lo: float, hi: float) -> tuple[float, float]:
    """Pad a positive range by 4% of its decades on each side, so dots clear the frame."""
    lo, hi = max(lo, 0.01), max(hi, 0.01)
    if hi <= lo:
        return lo / 2, hi * 2
    pad = (hi / lo) ** 0.04
    return lo / pad, hi * pad


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
