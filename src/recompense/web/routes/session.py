"""Signing in and out, the start page, and what every role may ask."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from recompense.errors import UnauthorizedError
from recompense.report.template import CSS as CHART_CSS
from recompense.web import navigation, pages, sessions
from recompense.web.auth import (
    COOKIE,
    PUBLIC,
    AnyRole,
    Principal,
    authenticate,
    holder,
    principal_of,
    token_of,
)
from recompense.web.csrf import CSRF
from recompense.web.models import ERRORS, PrincipalOut, ProgrammeOut
from recompense.web.routes.common import service
from recompense.web.settings import Settings

router = APIRouter(responses={401: ERRORS[401], 403: ERRORS[403]})
SIGNIN_COOKIE = "recompense_signin"  # binds the sign-in form to the page that showed it


@router.get(
    "/",
    dependencies=[PUBLIC],
    response_class=HTMLResponse,
    responses={303: {"description": "signed in: to the role's start page"}},
)
def start(request: Request) -> Response:
    """Signed in: the role's work (:func:`navigation.start_page`: users their Rewards Hub,
    operations and auditors the console, loan staff the loan fund). Not signed in: how to
    sign in."""
    principal = _optional_principal(request)
    if principal is None:
        return pages.render(request, "signin.html", None)
    target = navigation.start_page(request, principal)
    if target is not None:
        return RedirectResponse(target, 303)
    return pages.render(request, "home.html", principal)  # a role with no page of its own


@router.get(
    "/login",
    dependencies=[PUBLIC],
    response_class=HTMLResponse,
    responses={401: ERRORS[401]},
)
def login_page(
    request: Request,
    code: Annotated[str | None, Query(max_length=sessions.MAX_SECRET_CHARS)] = None,
    next_path: Annotated[str, Query(alias="next", max_length=512)] = "/",
) -> Response:
    """A sign-in link's page: whom ``code`` signs in, and the form that does it.

    Opening the link signs no one in (a GET must not: a link on another site would sign
    its visitor in as whoever the link's maker chose); the form's POST does. The form is
    bound to a cookie this page sets (SameSite=Strict, path ``/login``), which another
    site's form cannot send, so only this page's form can be posted.
    """
    if not code:
        return pages.render(request, "signin.html", None)
    found = sessions.pending(_engine(request), code)
    if found is None:
        return _refused(request, 401, "signin_code_invalid")
    nonce = secrets.token_urlsafe(16)
    response = pages.render(
        request,
        "signin.html",
        None,
        pending=principal_of(found),
        code=code,
        signin_check=_signin_check(request, nonce, code),
        next_path=_local(next_path),
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=sessions.CODE_TTL_S,
        httponly=True,
        samesite="strict",
        secure=_settings(request).secure_cookies,
        path="/login",
    )
    return response


@router.post(
    "/login",
    dependencies=[PUBLIC],
    response_class=HTMLResponse,
    responses={303: {"description": "signed in: to `next`"}, 401: ERRORS[401], 403: ERRORS[403]},
)
def login(
    request: Request,
    code: Annotated[str, Form(max_length=sessions.MAX_SECRET_CHARS)] = "",
    signin_check: Annotated[str, Form(max_length=128)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=512)] = "/",
) -> Response:
    """Spend the code on a new session: its id goes into an HttpOnly SameSite=Lax cookie
    (``Secure`` when configured), the browser on to ``next`` (a path on this site)."""
    nonce = request.cookies.get(SIGNIN_COOKIE, "")
    expected = _signin_check(request, nonce, code) if nonce and code else ""
    if not expected or not hmac.compare_digest(signin_check, expected):
        return _refused(request, 403, "signin_form_expired")
    settings = _settings(request)
    engine = _engine(request)
    session = sessions.exchange(engine, code, lifetime_s=settings.session_lifetime_s)
    if session is None:
        return _refused(request, 401, "signin_code_invalid")
    earlier = token_of(request)
    if earlier is not None and earlier[1] == "cookie":
        sessions.revoke(engine, earlier[0])  # one session per browser
    response = RedirectResponse(_local(next_path), 303)
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=settings.session_lifetime_s,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/login", secure=settings.secure_cookies)
    request.state.principal = principal_of(session.holder)
    return response


@router.post(
    "/logout",
    dependencies=[CSRF],
    response_class=HTMLResponse,
    responses={303: {"description": "signed out: to the start page"}},
)
def logout(request: Request, _: AnyRole) -> Response:
    """Revoke the browser's session (the cookie is refused from now on, wherever it is
    replayed) and delete the cookie. A bearer token cannot be revoked: it expires."""
    found = token_of(request)
    if found is not None and found[1] == "cookie":
        sessions.revoke(_engine(request), found[0])
    response = RedirectResponse("/", 303)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=_settings(request).secure_cookies
    )
    return response


class SignInCodeOut(BaseModel):
    code: str = Field(description="one-time sign-in code: valid 5 minutes, once")
    url: str = Field(description="the sign-in link to send the browser to (a GET shows a form)")
    expires_at: datetime


@router.post("/api/sign-in-codes")
def sign_in_code(request: Request, principal: AnyRole) -> SignInCodeOut:
    """Trade a bearer JWT for a browser sign-in link (the identity provider, or the
    exchange's app, sends the user's token; the browser then opens ``url``). A browser
    session cannot make one (403): codes come from tokens only."""
    if request.state.auth_via != "bearer":
        raise HTTPException(403, "a sign-in code is issued for a bearer token only")
    try:
        issued = sessions.issue_code(_engine(request), holder(principal))
    except sessions.SessionError as exc:
        raise HTTPException(422, f"cannot sign this token in: {exc}") from exc
    url = f"{_settings(request).base_url}/login?code={issued.code}"
    return SignInCodeOut(code=issued.code, url=url, expires_at=issued.expires_at)


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
    except UnauthorizedError:
        return None


def _refused(request: Request, status: int, problem: str) -> Response:
    """The sign-in page saying why (a message key), with no form to post."""
    return pages.render(request, "signin.html", None, status_code=status, problem=problem)


def _signin_check(request: Request, nonce: str, code: str) -> str:
    """The sign-in form's hidden field: HMAC of the page's cookie and the code, under the
    session secret; without the cookie (another site's form) it cannot match."""
    text = f"recompense sign-in v1\0{nonce}\0{code}"
    message = text.encode("utf-8", "surrogatepass")
    return hmac.new(_settings(request).session_secret, message, hashlib.sha256).hexdigest()


def _local(path: str) -> str:
    """``path`` if it is a path on this site, else ``/`` (never a redirect off-site)."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _engine(request: Request) -> Engine:
    return service(request).engine
