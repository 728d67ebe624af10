"""Every word a page shows has a translation in every shipped language; figures per locale.

- The catalogues: every msgid the sources use (the templates' ``{% trans %}``/``_()`` and
  :mod:`recompense.web.messages`, extracted as ``make i18n`` does) is in the committed
  ``messages.pot`` and has a non-empty, non-fuzzy translation with the same placeholders
  in every language that ships a ``.po`` file.
- The templates: no literal text outside ``{% trans %}``/``_()`` (parsed: Jinja's lexer,
  then the HTML around it), in text nodes and in the attributes people read.
- The pages: each role's pages in Spanish show Spanish, not the English they were.
- The figures: money, counts and percentages formatted per locale parse back (Babel) to
  the exact value (Hypothesis over cents); times in UTC, said so, to the minute.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_symbol,
    parse_decimal,
)
from hypothesis import given
from hypothesis import strategies as st

from recompense.runs import run_fingerprint
from recompense.web import formats, i18n, pages
from recompense.web.i18n import Amount, Label, Message, Translator, error_message, localize
from recompense.web.messages import MESSAGES

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
LOCALES = SRC / "recompense" / "web" / "locale"
TEMPLATE_DIRS = (
    SRC / "recompense" / "web" / "templates",
    SRC / "recompense" / "loans" / "templates",
)
SHIPPED = tuple(p.parents[1].name for p in sorted(LOCALES.glob("*/LC_MESSAGES/messages.po")))
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Text a page may show in any language: the brand, and sample input in placeholders.
UNTRANSLATED = {"recompense", "run.approve", "user:42", "ops:alice", "https://…/commitment.json"}
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")


def test_english_and_spanish_ship():
    assert set(SHIPPED) == {"en", "es"}
    assert i18n.SUPPORTED == ("en", "es")


def test_a_language_is_offered_once_its_catalogue_exists(tmp_path, monkeypatch):
    """What a translator does (docs/i18n.md): a .po file, no code; fuzzy entries unused."""
    folder = tmp_path / "pt" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalogue = Catalog(locale="pt")
    catalogue.add("Search", "Pesquisar")
    catalogue.add("Simulate", "Simular", flags=["fuzzy"])
    with (folder / "messages.po").open("wb") as po:
        write_po(po, catalogue)
    monkeypatch.setattr(i18n, "LOCALES", tmp_path)
    assert i18n.offered() == ("en", "pt")
    i18n.catalogue.cache_clear()
    try:
        assert i18n.catalogue("pt").gettext("Search") == "Pesquisar"
        assert i18n.catalogue("pt").gettext("Simulate") == "Simulate"
    finally:
        i18n.catalogue.cache_clear()


def test_the_template_catalogue_is_up_to_date_with_the_sources():
    """``make i18n`` was run after the last change of a template's or messages.py's words."""
    pot = _read(LOCALES / "messages.pot")
    found = _extracted()
    missing = sorted(str(m) for m in found - pot.keys())
    stale = sorted(str(m) for m in pot.keys() - found)
    assert not missing, f"not in messages.pot (run `make i18n`): {missing[:10]}"
    assert not stale, f"in messages.pot but no longer used (run `make i18n`): {stale[:10]}"


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_word_the_sources_use_is_translated(locale):
    catalogue = _read(LOCALES / locale / "LC_MESSAGES" / "messages.po")
    problems = []
    for msgid in sorted(_extracted(), key=str):
        found = catalogue.get(msgid)
        strings = () if found is None else _strings(found.string)
        if found is None or not strings or not all(strings):
            problems.append(f"untranslated: {msgid!r}")
        elif found.fuzzy:
            problems.append(f"fuzzy (review it, then drop the flag): {msgid!r}")
        elif any(_placeholders(s) != _placeholders(msgid) for s in strings):
            problems.append(f"placeholders differ: {msgid!r} → {found.string!r}")
        elif any("<" in s for s in strings):
            problems.append(f"markup in a translation (it is escaped): {msgid!r}")
    assert not problems, "\n".join(problems[:20])


def test_a_translation_with_html_is_shown_as_text():
    template = pages.environment.from_string(
        '<p title="{{ _("Search") }}">{{ _("x %(v)s", v=v) }}</p>'
    )
    html = template.render(locale="en", v='<b>"')
    assert html == '<p title="Search">x &lt;b&gt;&#34;</p>'


def test_every_key_renders_in_every_language():
    values = {name: "1" for key in MESSAGES for name in PLACEHOLDER.findall(MESSAGES[key])}
    for locale in SHIPPED:
        t = Translator(locale)
        for key in MESSAGES:
            assert "%(" not in t(key, **values), (locale, key)


@pytest.mark.parametrize("folder", TEMPLATE_DIRS, ids=lambda p: p.parent.name)
def test_no_template_has_untranslated_text(folder):
    found = []
    for path in sorted(folder.glob("*.html")):
        for text in _literal_text(path.read_text()):
            if re.search(r"[^\W\d_]", _without(text, UNTRANSLATED)):
                found.append(f"{path.name}: {text!r}")
    assert not found, "text outside {% trans %} or _():\n" + "\n".join(found)


def test_the_scanner_finds_literal_text_and_skips_translated_text():
    source = (
        '<h1 title="Tip">Hello {{ name }}</h1>{% trans %}Inside{% endtrans %}'
        '<p aria-label="{{ _(\'x\') }}">{{ _("y") }} · 42</p><script>var a = "b";</script>'
    )
    assert list(_literal_text(source)) == ["Tip", "Hello", "· 42"]


@pytest.mark.parametrize(
    ("locale", "cents", "expected"),
    [
        ("en", 123456789, "$1,234,567.89"),
        ("es", 123456789, "1.234.567,89\u00a0US$"),
        ("en", -5, "-$0.05"),
        ("es", -5, "-0,05\u00a0US$"),
        ("es", 0, "0,00\u00a0US$"),
    ],
)
def test_money(locale, cents, expected):
    assert formats.money(cents, locale) == expected


def test_numbers_percentages_times_and_amounts():
    assert [formats.number(3757, x) for x in ("en", "es")] == ["3,757", "3.757"]
    assert [formats.number(1_234_567, x) for x in ("en", "es")] == ["1,234,567", "1.234.567"]
    assert formats.percent(Decimal("0.0200"), "en") == "2.00\u00a0%"  # an APR
    assert formats.percent(Decimal("0.0200"), "es") == "2,00\u00a0%"
    assert formats.percent(0.3, "es", 0) == "30\u00a0%"
    assert formats.exact("-41.62928000", "es") == "-41,62928000"  # every digit kept
    assert formats.significant(6.286781234, "es") == "6,28678"
    assert formats.dollars("3100000", "en") == "$3,100,000.00"  # stated losses
    assert formats.dollars("not a number", "en") == "not a number"
    assert formats.amount(123456, "es", "USDC") == "1.234,56\u00a0USDC"
    assert formats.amount(123456, "en", "USDC") == "1,234.56\u00a0USDC"
    moment = datetime(2025, 10, 12, 14, 3, 59, 123456, tzinfo=UTC)
    assert formats.when(moment, "en") == "12 Oct 2025, 14:03\u00a0UTC"  # no seconds, no µs
    assert formats.when(moment, "es") == "12 oct 2025, 14:03\u00a0UTC"
    madrid = moment.astimezone(timezone(timedelta(hours=2)))
    assert formats.when(madrid, "en") == formats.when(moment, "en")  # shown in UTC
    assert formats.when(moment.replace(tzinfo=None), "en") == formats.when(moment, "en")
    assert formats.when("2025-10-10T21:00:00Z", "es") == "10 oct 2025, 21:00\u00a0UTC"
    assert formats.day(date(2026, 1, 5), "es") == "5 ene 2026"
    assert formats.when(None, "en") == ""
    assert formats.day(None, "en") == ""


@given(cents=st.integers(min_value=-(10**15), max_value=10**15), locale=st.sampled_from(SHIPPED))
def test_money_parses_back_to_the_exact_cents(cents, locale):
    shown = formats.money(cents, locale)
    number = shown.replace(get_currency_symbol("USD", locale), "").replace("\u00a0", "").strip()
    assert parse_decimal(number, locale=locale, strict=True) * 100 == cents


@given(cents=st.integers(min_value=-(10**17), max_value=10**17), locale=st.sampled_from(SHIPPED))
def test_the_fast_money_path_writes_what_babel_writes(cents, locale):
    assert formats._money_shape(locale, "USD") is not None  # the fast path is taken
    assert formats.money(cents, locale) == format_currency(
        Decimal(cents).scaleb(-2), "USD", locale=locale
    )


@given(
    value=st.decimals(min_value=-(10**12), max_value=10**12, places=6),
    places=st.integers(min_value=0, max_value=8),
    locale=st.sampled_from(SHIPPED),
)
def test_the_fast_number_path_writes_what_babel_writes(value, places, locale):
    assert formats._marks(locale) is not None  # the fast path is taken
    pattern = "#,##0" + ("." + "0" * places if places else "")
    assert formats.number(value, locale, places) == format_decimal(
        value, format=pattern, locale=locale
    )
    assert formats.percent(value, locale, places) == format_percent(
        value, f"{pattern}\u00a0%", locale=locale
    )


@given(value=st.integers(min_value=-(10**12), max_value=10**12), locale=st.sampled_from(SHIPPED))
def test_counts_parse_back(value, locale):
    assert parse_decimal(formats.number(value, locale), locale=locale, strict=True) == value


@given(basis_points=st.integers(min_value=0, max_value=10**6), locale=st.sampled_from(SHIPPED))
def test_percentages_parse_back(basis_points, locale):
    share = Decimal(basis_points).scaleb(-4)  # 0.0200 = 2.00 %
    shown = formats.percent(share, locale).removesuffix("\u00a0%")
    assert parse_decimal(shown, locale=locale, strict=True) == share * 100


def test_messages_read_as_english_and_show_in_the_readers_language():
    refusal = Message(
        "refused_role_cannot",
        role=Label("role_phrase", "account_manager"),
        action=Label("loan_verb", "approve"),
    )
    assert refusal == "An account manager cannot approve loans."
    assert localize(refusal, "es") == "Un gestor de cuentas no puede aprobar préstamos."
    owed = Message(
        "refused_repayment_too_much",
        amount=Amount(123456),
        owed=Amount(5000),
        on=date(2025, 10, 12),
    )
    assert localize(owed, "es") == (
        "Importe de 1.234,56\u00a0US$: más de los 50,00\u00a0US$ adeudados el 12 oct 2025 "
        "(comisiones, intereses y principal)."
    )
    assert localize("plain text", "es") == "plain text"
    assert localize(None, "es") == ""


def test_a_domain_refusal_loses_the_clis_flag_names():
    from recompense.loans.errors import LoanError, TransitionError

    coded = TransitionError(
        "x",
        code="wrong_state",
        state="draft",
        action="undo_approval",
        states=("approved", "active"),
    )
    assert localize(error_message(coded), "en") == (
        "This application is draft; to undo the approval of an application, it must be "
        "approved or active."
    )
    assert localize(error_message(coded), "es").endswith("en estado aprobada o activa.")
    assert error_message(LoanError("--term-days 7: too short")) == "term days 7: too short"


def test_the_header_names_the_caller_as_a_person_reads_it():
    from recompense.web.auth import Principal

    en, es = Translator("en"), Translator("es")
    assert en.who(Principal("user:83", "user", 83, None)) == "User 83"
    assert es.who(Principal("user:83", "user", 83, None)) == "Usuario 83"
    assert en.who(Principal("ops:local", "ops", None, None)) == "Operations"
    assert en.who(Principal("ops:alice", "ops", None, None)) == "alice (Operations)"
    assert es.who(Principal("am-1", "account_manager", None, None)) == "am-1 (Gestor de cuentas)"


# ---- each role's pages in Spanish ------------------------------------------------------

# Words of the English pages that no Spanish page may show (whole words, in visible text
# outside lang="en" elements: the importer's own words and English-only charts are marked).
ENGLISH = re.compile(
    r"\b(?:the|and|your|Sign out|Signed in|Budget|Amount|Status|Expires|What-if|Dashboard|"
    r"published|Outcome|Simulate|Eligible|Search|Find a user|Audit trail|None|Notifications|"
    r"Programmes?|Redeem|Verify|Approve|Approvals|When|Who|Users?)\b"
)


def _spanish_pages(served) -> dict[str, tuple[dict[str, str], list[str]]]:
    program, owner = "together-2025-10", served.owner
    fingerprint = run_fingerprint(served.run)
    user = served.bearer("user", owner, locale="es")
    ops = served.bearer("ops", locale="es", subject="ops:ana")
    auditor = served.bearer("auditor", locale="es", subject="auditor:eva")
    return {
        "user": (
            user,
            [
                "/hub",
                f"/programs/{program}/users/{owner}/eligibility",
                f"/programs/{program}/users/{owner}/verify",
                "/selfcheck",
            ],
        ),
        "ops": (
            ops,
            [
                "/ops",
                f"/ops/programs/{program}",
                f"/ops/programs/{program}/whatif",
                f"/ops/users?user_id={owner}",
                "/ops/approvals",
                f"/ops/approvals/{fingerprint}",
                "/ops/audit",
            ],
        ),
        "auditor": (auditor, ["/ops", f"/ops/users?user_id={owner}", "/ops/audit"]),
    }


@pytest.mark.parametrize("role", ["user", "ops", "auditor"])
def test_each_roles_pages_speak_spanish(served, role):
    headers, paths = _spanish_pages(served)[role]
    with served.client() as client:
        for path in paths:
            page = client.get(path, headers=headers)
            assert page.status_code == 200, (path, page.text[:500])
            assert '<html lang="es">' in page.text, path
            english = ENGLISH.findall(_visible_text(page.text))
            assert not english, (path, sorted(set(english)))


def test_the_whatif_outcome_speaks_spanish_and_groups_its_counts(served):
    headers = served.bearer("ops", locale="es", subject="ops:ana")
    url = "/ops/programs/together-2025-10/whatif"
    with served.client() as client:
        form = client.get(url, headers=headers)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        data = {"min_loss_usd": "100,00", "action": "simulate"}  # a Spanish decimal comma
        if csrf:
            data["csrf_token"] = csrf[1]
        page = client.post(url, headers=headers, data=data)
    assert page.status_code == 200, page.text[:800]
    assert not ENGLISH.findall(_visible_text(page.text))
    assert 'value="100.00"' in page.text  # read as 100, in the policy's notation
    eligible = re.search(r'data-testid="whatif-eligible">([^<]+)', page.text)[1]  # type: ignore[index]
    count = int(re.search(r'data-eligible="(\d+)"', page.text)[1])  # type: ignore[index]
    assert eligible.strip() == formats.number(count, "es")
    # the histogram beside the Lorenz curve is drawn on the same square
    boxes = re.findall(r'<svg class="chart (whatif-histogram|lorenz)" viewBox="([^"]+)"', page.text)
    assert len(boxes) == 2, boxes
    assert boxes[0][1] == boxes[1][1], boxes


def test_the_hub_shows_names_expiry_and_the_signed_in_person(served):
    with served.client() as client:
        page = client.get("/hub", headers=served.bearer("user", served.owner)).text
    assert f"Signed in as User {served.owner}" in page
    assert "(user)" not in page
    programme = re.search(r'data-testid="voucher-programme"[^>]*>([^<]+)<', page)
    assert programme is not None
    assert programme[1] != "together-2025-10"  # its name, not its id
    assert 'data-testid="voucher-expires"' in page


# ---- helpers ---------------------------------------------------------------------------


def _without(text: str, allowed: set[str]) -> str:
    for word in sorted(allowed, key=len, reverse=True):
        text = text.replace(word, "")
    return text


def _extracted() -> set[str | tuple[str, str]]:
    """The msgids of the sources, extracted as ``make i18n`` does (babel.cfg)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    return {m[2] for m in extract_from_dir(str(SRC), method_map, options_map)}


def _read(path: Path) -> dict[object, object]:
    with path.open("rb") as po:
        catalogue = read_po(po)
    return {m.id: m for m in catalogue if m.id}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (str(value or ""),)


def _placeholders(text: object) -> set[str]:
    joined = " ".join(text) if isinstance(text, tuple) else str(text)
    return set(PLACEHOLDER.findall(joined)) - {"num"}


class _Text(HTMLParser):
    """Text nodes and read attributes of HTML with Jinja's parts replaced by NUL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self.found.extend(_pieces(value))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.found.extend(_pieces(data))


def _pieces(text: str) -> list[str]:
    return [p.strip() for p in text.split("\0") if p.strip()]


def _literal_text(source: str) -> list[str]:
    """The template's literal text (outside Jinja's tags and ``{% trans %}`` blocks)."""
    parts, in_trans, tag = [], False, []
    for _, kind, value in pages.environment.lex(source):
        if kind == "block_begin":
            tag = []
        elif kind == "name" and not tag:
            tag.append(value)
            in_trans = value == "trans" or (in_trans and value != "endtrans")
        if kind == "data" and not in_trans:
            parts.append(value)
        elif kind in ("variable_begin", "block_begin") or (kind == "data" and in_trans):
            parts.append("\0")
    parser = _Text()
    parser.feed("".join(parts))
    parser.close()
    return parser.found


class _Visible(HTMLParser):
    """What a reader sees: text outside script, style and ``lang="en"`` elements."""

    VOID: ClassVar[set[str]] = {"br", "hr", "img", "input", "link", "meta", "wbr", "col"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.stack: list[bool] = []  # per open element: is it hidden from the check?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        hidden = tag in ("script", "style") or dict(attrs).get("lang") == "en"
        self.stack.append(hidden or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.text.append(data)


def _visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.text)
