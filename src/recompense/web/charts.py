"""The dashboard's own chart (the run's charts come from :mod:`recompense.report.charts`).

Redemptions and clawbacks over time: paired bars per hour or day, drawn with the
report's SVG building blocks and styles so the console looks like the report.
"""

from __future__ import annotations

from collections.abc import Sequence

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
