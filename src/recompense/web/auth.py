"""Who is asking: JWT verification, the :class:`Principal`, and role checks for routes.

Tokens are JWTs signed by the exchange's identity provider (RS256, public key in
settings) or by ``recompense token`` (HS256, shared secret). Both must carry ``iss``
and ``aud`` as configured, ``sub``, ``iat``, ``exp`` and a ``role``; a ``user``
token also carries ``user_id``; ``locale`` is optional. The algorithm is taken from
the token header but each algorithm has its own key, so an RS256 public key can never
be used as an HS256 secret.

A browser signs in once at ``/login?token=…``: the token goes into an HttpOnly,
SameSite=Lax cookie. API clients send ``Authorization: Bearer <token>``.

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

from recompense.web.settings import Settings

Role = Literal["user", "ops", "account_manager", "credit_committee", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
STAFF: tuple[Role, ...] = ("ops", "auditor")  # may look at any user's programme data
COOKIE = "recompense_session"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp")
LEEWAY_S = 30


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller. ``user_id`` is set for role ``user`` (and optional otherwise)."""

    subject: str
    role: Role
    user_id: int | None
    locale: str | None


class TokenError(Exception):
    """A token that does not verify; the message says why (shown to the caller with 401)."""


def mint_token(
    settings: Settings,
    *,
    role: str,
    user_id: int | None = None,
    ttl_s: int = 3600,
    locale: str | None = None,
    subject: str | None = None,
) -> str:
    """An HS256 token with the configured issuer and audience (for local use and tests)."""
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
    if user_id is not None and (type(user_id) is not int or user_id < 0):
        raise TokenError(f"token claim 'user_id' {user_id!r} is not a user id")
    if role == "user" and user_id is None:
        raise TokenError("a token with role 'user' must carry 'user_id'")


def token_of(request: Request) -> tuple[str, str] | None:
    """``(token, "bearer" | "cookie")`` from the request, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = request.cookies.get(COOKIE)
    return (cookie, "cookie") if cookie else None


async def current_principal(request: Request) -> Principal:
    """The verified caller, or 401 (async: checking a token never blocks, so no thread hop)."""
    return authenticate(request)


def authenticate(request: Request) -> Principal:
    """The verified caller, or 401 (the synchronous form, for code outside dependencies)."""
    found = token_of(request)
    if found is None:
        raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
    verifier: Verifier = request.app.state.verifier
    try:
        principal = verifier.verify(found[0])
    except TokenError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    request.state.principal = principal
    request.state.auth_via = found[1]
    return principal


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
