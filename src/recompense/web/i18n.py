"""The pages in the reader's language: gettext catalogues, the locale of a request, sentences.

**Catalogues.** One gettext catalogue per language, ``locale/<lang>/LC_MESSAGES/messages.po``
(the template of every msgid is ``locale/messages.pot``). They are read as they are
shipped, with Babel, once per process (no compiled ``.mo`` file to keep in step), and a
language is offered as soon as its ``.po`` file exists: a translator adds a language
without touching code (``docs/i18n.md``). The msgids are the English sentences; an entry
not translated yet shows in English.

**Which language.** In order: the token's ``locale`` claim, the locale the exchange has on
file for the user (the run's recipients), the browser's ``Accept-Language``, English.
Only offered languages are taken at each step (``es-MX`` counts as ``es``).

**Sentences.** Templates translate their own words (``{% trans %}``, ``_()``, see
:mod:`.pages`). Python code names a sentence by its key in :mod:`.messages` and calls a
:class:`Translator`: ``t("crit_loss_ok", loss=..., minimum=...)``. Sentences that explain
a result are built here from the story's numbers, so the page and the API say the same
thing (a full-payment programme's events and sum: :mod:`.i18n_full`). An error raised
deep in a request can carry a :class:`Message` (a ``str`` that reads as English in logs
and JSON) that the page then shows in the reader's language with :func:`localize`.
Numbers, money and times: :mod:`.formats` (Babel, CLDR).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

from recompense.web import formats
from recompense.web.messages import MESSAGES
from recompense.web.story import Paid, Story

LOCALES = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"


def offered() -> tuple[str, ...]:
    """English, and every language with a catalogue in :data:`LOCALES`."""
    found = {p.parents[1].name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {DEFAULT}))


SUPPORTED = offered()


def supported(tag: str | None) -> str | None:
    """``"es-MX"`` → ``"es"``; an unsupported or empty tag → None."""
    if not tag:
        return None
    base = tag.strip().replace("_", "-").split("-")[0].lower()
    return base if base in SUPPORTED else None


def negotiate(candidates: Iterable[str | None], accept_language: str | None) -> str:
    """The first supported of ``candidates``, else the best of Accept-Language, else English."""
    for tag in candidates:
        found = supported(tag)
        if found:
            return found
    return _from_header(accept_language or "") or DEFAULT


@cache
def catalogue(locale: str) -> NullTranslations:
    """The language's translations, read from its ``.po`` file (fuzzy entries left out)."""
    path = LOCALES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return NullTranslations()
    with path.open("rb") as po:
        read = read_po(po, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, read)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def fill_source(locale: str = DEFAULT) -> int:
    """Copy each msgid into the source language's catalogue where it has no translation
    (``make i18n``, after ``pybabel update``): English reads as written. Returns the count."""
    path = LOCALES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        read = read_po(po, locale=locale, domain=DOMAIN)
    filled = 0
    for message in read:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not message.id or (all(strings) and not message.fuzzy):
            continue
        message.string = message.id
        message.flags.discard("fuzzy")
        filled += 1
    with path.open("wb") as po:
        write_po(po, read, width=100)
    return filled


@dataclass(frozen=True, slots=True)
class Amount:
    """A money value (integer cents) in a :class:`Message`: formatted in the reader's locale."""

    cents: int


@dataclass(frozen=True, slots=True)
class Label:
    """A stored code shown by its name in the reader's language (:meth:`Translator.label`)."""

    group: str
    code: str


@dataclass(frozen=True, slots=True)
class Either:
    """Alternatives, joined as the language does: ``draft or submitted``."""

    items: tuple[object, ...]


class Message(str):
    """A catalogue sentence with its values: English wherever a plain string is expected
    (logs, JSON, ``str()``), the reader's language through :func:`localize`.

    Values may be :class:`Amount` (money), :class:`Label` (a code's name), :class:`Either`,
    dates and moments, other messages, or anything shown with ``str()``.
    """

    key: str
    values: dict[str, object]

    def __new__(cls, key: str, **values: object) -> Message:
        made = super().__new__(cls, Translator(DEFAULT)(key, **values))
        made.key = key
        made.values = values
        return made


# How error_message shows a domain error's values, by their names: codes by their names
# in the reader's language (the label group), ``*_cents`` as money, dates as dates.
VALUE_LABELS = {
    "role": "role_phrase",
    "action": "loan_verb",
    "state": "loan_state",
    "states": "loan_state",
    "repayments": "repayment",
}
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def error_message(exc: BaseException, prefix: str = "refused_") -> str:
    """A domain refusal as the web shows it: the sentence of its stable ``code``
    (``refused_<code>`` in :mod:`.messages`, or ``<prefix><code>`` for a package whose
    codes have sentences of their own: ``refused_cases_<code>``) with its ``values``, as
    a :class:`Message`; without a known code, its text with the CLI's flag names made
    words (``--term-days 7`` → ``term days 7``)."""
    code = getattr(exc, "code", None)
    key = f"{prefix}{code}"
    if not code or key not in MESSAGES:
        return _FLAG.sub(lambda m: m.group(1).replace("-", " "), str(exc))
    values: dict[str, object] = {}
    for name, value in dict(getattr(exc, "values", None) or {}).items():
        group = VALUE_LABELS.get(name)
        if name.endswith("_cents") and isinstance(value, int):
            values[name.removesuffix("_cents")] = Amount(value)
        elif group and isinstance(value, tuple | list):
            values[name] = Either(tuple(Label(group, str(v)) for v in value))
        elif group:
            values[name] = Label(group, str(value))
        else:
            values[name] = value
    return Message(key, **values)


def localize(value: object, locale: str) -> str:
    """A :class:`Message` in ``locale``; anything else as ``str()`` (None → ``""``)."""
    if isinstance(value, Message):
        return Translator(locale)(value.key, **value.values)
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Translator:
    """Sentences and figures in one language (``t`` in the templates)."""

    locale: str

    def __call__(self, key: str, **values: object) -> str:
        """The sentence named ``key`` in :mod:`.messages`, with ``values`` filled in."""
        return self.gettext(MESSAGES[key], **values)

    def gettext(self, msgid: str, **values: object) -> str:
        text = catalogue(self.locale).gettext(msgid)
        return text % {name: self._shown(value) for name, value in values.items()}

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = catalogue(self.locale).ngettext(singular, plural, n)
        values.setdefault("num", self.number(n))
        return text % {name: self._shown(value) for name, value in values.items()}

    def money(self, cents: int | Decimal) -> str:
        """``$1,234.56`` in English, ``1.234,56 US$`` in Spanish: exact, from integer cents."""
        return formats.money(cents, self.locale)

    def amount(self, cents: int, currency: str) -> str:
        """A ledger amount in its currency: ``$1,234.56`` (USD), ``1,234.56 USDC``."""
        return formats.amount(cents, self.locale, currency)

    def dollars(self, amount: Decimal | str) -> str:
        return formats.dollars(amount, self.locale)

    def price(self, value: Decimal) -> str:
        """A price exactly as held, at least to the cent: ``$3,812.50323`` / ``3.812,50323 US$``."""
        return formats.price(value, self.locale)

    def quantity(self, value: Decimal) -> str:
        """A quantity exactly as held: ``0.52`` / ``0,52``."""
        return formats.quantity(value, self.locale)

    def clock(self, moment: datetime) -> str:
        """A time of day in UTC, to the second or microsecond when it has them: ``21:40 UTC``."""
        return formats.clock(moment, self.locale)

    def number(self, value: int | float | Decimal, digits: int | None = None) -> str:
        return formats.number(value, self.locale, digits)

    def compact(self, value: float) -> str:
        return formats.compact(value, self.locale)

    def compact_money(self, dollars: float) -> str:
        return formats.compact_money(dollars, self.locale)

    def decimal(self, text: str | Decimal) -> str:
        """An exact decimal as exported (``-41.62928000``), every digit, the locale's marks."""
        return formats.exact(text, self.locale)

    def significant(self, value: float, digits: int = 6) -> str:
        return formats.significant(value, self.locale, digits)

    def percent(self, share: float | Decimal, digits: int = 2) -> str:
        return formats.percent(share, self.locale, digits)

    def when(self, moment: datetime | str | None) -> str:
        return formats.when(moment, self.locale)

    def day(self, value: date | datetime | str | None) -> str:
        return formats.day(value, self.locale)

    def label(self, group: str, code: str) -> str:
        """The name of a stored code (``label("notice", "sent")`` → ``Sent``), by its key
        ``<group>_<code>`` in :mod:`.messages`; a code without one is shown as it is."""
        key = f"{group}_{code}".replace("-", "_").replace(" ", "_")
        return self(key) if key in MESSAGES else code

    def stage(self, label: str) -> str:
        """A funnel stage as the run's manifest names it (``Liquidated in the window``),
        translated when the catalogue has it (:mod:`.messages`, ``stage_*``)."""
        return catalogue(self.locale).gettext(label)

    def role(self, role: str) -> str:
        """A role's name (``Account manager``); an unknown role as it is."""
        return self.label("role", role)

    def actor(self, role: str, ident: object) -> str:
        """Someone named in a record: ``carol (Credit committee)``."""
        return self("who_staff", name=ident, role=self.role(role))

    def who(self, principal: Any) -> str:
        """The header's name for the caller: ``User 83``, ``alice (Operations)``, ``Auditor``."""
        if principal.role == "user" and principal.user_id is not None:
            return self("who_user", id=principal.user_id)
        role = self.role(principal.role)
        name = str(principal.subject)
        for prefix in (f"{principal.role}:", "staff:"):
            name = name.removeprefix(prefix)
        if not name or name == "local":
            return role
        return self("who_staff", name=name, role=role)

    def _shown(self, value: object) -> object:
        if isinstance(value, Amount):
            return self.money(value.cents)
        if isinstance(value, Label):
            return self.label(value.group, value.code)
        if isinstance(value, Either):
            shown = [str(self._shown(item)) for item in value.items]
            return format_list(shown, style="or", locale=self.locale) if shown else ""
        if isinstance(value, Message):
            return localize(value, self.locale)
        if isinstance(value, datetime):
            return self.when(value)
        if isinstance(value, date):
            return self.day(value)
        return value


def criterion_text(
    t: Translator, story: Story, code: str, passed: bool, names: Mapping[str, str] | None = None
) -> str:
    """One criterion in plain words, with the numbers the engine compared; ``names`` are
    the programmes' names by id (the ledger's list), to name a programme that paid."""
    if code == "NO_COUNTED_LIQUIDATION":
        return t("crit_no_liquidation")
    if story.loss_cents is None or story.net_assets_cents is None:
        return t("crit_no_liquidation")
    if code == "LOSS_BELOW_MINIMUM":
        key = "crit_loss_ok" if passed else "crit_loss_fail"
        return t(key, loss=t.money(story.loss_cents), minimum=t.money(story.min_loss_cents))
    if code == "RATIO_BELOW_MINIMUM":
        if story.loss_share_of_net is None or story.needed_loss_cents is None:
            return t("crit_ratio_wiped", net=t.money(story.net_assets_cents))
        return t(
            "crit_ratio_ok" if passed else "crit_ratio_fail",
            loss=t.money(story.loss_cents),
            share=t.percent(story.loss_share_of_net),
            net=t.money(story.net_assets_cents),
            minimum=t.percent(Decimal(story.min_loss_ratio), 0),
            needed=t.money(story.needed_loss_cents),
        )
    if not passed and story.compensated_by:
        return " ".join(
            _paid_by(t, p, (names or {}).get(p.program_id)) for p in story.compensated_by
        )
    programs = ", ".join(story.excluding_programs) or t("none")
    return t("crit_comp_ok" if passed else "crit_comp_fail", programs=programs)


def _paid_by(t: Translator, paid: Paid, name: str | None) -> str:
    """Who paid the user and when: by name and id when the ledger lists the programme."""
    program = paid.program_id
    if name is not None and paid.paid_at is not None:
        return t("crit_comp_paid_named", name=name, program=program, date=t.day(paid.paid_at))
    if name is not None:
        return t("crit_comp_paid_named_undated", name=name, program=program)
    if paid.paid_at is not None:
        return t("crit_comp_paid", program=program, date=t.day(paid.paid_at))
    return t("crit_comp_paid_undated", program=program)


def payout_text(t: Translator, story: Story) -> str:
    """Why the amount is what it is: the floor, the cap (which one), or the budget share."""
    p = story.payout
    if p is None:
        return ""
    if p.bound == "cap":
        limit = t("cap_own_loss") if p.cap_is_own_loss else t("cap_maximum")
        return t("bound_cap", share=t.money(p.share_cents), cap=t.money(p.cap_cents), limit=limit)
    if p.bound == "floor":
        return t("bound_floor", share=t.money(p.share_cents), floor=t.money(p.floor_cents))
    return t(
        "bound_share",
        lam=t.significant(p.lambda_cents_per_weight / 100),
        weight=t.significant(p.weight),
        share=t.money(p.share_cents),
        amount=t.money(p.amount_cents),
    )


def _from_header(header: str) -> str | None:
    """The supported language with the highest q-value in an Accept-Language header."""
    best: tuple[float, str] | None = None
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        found = supported(tag)
        if found and quality > 0 and (best is None or quality > best[0]):
            best = (quality, found)
    return best[1] if best else None
