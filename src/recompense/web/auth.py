"""Who is asking: JWT verification, the :class:`Principal`, and role checks for routes.

Tokens are JWTs signed by the exchange's identity provider (RS256, public key in
settings) or by ``recompense token`` (HS256, shared secret). Both must carry ``iss``
and ``aud`` as configured, ``sub``, ``iat``, ``exp`` and a ``role``; a ``user``
token also carries ``user_id``; ``locale`` is optional. The algorithm is taken from
the token header but each algorithm has its own key, so an RS256 public key can never
be used as an HS256 secret.

API clients send ``Authorization: Bearer <token>``. Browsers never hold a token: they
sign in with a one-time code and then hold an opaque session id in an HttpOnly,
SameSite=Lax cookie, looked up in the database on each request, which sign-out revokes
(:mod:`recompense.web.sessions`).

Routes declare the roles they allow, and nothing else gets in (deny by default;
:func:`recompense.web.app.create_app` refuses a route without a declaration)::

    @router.get("/api/loans/{loan_id}")
    def loan(loan_id: str, who: Annotated[Principal, allow("account_manager", "ops")]): ...

    @router.get("/healthz", dependencies=[PUBLIC])
    def health(): ...

``AnyRole`` and ``StaffRole`` are ready-made aliases (``who: AnyRole``).

A principal of role ``user`` may only see its own data: :func:`check_owner` answers
404 (not 403) for anyone else's, so ids cannot be probed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import jwt
from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from recompense.errors import UnauthorizedError
from recompense.web import sessions
from recompense.web.settings import Settings

Role = Literal["user", "ops", "account_manager", "credit_committee", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
STAFF: tuple[Role, ...] = ("ops", "auditor")  # may look at any user's programme data
COOKIE = "recompense_session"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp")
LEEWAY_S = 30
MAX_USER_ID = 2**63 - 1  # the ledger's BIGINT: a larger id could never match a record


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller. ``user_id`` is set for role ``user`` (and optional otherwise)."""

    subject: str
    role: Role
    user_id: int | None
    locale: str | None


class TokenError(UnauthorizedError):
    """A token (or a session's claims) that does not verify; the message says why, and
    the caller is answered 401 with it (:func:`recompense.web.problems.domain_error`)."""


def mint_token(
    settings: Settings,
    *,
    role: str,
    user_id: int | None = None,
    ttl_s: int = 3600,
    locale: str | None = None,
    subject: str | None = None,
) -> str:
    """An HS256 token with the configured issuer and audience (``recompense token`` and
    tests; production tokens come from the identity provider)."""
    if settings.hs256_secret is None:
        raise TokenError("no HS256 secret configured: cannot mint tokens")
    _check_role_claims(role, user_id)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": subject or (f"user:{user_id}" if user_id is not None else f"{role}:local"),
        "role": role,
        "iat": now,
        "exp": now + ttl_s,
    }
    if user_id is not None:
        claims["user_id"] = user_id
    if locale:
        claims["locale"] = locale
    return jwt.encode(claims, settings.hs256_secret, algorithm="HS256")


class Verifier:
    """Verifies tokens; remembers verified ones until they expire (a dict lookup per request)."""

    MAX_CACHED = 50_000

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[str, tuple[Principal, int]] = {}

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        claims = self._decode(token)
        principal = _principal(claims)
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[token] = (principal, int(claims["exp"]))
        return principal

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as exc:
            raise TokenError(f"malformed token: {exc}") from exc
        key: str | bytes | None = {
            "HS256": self.settings.hs256_secret,
            "RS256": self.settings.rs256_public_key,
        }.get(str(algorithm))
        if key is None:
            raise TokenError(f"tokens signed with {algorithm!r} are not accepted here")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=LEEWAY_S,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"token rejected: {exc}") from exc
        return claims


def _principal(claims: dict[str, Any]) -> Principal:
    role, user_id, locale = claims.get("role"), claims.get("user_id"), claims.get("locale")
    _check_role_claims(role, user_id)
    if locale is not None and not isinstance(locale, str):
        raise TokenError("token claim 'locale' must be a string")
    return Principal(str(claims["sub"]), role, user_id, locale)  # type: ignore[arg-type]


def _check_role_claims(role: object, user_id: object) -> None:
    if role not in ROLES:
        raise TokenError(f"token role {role!r} is not one of {', '.join(ROLES)}")
    if user_id is not None and (type(user_id) is not int or not 0 <= user_id <= MAX_USER_ID):
        raise TokenError(f"token claim 'user_id' is not a user id (0 to {MAX_USER_ID})")
    if role == "user" and user_id is None:
        raise TokenError("a token with role 'user' must carry 'user_id'")


def holder(principal: Principal) -> sessions.Holder:
    """What a sign-in code keeps of the principal it is issued to."""
    return sessions.Holder(principal.subject, principal.role, principal.user_id, principal.locale)


def principal_of(found: sessions.Holder) -> Principal:
    """The principal a session holds (its claims are checked again: a row is data);
    :class:`TokenError` (401) if they no longer hold."""
    _check_role_claims(found.role, found.user_id)
    return Principal(found.subject, found.role, found.user_id, found.locale)  # type: ignore[arg-type]


def token_of(request: Request) -> tuple[str, str] | None:
    """``(credential, "bearer" | "cookie")`` from the request, or None: a bearer JWT, or
    the session cookie's opaque session id."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = request.cookies.get(COOKIE)
    return (cookie, "cookie") if cookie else None


async def current_principal(request: Request) -> Principal:
    """The verified caller, or 401. A bearer token is checked on the event loop (no I/O);
    a session is looked up in the database, from the thread pool."""
    found = token_of(request)
    if found is not None and found[1] == "cookie":
        return await run_in_threadpool(authenticate, request)
    return authenticate(request)


def authenticate(request: Request) -> Principal:
    """The verified caller, or :class:`~recompense.errors.UnauthorizedError` (401; the
    synchronous form, for code outside dependencies; with a session cookie it reads the
    database)."""
    found = token_of(request)
    if found is None:
        raise UnauthorizedError("sign in first")
    if found[1] == "cookie":
        principal = _session_principal(request, found[0])
    else:
        verifier: Verifier = request.app.state.verifier
        principal = verifier.verify(found[0])  # TokenError: 401 with the reason
    request.state.principal = principal
    request.state.auth_via = found[1]
    return principal


def _session_principal(request: Request, session_id: str) -> Principal:
    settings: Settings = request.app.state.settings
    service = request.app.state.service
    found = sessions.holder_of(
        service.engine, service.reads, session_id, idle_s=settings.session_idle_s
    )
    if found is None:
        raise UnauthorizedError("your session has ended: sign in again")
    return principal_of(found)


class RoleCheck:
    """The dependency behind :func:`allow`: 401 without a valid token, 403 for other roles."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ValueError(f"allow(): unknown or no roles {sorted(unknown)}")
        self.roles = frozenset(roles)

    async def __call__(self, principal: Principal = Depends(current_principal)) -> Principal:  # noqa: B008
        if principal.role not in self.roles:
            raise HTTPException(403, f"role {principal.role!r} may not use this")
        return principal


class PublicRoute:
    """The dependency that marks a route as open to anyone (sign-in, health, static)."""

    async def __call__(self) -> None:
        return None


def allow(*roles: Role) -> Any:
    """``Annotated[Principal, allow("ops", "auditor")]``: the caller, if their role is listed."""
    return Depends(RoleCheck(roles))


PUBLIC: Any = Depends(PublicRoute())

# Aliases for route signatures (``who: AnyRole``); make others with ``allow(...)``.
AnyRole = Annotated[Principal, allow(*ROLES)]
StaffRole = Annotated[Principal, allow(*STAFF)]


def check_owner(principal: Principal, user_id: int) -> None:
    """Role ``user`` sees only itself: anyone else's data is "not found" (404), never 403."""
    if principal.role == "user" and principal.user_id != user_id:
        raise HTTPException(404, "not found")
