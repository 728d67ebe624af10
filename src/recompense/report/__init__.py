"""The run's ``report.html``: one self-contained, offline HTML file for the programme owner.

Build a :class:`ReportInput` from the run folder's artifacts and call
:func:`write_report` (or :func:`render_report` for the text). The page has a header of
key figures and consistency checks, then the eligibility funnel, the payout histogram,
payout versus loss, the Lorenz curve with the Gini coefficient, losses by hour, the
floor/share/cap split, the top payouts and the rejection reasons.

Modules, from data to page::

    inputs    ReportInput and its column check; ReportError
    stats     the payout distribution, vectorised: gini, lorenz_points, histogram, checks
    rows      the few rows that leave Arrow: top payouts, scatter sample, hours, reasons
    facts     every aggregate of a run, gathered once
    svg       scales, ticks, axes, number formats: the charts' building blocks
    charts    the six inline-SVG charts (Markup), each with a "no data" fallback
    sections  what the sections show: charts, tables, the sentences that depend on the run
    template  the Jinja2 environment over templates/ (autoescape on)
    html      render_report / write_report: the header's figures and checks

The page itself is Jinja2 templates in ``report/templates/``: ``report.html`` (head with
a Content-Security-Policy that forbids fetches, header, sections, footer),
``macros.html`` and ``report.css``. Autoescape is on, so every text from the run is
escaped by the template; the charts are the only ready-made markup (see ``svg``).

Errors::

    RecompenseError
    └── report.ReportError   a ReportInput the report can't read (terminal)
"""

from recompense.report.html import render_report, write_report
from recompense.report.inputs import ReportError, ReportInput
from recompense.report.stats import gini, lorenz_points

__all__ = [
    "ReportError",
    "ReportInput",
    "gini",
    "lorenz_points",
    "render_report",
    "write_report",
]
