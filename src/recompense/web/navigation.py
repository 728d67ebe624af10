"""Where each role works: the header's navigation and the start page, from the routes' rules.

A link is shown to a role only if the route behind it lets that role in, read from the
app itself (:func:`recompense.web.app.route_roles`, the same declaration that guards the
route), narrowed by the library's rule where the route admits every signed-in caller and
the library decides: the loan console answers 404 to anyone but
:data:`recompense.web.routes.loans.INSIDERS`. So the navigation cannot offer a page that refuses
the role, nor hide one it may use, without a route's rule changing too.

The start page (``GET /``) is the first link of :data:`LINKS` the role may use: users
land on their Rewards Hub, operations staff and auditors on the console, account
managers and the credit committee on the loan fund. Answers are computed once per app
and role (the routes do not change while the app runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recompense.web.auth import Principal, Role


@dataclass(frozen=True, slots=True)
class Link:
    """A page in the header: its path (a GET route of the app), message key and test id."""

    path: str
    label: str  # key in recompense.web.messages
    testid: str


# In order of precedence: a role's start page is the first it may use.
LINKS: tuple[Link, ...] = (
    Link("/hub", "nav_hub", "nav-hub"),
    Link("/ops", "nav_ops", "nav-ops"),
    Link("/console/loans", "nav_loans", "nav-loans"),
    Link("/ops/approvals", "nav_approvals", "nav-approvals"),
    Link("/ops/audit", "nav_audit", "nav-audit"),
)


def links(request: Any, principal: Principal | None) -> list[Link]:
    """The links ``principal`` may follow (none when signed out), in :data:`LINKS` order."""
    if principal is None:
        return []
    return list(_allowed(request.app, principal.role))


def start_page(request: Any, principal: Principal) -> str | None:
    """The role's start page, or None if it may use none of :data:`LINKS`."""
    found = _allowed(request.app, principal.role)
    return found[0].path if found else None


def _allowed(app: Any, role: Role) -> tuple[Link, ...]:
    cache: dict[Role, tuple[Link, ...]] | None = getattr(app.state, "navigation", None)
    if cache is None:
        cache = app.state.navigation = {}
    if role not in cache:
        roles = _roles(app)
        cache[role] = tuple(link for link in LINKS if role in roles.get(link.path, ()))
    return cache[role]


def _roles(app: Any) -> dict[str, frozenset[str]]:
    """For each GET path of :data:`LINKS` the app serves: the roles that may open it."""
    # Imported here: both modules render pages, and pages register this one.
    from recompense.web.app import api_routes, route_roles
    from recompense.web.routes.loans import INSIDERS

    narrower = {"/console/loans": frozenset(INSIDERS)}
    wanted = {link.path for link in LINKS}
    found: dict[str, frozenset[str]] = {}
    for route in api_routes(app):
        if route.path in wanted and "GET" in (route.methods or ()):
            roles = route_roles(route) or frozenset()
            found[route.path] = roles & narrower.get(route.path, roles)
    return found
