"""report.html from Jinja2 templates: run text is escaped, and the bytes never vary."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_report import CRASH, check_well_formed, make_input

from recompense.report import ReportInput, render_report

SCRIPT = "<script>alert(\"x\")</script> & 'co'"
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;co&#x27;"


class Texts(HTMLParser):
    """The text of every element named in ``wanted``, and every tag seen."""

    def __init__(self, *wanted: str) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted = wanted
        self.tags: set[str] = set()
        self.texts: dict[str, list[str]] = {tag: [] for tag in wanted}
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.open.append(tag)
        if tag in self.wanted:
            self.texts[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] in self.wanted:
            self.texts[self.open[-1]][-1] += data


def parse(document: str, *wanted: str) -> Texts:
    parser = Texts(*wanted)
    parser.feed(document)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def small() -> ReportInput:
    return make_input(eligible=30, rejected=10)


@pytest.fixture(scope="module")
def tags(small: ReportInput) -> set[str]:
    """Every element the report draws for an ordinary run."""
    return parse(render_report(small)).tags


def test_a_hostile_programme_name_is_text_everywhere_it_is_shown() -> None:
    document = render_report(make_input(eligible=20, program_name=SCRIPT, program_id=SCRIPT))
    assert "<script" not in document
    assert f"<h1>{ESCAPED}</h1>" in document
    assert f"<title>{ESCAPED} — compensation report</title>" in document
    assert document.count(f"<code>{ESCAPED}</code>") == 2  # header and footer
    check_well_formed(document)


def test_a_hostile_incident_label_is_escaped_in_the_chart_and_its_tooltip() -> None:
    span = (SCRIPT, CRASH + timedelta(hours=8), CRASH + timedelta(hours=11))
    document = render_report(make_input(eligible=20, incidents=(span,)))
    assert "<script" not in document
    assert f">incident: {ESCAPED}</text>" in document
    assert f"<title>incident {ESCAPED}: 2025-10-10 20:00–23:00 UTC</title>" in document
    check_well_formed(document)


def test_hostile_funnel_stages_and_bounds_add_no_element(tags: set[str]) -> None:
    data = make_input(eligible=20)
    odd = data.allocations.set_column(4, "bound", pa.array([SCRIPT] * 20))
    document = render_report(make_input(eligible=20, funnel=((SCRIPT, 20),), allocations=odd))
    assert parse(document).tags <= tags
    assert f'<span class="swatch other" aria-hidden="true"></span>{ESCAPED} ' in document
    assert f">{ESCAPED}</text>" in document  # the funnel's stage label


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=60))
def test_any_programme_name_parses_back_exactly(small: ReportInput, name: str) -> None:
    document = render_report(replace(small, program_name=name))
    texts = parse(document, "h1", "title").texts
    assert texts["h1"] == [name]
    assert texts["title"][0] == f"{name} — compensation report"


def test_same_input_same_bytes_in_any_process(tmp_path: Path) -> None:
    """Rendering twice, and in two fresh interpreters with other hash seeds, gives the
    same bytes: nothing depends on set order, a cache or the clock."""
    span = ("cascade", CRASH + timedelta(hours=8), CRASH + timedelta(hours=11))
    data = make_input(eligible=300, rejected=60, incidents=(span,))
    expected = render_report(data).encode("utf-8")
    assert render_report(data).encode("utf-8") == expected
    (tmp_path / "input.pickle").write_bytes(pickle.dumps(data))
    program = (
        "import pickle, sys; from pathlib import Path; from recompense.report import write_report;"
        "write_report(pickle.loads(Path(sys.argv[1]).read_bytes()), Path(sys.argv[2]))"
    )
    for seed in ("1", "2"):
        out = tmp_path / f"report-{seed}.html"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-c", program, str(tmp_path / "input.pickle"), str(out)],
            check=True,
            env=env,
            timeout=120,
        )
        assert out.read_bytes() == expected
