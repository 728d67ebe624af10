"""Small SVG building blocks: scales, ticks, axes, labels, number formats, the wrapper.

Charts are strings of inline SVG (no xmlns: the HTML parser supplies it), styled by
the report's stylesheet through classes, so they print and scale with the page.
Coordinates are rounded to one decimal to keep the file small.

Charts are the one piece of the report built in Python rather than in a template: they
are geometry computed from numbers. Every piece of text in them (labels, tooltips,
titles) goes through :func:`recompense.rendering.escape`, the escaping the templates'
autoescape applies, so :func:`svg` and :func:`no_data` return
:class:`markupsafe.Markup` that a template inserts as is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from markupsafe import Markup

from recompense.rendering import escape as esc

WIDTH = 720


def num(value: float) -> str:
    """A coordinate with at most one decimal: ``12.0`` → ``12``, ``3.14`` → ``3.1``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def svg(
    label: str,
    description: str,
    height: float,
    body: Iterable[str],
    kind: str,
    width: float = WIDTH,
) -> Markup:
    """An accessible chart: ``role="img"``, ``aria-label``, ``<title>`` and ``<desc>``.

    ``body`` is SVG drawn by this module's helpers (text already escaped)."""
    return Markup(
        f'<svg class="chart {esc(kind)}" viewBox="0 0 {num(width)} {num(height)}" role="img" '
        f'aria-label="{esc(label)}" data-chart="{esc(kind)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{esc(label)}</title><desc>{esc(description)}</desc>" + "".join(body) + "</svg>"
    )


def no_data(message: str) -> Markup:
    """The note a chart shows instead when there is nothing to draw."""
    return Markup(f'<p class="nodata" role="note">{esc(message)}</p>')


def text(
    x: float, y: float, content: str, cls: str = "", anchor: str = "start", extra: str = ""
) -> str:
    klass = f' class="{cls}"' if cls else ""
    anchor_attr = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return f'<text x="{num(x)}" y="{num(y)}"{klass}{anchor_attr}{extra}>{esc(content)}</text>'


def rect(x: float, y: float, w: float, h: float, cls: str, tip: str = "") -> str:
    body = f"><title>{esc(tip)}</title></rect>" if tip else "/>"
    return (
        f'<rect x="{num(x)}" y="{num(y)}" width="{num(max(w, 0.0))}" '
        f'height="{num(max(h, 0.0))}" class="{cls}"{body}'
    )


def line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" class="{cls}"/>'


@dataclass(frozen=True, slots=True)
class Scale:
    """Maps data ``[lo, hi]`` to pixels ``[start, end]``, linearly or on log10."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        return float(self.many(np.array([value], dtype=np.float64))[0])

    def many(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        lo, hi, v = self.lo, self.hi, values
        if self.log:
            lo, hi, v = math.log10(lo), math.log10(hi), np.log10(values)
        span = (hi - lo) or 1.0
        result: npt.NDArray[np.float64] = self.start + (v - lo) / span * (self.end - self.start)
        return result


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Ticks 0, step, 2·step … reaching at least ``top``; steps of 1, 2, 2.5 or 5 × 10^k."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < top * (1 - 1e-9):
        ticks.append(ticks[-1] + step)
    return ticks


def log_ticks(lo: float, hi: float, max_ticks: int = 9) -> list[float]:
    """1-2-5 ticks inside ``[lo, hi]``; only powers of ten when that would be too many."""
    if lo <= 0 or hi <= lo:
        return [lo]
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [
            m * 10.0**k
            for k in range(first, last + 1)
            for m in mantissas
            if lo * (1 - 1e-9) <= m * 10.0**k <= hi * (1 + 1e-9)
        ]
        if len(ticks) <= max_ticks:
            return ticks or [lo, hi]
    return [10.0**k for k in range(first, last + 1, max(1, (last - first) // max_ticks + 1))]


def usd_short(dollars: float) -> str:
    """Axis labels: ``$0.50``, ``$50``, ``$2.5k``, ``$1.2M``."""
    sign = "-" if dollars < 0 else ""
    value = abs(dollars)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{sign}${_trim(value / limit)}{suffix}"
    if value < 1 and value != 0:
        return f"{sign}${value:.2f}"
    return f"{sign}${_trim(value)}"


def count_short(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{_trim(value / limit)}{suffix}"
    return _trim(value)


def percent(part: int, whole: int) -> str:
    """``part`` as a share of ``whole`` with one decimal; "—" when ``whole`` is not positive."""
    return f"{100 * part / whole:.1f}%" if whole > 0 else "—"


def x_axis(
    scale: Scale, ticks: Sequence[float], labels: Sequence[str], top: float, bottom: float
) -> str:
    """Vertical grid lines from ``top`` to ``bottom`` and labels under ``bottom``."""
    parts = [line(scale.start, bottom, scale.end, bottom, "axis")]
    for tick, label in zip(ticks, labels, strict=True):
        x = scale(tick)
        parts.append(line(x, top, x, bottom, "grid"))
        parts.append(text(x, bottom + 16, label, "tick", "middle"))
    return "".join(parts)


def y_axis(
    scale: Scale, ticks: Sequence[float], labels: Sequence[str], left: float, right: float
) -> str:
    """Horizontal grid lines from ``left`` to ``right`` and labels left of ``left``."""
    parts = [line(left, scale.start, left, scale.end, "axis")]
    for tick, label in zip(ticks, labels, strict=True):
        y = scale(tick)
        parts.append(line(left, y, right, y, "grid"))
        parts.append(text(left - 6, y + 4, label, "tick", "end"))
    return "".join(parts)


def axis_titles(x_title: str, y_title: str, x: float, y: float, height: float) -> str:
    """``x_title`` centred at ``x`` near the bottom; ``y_title`` rotated along the left edge."""
    return text(x, height - 4, x_title, "axis-title", "middle") + text(
        0, 0, y_title, "axis-title", "middle", f' transform="translate(12 {num(y)}) rotate(-90)"'
    )


def legend(items: Sequence[tuple[str, str]], right: float, y: float) -> str:
    """Colour keys ``(label, class)`` laid out right to left, ending at ``right``."""
    parts, x = [], right
    for label, cls in reversed(items):
        width = 7.0 * len(label) + 22
        x -= width
        parts.append(rect(x, y - 9, 10, 10, cls))
        parts.append(text(x + 14, y, label, "legend"))
    return '<g class="legend">' + "".join(parts) + "</g>"


def _trim(value: float) -> str:
    text_value = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return text_value[:-2] if text_value.endswith(".0") else text_value
