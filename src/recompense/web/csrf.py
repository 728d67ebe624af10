"""CSRF protection for cookie sessions: a per-session token, HMAC-signed.

The token is ``HMAC-SHA256(session secret, SHA-256(session cookie))``: it changes with
every sign-in, needs no server-side state, and cannot be computed without the secret.
Every state-changing request authenticated by the cookie must carry it, in the form
field ``csrf_token`` (HTML forms) or the ``X-CSRF-Token`` header (the page's scripts).
A request with ``Authorization: Bearer`` is not exposed to CSRF (a browser never adds
that header by itself) and needs none. Failures answer 403 (in the caller's language).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Depends, HTTPException, Request

from recompense.web.auth import COOKIE, token_of
from recompense.web.i18n import Message

FIELD = "csrf_token"
HEADER = "x-csrf-token"


def csrf_token(request: Request) -> str:
    """The token for this request's session ("" when there is no session cookie)."""
    session = request.cookies.get(COOKIE)
    if not session:
        return ""
    secret: bytes = request.app.state.settings.session_secret
    digest = hashlib.sha256(session.encode("utf-8")).digest()
    return hmac.new(secret, digest, hashlib.sha256).hexdigest()


async def check_csrf(request: Request) -> None:
    """Refuse a cookie-authenticated unsafe request without the session's token (403)."""
    found = token_of(request)
    if found is None or found[1] == "bearer":
        return  # no session to ride on; authentication answers for itself
    sent = request.headers.get(HEADER)
    if sent is None and _is_form(request):
        form = await request.form()
        value = form.get(FIELD)
        sent = value if isinstance(value, str) else None
    verify_sent(request, sent)


def verify_sent(request: Request, sent: str | None) -> None:
    """Refuse (403) a cookie-authenticated request whose ``sent`` token is not the session's.

    For routes that read their own body (the self-check's uploads, which must not go
    through :meth:`Request.form`): they pass the form's ``csrf_token`` here.
    """
    found = token_of(request)
    if found is None or found[1] == "bearer":
        return
    expected = csrf_token(request)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, Message("problem_csrf"))


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


CSRF = Depends(check_csrf)
