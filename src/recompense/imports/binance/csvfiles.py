"""Binance's CSV exports, recognised by their header (never by their file name).

Binance writes them as UTF-8 with a byte-order mark, every field quoted, times as naive
UTC (``Date(UTC)``, ``Time(UTC)``), numbers as 8-decimal text with zero as ``0E-8``, and
fees as text with their asset (``-0.68126964 USDT``). Which product a file belongs to is
told by the header where it differs (COIN-M's trade export swaps ``Maker``/``Buyer``; its
order export has no ``Client Order Id``) and checked against every symbol in the file
(COIN-M symbols end ``USD_PERP`` or ``USD_<yymmdd>``).

A file that is not one of these, is not UTF-8, has a renamed or missing column, a row
cut short, or a value that does not parse is refused with its file, line and column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recompense.imports.binance.errors import ExportError
from recompense.imports.binance.records import (
    USDM_ONLY_ASSETS,
    ExportFile,
    FieldError,
    Kind,
    LedgerRow,
    Order,
    Position,
    Product,
    Row,
    StatementRow,
    Trade,
    Where,
    fee_asset,
    identifier,
    number,
    product_of_symbol,
    utc_time,
    utf8_text,
)

LEDGER = ("Date(UTC)", "type", "Amount", "Asset", "Symbol", "Transaction ID")
_TRADES = (
    "Uid", "Time(UTC)", "Symbol", "Side", "Position Side", "Price", "Quantity", "Amount",
    "Fee", "Realized Profit", "Buyer", "Maker", "Trade Id", "Order Id",
)  # fmt: skip
TRADES_USDM = _TRADES
TRADES_COINM = (*_TRADES[:10], "Maker", "Buyer", *_TRADES[12:])
ORDERS_USDM = (
    "Uid", "Time(UTC)", "Order No", "Symbol", "Type", "Side", "Position Side", "Price",
    "Average Price", "Amount", "Executed Amount", "Executed Quote Amount", "Stop Price",
    "Status", "Client Order Id", "Time In Force", "Activate Price", "Price Rate",
    "Working Type", "Price Protect", "Update Time",
)  # fmt: skip
ORDERS_COINM = (
    "Uid", "Date(UTC)", "Order No", "Symbol", "Type", "Side", "Price", "Amount", "Executed",
    "Average price", "Trading total", "Stop Price", "Status",
)  # fmt: skip
POSITIONS = (
    "symbol", "Margin Mode", "Position Side", "Entry Price", "Avg. Close Pirce",
    "Max Open Interest", "Closed Vol.", "Closing PNL", "Opened", "Closed", "Status",
)  # fmt: skip
STATEMENT = ("User_ID", "UTC_Time", "Account", "Operation", "Coin", "Change", "Remark")

# header -> (kind, product the header implies, or None when only the symbols can tell)
HEADERS: dict[tuple[str, ...], tuple[Kind, Product | None]] = {
    LEDGER: ("ledger", None),
    TRADES_USDM: ("trades", "usdm_futures"),
    TRADES_COINM: ("trades", "coinm_futures"),
    ORDERS_USDM: ("orders", "usdm_futures"),
    ORDERS_COINM: ("orders", "coinm_futures"),
    POSITIONS: ("positions", None),
    STATEMENT: ("statement", None),
}
HEADER_NAMES = {
    LEDGER: "Transaction History",
    TRADES_USDM: "USDⓈ-M Trade History",
    TRADES_COINM: "COIN-M Trade History",
    ORDERS_USDM: "USDⓈ-M Order History",
    ORDERS_COINM: "COIN-M Order History",
    POSITIONS: "Position History",
    STATEMENT: "account statement",
}


def read_csv_export(path: Path, data: bytes | None = None) -> ExportFile:
    """Recognise and parse one CSV export; ``data`` instead of reading ``path`` (uploads)."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    text = _decode(path, data)
    lines = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = tuple(cell.strip() for cell in next(lines))
    except StopIteration:
        raise ExportError(f"{path}: empty file (no header line)") from None
    except csv.Error as exc:
        raise ExportError(f"{path}:1: not CSV: {exc}") from None
    if header not in HEADERS:
        raise ExportError(f"{path}:1: {_unknown_header(header)}")
    kind, header_product = HEADERS[header]
    rows = tuple(_rows(path, header, lines, _SPECS[header]))
    product = _product(path, kind, header_product, rows)
    uids = frozenset(
        r.uid for r in rows if isinstance(r, Trade | Order | StatementRow) and r.uid is not None
    )
    return ExportFile(path, kind, product, "csv", rows, uids)


def _decode(path: Path, data: bytes) -> str:
    return utf8_text(
        path,
        data,
        wide=f"UTF-16 text (byte-order mark {data[:2].hex(' ')}); Binance exports are "
        "UTF-8: export the file again or save it as UTF-8",
        origin="Binance exports are",
    )


def _unknown_header(header: tuple[str, ...]) -> str:
    """Name the closest export and what differs, else say what the file is not."""
    best = max(HEADERS, key=lambda known: len(set(known) & set(header)))
    common = set(best) & set(header)
    if len(common) * 2 < len(best):
        shown = ",".join(header[:8]) + (",…" if len(header) > 8 else "")
        return (
            f"not a Binance futures export this importer knows (header {shown}); it reads "
            "USDⓈ-M and COIN-M Transaction, Trade, Order and Position History and the "
            "account statement"
        )
    missing = [c for c in best if c not in header]
    extra = [c for c in header if c not in best]
    parts = [f"looks like a {HEADER_NAMES[best]} export but"]
    if missing:
        parts.append(f"column(s) {', '.join(repr(c) for c in missing)} missing")
    if extra:
        parts.append(f"unexpected column(s) {', '.join(repr(c) for c in extra)}")
    if not missing and not extra:
        parts.append(f"the columns are in another order (expected {','.join(best)})")
    return " ".join(parts[:1]) + " " + "; ".join(parts[1:])


def _rows(
    path: Path, header: tuple[str, ...], lines: Iterator[list[str]], spec: _Spec
) -> Iterator[Row]:
    columns = [(header.index(name), name, read) for name, read in spec.columns]
    width, file = len(header), str(path)
    line = 1
    try:
        for cells in lines:
            line = lines.line_num  # type: ignore[attr-defined]
            if len(cells) != width:
                if not cells or cells == [""]:
                    continue
                cut = "cut short" if len(cells) < width else "too long"
                raise ExportError(
                    f"{path}:{line}: row {cut}: {len(cells)} fields, the header has "
                    f"{width} (a truncated or hand-edited file?)"
                )
            try:
                values = [read(cells[i].strip()) for i, _, read in columns]
            except FieldError:
                raise _named(path, line, cells, columns) from None
            yield spec.build(values, Where(file, line))
    except csv.Error as exc:
        raise ExportError(f"{path}:{line + 1}: not CSV: {exc} (a truncated file?)") from None


def _named(
    path: Path, line: int, cells: list[str], columns: list[tuple[int, str, _Read]]
) -> ExportError:
    """The first column of the row that does not parse, with why."""
    for i, name, read in columns:
        try:
            read(cells[i].strip())
        except FieldError as exc:
            return ExportError(f"{path}:{line}: column {name!r}: {exc}")
    return ExportError(f"{path}:{line}: a value does not parse")  # pragma: no cover


_Read = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class _Spec:
    """The columns a kind of export is read from, in order, and how a row is built."""

    columns: tuple[tuple[str, _Read], ...]
    build: Callable[[list[Any], Where], Row]


def _text(text: str) -> str:
    return text


def _required(text: str) -> str:
    if not text:
        raise FieldError("empty")
    return text


def _one_of(*allowed: str) -> _Read:
    def read(text: str) -> str:
        if text not in allowed:
            raise FieldError(f"{text!r} is not one of {', '.join(allowed)}")
        return text

    return read


def _optional_time(text: str) -> Any:
    return utc_time(text) if text else None


_LEDGER = _Spec(
    (("Date(UTC)", utc_time), ("type", _required), ("Amount", number), ("Asset", _required),
     ("Symbol", _text), ("Transaction ID", identifier)),
    lambda v, w: LedgerRow(v[0], v[1], v[2], v[3], v[4], v[5], w),
)  # fmt: skip
_TRADE = _Spec(
    (("Uid", identifier), ("Time(UTC)", utc_time), ("Symbol", _required),
     ("Side", _one_of("BUY", "SELL")), ("Position Side", _one_of("LONG", "SHORT", "BOTH")),
     ("Price", number),  # read for its errors only: no rule needs the price
     ("Quantity", number), ("Fee", fee_asset), ("Realized Profit", number),
     ("Trade Id", identifier), ("Order Id", identifier)),
    lambda v, w: Trade(v[0], v[1], v[2], v[3], v[4], v[6], v[7], v[8], v[9], v[10], w),
)  # fmt: skip
_ORDER_USDM = _Spec(
    (("Uid", identifier), ("Time(UTC)", utc_time), ("Order No", identifier),
     ("Symbol", _required), ("Status", _required), ("Client Order Id", _text),
     ("Executed Amount", number)),
    lambda v, w: Order(v[0], v[1], v[2], v[3], v[4], v[5], v[6], w),
)  # fmt: skip
_ORDER_COINM = _Spec(
    (("Uid", identifier), ("Date(UTC)", utc_time), ("Order No", identifier),
     ("Symbol", _required), ("Status", _required), ("Executed", number)),
    lambda v, w: Order(v[0], v[1], v[2], v[3], v[4], None, v[5], w),
)  # fmt: skip
_POSITION = _Spec(
    (("symbol", _required), ("Margin Mode", _text), ("Position Side", _text),
     ("Closing PNL", number), ("Opened", utc_time), ("Closed", _optional_time),
     ("Status", _text)),
    lambda v, w: Position(v[0], v[1], v[2], v[3], v[4], v[5], v[6], w),
)  # fmt: skip
_STATEMENT = _Spec(
    (("User_ID", identifier), ("UTC_Time", utc_time), ("Account", _required),
     ("Operation", _required), ("Coin", _required), ("Change", number)),
    lambda v, w: StatementRow(v[0], v[1], v[2], v[3], v[4], v[5], w),
)  # fmt: skip
_SPECS: dict[tuple[str, ...], _Spec] = {
    LEDGER: _LEDGER,
    TRADES_USDM: _TRADE,
    TRADES_COINM: _TRADE,
    ORDERS_USDM: _ORDER_USDM,
    ORDERS_COINM: _ORDER_COINM,
    POSITIONS: _POSITION,
    STATEMENT: _STATEMENT,
}


def _product(
    path: Path, kind: Kind, header_product: Product | None, rows: tuple[Row, ...]
) -> Product | None:
    """The file's product: from its symbols, agreeing with its header where it has one."""
    if kind == "statement":
        return None
    found: dict[Product, Row] = {}
    for row in rows:
        symbol = getattr(row, "symbol", "")
        if symbol:
            found.setdefault(product_of_symbol(symbol), row)
    if len(found) > 1:
        usdm, coinm = found["usdm_futures"], found["coinm_futures"]
        raise ExportError(
            f"{path}: mixes USDⓈ-M symbols ({usdm.symbol} at line {usdm.where.line}) and "  # type: ignore[union-attr]
            f"COIN-M symbols ({coinm.symbol} at line {coinm.where.line}); export each "  # type: ignore[union-attr]
            "product separately"
        )
    if found:
        (product,) = found
        if header_product is not None and product != header_product:
            row = found[product]
            raise ExportError(
                f"{path}:{row.where.line}: column 'Symbol': {row.symbol} is a "  # type: ignore[union-attr]
                f"{'COIN-M' if product == 'coinm_futures' else 'USDⓈ-M'} symbol but the "
                f"header is the {_header_name(kind, header_product)} export's"
            )
        return product
    if header_product is not None:
        return header_product
    assets = {r.asset for r in rows if isinstance(r, LedgerRow)}
    if assets and assets <= USDM_ONLY_ASSETS:
        return "usdm_futures"
    if not rows:
        raise ExportError(f"{path}: no rows, and nothing tells its product")
    raise ExportError(
        f"{path}: cannot tell USDⓈ-M from COIN-M: no row names a symbol (assets "
        f"{', '.join(sorted(assets))})"
    )


def _header_name(kind: Kind, product: Product) -> str:
    for header, (k, p) in HEADERS.items():
        if k == kind and p == product:
            return HEADER_NAMES[header]
    return kind  # pragma: no cover
