"""The web pages' own charts (the run's charts come from :mod:`recompense.report.charts`).

Redemptions and clawbacks over time (paired bars per hour or day), the what-if's
histogram and Lorenz curve, and a self-check's cumulative loss by minute: drawn with
the report's SVG building blocks and styles so the pages look like the report. Each
is an accessible ``<svg role="img">`` with a title and a one-sentence summary, in the
page's language (``t``), its figures formatted as the page's (:mod:`.formats`).

The what-if's histogram and Lorenz curve stand side by side: both are drawn on the same
square (:data:`SQUARE`), so they show at the same size and their labels read alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from recompense.report.svg import (
    WIDTH,
    Scale,
    legend,
    line,
    nice_ticks,
    no_data,
    num,
    rect,
    svg,
    text,
    y_axis,
)
from recompense.web.dashboard import Closures
from recompense.web.i18n import Translator
from recompense.whatif import Histogram as WhatIfHistogram

LEFT, RIGHT, TOP, BOTTOM = 64.0, 16.0, 28.0, 44.0
SQUARE = 360.0  # the what-if's histogram and Lorenz curve, side by side


def closures_chart(buckets: Sequence[Closures], t: Translator) -> str:
    """Vouchers redeemed (share colour) and clawed back (cap colour) per period."""
    if not buckets:
        return no_data(t("chart_closures_none"))
    height = 260.0
    top_count = max(max(b.redeemed, b.clawed_back) for b in buckets)
    ticks = nice_ticks(float(max(top_count, 5)))  # whole numbers of vouchers on the axis
    y = Scale(0, ticks[-1], height - BOTTOM, TOP)
    slot = min((WIDTH - LEFT - RIGHT) / len(buckets), 60.0)
    parts = [y_axis(y, ticks, [t.compact(tick) for tick in ticks], LEFT, WIDTH - RIGHT)]
    step = max(1, len(buckets) // 8)
    redeemed, clawed = t("chart_closures_redeemed"), t("chart_closures_clawed")
    for i, b in enumerate(buckets):
        x0 = LEFT + i * slot
        when = t.when(b.start)
        for j, (count, cents, cls, what) in enumerate(
            (
                (b.redeemed, b.redeemed_cents, "bar c-share", redeemed),
                (b.clawed_back, b.clawed_back_cents, "bar c-cap", clawed),
            )
        ):
            top_y = y(count)
            tip = t(
                "chart_closures_tip",
                when=when,
                count=t.number(count),
                what=what,
                amount=t.money(cents),
            )
            parts.append(
                rect(x0 + slot * (0.1 + 0.4 * j), top_y, slot * 0.4, y(0) - top_y, cls, tip)
            )
        if i % step == 0:
            parts.append(
                text(
                    x0 + slot / 2, height - BOTTOM + 16, f"{b.start:%m-%d %H:00}", "tick", "middle"
                )
            )
    parts.append(legend([(redeemed, "c-share"), (clawed, "c-cap")], WIDTH - RIGHT, 14))
    summary = t(
        "chart_closures_summary",
        redeemed=t.number(sum(b.redeemed for b in buckets)),
        clawed=t.number(sum(b.clawed_back for b in buckets)),
        periods=t.number(len(buckets)),
    )
    return svg(t("chart_closures_title"), summary, height, parts, "closures")


def whatif_histogram_chart(hist: WhatIfHistogram, t: Translator) -> str:
    """The what-if's payouts (share colour) beside the published ones (floor colour), per
    bin, on the same square as :func:`whatif_lorenz_chart`."""
    if not hist.counts or max(max(hist.counts), max(hist.published or (0,))) == 0:
        return no_data(t("chart_whatif_nobody"))
    size, left, right, top, bottom = SQUARE, 52.0, 8.0, 34.0, 44.0
    ticks = nice_ticks(float(max(max(hist.counts), max(hist.published))))
    y = Scale(0, ticks[-1], size - bottom, top)
    slot = (size - left - right) / len(hist.counts)
    parts = [y_axis(y, ticks, [t.compact(tick) for tick in ticks], left, size - right)]
    step = max(1, math.ceil(len(hist.counts) / 4))  # at most four labels fit
    published, whatif = t("chart_published"), t("chart_whatif")
    for i, (new, old) in enumerate(zip(hist.counts, hist.published, strict=True)):
        x0 = left + i * slot
        lo, hi = hist.edges_cents[i], hist.edges_cents[i + 1]
        span = f"{t.money(lo)}–{t.money(hi)}"
        for j, (count, cls, what) in enumerate(
            ((old, "bar c-floor", published), (new, "bar c-share", whatif))
        ):
            top_y = y(count)
            tip = t("chart_whatif_tip", span=span, count=t.number(count), what=what)
            parts.append(
                rect(x0 + slot * (0.1 + 0.4 * j), top_y, slot * 0.4, y(0) - top_y, cls, tip)
            )
        if i % step == 0:
            label = t.compact_money(lo / 100)
            parts.append(text(x0, size - bottom + 16, label, "tick", "middle"))
    parts.append(legend([(published, "c-floor"), (whatif, "c-share")], size - right, 14))
    parts.append(text(size / 2, size - 4, t("chart_payout_usd"), "axis-title", "middle"))
    summary = t(
        "chart_whatif_histogram_summary",
        whatif=t.number(sum(hist.counts)),
        published=t.number(sum(hist.published)),
    )
    title = t("chart_whatif_histogram_title")
    return svg(title, summary, size, parts, "whatif-histogram", width=size)


def whatif_lorenz_chart(
    new: Sequence[tuple[float, float]],
    published: Sequence[tuple[float, float]],
    gini: float,
    published_gini: float,
    t: Translator,
) -> str:
    """Both Lorenz curves on one square, with the diagonal of equality."""
    size, pad = SQUARE, 40.0
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
        text(scale(0.02), flip(0.95), t("chart_whatif_gini", gini=t.number(gini, 4)), "note"),
        text(
            scale(0.02),
            flip(0.87),
            t("chart_published_gini", gini=t.number(published_gini, 4)),
            "note",
        ),
    ]
    summary = t(
        "chart_whatif_lorenz_summary",
        gini=t.number(gini, 4),
        published=t.number(published_gini, 4),
    )
    return svg(t("chart_whatif_lorenz_title"), summary, size, parts, "lorenz", width=size)


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
    parts = [y_axis(y, ticks, [t.compact_money(tick) for tick in ticks], LEFT, WIDTH - RIGHT)]
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
        start=t.when(first),
        end=f"{last:%H:%M}\u00a0UTC",
    )
    return svg(t("selfcheck_chart_title"), summary, height, parts, "loss-timeline")
