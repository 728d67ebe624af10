"""Signing in and out, the start page, and what every role may ask."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recompense.report.template import CSS as CHART_CSS
from recompense.web import pages
from recompense.web.auth import (
    COOKIE,
    PUBLIC,
    AnyRole,
    Principal,
    TokenError,
    Verifier,
    authenticate,
)
from recompense.web.csrf import CSRF
from recompense.web.models import ERRORS, PrincipalOut, ProgrammeOut
from recompense.web.routes.common import service

router = APIRouter(responses={401: ERRORS[401], 403: ERRORS[403]})


@router.get(
    "/",
    dependencies=[PUBLIC],
    response_class=HTMLResponse,
    responses={303: {"description": "signed in: to the role's start page"}},
)
def start(request: Request) -> Response:
    """Signed in: the role's start page. Not signed in: how to sign in."""
    principal = _optional_principal(request)
    if principal is None:
        return pages.render(request, "signin.html", None)
    if principal.role == "user":
        return RedirectResponse("/hub", 303)
    if principal.role in ("ops", "auditor"):
        return RedirectResponse("/ops", 303)
    return pages.render(request, "home.html", principal)


@router.get(
    "/login",
    dependencies=[PUBLIC],
    response_class=HTMLResponse,
    responses={303: {"description": "signed in: to `next`"}, 401: ERRORS[401]},
)
def login(
    request: Request,
    token: Annotated[str | None, Query(max_length=8192)] = None,
    next_path: Annotated[str, Query(alias="next", max_length=512)] = "/",
) -> Response:
    """Verify ``token``, keep it in an HttpOnly SameSite=Lax cookie, go to ``next``."""
    if not token:
        return pages.render(request, "signin.html", None)
    verifier: Verifier = request.app.state.verifier
    try:
        principal = verifier.verify(token)
    except TokenError as exc:
        return pages.render(request, "signin.html", None, status_code=401, detail=str(exc))
    target = next_path if next_path.startswith("/") and not next_path.startswith("//") else "/"
    response = RedirectResponse(target, 303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )
    request.state.principal = principal
    return response


@router.post(
    "/logout",
    dependencies=[CSRF],
    response_class=HTMLResponse,
    responses={303: {"description": "signed out: to the start page"}},
)
def logout(request: Request, _: AnyRole) -> Response:
    response = RedirectResponse("/", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/assets/charts.css", dependencies=[PUBLIC], response_class=Response)
def chart_styles() -> Response:
    """The run report's chart styles, so the dashboard draws the same charts the same way."""
    return Response(CHART_CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/api/me")
def me(request: Request, principal: AnyRole) -> PrincipalOut:
    return PrincipalOut(
        subject=principal.subject,
        role=principal.role,
        user_id=principal.user_id,
        locale=pages.locale_for(request, principal),
    )


@router.get("/api/programs")
def programmes(request: Request, _: AnyRole) -> list[ProgrammeOut]:
    return [
        ProgrammeOut(id=p.id, name=p.name, currency=p.currency, run_fingerprint=p.run_fingerprint)
        for p in service(request).programmes()
    ]


def _optional_principal(request: Request) -> Principal | None:
    try:
        return authenticate(request)
    except HTTPException:
        return None
