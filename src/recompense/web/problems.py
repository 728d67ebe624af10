"""Every error answer of the web service, from one place.

Whatever went wrong, the caller gets the same kind of answer, with the same status:

- under ``/api/`` (and for a client that does not ask for HTML): RFC 9457 problem
  details, ``application/problem+json`` with ``type`` (``about:blank``: the status says
  what kind of problem it is), ``title`` (the status in words), ``status`` and
  ``detail`` (what happened, and what to do);
- elsewhere: the styled page (``templates/error.html``; a 401 is the sign-in page);

in the caller's language (:func:`recompense.web.pages.locale_for`: the token's locale,
the one on file, the browser's), and through :class:`~recompense.web.app.SecurityHeaders`
like every answer (no-store, the CSP). A detail carries no internals (exception types,
validation structures, tracebacks) and never echoes the request: a validation problem
names the field and what is wrong with it, never the value.

One handler per kind, registered by :func:`install`:

======================  ======  ==================================================
raised                  status  detail
======================  ======  ==================================================
``HTTPException``       its     an :class:`~.i18n.Message`, a known text, or the
                                raiser's own text (written for the caller)
``RequestValidation…``  422     each field and what is wrong with it
``InputError`` (a       4xx     its ``http_status``: ``UnauthorizedError`` 401 (with
domain refusal)                 ``WWW-Authenticate: Bearer``; its reason, or the
                                sign-in page), ``NotFoundError`` 404 ("not found",
                                nothing more, unless the error is ``shown``),
                                ``ForbiddenError`` 403, ``ConflictError`` 409, any
                                other 422; its sentence in the caller's words
                                (:func:`~.i18n.error_message`)
a transient             503     "try again in a moment", with ``Retry-After``
``UnavailableError``
``ProgrammeUnavail…``   503     its message (which programme, and why), with
                                ``Retry-After``
anything else           500     "logged; quote this reference" (the request id);
                                the traceback goes to the log, never to the client
======================  ======  ==================================================

Bodies past their limit are refused with 413 by :class:`BodyLimit` before they are read
whole: 1 MiB unless the app gives a path a limit of its own (``recompense.web.app``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from recompense import failures
from recompense.errors import InputError, UnavailableError
from recompense.observability.logs import REQUEST_ID
from recompense.web import i18n
from recompense.web.i18n import Message
from recompense.web.telemetry import error_log, route_template

if TYPE_CHECKING:
    from fastapi import FastAPI

MEDIA_TYPE = "application/problem+json"
TITLED = (400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 503)
GENERIC = {  # the detail of an error raised without one of its own
    400: "problem_400",
    401: "problem_signin",
    403: "error_403",
    404: "error_404",
    405: "problem_405",
    409: "error_409",
    413: "problem_413",
    429: "problem_429",
    503: "problem_503",
}
# Packages whose refusal codes have sentences of their own (``refused_cases_<code>``):
# their codes may repeat another package's (``wrong_state``) with another meaning.
SCOPED_CODES = frozenset({"cases"})
MIB = 1024 * 1024
DEFAULT_BODY_LIMIT = MIB
RETRY_AFTER_S = 5
SHOWN_PROBLEMS = 3  # a validation error lists this many fields, then "and N more"
_KNOWN_TEXT = {  # fixed texts raised by the framework and shared code, in words
    "not found": "error_404",
    "sign in first": "problem_signin",
    "There was an error parsing the body": "problem_400",  # FastAPI's
}
_PARAM = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")  # a route's path parameter
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_WHERE = frozenset({"body", "query", "path", "header", "cookie"})
_FALLBACK_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Error · recompense</title>"
    "<h1>Something is not right</h1><p>{status}: the request could not be completed.</p>"
    '<p><a href="/">Back to the start</a></p></html>'
)


def install(
    app: FastAPI,
    body_limits: Mapping[str, int] | None = None,
    self_limited: frozenset[str] = frozenset(),
) -> None:
    """Register every error handler of ``app``, and the body limit (``body_limits``: a
    path's own, in bytes; ``self_limited``: paths that refuse a declared size past their
    own limits with their own page). Call before adding ``SecurityHeaders``: these must
    sit inside it, so that a 500 and a 413 get the security headers too."""
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(InputError, domain_error)  # routes never catch these
    app.add_exception_handler(UnavailableError, unavailable_error)
    app.add_middleware(BodyLimit, limits=body_limits or {}, self_limited=self_limited)
    app.add_middleware(CatchAll)  # outside BodyLimit: catches whatever it lets through


def answer(
    request: Request,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The answer for an error: problem details for the API, else the styled page."""
    from recompense.web import pages

    principal = getattr(request.state, "principal", None)
    locale = pages.locale_for(request, principal)
    t = i18n.Translator(locale)
    title = t(f"problem_title_{status}" if status in TITLED else "problem_title_other")
    text = i18n.localize(detail, locale)
    extra = {**(headers or {}), "Content-Language": locale}
    if wants_json(request):
        body: dict[str, object] = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": text,
        }
        field = detail.values.get("field") if isinstance(detail, Message) else None
        if isinstance(field, i18n.Label):
            body["field"] = field.code  # the request's own key (RFC 9457 extension member)
        return JSONResponse(body, status, headers=extra, media_type=MEDIA_TYPE)
    template = "signin.html" if status == 401 else "error.html"
    if isinstance(detail, Message) and detail.key == "problem_signin":
        text = ""  # the sign-in page asks for it already
    response = pages.render(
        request, template, principal, status_code=status, title=title, detail=text
    )
    response.headers.update(extra)
    return response


def wants_json(request: Request) -> bool:
    """The API always; a page only when the client asks for HTML (browsers do)."""
    path = request.url.path
    return path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def translator(request: Request) -> i18n.Translator:
    """The caller's words (for a route that puts a problem on its own page)."""
    from recompense.web import pages

    return i18n.Translator(pages.locale_for(request, getattr(request.state, "principal", None)))


async def http_error(request: Request, error: Exception) -> Response:
    exc = cast(StarletteHTTPException, error)
    return answer(request, exc.status_code, _detail(exc), getattr(exc, "headers", None))


async def validation_error(request: Request, error: Exception) -> Response:
    errors = cast(RequestValidationError, error).errors()
    return answer(request, 422, validation_detail(errors, translator(request)))


async def domain_error(request: Request, error: Exception) -> Response:
    """A domain refusal (:mod:`recompense.errors`) as HTTP, for every route at once:
    its ``http_status`` (401, 404, 403, 409), else 422. A 404 says only "not found":
    whether the record does not exist or belongs to someone else is not told apart
    (unless the error is ``shown``: its message names only what the caller asked for)."""
    status = getattr(error, "http_status", 422)
    if not isinstance(status, int) or not 400 <= status < 500:
        status = 422
    if status == 401:  # the caller's own credential: its reason, or the sign-in page
        return answer(request, 401, _words(str(error), 401), {"WWW-Authenticate": "Bearer"})
    if status == 404:
        shown = getattr(error, "shown", False) is True and str(error) != ""
        return answer(request, 404, str(error) if shown else Message("error_404"))
    package = type(error).__module__.split(".")[1:2]
    scoped = package and package[0] in SCOPED_CODES
    prefix = f"refused_{package[0]}_" if scoped else "refused_"
    return answer(request, status, i18n.error_message(error, prefix))


async def unavailable_error(request: Request, error: Exception) -> Response:
    """The infrastructure failed (:class:`~recompense.errors.UnavailableError`): a
    programme that cannot be read is 503 with its message; any other outage is answered
    as :class:`CatchAll` would (503 if transient, else 500), and logged as it would be."""
    if getattr(error, "http_status", None) == 503:
        error_log.warning("%s", error, extra=_where(request.scope))
        retry = {"Retry-After": str(RETRY_AFTER_S)}
        return answer(request, 503, str(error) or Message("problem_503"), retry)
    error_log.error("unhandled error", exc_info=error, extra=_where(request.scope))
    return _unhandled(request, error)


def validation_detail(errors: Sequence[Any], t: i18n.Translator) -> str:
    """Each field and what is wrong with it, in ``t``'s words: never the value given.

    ``errors`` are pydantic's (``ValidationError.errors()``); only their ``type``, the
    field names of ``loc`` and the schema's own limits in ``ctx`` are read.
    """
    shown = [
        t("problem_field", field=_field(e.get("loc", ()), t), problem=_problem(e, t))
        for e in list(errors)[:SHOWN_PROBLEMS]
    ]
    if len(errors) > SHOWN_PROBLEMS:
        shown.append(t("problem_more", count=len(errors) - SHOWN_PROBLEMS))
    return "; ".join(shown) or t("error_other")


class CatchAll:
    """Pure ASGI middleware: an exception no handler took becomes a 500 (or, for a
    transient outage, a 503) answer like any other error, logged with the request id.

    Starlette's own last resort answers outside every middleware, as plain text without
    the security headers; this one sits inside :class:`SecurityHeaders`. An exception
    after the answer has started cannot be answered any more: it is raised on, and the
    server closes the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: AsgiMessage) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            error_log.error("unhandled error", exc_info=exc, extra=_where(scope))
            response = _unhandled(Request(scope, receive), exc)
            await response(scope, receive, send)


class BodyTooLarge(HTTPException):
    """A request body past its limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, Message("problem_413_limit", limit=f"{limit // MIB} MiB"))


class BodyLimit:
    """Pure ASGI middleware: a request body past its limit is refused (413) before it is
    read whole.

    A ``Content-Length`` past the limit is answered at once, without a byte of the body
    read; a body without one (chunked) is counted as it arrives, and refused the moment
    it passes the limit. ``limits`` gives a path a limit of its own (the self-check's
    uploads, a loan application's statements; a path may name a segment ``{param}``, as
    routes do: ``/cases/{case_id}/evidence``); every other path has ``default``. On a
    ``self_limited`` path the route refuses a declared size itself, on its own page that
    says which of its limits was passed; here such a body is only counted as it arrives.
    """

    def __init__(
        self,
        app: ASGIApp,
        default: int = DEFAULT_BODY_LIMIT,
        limits: Mapping[str, int] | None = None,
        self_limited: frozenset[str] = frozenset(),
    ) -> None:
        self.app, self.default, self.limits = app, default, dict(limits or {})
        self.patterns = [(_path_pattern(p), n) for p, n in self.limits.items() if "{" in p]
        self.self_limited = self_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = 0 if scope["path"] in self.self_limited else _content_length(scope) or 0
        if declared > limit:
            error = BodyTooLarge(limit)
            response = answer(Request(scope, receive), 413, _detail(error))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> AsgiMessage:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    def _limit(self, path: str) -> int:
        found = self.limits.get(path)
        if found is not None:
            return found
        for pattern, limit in self.patterns:
            if pattern.fullmatch(path):
                return limit
        return self.default


def _path_pattern(path: str) -> re.Pattern[str]:
    """``/cases/{case_id}/evidence`` → a pattern: each ``{param}`` one whole segment."""
    segments = path.split("/")
    return re.compile("/".join("[^/]+" if _PARAM.fullmatch(s) else re.escape(s) for s in segments))


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _unhandled(request: Request, exc: Exception) -> Response:
    outage = failures.classify(exc)
    try:
        if outage is not None and outage.transient:
            retry = {"Retry-After": str(RETRY_AFTER_S)}
            return answer(request, 503, Message("problem_503"), retry)
        reference = REQUEST_ID.get() or "-"
        return answer(request, 500, Message("problem_500", reference=reference))
    except Exception as failed:  # the page itself cannot be made: the plainest one
        error_log.error("error page failed", exc_info=failed, extra=_where(request.scope))
        return HTMLResponse(_FALLBACK_PAGE.format(status=500), 500)


def _detail(exc: StarletteHTTPException) -> str:
    detail: Any = exc.detail
    if isinstance(detail, Message):
        return detail  # put into the caller's words by answer()
    text = detail if isinstance(detail, str) else ""  # a structure is never shown
    return _words(text, exc.status_code)


def _words(text: str, status: int) -> str:
    """A known text, or the framework's own phrase, as a :class:`Message` in the
    caller's words; any other text as it is (its raiser wrote it for the caller)."""
    if text in _KNOWN_TEXT:
        return Message(_KNOWN_TEXT[text])
    if text.startswith("role ") and text.endswith(" may not use this"):
        return Message("error_403")  # RoleCheck's refusal (recompense.web.auth)
    if not text or text == _phrase(status):  # the framework's own: in words
        return Message(GENERIC.get(status, "error_other"))
    return text


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


_PROBLEMS: dict[str, tuple[str, str | None]] = {  # pydantic's type → (key, ctx limit)
    "missing": ("problem_missing", None),
    "string_too_long": ("problem_too_long", "max_length"),
    "string_too_short": ("problem_too_short", "min_length"),
    "too_long": ("problem_too_many", "max_length"),
    "too_short": ("problem_too_few", "min_length"),
    "string_pattern_mismatch": ("problem_pattern", None),
    "string_type": ("problem_text", None),
    "int_parsing": ("problem_integer", None),
    "int_type": ("problem_integer", None),
    "int_from_float": ("problem_integer", None),
    "float_parsing": ("problem_number", None),
    "float_type": ("problem_number", None),
    "greater_than_equal": ("problem_at_least", "ge"),
    "less_than_equal": ("problem_at_most", "le"),
    "greater_than": ("problem_above", "gt"),
    "less_than": ("problem_below", "lt"),
    "literal_error": ("problem_choice", "expected"),
    "enum": ("problem_choice", "expected"),
    "bool_parsing": ("problem_bool", None),
    "bool_type": ("problem_bool", None),
    "json_invalid": ("problem_json", None),
    "model_attributes_type": ("problem_object", None),
    "dict_type": ("problem_object", None),
    "model_type": ("problem_object", None),
    "list_type": ("problem_list", None),
    "extra_forbidden": ("problem_extra", None),
}


def _problem(error: Mapping[str, Any], t: i18n.Translator) -> str:
    kind = str(error.get("type", ""))
    if kind.startswith(("date_", "datetime_")):
        return t("problem_date")
    key, limit = _PROBLEMS.get(kind, ("problem_other", None))
    if limit is None:
        return t(key)
    ctx = error.get("ctx") or {}
    value = ctx.get(limit)  # the schema's own limit, never the input
    return t(key, limit=value) if value is not None else t("problem_other")


def _field(loc: Sequence[Any], t: i18n.Translator) -> str:
    """``("body", "amount_usd")`` → ``amount_usd``; a name not like a field's (a key of
    the caller's own, a JSON position) is not repeated."""
    names = [str(part) for part in loc if not isinstance(part, int) and part not in _WHERE]
    shown = [n if _FIELD_NAME.fullmatch(n) else "…" for n in names]
    return ".".join(shown) or t("problem_body")


def _where(scope: Scope) -> dict[str, Any]:
    return {"method": scope.get("method"), "route": route_template(scope), "path": scope["path"]}


def document(app: FastAPI) -> None:
    """Declare the error answers in the OpenAPI schema as what they are: problem details
    (``application/problem+json``), FastAPI's own 422 included."""
    from recompense.web.models import ErrorOut

    build = app.openapi
    shape = {"$ref": "#/components/schemas/ErrorOut"}

    def openapi() -> dict[str, Any]:
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ErrorOut", ErrorOut.model_json_schema()
        )
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    declared = content.get("application/json", {}).get("schema", {})
                    errors = ("/ErrorOut", "/HTTPValidationError")
                    if status[:1] in "45" and str(declared.get("$ref", "")).endswith(errors):
                        del content["application/json"]
                        content[MEDIA_TYPE] = {"schema": shape}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
