"""Rendering the server-side pages: Jinja2 templates with the caller's language and CSRF token.

Templates autoescape everything. Each page gets ``t`` (the translator for the caller's
locale), ``principal``, ``csrf`` (the session's token for forms) and ``locale``.

Words: Jinja's i18n extension, ``{% trans %}…{% endtrans %}`` and ``_("…", name=value)``
(new-style gettext: always ``%``-formatted, values autoescaped). One environment serves
every language: its gettext functions read the page's ``locale`` from the render context,
so requests in different languages can render at the same time. A translation is text,
never markup (it is escaped like any value); blocks are whitespace-trimmed, so a msgid
is the sentence as written, on one line. Figures: the filters ``money`` (integer cents),
``dollars`` (an exact amount), ``number``, ``decimal`` (an exact decimal as exported),
``percent`` (a share), ``when`` (a moment, in UTC), ``day`` and ``utc`` (an ISO moment),
all in the page's locale (:mod:`.formats`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup, escape

from recompense.web import formats, i18n, i18n_full, navigation
from recompense.web.auth import Principal
from recompense.web.csrf import csrf_token
from recompense.web.errors import ProgrammeUnavailable
from recompense.web.service import ProgrammeNotFound, Service

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def new_environment(*folders: Path) -> Environment:
    """A template environment over ``folders`` (first wins) with the pages' words and
    figures in the render context's ``locale``."""
    made = Environment(
        loader=ChoiceLoader([FileSystemLoader(folder) for folder in folders]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    made.policies["ext.i18n.trimmed"] = True
    made.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    made.filters.update(FILTERS)
    made.globals["localize"] = _localize
    return made


@pass_context
def _gettext(context: Context, msgid: str) -> Markup:
    return escape(i18n.catalogue(_locale(context)).gettext(msgid))


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> Markup:
    return escape(i18n.catalogue(_locale(context)).ngettext(singular, plural, n))


@pass_context
def _localize(context: Context, value: object) -> str:
    """An error's detail (a :class:`~.i18n.Message`, or plain text) in the page's language."""
    return i18n.localize(value, _locale(context))


def _locale(context: Context) -> str:
    found = context.get("locale")
    return found if isinstance(found, str) else i18n.DEFAULT


def _figure(format_: Callable[..., str]) -> Callable[..., str]:
    @pass_context
    def shown(context: Context, value: Any, *args: Any) -> str:
        return "" if value is None else format_(value, _locale(context), *args)

    return shown


FILTERS: dict[str, Callable[..., str]] = {
    "money": _figure(formats.money),
    "dollars": _figure(formats.dollars),
    "amount": _figure(formats.amount),
    "number": _figure(formats.number),
    "decimal": _figure(formats.exact),
    "percent": _figure(formats.percent),
    "when": _figure(formats.when),
    "utc": _figure(formats.when),
    "day": _figure(formats.day),
}
environment = new_environment(TEMPLATES)
for _language in i18n.SUPPORTED:  # read at start-up: a catalogue that does not parse fails here
    i18n.catalogue(_language)
environment.globals["criterion_text"] = i18n.criterion_text
environment.globals["payout_text"] = i18n.payout_text
# A full-payment programme's story (_story_full.html): each event, the window, the sum.
environment.globals["full_event_text"] = i18n_full.event_text
environment.globals["full_window_text"] = i18n_full.window_text
environment.globals["full_no_event_text"] = i18n_full.no_event_text
environment.globals["full_payout_text"] = i18n_full.payout_text
environment.globals["full_paid_in_all_text"] = i18n_full.paid_in_all_text
environment.globals["navigation"] = navigation.links  # the header's links, per role


def locale_for(request: Request, principal: Principal | None) -> str:
    """The token's locale, the exchange's record of the user's, the browser's, or English."""
    candidates: list[str | None] = []
    if principal is not None:
        candidates.append(principal.locale)
        if principal.user_id is not None:
            candidates.extend(_recorded_locales(request, principal.user_id))
    return i18n.negotiate(candidates, request.headers.get("accept-language"))


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` in the caller's language; ``context`` goes to the template."""
    locale = locale_for(request, principal)
    html = environment.get_template(template).render(
        request=request,
        principal=principal,
        locale=locale,
        t=i18n.Translator(locale),
        csrf=csrf_token(request),
        status_code=status_code,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _recorded_locales(request: Request, user_id: int) -> list[str | None]:
    """The locale each programme's recipients file has for the user. A programme whose
    run cannot be read (or that left the ledger since the list was read) has none here:
    its own pages say why."""
    service = service_of(request)
    found: list[str | None] = []
    for programme in service.programmes():
        try:
            found.append(service.index(programme.id).locale_of(user_id))
        except (ProgrammeNotFound, ProgrammeUnavailable):
            continue
    return found
