"""The web pages' own charts (the run's charts come from :mod:`recompense.report.charts`).

Redemptions and clawbacks over time (paired bars per hour or day), the what-if's
histogram and Lorenz curve, and a self-check's cumulative loss by minute: drawn with
the report's SVG building blocks and styles so the pages look like the report. Each
is an accessible ``<svg role="img">`` with a title and a one-sentence summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from recompense.money import format_usd
from recompense.report.svg import (
    WIDTH,
    Scale,
    count_short,
    legend,
    line,
    nice_ticks,
    no_data,
    num,
    rect,
    svg,
    text,
    usd_short,
    y_axis,
)
from recompense.web.dashboard import Closures
from recompense.web.i18n import Translator
from recompense.whatif import Histogram as WhatIfHistogram

LEFT, RIGHT, TOP, BOTTOM = 64.0, 16.0, 28.0, 44.0


def closures_chart(buckets: Sequence[Closures]) -> str:
    """Vouchers redeemed (share colour) and clawed back (cap colour) per period."""
    if not buckets:
        return no_data("No voucher has been redeemed, expired or revoked yet.")
    height = 260.0
    top_count = max(max(b.redeemed, b.clawed_back) for b in buckets)
    ticks = nice_ticks(float(max(top_count, 5)))  # whole numbers of vouchers on the axis
    y = Scale(0, ticks[-1], height - BOTTOM, TOP)
    slot = min((WIDTH - LEFT - RIGHT) / len(buckets), 60.0)
    parts = [y_axis(y, ticks, [count_short(t) for t in ticks], LEFT, WIDTH - RIGHT)]
    step = max(1, len(buckets) // 8)
    for i, b in enumerate(buckets):
        x0 = LEFT + i * slot
        when = f"{b.start:%Y-%m-%d %H:00} UTC"
        for j, (count, cents, cls, what) in enumerate(
            (
                (b.redeemed, b.redeemed_cents, "bar c-share", "redeemed"),
                (b.clawed_back, b.clawed_back_cents, "bar c-cap", "clawed back"),
            )
        ):
            top_y = y(count)
            tip = f"{when}: {count:,} {what} ({format_usd(cents)})"
            parts.append(
                rect(x0 + slot * (0.1 + 0.4 * j), top_y, slot * 0.4, y(0) - top_y, cls, tip)
            )
        if i % step == 0:
            parts.append(
                text(
                    x0 + slot / 2, height - BOTTOM + 16, f"{b.start:%m-%d %H:00}", "tick", "middle"
                )
            )
    parts.append(legend([("redeemed", "c-share"), ("clawed back", "c-cap")], WIDTH - RIGHT, 14))
    total = sum(b.redeemed for b in buckets)
    back = sum(b.clawed_back for b in buckets)
    summary = f"{total:,} vouchers redeemed and {back:,} clawed back over {len(buckets)} periods"
    return svg("Redemptions and clawbacks over time", summary, height, parts, "closures")


def whatif_histogram_chart(hist: WhatIfHistogram) -> str:
    """The what-if's payouts (share colour) beside the published ones (floor colour), per bin."""
    if not hist.counts or max(max(hist.counts), max(hist.published or (0,))) == 0:
        return no_data("Nobody is paid under these rules.")
    height = 280.0
    ticks = nice_ticks(float(max(max(hist.counts), max(hist.published))))
    y = Scale(0, ticks[-1], height - BOTTOM, TOP)
    slot = (WIDTH - LEFT - RIGHT) / len(hist.counts)
    parts = [y_axis(y, ticks, [count_short(t) for t in ticks], LEFT, WIDTH - RIGHT)]
    step = max(1, len(hist.counts) // 6)
    for i, (new, old) in enumerate(zip(hist.counts, hist.published, strict=True)):
        x0 = LEFT + i * slot
        lo, hi = hist.edges_cents[i], hist.edges_cents[i + 1]
        span = f"{format_usd(lo)}–{format_usd(hi)}"
        for j, (count, cls, what) in enumerate(
            ((old, "bar c-floor", "published"), (new, "bar c-share", "what-if"))
        ):
            top_y = y(count)
            tip = f"{span}: {count:,} users ({what})"
            parts.append(
                rect(x0 + slot * (0.1 + 0.4 * j), top_y, slot * 0.4, y(0) - top_y, cls, tip)
            )
        if i % step == 0:
            label = usd_short(lo / 100)
            parts.append(text(x0, height - BOTTOM + 16, label, "tick", "middle"))
    parts.append(legend([("published", "c-floor"), ("what-if", "c-share")], WIDTH - RIGHT, 14))
    summary = f"{sum(hist.counts):,} payouts in the what-if, {sum(hist.published):,} published"
    return svg("What-if payout histogram", summary, height, parts, "whatif-histogram")


def whatif_lorenz_chart(
    new: Sequence[tuple[float, float]],
    published: Sequence[tuple[float, float]],
    gini: float,
    published_gini: float,
) -> str:
    """Both Lorenz curves on one square, with the diagonal of equality."""
    size, pad = 320.0, 40.0
    scale = Scale(0, 1, pad, size - 12)
    flip = Scale(0, 1, size - pad, 12)

    def path(points: Sequence[tuple[float, float]], cls: str) -> str:
        d = " ".join(
            f"{'M' if k == 0 else 'L'}{num(scale(x))},{num(flip(y))}"
            for k, (x, y) in enumerate(points)
        )
        return f'<path class="{cls}" d="{d}"/>'

    parts = [
        line(scale(0), flip(0), scale(1), flip(1), "equality"),
        line(scale(0), flip(0), scale(1), flip(0), "axis"),
        line(scale(0), flip(0), scale(0), flip(1), "axis"),
        path(published, "ref"),
        path(new, "lorenz-curve"),
        text(scale(0.02), flip(0.95), f"what-if Gini {gini:.4f}", "note"),
        text(scale(0.02), flip(0.87), f"published Gini {published_gini:.4f} (dashed)", "note"),
    ]
    summary = f"Gini {gini:.4f} in the what-if against {published_gini:.4f} published"
    return svg("What-if Lorenz curve", summary, size, parts, "lorenz", width=size)


def loss_timeline_chart(points: Sequence[tuple[str, int]], t: Translator) -> str:
    """A self-check's cumulative loss (cents) by UTC minute, as a step line.

    ``points`` are (minute ISO, cumulative cents) in time order, as
    :attr:`recompense.selfcheck.SelfCheck.timeline` gives them; each minute's fills
    count from the start of that minute, so the line rises at the minute's left edge
    and the last minute is drawn to its end. Title and summary in the page's language.
    """
    if not points:
        return no_data(t("selfcheck_no_fills"))
    height = 260.0
    minutes = [datetime.fromisoformat(m) for m, _ in points]
    first, last = minutes[0], minutes[-1] + timedelta(minutes=1)
    span = max((last - first).total_seconds() / 60, 1.0)
    x = Scale(0, span, LEFT, WIDTH - RIGHT)
    values = [cents / 100 for _, cents in points]
    low, high = min(0.0, *values), max(0.0, *values)
    ticks = nice_ticks(high) if high > 0 else [0.0]
    if low < 0:
        ticks = [-tick for tick in reversed(nice_ticks(-low))][:-1] + ticks
    y = Scale(ticks[0], ticks[-1], height - BOTTOM, TOP)
    parts = [y_axis(y, ticks, [usd_short(tick) for tick in ticks], LEFT, WIDTH - RIGHT)]
    path, level = [f"M{num(x(0))},{num(y(0))}"], 0.0
    for moment, value in zip(minutes, values, strict=True):
        at = x((moment - first).total_seconds() / 60)
        path.append(f"H{num(at)}V{num(y(value))}")
        level = value
    path.append(f"H{num(x(span))}V{num(y(level))}")
    parts.append(f'<path class="timeline-line" d="{"".join(path)}"/>')
    step = max(1, math.ceil(span / 7))  # whole minutes, at most eight labels
    for k in range(0, int(span) + 1, step):
        label = f"{first + timedelta(minutes=k):%H:%M}"
        parts.append(text(x(k), height - BOTTOM + 16, label, "tick", "middle"))
    summary = t(
        "selfcheck_chart_summary",
        total=t.money(points[-1][1]),
        minutes=len(points),
        start=f"{first:%Y-%m-%d %H:%M} UTC",
        end=f"{last:%H:%M} UTC",
    )
    return svg(t("selfcheck_chart_title"), summary, height, parts, "loss-timeline")
