"""recompense.rendering: the one Jinja2 set-up of the report and the e-mails."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import UndefinedError
from markupsafe import Markup

from recompense.rendering import environment, escape

HOSTILE = "<img src=x onerror=\"alert('1')\"> & co"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("templates")
    (tmp_path / "page.html").write_text('<p title="{{ value }}">{{ value }}</p>\n')
    (tmp_path / "page.txt").write_text("{{ value }}\n")
    (tmp_path / "typo.html").write_text("{{ valeu }}\n")
    return tmp_path


def test_html_templates_escape_every_value_as_html_escape_spells_it(folder: Path) -> None:
    page = environment(folder).get_template("page.html").render(value=HOSTILE)
    escaped = "&lt;img src=x onerror=&quot;alert(&#x27;1&#x27;)&quot;&gt; &amp; co"
    assert page == f'<p title="{escaped}">{escaped}</p>\n'


def test_text_templates_show_values_verbatim(folder: Path) -> None:
    assert environment(folder).get_template("page.txt").render(value=HOSTILE) == HOSTILE + "\n"


def test_markup_is_trusted_as_is(folder: Path) -> None:
    svg = Markup('<svg role="img"></svg>')
    page = environment(folder).get_template("page.html").render(value=svg)
    assert page == '<p title="<svg role="img"></svg>"><svg role="img"></svg></p>\n'


def test_an_undefined_name_fails_instead_of_rendering_nothing(folder: Path) -> None:
    with pytest.raises(UndefinedError, match="valeu"):
        environment(folder).get_template("typo.html").render(value="x")


@given(st.text(st.characters(exclude_categories=("Cs",))))
def test_escape_round_trips_through_an_html_parser(value: str) -> None:
    escaped = escape(value)
    assert html.unescape(escaped) == value
    assert not set("<>\"'") & set(escaped)


@given(st.text(st.characters(exclude_categories=("Cs",))))
def test_templates_escape_any_text_exactly_as_escape_does(folder: Path, value: str) -> None:
    page = environment(folder).get_template("page.html").render(value=value)
    assert page == f'<p title="{escape(value)}">{escape(value)}</p>\n'
