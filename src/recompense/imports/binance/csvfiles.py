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
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

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
_NAMES = {
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
    rows = tuple(_rows(path, header, lines, _PARSERS[kind]))
    product = _product(path, kind, header_product, rows)
    uids = frozenset(
        r.uid for r in rows if isinstance(r, Trade | Order | StatementRow) and r.uid is not None
    )
    return ExportFile(path, kind, product, "csv", rows, uids)


def _decode(path: Path, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExportError(
            f"{path}: UTF-16 text (byte-order mark {data[:2].hex(' ')}); Binance exports are "
            "UTF-8: export the file again or save it as UTF-8"
        )
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ExportError(
            f"{path}:{line}: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "Binance exports are UTF-8: was the file re-saved in another encoding?"
        ) from None


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
    parts = [f"looks like a {_NAMES[best]} export but"]
    if missing:
        parts.append(f"column(s) {', '.join(repr(c) for c in missing)} missing")
    if extra:
        parts.append(f"unexpected column(s) {', '.join(repr(c) for c in extra)}")
    if not missing and not extra:
        parts.append(f"the columns are in another order (expected {','.join(best)})")
    return " ".join(parts[:1]) + " " + "; ".join(parts[1:])


def _rows(
    path: Path, header: tuple[str, ...], lines: Iterator[list[str]], parse: _Parser
) -> Iterator[Row]:
    line = 1
    try:
        for cells in lines:
            line = lines.line_num  # type: ignore[attr-defined]
            if not cells or cells == [""]:
                continue
            if len(cells) != len(header):
                cut = "cut short" if len(cells) < len(header) else "too long"
                raise ExportError(
                    f"{path}:{line}: row {cut}: {len(cells)} fields, the header has "
                    f"{len(header)} (a truncated or hand-edited file?)"
                )
            yield _parse_row(path, line, header, cells, parse)
    except csv.Error as exc:
        raise ExportError(f"{path}:{line + 1}: not CSV: {exc} (a truncated file?)") from None


def _parse_row(
    path: Path, line: int, header: tuple[str, ...], cells: list[str], parse: _Parser
) -> Row:
    row = dict(zip(header, cells, strict=True))
    where = Where(str(path), line)
    column = ""

    def get(name: str) -> str:
        nonlocal column
        column = name
        return row[name].strip()

    try:
        return parse(get, where)
    except FieldError as exc:
        raise ExportError(f"{path}:{line}: column {column!r}: {exc}") from None


_Get = Callable[[str], str]
_Parser = Callable[[_Get, Where], Row]


def _ledger(get: _Get, where: Where) -> Row:
    return LedgerRow(
        time=utc_time(get("Date(UTC)")),
        type=_required(get("type")),
        amount=number(get("Amount")),
        asset=_required(get("Asset")),
        symbol=get("Symbol"),
        txid=identifier(get("Transaction ID")),
        where=where,
    )


def _trade(get: _Get, where: Where) -> Row:
    return Trade(
        uid=identifier(get("Uid")),
        time=utc_time(get("Time(UTC)")),
        symbol=_required(get("Symbol")),
        side=_one_of(get("Side"), ("BUY", "SELL")),
        position_side=_one_of(get("Position Side"), ("LONG", "SHORT", "BOTH")),
        quantity=_after_price(number(get("Price")), get),
        fee_asset=fee_asset(get("Fee")),
        realized=number(get("Realized Profit")),
        trade_id=identifier(get("Trade Id")),
        order_id=identifier(get("Order Id")),
        where=where,
    )


def _order(get: _Get, where: Where) -> Row:
    usdm = _has(get, "Client Order Id")
    return Order(
        uid=identifier(get("Uid")),
        time=utc_time(get("Time(UTC)" if usdm else "Date(UTC)")),
        order_id=identifier(get("Order No")),
        symbol=_required(get("Symbol")),
        status=_required(get("Status")),
        client_id=get("Client Order Id") if usdm else None,
        executed=number(get("Executed Amount" if usdm else "Executed")),
        where=where,
    )


def _position(get: _Get, where: Where) -> Row:
    closed = get("Closed")
    return Position(
        symbol=_required(get("symbol")),
        margin_mode=get("Margin Mode"),
        side=get("Position Side"),
        closing_pnl=number(get("Closing PNL")),
        opened=utc_time(get("Opened")),
        closed=utc_time(closed) if closed else None,
        status=get("Status"),
        where=where,
    )


def _statement(get: _Get, where: Where) -> Row:
    return StatementRow(
        uid=identifier(get("User_ID")),
        time=utc_time(get("UTC_Time")),
        account=_required(get("Account")),
        operation=_required(get("Operation")),
        coin=_required(get("Coin")),
        change=number(get("Change")),
        where=where,
    )


_PARSERS: dict[Kind, _Parser] = {
    "ledger": _ledger,
    "trades": _trade,
    "orders": _order,
    "positions": _position,
    "statement": _statement,
}


def _has(get: _Get, name: str) -> bool:
    try:
        get(name)
    except KeyError:
        return False
    return True


def _required(text: str) -> str:
    if not text:
        raise FieldError("empty")
    return text


def _one_of(text: str, allowed: Sequence[str]) -> str:
    if text not in allowed:
        raise FieldError(f"{text!r} is not one of {', '.join(allowed)}")
    return text


def _after_price(price: Decimal, get: _Get) -> Decimal:
    """The quantity, read after the price (parsed for its errors only: no rule needs it)."""
    del price
    return number(get("Quantity"))


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
            return _NAMES[header]
    return kind  # pragma: no cover
