"""E-mails from Jinja2 templates: a hostile value is escaped in the HTML part and shown
verbatim in the text part, for vouchers and case notices, in both languages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recompense.notify.templates import (
    CaseNotice,
    Voucher,
    render_case_email,
    render_email,
)

HOSTILE = "<img src=x onerror=\"alert('1')\"> Tom & Jerry's {amount}"
ESCAPED = (
    "&lt;img src=x onerror=&quot;alert(&#x27;1&#x27;)&quot;&gt; Tom &amp; Jerry&#x27;s {amount}"
)
REDEEM = "https://rewards.example/redeem?src=mail&lang=en"
VOUCHER = Voucher(
    program_id="together-2025-10",
    program_name="Together",
    voucher_id="v-1",
    user_id=7,
    amount_cents=10354,
    currency="USDC",
    expires_at=datetime(2025, 10, 29, 15, 17, tzinfo=UTC),
)
NOTICE = CaseNotice(
    event="rejected",
    case_id="c-1",
    program_id="together-2025-10",
    user_id=7,
    state="rejected",
    category="appeal_loss",
    reason_code="LOSS_CONFIRMED",
)


class Elements(HTMLParser):
    """Every tag of a page, and the text inside each ``<strong>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.strong: list[str] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.inside = tag == "strong"
        if self.inside:
            self.strong.append("")

    def handle_endtag(self, tag: str) -> None:
        self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.strong[-1] += data


def elements(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_hostile_programme_name_is_escaped_in_html_and_verbatim_in_text(locale):
    plain = render_email(VOUCHER, locale, REDEEM)
    hostile = render_email(replace(VOUCHER, program_name=HOSTILE), locale, REDEEM)
    assert "<img" not in hostile.html
    assert f"<strong>{ESCAPED}</strong>" in hostile.html
    assert elements(hostile.html).tags == elements(plain.html).tags
    assert HOSTILE in hostile.text
    assert "&amp;" not in hostile.text


@pytest.mark.parametrize("locale", ["en", "es"])
def test_hostile_voucher_fields_and_url_are_escaped_in_html_and_verbatim_in_text(locale):
    url = "https://x.example/\"><script>alert(1)</script>?a=1&b='2'"
    voucher = replace(VOUCHER, voucher_id=HOSTILE, currency="<b>US&D</b>")
    r = render_email(voucher, locale, url)
    assert "<script" not in r.html
    assert "<b>" not in r.html
    assert f": {ESCAPED}<br>" in r.html
    assert (
        'href="https://x.example/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;?a=1&amp;b=&#x27;2&#x27;"'
        in r.html
    )
    assert f": {HOSTILE}\n" in r.text
    assert f": {url}\n" in r.text
    assert "$103.54 <b>US&D</b>" in r.text


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_hostile_case_reference_and_unknown_codes_are_escaped_in_html_only(locale):
    # Unknown category, state and reason codes are shown as the code itself.
    notice = replace(NOTICE, case_id=HOSTILE, category=HOSTILE, state=HOSTILE, reason_code=HOSTILE)
    plain = render_case_email(NOTICE, locale)
    r = render_case_email(notice, locale)
    assert "<img" not in r.html
    assert r.html.count(ESCAPED) == 4  # body (category and reason), state, reference
    assert elements(r.html).tags == elements(plain.html).tags
    assert r.text.count(HOSTILE) == 4
    assert "&lt;" not in r.text


@given(name=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=60))
def test_any_programme_name_parses_back_from_the_html_part(name: str) -> None:
    r = render_email(replace(VOUCHER, program_name=name), "en", REDEEM)
    parsed = elements(r.html)
    assert parsed.strong[0] == name
    assert parsed.tags == elements(render_email(VOUCHER, "en", REDEEM).html).tags
    assert f"As part of {name}, we have credited" in r.text
