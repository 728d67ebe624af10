"""Rendering the server-side pages: Jinja2 templates with the caller's language and CSRF token.

Templates autoescape everything. Each page gets ``t`` (the translator for the caller's
locale), ``principal``, ``csrf`` (the session's token for forms) and ``locale``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from recompense.web import i18n
from recompense.web.auth import Principal
from recompense.web.csrf import csrf_token
from recompense.web.service import Service

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["utc"] = lambda text: str(text).replace("T", " ").replace(":00Z", " UTC")
environment.globals["criterion_text"] = i18n.criterion_text
environment.globals["payout_text"] = i18n.payout_text


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
    service = service_of(request)
    found: list[str | None] = []
    for programme in service.programmes():
        try:
            found.append(service.index(programme.id).locale_of(user_id))
        except Exception:
            continue
    return found
