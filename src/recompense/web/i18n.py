"""English and Spanish pages (the programme was announced in both), chosen per user.

The locale is, in order: the token's ``locale`` claim, the locale the exchange has on
file for the user (the run's recipients), the browser's ``Accept-Language``, English.
Only supported locales are taken at each step (``es-MX`` counts as ``es``).

Messages are Python format strings keyed by name; a key missing in Spanish falls back
to English (the tests check that both catalogues have the same keys). Sentences that
explain a result are built here from the story's numbers, so the page and the API say
the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from recompense.money import format_usd
from recompense.web.messages import CATALOGUES
from recompense.web.story import Story

SUPPORTED = ("en", "es")
DEFAULT = "en"


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


@dataclass(frozen=True, slots=True)
class Translator:
    locale: str

    def __call__(self, key: str, **values: object) -> str:
        template = CATALOGUES[self.locale].get(key) or CATALOGUES[DEFAULT][key]
        return template.format(**values) if values else template

    def money(self, cents: int) -> str:
        """``$1,234.56`` in English, ``1.234,56 $`` in Spanish: exact, integer arithmetic."""
        text = format_usd(cents)
        if self.locale != "es":
            return text
        sign = "-" if text.startswith("-") else ""
        digits = text.lstrip("-$").replace(",", " ").replace(".", ",").replace(" ", ".")
        return f"{sign}{digits} $"

    def percent(self, share: float, digits: int = 2) -> str:
        text = f"{share * 100:.{digits}f}"
        return (text.replace(".", ",") if self.locale == "es" else text) + " %"

    def number(self, text: str) -> str:
        """An exact decimal as exported (``-41.62928000``), with the locale's decimal mark."""
        return text.replace(".", ",") if self.locale == "es" else text

    def when(self, moment: datetime | None) -> str:
        return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def criterion_text(t: Translator, story: Story, code: str, passed: bool) -> str:
    """One criterion in plain words, with the numbers the engine compared."""
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
            minimum=t.percent(float(story.min_loss_ratio), 0),
            needed=t.money(story.needed_loss_cents),
        )
    programs = ", ".join(story.excluding_programs) or t("none")
    return t("crit_comp_ok" if passed else "crit_comp_fail", programs=programs)


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
        lam=f"{p.lambda_cents_per_weight / 100:.6g}",
        weight=f"{p.weight:.6g}",
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
