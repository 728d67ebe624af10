"""The report's Jinja2 environment, over the templates in ``report/templates/``.

``report.html`` is the page: document head, header, the eight sections, footer;
``macros.html`` holds the section, figure and table shapes; ``report.css`` the
stylesheet. Autoescape is on (:mod:`recompense.rendering`): every text value from the
run is escaped by the template. The only markup handed in ready-made is the charts'
inline SVG, which :mod:`.charts` draws from numbers and escaped text.

The Content-Security-Policy in the page's head forbids every fetch
(``default-src 'none'``) and every script, so the file provably works offline and can
be mailed or archived as is. Colours are the Okabe–Ito palette (readable with
colour-blindness) and survive greyscale printing through distinct lightness.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment

from recompense.rendering import environment
from recompense.report.sections import BoundName, Code

TEMPLATES = Path(__file__).parent / "templates"

# The stylesheet as text, for the web pages that show the report's charts.
CSS = "\n" + (TEMPLATES / "report.css").read_text(encoding="utf-8")


def render(name: str, **context: Any) -> str:
    """``templates/name`` rendered with ``context``; values are escaped by the template."""
    return _environment().get_template(name).render(**context)


@cache
def _environment() -> Environment:
    made = environment(TEMPLATES)
    made.tests["drawn"] = lambda chart: chart.startswith("<svg")  # not a "no data" note
    made.tests["bound_name"] = lambda cell: isinstance(cell, BoundName)
    made.tests["code"] = lambda cell: isinstance(cell, Code)
    return made
