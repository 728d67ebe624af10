""" "Check with your own exports": a user uploads Binance exports and sees what the
programme's rules say about them (:func:`recompense.selfcheck.selfcheck`, the same
story as ``recompense selfcheck``).

- **The files** are read into memory under :data:`LIMITS` as the body arrives
  (:mod:`recompense.web.uploads`): never spooled to disk, never kept, never logged. (The
  domain function hands the derived contract tables, not the files, to the engine
  through a temporary folder that it removes before returning.)
- **Whose files**: any. The page checks the files it is given and shows the result to
  the one who gave them, nobody else; when the exports' uid is not the signed-in user's,
  it says so. Nothing is recorded and no payout changes.
- **The programme, the published run and the prices** are the server's
  (:class:`~recompense.web.settings.SelfCheckSettings`); without a run configured, the
  run of the distributed programme with the same id, if there is one.
- **CSRF**: the route reads its own body, so it checks the form's ``csrf_token`` itself
  (:func:`~recompense.web.csrf.verify_sent`), as soon as the field arrives (the page
  sends it first) and again at the end.

Answers: 200 the result; 400 a body that is not an upload; 403 no CSRF token; 413 a
limit passed; 422 a file or figure the check refuses, with the importer's message
(file, line, column); 503 no programme configured. Each is the page with the form.
Two checks at a time per process (3 to 4 s each; a first check in a process raised its
peak memory from 106 to 260 MB, imports included); more wait.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from recompense.errors import InputError, RecompenseError
from recompense.web import pages
from recompense.web.auth import Principal
from recompense.web.charts import loss_timeline_chart
from recompense.web.csrf import FIELD, HEADER, verify_sent
from recompense.web.i18n import Translator
from recompense.web.models import ERRORS
from recompense.web.routes.common import UserOnly, service
from recompense.web.story import from_selfcheck
from recompense.web.uploads import MIB, Limits, UploadRefused, read_form

if TYPE_CHECKING:
    from recompense.imports.binance import Upload
    from recompense.selfcheck import SelfCheck

router = APIRouter(responses=ERRORS)
log = logging.getLogger(__name__)

LIMITS = Limits(files=12, file_bytes=5 * MIB, total_bytes=20 * MIB)
SHOWN_FILLS = 100  # the table's rows; the page says "the first 100 of N"
SHOWN_MINUTES = 240  # the chart's numbers as a table, for readers who cannot see it
SLOTS = threading.BoundedSemaphore(2)  # checks at a time in this process
NET_ASSETS = "net_assets_usd"
_AMOUNT = re.compile(r"^\d{1,12}(?:[.,]\d{1,2})?$")


@dataclass(frozen=True, slots=True)
class Programme:
    """The configured programme file, loaded once: what the page shows and checks."""

    path: Path
    id: str
    name: str
    currency: str
    params: dict[str, Any]


@router.get("/selfcheck", response_class=HTMLResponse)
def selfcheck_page(request: Request, principal: UserOnly) -> HTMLResponse:
    """The form: the exports to upload and, optionally, the user's own net assets."""
    return _page(request, principal, _programme(request))


@router.post(
    "/selfcheck",
    response_class=HTMLResponse,
    responses={
        400: {"description": "not a file upload"},
        413: {"description": "more than 12 files, 5 MiB a file or 20 MiB together"},
        422: {"description": "a file or figure the check refuses (the message names it)"},
        503: {"description": "no programme configured for the self-check"},
    },
)
async def selfcheck_form(request: Request, principal: UserOnly) -> HTMLResponse:
    """Check the uploaded exports; the page with the result, or with what is wrong."""
    programme = await run_in_threadpool(_programme, request)
    if programme is None:
        raise HTTPException(503, "the self-check is not configured on this server")

    async def show(**context: Any) -> HTMLResponse:  # off the event loop: it may read runs
        return await run_in_threadpool(partial(_page, request, principal, programme, **context))

    typed = ""
    try:
        form = await read_form(
            request.headers.get("content-type", ""),
            request.headers.get("content-length"),
            request.stream(),
            LIMITS,
            on_field=partial(_early_csrf, request),
        )
        verify_sent(request, form.fields.get(FIELD) or request.headers.get(HEADER))
        typed = form.fields.get(NET_ASSETS, "")
        net = _net_assets(typed)
        if not form.files:
            raise UploadRefused(422, "upload_no_files")
    except UploadRefused as exc:
        return await show(status=exc.status, problem=(exc.key, exc.values), typed=typed)
    try:
        result = await run_in_threadpool(_check, request, programme, form.files, net)
    except InputError as exc:  # the files' own problems, named: file, line, column
        return await show(status=422, refused=str(exc), typed=typed)
    except Exception as exc:  # a bug these files reached: a page, never a traceback
        _log_failure(exc)
        return await show(status=500, failed=True, typed=typed)
    return await show(result=result, typed=typed)


def _page(
    request: Request,
    principal: Principal,
    programme: Programme | None,
    *,
    status: int = 200,
    problem: tuple[str, dict[str, object]] | None = None,
    refused: str | None = None,
    failed: bool = False,
    result: SelfCheck | None = None,
    typed: str = "",
) -> HTMLResponse:
    t = Translator(pages.locale_for(request, principal))
    view = None if result is None or programme is None else _view(result, programme, t)
    response = pages.render(
        request,
        "selfcheck.html",
        principal,
        status_code=status,
        programme=programme,
        limits={
            "files": LIMITS.files,
            "file_mib": LIMITS.file_bytes // MIB,
            "total_mib": LIMITS.total_bytes // MIB,
        },
        accept=",".join(LIMITS.suffixes),
        prices=_prices(request),
        problem=None if problem is None else t(problem[0], **problem[1]),
        refused=refused,
        failed=failed,
        typed=typed,
        result=result,
        view=view,
    )
    response.headers["Cache-Control"] = "no-store"  # someone's trading history: not cached
    return response


def _view(result: SelfCheck, programme: Programme, t: Translator) -> dict[str, Any]:
    """What the result section shows, in numbers the template only has to place."""
    fills = [
        {
            "time": f.ts[:19].replace("T", " "),
            "symbol": f.symbol,
            "asset": f.margin_asset,
            "pnl": t.decimal(f.realized_pnl),
            "fee": t.decimal(f.clearance_fee),
            "price": t.decimal(f.price_usd),
            "loss_micros": f.loss_micros,
            "loss": t.money(_cents(f.loss_micros)),
            "source": f.source,
        }
        for f in result.fills[:SHOWN_FILLS]
    ]
    minutes = [(m[11:16], t.money(cents)) for m, cents in result.timeline[:SHOWN_MINUTES]]
    return {
        "story": from_selfcheck(result, programme.params, programme.currency),
        "fills": fills,
        "total_fills": len(result.fills),
        "chart": loss_timeline_chart(result.timeline, t),
        "minutes": minutes,
    }


def _programme(request: Request) -> Programme | None:
    """The configured programme file, loaded once per process; 503 if it does not load."""
    path: Path | None = request.app.state.settings.selfcheck.program
    if path is None:
        return None
    cache = service(request).cache
    key = ("selfcheck", str(path), "programme")
    found: Programme | None = cache.get(key)
    if found is None:
        from recompense.policy import load_policy
        from recompense.runs.execute import policy_parameters

        try:
            policy = load_policy(path)
        except RecompenseError as exc:
            raise HTTPException(503, f"the self-check's programme {path.name}: {exc}") from exc
        p = policy.program
        found = cache[key] = Programme(path, p.id, p.name, p.currency, policy_parameters(policy))
    return found


def _run(request: Request, programme: Programme) -> Path | None:
    """The configured run, else the distributed run of the same programme, else none."""
    chosen: Path | None = request.app.state.settings.selfcheck.run
    if chosen is not None:
        return chosen
    for p in service(request).programmes():
        if p.id == programme.id:
            return Path(p.run_path)
    return None


def _check(
    request: Request, programme: Programme, files: Sequence[Upload], net: Decimal | None
) -> SelfCheck:
    """The domain's self-check on the uploads, with the server's prices and run."""
    from recompense.imports.binance import ImportOptions
    from recompense.selfcheck import selfcheck

    settings = request.app.state.settings.selfcheck
    klines: dict[str, list[Path]] = {}
    for asset, path in settings.klines:
        klines.setdefault(asset, []).append(path)
    options = ImportOptions(net_assets_usd=net, klines=klines, price_files=settings.prices)
    run = _run(request, programme)
    with SLOTS:
        return selfcheck(programme.path, files, options=options, run=run)


def _prices(request: Request) -> dict[str, str]:
    """The price sources as the page names them: assets and file names, no server paths."""
    settings = request.app.state.settings.selfcheck
    return {
        "klines": ", ".join(sorted({asset for asset, _ in settings.klines})),
        "files": ", ".join(p.name for p in settings.prices),
    }


def _early_csrf(request: Request, name: str, value: str) -> None:
    """A forged form is refused when its token arrives, before its files are read."""
    if name == FIELD:
        verify_sent(request, value)


def _net_assets(typed: str) -> Decimal | None:
    """The user's own figure: digits, at most two decimals (``.`` or ``,``), no grouping."""
    cleaned = typed.strip().replace(" ", "").strip("$")
    if not cleaned:
        return None
    if not _AMOUNT.match(cleaned):
        raise UploadRefused(422, "net_assets_invalid", value=typed.strip()[:40])
    return Decimal(cleaned.replace(",", "."))


def _cents(micros: int) -> int:
    """Micro-dollars to cents, half away from zero (as the domain rounds)."""
    return int((Decimal(micros) / 10**4).quantize(Decimal(1), ROUND_HALF_UP))


def _log_failure(exc: BaseException) -> None:
    """Where it failed (files, lines, functions) and the error's type: never its message,
    which may quote the uploaded files."""
    frames = "; ".join(
        f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)
    )
    log.error("self-check failed with %s at %s", type(exc).__name__, frames)
