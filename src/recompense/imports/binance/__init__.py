"""Binance's own futures exports → a data-contract dataset and an import report.

::

    records     the rows an export holds (exact decimals, UTC times, where each came from)
    csvfiles    the web exports, recognised by header        ┐ → ExportFile
    apijson     the REST API's JSON responses, by their keys ┘
    files       paths → files → each user's exports, each row once
    derive      one user's exports → fills, clearance fees, snapshot balances
    prices      klines, a prices file, stablecoins → a price book
    dataset     the contract's tables, written atomically with ``import-report.json``

``import_binance`` runs them in that order; ``recompense import binance`` and the trader's
self-check (:mod:`recompense.selfcheck`) are thin layers over it. Rules and their sources:
``docs/import.md``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from recompense.imports.binance import dataset
from recompense.imports.binance.derive import Derived, derive
from recompense.imports.binance.errors import ExportError
from recompense.imports.binance.files import Planned, Upload, gather, plan, read_user
from recompense.imports.binance.prices import PriceBook, build
from recompense.imports.binance.records import ExportFile
from recompense.policy import Policy

__all__ = [
    "ExportError",
    "ImportOptions",
    "ImportResult",
    "Upload",
    "for_policy",
    "import_binance",
]

REPORT_FORMAT = "recompense-import-binance/1"
# The Together Initiative's snapshot and window: the defaults when no --program is given.
CRASH_SNAPSHOT = datetime(2025, 10, 9, 23, 59, tzinfo=UTC)
CRASH_WINDOW = (datetime(2025, 10, 10, tzinfo=UTC), datetime(2025, 10, 12, tzinfo=UTC))
DEFAULT_STABLECOINS: Mapping[str, Decimal] = {"USDT": Decimal(1), "USDC": Decimal(1)}
MAX_LISTED = 5
MAX_LISTED_PROBLEMS = 20
PARALLEL_FROM_USERS = 8  # fewer users are imported in this process


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to import; every default is stated in the report."""

    user_id: int | None = None  # the owner of exports that name no uid
    net_assets_usd: Decimal | None = None  # the user's own figure (one user only)
    user_type: str = "retail"
    snapshot_at: datetime = CRASH_SNAPSHOT
    window: tuple[datetime, datetime] = CRASH_WINDOW
    staleness_minutes: int = 60
    stablecoins: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_STABLECOINS))
    klines: Mapping[str, Sequence[Path]] = field(default_factory=dict)
    price_files: Sequence[Path] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    tables: dict[str, pa.Table]
    report: dict[str, Any]
    derived: tuple[Derived, ...]
    prices: PriceBook
    out: Path | None = None


def for_policy(options: ImportOptions, policy: Policy) -> ImportOptions:
    """``options`` with the programme's snapshot, window and price staleness."""
    return replace(
        options,
        snapshot_at=policy.program.snapshot_at,
        window=(policy.window.start, policy.window.end),
        staleness_minutes=policy.prices.staleness_minutes,
    )


def import_binance(
    sources: Sequence[Path | Upload],
    out: Path | None = None,
    *,
    options: ImportOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Read ``sources`` (files, folders or uploads), derive the contract, write ``out``.

    Raises :class:`ExportError` (exit code 2) naming file, line and column for anything
    malformed or inconsistent; nothing is written then. ``out=None`` keeps it in memory.
    """
    options = options or ImportOptions()
    paths = [s for s in sources if isinstance(s, Path)]
    found, skipped = gather(paths) if paths else ([], [])
    uploads = [s for s in sources if isinstance(s, Upload)]
    owners = plan([*found, *uploads], options.user_id)
    if options.net_assets_usd is not None and len(owners) != 1:
        raise ExportError(
            f"--net-assets-usd is one user's figure, but the exports hold {len(owners)} users"
        )
    derived: list[Derived] = []
    files: list[ExportFile] = []
    problems: list[str] = []
    work = partial(_one_user, snapshot_at=options.snapshot_at, own=options.net_assets_usd)
    with _pool(len(owners)) as pool:
        for i, done in enumerate(pool.map(work, owners.items())):
            if isinstance(done, str):
                problems.append(done)
            else:
                derived.append(done[0])
                files.extend(done[1])
            if progress is not None:
                progress(i + 1, len(owners))
    if problems:
        more = len(problems) - MAX_LISTED_PROBLEMS
        listed = problems[:MAX_LISTED_PROBLEMS] + ([f"… and {more} more"] if more > 0 else [])
        raise ExportError("\n".join(listed))
    book = build(options.klines, options.price_files, options.stablecoins)
    if options.net_assets_usd is not None:
        book.stablecoins.setdefault("USD", Decimal(1))
    needed = _needed_prices(derived, book, options)
    data = dataset.tables(
        derived, book, user_type=options.user_type, snapshot_at=options.snapshot_at, needed=needed
    )
    report = _report(files, skipped, derived, book, data, options)
    if out is not None:
        dataset.write(out, data, report)
    return ImportResult(data, report, tuple(derived), book, out)


def _one_user(
    item: tuple[int, list[Planned]], *, snapshot_at: datetime, own: Decimal | None
) -> tuple[Derived, list[ExportFile]] | str:
    """Read and derive one user (in a worker process when there are many); a problem
    comes back as its message. Only the derived rows leave: memory per worker is that
    of the largest user, not of everyone."""
    uid, planned = item
    try:
        user = read_user(uid, planned)
        derived = derive(user, snapshot_at=snapshot_at, net_assets_usd=own)
    except ExportError as exc:
        return str(exc)
    return derived, [replace(f, rows=()) for f in user.files]  # the report lists files


@contextmanager
def _pool(users: int) -> Iterator[Any]:
    """Worker processes, one per core, when there are enough users to share out.

    Forked (not spawned): a caller's script need not guard its ``__main__``, and the
    workers inherit the imported code. The importer starts no threads before this.
    """
    cores = len(os.sched_getaffinity(0))
    if users < PARALLEL_FROM_USERS or cores < 2:
        yield _Serial()
        return
    with ProcessPoolExecutor(max_workers=cores, mp_context=mp.get_context("fork")) as pool:
        yield _Chunked(pool)


class _Serial:
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        return map(fn, items)


@dataclass(frozen=True, slots=True)
class _Chunked:
    pool: ProcessPoolExecutor

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        return self.pool.map(fn, items, chunksize=4)


def _needed_prices(
    derived: Sequence[Derived], book: PriceBook, options: ImportOptions
) -> list[tuple[str, datetime]]:
    """Each priced (asset, minute): counted fills' minutes and the snapshot; all present."""
    staleness = timedelta(minutes=options.staleness_minutes)
    start, end = options.window
    needed: dict[tuple[str, datetime], str] = {}
    for d in derived:
        for f in d.fills:
            if f.kind == "liquidation" and start <= f.ts < end:
                key = (f.margin_asset, f.ts.replace(second=0))
                needed.setdefault(key, f"fill {f.fill_id} ({f.trade.where})")
        for b in d.balances:
            needed.setdefault(
                (b.asset, options.snapshot_at), f"user {d.user_id}'s {b.wallet} balance"
            )
    missing = [
        f"{asset} at {minute:%Y-%m-%d %H:%M} UTC (for {why})"
        for (asset, minute), why in sorted(needed.items())
        if book.lookup(asset, minute, staleness) is None
    ]
    if missing:
        more = f"; … {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
        raise ExportError(
            f"no USD price within {options.staleness_minutes} min for "
            f"{'; '.join(missing[:MAX_LISTED])}{more}. Give 1-minute klines (--klines "
            "ASSET=FILE), a prices file (--prices FILE) or a stablecoin value "
            "(--stablecoin ASSET=VALUE)"
        )
    return sorted(needed)


def _report(
    files: Sequence[Any],
    skipped: list[dict[str, str]],
    derived: Sequence[Derived],
    book: PriceBook,
    data: dict[str, pa.Table],
    options: ImportOptions,
) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "options": {
            "snapshot_at": options.snapshot_at.isoformat(),
            "window": [t.isoformat() for t in options.window],
            "staleness_minutes": options.staleness_minutes,
            "user_id": options.user_id,
            "net_assets_usd": None
            if options.net_assets_usd is None
            else str(options.net_assets_usd),
            "user_type": options.user_type,
        },
        "files": [
            {
                "path": str(f.path),
                "export": f.label,
                "rows": f.row_count,
                "uids": sorted(f.uids),
            }
            for f in files
        ],
        "skipped_files": skipped,
        "prices": {"sources": book.described, "rows": data["prices"].num_rows},
        "tables": {name: t.num_rows for name, t in data.items()},
        "users": [_user_report(d, options) for d in derived],
    }


def _user_report(d: Derived, options: ImportOptions) -> dict[str, Any]:
    start, end = options.window
    fills = [f for f in d.fills]
    how: dict[str, int] = {}
    for f in fills:
        how[f"{f.kind}: {f.how}"] = how.get(f"{f.kind}: {f.how}", 0) + 1
    in_window = [f for f in fills if f.kind == "liquidation" and start <= f.ts < end]
    return {
        "user_id": d.user_id,
        "fills_written": len(fills),
        "liquidation_fills_in_window": len(in_window),
        "classified": how,
        "counts": dict(sorted(d.counts.items())),
        "clearance_fees": d.fees,
        "net_assets": {
            "source": d.net_assets_source,
            "balances": [
                {"wallet": b.wallet, "asset": b.asset, "amount": str(b.amount)} for b in d.balances
            ],
        },
        "warnings": d.warnings,
    }
