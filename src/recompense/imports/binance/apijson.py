"""Binance's REST API responses, saved as JSON, read into the same records as the CSVs.

Operations teams pull what the web exports hold from the API and save each response body
as it came: one top-level JSON array of objects. Three endpoints are read, each in its
USDⓈ-M (``/fapi``) and COIN-M (``/dapi``) form: ``GET /fapi/v1/income`` (kind ledger),
``GET /fapi/v1/userTrades`` (trades) and ``GET /fapi/v1/allOrders`` (orders). Which one a
file holds is told by its elements' keys, never by its name; which product, by its symbols
exactly as for the CSVs (:func:`.records.product_of_symbol`), and the keys only ``/dapi``
writes (``pair``, ``marginAsset``, ``baseQty``, ``cumBase``) must agree with them.

Numbers are read exactly: the JSON is parsed with ``parse_float=Decimal``, so ``0.1`` is
``Decimal('0.1')`` and never a binary float, and numeric strings and JSON numbers both go
through :func:`.records.number` (at most 12 places, below 10¹⁵). Times are epoch
milliseconds in UTC; ids are integers within int64 (``/dapi`` writes ``tranId`` as a
string of digits, which is accepted). The API names no uid: records carry ``uid=None``.

Every refusal is an :class:`.ExportError` naming the file, the 1-based element and the
key; a record's ``Where.line`` is its element index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from recompense.imports.binance.errors import ExportError
from recompense.imports.binance.records import (
    INT64_MAX,
    USDM_ONLY_ASSETS,
    ExportFile,
    FieldError,
    Kind,
    LedgerRow,
    Order,
    Product,
    Trade,
    Where,
    epoch_ms,
    identifier,
    number,
    product_of_symbol,
    utf8_text,
)

_ApiRow = LedgerRow | Trade | Order
# The keys every element must have, in the order a missing one is reported.
INCOME = ("symbol", "incomeType", "income", "asset", "time", "tranId")
USER_TRADES = (
    "symbol", "id", "orderId", "side", "positionSide", "price", "qty", "commission",
    "commissionAsset", "realizedPnl", "time",
)  # fmt: skip
ALL_ORDERS = ("symbol", "orderId", "clientOrderId", "status", "executedQty", "time")
ENDPOINTS: dict[Kind, tuple[str, tuple[str, ...]]] = {
    "ledger": ("GET /fapi/v1/income", INCOME),
    "trades": ("GET /fapi/v1/userTrades", USER_TRADES),
    "orders": ("GET /fapi/v1/allOrders", ALL_ORDERS),
}
# Keys only the COIN-M (/dapi) twin writes: all present for a COIN-M symbol, none else.
_COINM_KEYS: dict[Kind, tuple[str, ...]] = {
    "trades": ("pair", "marginAsset", "baseQty"),
    "orders": ("pair", "cumBase"),
}
# Spot and margin (/api/v3, /sapi) trades and orders: another product, refused by name.
_SPOT_KEYS = ("isBuyer", "isMaker", "isBestMatch", "isIsolated", "isWorking",
              "cummulativeQuoteQty", "origQuoteOrderQty", "orderListId")  # fmt: skip
_YEAR_10000_MS = 253_402_300_800_000  # epoch_ms admits up to 2**53; datetime ends at 9999
_READS = (
    "it reads GET /fapi/v1/income, /fapi/v1/userTrades and /fapi/v1/allOrders "
    "(and their /dapi twins)"
)


def read_api_export(path: Path, data: bytes | None = None) -> ExportFile:
    """Recognise and parse one saved response; ``data`` instead of reading ``path`` (uploads)."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    elements = _elements(path, _decode(path, data))
    if not elements:
        raise ExportError(f"{path}: an empty array: no rows, nothing tells its product")
    kind = _endpoint(path, 1, elements[0], prefer=None)
    rows = tuple(_row(path, i, e, kind) for i, e in enumerate(elements, start=1))
    return ExportFile(path, kind, _product(path, rows), "api", rows, frozenset())


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 only, as the API answers; UTF-16 is what Windows PowerShell 5's ``>`` writes."""
    return utf8_text(
        path,
        data,
        wide=f"UTF-16 or UTF-32 text (first bytes {data[:4].hex(' ')}); the API answers "
        "in UTF-8: save the response body as it came (in PowerShell, Out-File -Encoding utf8)",
        origin="the API answers in",
        nul_is_wide=True,
    )


def _elements(path: Path, text: str) -> list[Any]:
    try:
        value = json.loads(text, parse_float=Decimal, parse_int=int, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise ExportError(f"{path}: empty file (no JSON)") from None
        # Cut inside its last string, literal or number, or where the next token should be.
        tail = set(text[exc.pos :].rstrip())
        cut = exc.msg.startswith("Unterminated string") or tail <= set("truefalsn0123456789.eE+-")
        early = " (the file ends early: truncated?)" if cut else ""
        msg = exc.msg.replace("starting at", "starting here")
        raise ExportError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {msg}{early}") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, arrays nested deep
        raise ExportError(f"{path}: JSON this reader cannot take: {exc}") from None
    if isinstance(value, dict) and {"code", "msg"} <= value.keys():
        raise ExportError(
            f"{path}: an error response, not data (code {value['code']!r}: "
            f"{value['msg']!r}): the request failed; fetch it again"
        )
    if not isinstance(value, list):
        raise ExportError(
            f"{path}: the top level is {_json_type(value)}, not an array: save the endpoint's "
            f"response body unchanged; {_READS}"
        )
    return value


def _endpoint(path: Path, index: int, element: Any, prefer: Kind | None) -> Kind:
    """The endpoint whose required keys the element has (``prefer`` first); else say why."""
    at = f"{path}: element {index}"
    if not isinstance(element, dict):
        raise ExportError(f"{at}: not a JSON object but {_json_type(element)}")
    if _DUPLICATE in element:
        raise ExportError(f"{at}: key {element[_DUPLICATE]!r} appears twice: which one is meant?")
    spot = [k for k in _SPOT_KEYS if k in element]
    if spot:
        raise ExportError(
            f"{at}: key {spot[0]!r}: a spot or margin API element (GET /api/v3/myTrades, "
            f"allOrders), another product; this importer reads futures only: {_READS}"
        )
    if prefer is not None and all(key in element for key in ENDPOINTS[prefer][1]):
        return prefer
    share = {
        k: sum(key in element for key in keys) / len(keys) for k, (_, keys) in ENDPOINTS.items()
    }
    kind = max(share, key=share.__getitem__)
    name, required = ENDPOINTS[kind]
    missing = [key for key in required if key not in element]
    if not missing:
        return kind
    if share[kind] < 0.5:
        keys = ", ".join(list(element)[:8]) + (", …" if len(element) > 8 else "")
        raise ExportError(
            f"{at}: not an element of an endpoint this importer reads (keys {keys}); {_READS}"
        )
    raise ExportError(
        f"{at}: key {missing[0]!r} missing: looks like a {name} element but lacks "
        f"{', '.join(repr(k) for k in missing)} (renamed or cut?)"
    )


def _row(path: Path, index: int, element: Any, kind: Kind) -> _ApiRow:
    found = _endpoint(path, index, element, prefer=kind)
    if found != kind:
        name, required = ENDPOINTS[kind]
        key = next(k for k in required if k not in element)
        raise ExportError(
            f"{path}: element {index}: key {key!r} missing: a {ENDPOINTS[found][0]} element "
            f"in a file of {name} elements (element 1); mixed endpoints: save each response "
            "in its own file"
        )
    values = _Element(element)
    try:
        row = _PARSERS[kind](values, Where(str(path), index))
        _check_coinm_keys(values, kind, row.symbol)
    except FieldError as exc:
        raise ExportError(f"{path}: element {index}: key {values.key!r}: {exc}") from None
    return row


class _Element:
    """An element's values by key, typed and checked; remembers the key read last."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.key = ""

    def get(self, key: str) -> Any:
        self.key = key
        return self.values.get(key)

    def text(self, key: str, allowed: tuple[str, ...] = (), *, empty: bool = False) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise FieldError(f"not a string: {value!r}")
        if not value and not empty:
            raise FieldError("empty")
        if allowed and value not in allowed:
            raise FieldError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def number(self, key: str) -> Decimal:
        """A numeric string or JSON number; ``str`` of a JSON number keeps its digits."""
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise FieldError(f"not a number: {value!r}")
        return number(str(value))

    def ident(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, str):
            return identifier(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
            raise FieldError(f"not an id (an integer within 64 bits): {value!r}")
        return value

    def time(self, key: str) -> datetime:
        value = self.get(key)
        if isinstance(value, int) and value >= _YEAR_10000_MS:  # past what datetime holds
            raise FieldError(f"not a time in epoch milliseconds: {value!r} (after year 9999)")
        return epoch_ms(value)


def _ledger(e: _Element, where: Where) -> _ApiRow:
    trade = e.values.get("tradeId")  # "" or absent when the row comes from no trade
    return LedgerRow(
        time=e.time("time"),
        type=e.text("incomeType"),
        amount=e.number("income"),
        asset=e.text("asset"),
        symbol=e.text("symbol", empty=True),
        txid=e.ident("tranId"),
        where=where,
        trade_id=None if trade in (None, "") else e.ident("tradeId"),
    )


def _trade(e: _Element, where: Where) -> _ApiRow:
    e.number("price")  # price and commission: parsed for their errors only
    e.number("commission")
    return Trade(
        uid=None,
        time=e.time("time"),
        symbol=e.text("symbol"),
        side=e.text("side", ("BUY", "SELL")),
        position_side=e.text("positionSide", ("LONG", "SHORT", "BOTH")),
        quantity=e.number("qty"),
        fee_asset=e.text("commissionAsset"),
        realized=e.number("realizedPnl"),
        trade_id=e.ident("id"),
        order_id=e.ident("orderId"),
        where=where,
        margin_asset=e.text("marginAsset") if "marginAsset" in e.values else "",
    )


def _order(e: _Element, where: Where) -> _ApiRow:
    return Order(
        uid=None,
        time=e.time("time"),
        order_id=e.ident("orderId"),
        symbol=e.text("symbol"),
        status=e.text("status"),
        client_id=e.text("clientOrderId", empty=True),
        executed=e.number("executedQty"),
        where=where,
    )


_PARSERS: dict[Kind, Callable[[_Element, Where], _ApiRow]] = {
    "ledger": _ledger,
    "trades": _trade,
    "orders": _order,
}


def _check_coinm_keys(e: _Element, kind: Kind, symbol: str) -> None:
    """A /dapi element has a COIN-M symbol and all /dapi keys; a /fapi one, neither."""
    keys = _COINM_KEYS.get(kind, ())
    if not keys:
        return  # /dapi/v1/income has no keys of its own: its symbols tell
    present = [k for k in keys if k in e.values]
    coinm = product_of_symbol(symbol) == "coinm_futures"
    e.key = "symbol"
    if present and not coinm:
        raise FieldError(
            f"{symbol} is a USDⓈ-M symbol but the element has the COIN-M (/dapi) "
            f"key(s) {', '.join(repr(k) for k in present)}"
        )
    if coinm and len(present) < len(keys):
        missing = ", ".join(repr(k) for k in keys if k not in present)
        raise FieldError(f"{symbol} is a COIN-M symbol but the /dapi key(s) {missing} are missing")
    if coinm and e.text("pair") != symbol.split("_", 1)[0]:
        raise FieldError(f"pair {e.values['pair']!r} does not match symbol {symbol}")


def _product(path: Path, rows: tuple[_ApiRow, ...]) -> Product:
    """The file's product from its symbols (as the CSV reader tells it); one per file."""
    found: dict[Product, _ApiRow] = {}
    for row in rows:
        if row.symbol:
            found.setdefault(product_of_symbol(row.symbol), row)
    if len(found) > 1:
        usdm, coinm = found["usdm_futures"], found["coinm_futures"]
        raise ExportError(
            f"{path}: element {max(usdm.where.line, coinm.where.line)}: key 'symbol': mixes "
            f"USDⓈ-M symbols ({usdm.symbol} at element {usdm.where.line}) and COIN-M symbols "
            f"({coinm.symbol} at element {coinm.where.line}); save each product separately"
        )
    if found:
        return next(iter(found))
    assets = {r.asset for r in rows if isinstance(r, LedgerRow)}
    if assets <= USDM_ONLY_ASSETS:
        return "usdm_futures"
    raise ExportError(
        f"{path}: cannot tell USDⓈ-M from COIN-M: no element names a symbol (assets "
        f"{', '.join(sorted(assets))})"
    )


_DUPLICATE = object()  # marks an object with a key twice (json.loads would keep the last)


def _object(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    values: dict[Any, Any] = {}
    for key, value in pairs:
        if key in values:
            values[_DUPLICATE] = key
        values[key] = value
    return values


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "true/false"}
    return names.get(type(value), "null" if value is None else "a number")
