"""A full-payment programme's story in the reader's language: each event, the sum, why not.

The sentences of :class:`~recompense.web.story_full.FullStory`, built from its numbers
as :mod:`.i18n` builds a shared programme's, so the page and the API say the same thing.
In English an event's sentence is ``recompense explain``'s
(:meth:`recompense.runs.explain_full.Event.sentence`, capitalised, with the page's
non-breaking space before "UTC"); in every language prices and quantities are exact, as
held (:func:`.formats.price`, :func:`.formats.quantity`), and money is the page's.
"""

from __future__ import annotations

from babel.lists import format_list

from recompense.runs.explain_full import Event
from recompense.runs.reasons import NO_COUNTED_COLLATERAL_EVENT
from recompense.web.i18n import Translator
from recompense.web.story_full import FullStory


def event_text(t: Translator, event: Event, story: FullStory) -> str:
    """One counted event: sold at what and when, the reference price, what it pays."""
    values = {
        "asset": event.asset,
        "product": event.product,
        "account": str(event.account_id),
        "price": t.price(event.liquidation_price),
        "time": t.clock(event.ts),
        "reference_time": t.clock(story.reference_at),
        "reference": t.price(event.reference_usd),
        "amount": t.money(event.loss_cents),
    }
    if event.reference_usd > event.liquidation_price:
        return t("full_event_loss", quantity=t.quantity(event.quantity), **values)
    return t("full_event_no_loss", **values)


def criterion_text(t: Translator, story: FullStory, index: int) -> str:
    """The story's ``index``-th criterion, as ``explain`` gives it: an event's sentence,
    or why no event was counted."""
    if story.criteria[index].code == NO_COUNTED_COLLATERAL_EVENT or not story.events:
        return f"{no_event_text(t, story)} {outside_window_text(t)}"
    return event_text(t, story.events[index], story)


def no_event_text(t: Translator, story: FullStory) -> str:
    """``NO_COUNTED_COLLATERAL_EVENT``: which collateral, which window, which products."""
    return t(
        "full_no_event",
        assets=format_list(list(story.assets), style="or", locale=t.locale),
        start=t.when(story.window[0]),
        end=t.when(story.window[1]),
        products=format_list(list(story.products), locale=t.locale),
    )


def outside_window_text(t: Translator) -> str:
    """Liquidations outside the window: reviewed one by one, in a case (text, no link)."""
    return t("full_outside_window", open_case=t("full_open_case"))


def window_text(t: Translator, story: FullStory) -> str:
    """The window the events were counted in, and when the reference prices were taken."""
    return t(
        "full_window",
        start=t.when(story.window[0]),
        end=t.when(story.window[1]),
        reference=t.when(story.reference_at),
    )


def summary_text(t: Translator, story: FullStory) -> str:
    """Why the user is paid what they are (the sum, in full or capped), or why nothing."""
    if story.loss_cents is None:
        said = f"{no_event_text(t, story)} {outside_window_text(t)}"
    elif not story.eligible:
        said = t("full_no_loss")
    else:
        said = payout_text(t, story)
    in_all = paid_in_all_text(t, story)
    return f"{said} {in_all}" if in_all else said


def paid_in_all_text(t: Translator, story: FullStory) -> str:
    """What the user is paid over every batch and accepted claim, when it is not what this
    run's events pay (a later batch's run: a decrease recorded, a claim paid); else ``""``."""
    if story.payout is None or story.payout.amount_cents == (story.events_cents or 0):
        return ""
    return t("full_paid_in_all", amount=t.money(story.payout.amount_cents))


def payout_text(t: Translator, story: FullStory) -> str:
    """The events' sum, paid in full or capped at the ceiling ("" when nothing is paid)."""
    if story.loss_cents is None or not story.eligible:
        return ""
    total = t.money(story.loss_cents)
    capped = story.events_cents is not None and story.events_cents < story.loss_cents
    if capped and story.ceiling_cents is not None:  # the engine paid the ceiling
        return t("full_sum_ceiling", sum=total, ceiling=t.money(story.ceiling_cents))
    return t("full_sum_paid", sum=total)
