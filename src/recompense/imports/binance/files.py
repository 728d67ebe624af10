"""From the paths an operator names to each user's exports, deduplicated.

Folders are walked (sorted, recursively); ``*.csv`` and ``*.json`` files are read and
recognised by content, anything else (a README, the claimant's own notes) is listed as
skipped. Each export is tied to one user:

- trade, order and statement exports carry the ``Uid``/``User_ID``; one file naming two
  uids is refused;
- a Transaction History (and a REST API response) carries none: it belongs to the one
  uid named by the other exports in the **same folder**, or to ``--user-id``; where
  neither decides (no uid in its folder, or two), it is refused as ambiguous.

Rows exported twice (the same file twice, or two overlapping export periods) are kept
once: ledger rows by (type, transaction id) — a trade's
COMMISSION and REALIZED_PNL rows share one id — trades by (symbol, trade id), orders by (symbol,
order id), positions by their whole row (a position's
partial closes repeat its symbol, side and opening time); the same id with different contents is
refused. The account statement has no row id: identical rows are kept as often as the
file holding most of them has them (overlapping statements do not double).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from recompense.imports.binance.csvfiles import HEADER_NAMES, read_csv_export
from recompense.imports.binance.errors import ExportError
from recompense.imports.binance.records import (
    ExportFile,
    LedgerRow,
    Order,
    Position,
    Product,
    Row,
    StatementRow,
    Trade,
)

READ_SUFFIXES = (".csv", ".json")
MAX_LISTED_ERRORS = 20
PEEK_BYTES = 64 * 1024  # enough for a header and a first row


_LABELS = HEADER_NAMES


@dataclass(frozen=True, slots=True)
class Upload:
    """A file given as bytes (the web self-check parses uploads in memory)."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class UserExports:
    """One user's exports, each row once."""

    user_id: int
    files: tuple[ExportFile, ...]
    ledger: dict[Product, list[LedgerRow]]
    trades: dict[Product, list[Trade]]
    orders: dict[Product, list[Order]]
    positions: dict[Product, list[Position]]
    statement: list[StatementRow]
    duplicates: dict[str, int]


def gather(paths: Sequence[Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """The files to read under ``paths``, and those skipped with the reason."""
    found: list[Path] = []
    skipped: list[dict[str, str]] = []
    for path in paths:
        try:
            is_dir = path.is_dir()
            children = sorted(p for p in path.rglob("*") if p.is_file()) if is_dir else [path]
            if not is_dir and not path.is_file():
                raise ExportError(f"{path}: no such file or folder")
        except OSError as exc:  # a name too long, a folder we may not read
            raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        for child in children:
            if child.suffix.lower() in READ_SUFFIXES:
                found.append(child)
            elif is_dir:
                skipped.append({"path": str(child), "reason": "not .csv or .json"})
            else:
                raise ExportError(f"{child}: not a .csv or .json export")
    if not found:
        raise ExportError(f"no .csv or .json export found in {', '.join(map(str, paths))}")
    return sorted(set(found), key=found.index), skipped


def read_all(sources: Sequence[Path | Upload]) -> list[ExportFile]:
    """Read every export; every file's first problem is listed before giving up."""
    files: list[ExportFile] = []
    problems: list[str] = []
    for source in sources:
        try:
            files.append(read_export(source))
        except ExportError as exc:
            problems.append(str(exc))
    if problems:
        more = len(problems) - MAX_LISTED_ERRORS
        listed = problems[:MAX_LISTED_ERRORS] + ([f"… and {more} more"] if more > 0 else [])
        raise ExportError("\n".join(listed))
    return files


def read_export(source: Path | Upload) -> ExportFile:
    """One export, CSV or REST API JSON, told apart by its first character."""
    path, data = (Path(source.name), source.data) if isinstance(source, Upload) else (source, None)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"[", b"{"):
        from recompense.imports.binance.apijson import read_api_export

        return read_api_export(path, data)
    return read_csv_export(path, data)


@dataclass(frozen=True, slots=True)
class Planned:
    """A file to read for a user, and what a look at its first lines told."""

    source: Path | Upload
    path: Path
    label: str  # the export its header names ("Trade History"), or "export"
    uid: int | None  # of its first row, where the export names users


def plan(sources: Sequence[Path | Upload], user_id: int | None) -> dict[int, list[Planned]]:
    """Each user's files, from a look at each file's header and first row only.

    So that many users' exports are read one user at a time (memory stays that of the
    largest user, not of all of them). The full read checks that every row agrees.
    """
    peeked = [_peek(source) for source in sources]
    folder_uids: dict[Path, set[int]] = defaultdict(set)
    for item in peeked:
        if item.uid is not None:
            folder_uids[item.path.parent].add(item.uid)
    owners: dict[int, list[Planned]] = defaultdict(list)
    for item in peeked:
        owners[_owner(item, folder_uids[item.path.parent], user_id)].append(item)
    return {uid: owners[uid] for uid in sorted(owners)}


def read_user(uid: int, planned: Sequence[Planned]) -> UserExports:
    """Read one user's files fully, check every row is theirs, deduplicate."""
    files = read_all([item.source for item in planned])
    for file in files:
        if file.uids - {uid}:
            others = ", ".join(map(str, sorted(file.uids)))
            raise ExportError(
                f"{file.path}: rows of users {others}, but it was paired with user {uid} "
                "by its first row or its folder; export one user per file"
            )
    return _dedupe(uid, files)


def _peek(source: Path | Upload) -> Planned:
    path = Path(source.name) if isinstance(source, Upload) else source
    try:
        if isinstance(source, Upload):
            head = source.data[:PEEK_BYTES]
        else:
            with source.open("rb") as f:
                head = f.read(PEEK_BYTES)
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    if text.lstrip()[:1] in ("[", "{"):
        return Planned(source, path, "REST API response", None)
    lines = text.split("\n")
    complete = lines[:-1] if len(lines) > 1 else lines
    rows = list(csv.reader(io.StringIO("\n".join(complete[:2]))))
    header = tuple(c.strip() for c in rows[0]) if rows else ()
    label = _LABELS.get(header, "export")
    uid = None
    for column in ("Uid", "User_ID"):
        if column in header and len(rows) > 1 and len(rows[1]) == len(header):
            cell = rows[1][header.index(column)].strip()
            uid = int(cell) if cell.isdigit() and int(cell) < 2**63 else None
    return Planned(source, path, label, uid)


def _owner(item: Planned, in_folder: set[int], user_id: int | None) -> int:
    if item.uid is not None:
        if user_id is not None and item.uid != user_id:
            raise ExportError(f"{item.path}: belongs to uid {item.uid}, not to --user-id {user_id}")
        return item.uid
    if user_id is not None:
        return user_id
    if len(in_folder) == 1:
        return next(iter(in_folder))
    named = (
        f"the exports next to it name {len(in_folder)} users "
        f"({', '.join(map(str, sorted(in_folder)))})"
        if in_folder
        else "no export next to it names a uid"
    )
    read_export(item.source)  # a file that does not even read says so first
    raise ExportError(
        f"{item.path}: a {item.label} names no user and {named}; put each user's exports "
        "in a folder of their own, or pass --user-id"
    )


def _dedupe(uid: int, files: list[ExportFile]) -> UserExports:
    dup: Counter[str] = Counter()
    ledger: dict[Product, list[LedgerRow]] = {}
    trades: dict[Product, list[Trade]] = {}
    orders: dict[Product, list[Order]] = {}
    positions: dict[Product, list[Position]] = {}
    for product in ("usdm_futures", "coinm_futures"):
        of = [f for f in files if f.product == product]
        ledger[product] = _unique(
            _rows(of, "ledger"), lambda r: (r.type, r.txid), dup, "ledger", merge=_merge_ledger
        )
        trades[product] = _unique(
            _rows(of, "trades"), lambda r: (r.symbol, r.trade_id), dup, "trades"
        )
        orders[product] = _unique(
            _rows(of, "orders"), lambda r: (r.symbol, r.order_id), dup, "orders"
        )
        positions[product] = _unique(_rows(of, "positions"), _content, dup, "positions")
    statement = _multiset_union([f for f in files if f.kind == "statement"], dup)
    return UserExports(uid, tuple(files), ledger, trades, orders, positions, statement, dict(dup))


def _rows(files: Iterable[ExportFile], kind: str) -> list[Any]:
    return [row for f in files if f.kind == kind for row in f.rows]


def _content(row: Row) -> tuple[Any, ...]:
    return tuple(
        getattr(row, f.name) for f in fields(row) if f.name not in ("where", "trade_id", "uid")
    )


def _merge_ledger(kept: Any, other: Any) -> Any:
    """A CSV row and the same row from the API: keep the API's trade id."""
    if kept.trade_id is None and other.trade_id is not None:
        return other
    return kept


def _unique(
    rows: list[Any],
    key: Callable[[Any], Hashable],
    dup: Counter[str],
    name: str,
    merge: Callable[[Any, Any], Any] | None = None,
) -> list[Any]:
    seen: dict[Hashable, Any] = {}
    for row in rows:
        k = key(row)
        kept = seen.get(k)
        if kept is None:
            seen[k] = row
            continue
        if _content(kept) != _content(row):
            raise ExportError(
                f"{row.where}: {name} row {k} also at {kept.where} with different contents; "
                "two exports disagree about the same id"
            )
        dup[name] += 1
        if merge is not None:
            seen[k] = merge(kept, row)
    return sorted(seen.values(), key=lambda r: r.time if hasattr(r, "time") else r.opened)


def _multiset_union(files: list[ExportFile], dup: Counter[str]) -> list[StatementRow]:
    most: dict[tuple[Any, ...], list[StatementRow]] = {}
    for file in files:
        mine: dict[tuple[Any, ...], list[StatementRow]] = defaultdict(list)
        for row in file.rows:
            mine[_content(row)].append(row)  # type: ignore[arg-type]
        for k, rows in mine.items():
            if k in most:
                dup["statement"] += min(len(most[k]), len(rows))
            if len(rows) > len(most.get(k, [])):
                most[k] = rows
    return sorted((r for rows in most.values() for r in rows), key=lambda r: r.time)
