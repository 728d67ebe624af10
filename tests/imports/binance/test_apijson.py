"""Saved REST API responses read into the same records as the CSV exports; bad ones refused.

The API shapes follow Binance's documented examples (``GET /fapi/v1/income``,
``/fapi/v1/userTrades``, ``/fapi/v1/allOrders`` and their ``/dapi`` twins). The real
exports (two users liquidated on 2025-10-10) are converted element by element into the
API's shape, so the JSON reader is checked against what the CSV reader makes of the same
history.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recompense.imports.binance.apijson import ENDPOINTS, read_api_export
from recompense.imports.binance.csvfiles import read_csv_export
from recompense.imports.binance.errors import ExportError
from recompense.imports.binance.records import (
    ExportFile,
    LedgerRow,
    Order,
    Trade,
    Where,
    margin_asset_of,
)

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real" / "user-exports"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = datetime(2019, 9, 26, 16, 22, 58, 20000, tzinfo=UTC)  # 1569514978020 ms

# fmt: off
INCOME = {"symbol": "BTCUSDT", "incomeType": "REALIZED_PNL", "income": "-0.91539999", "asset": "USDT", "info": "", "time": 1569514978020, "tranId": 9689322392, "tradeId": "698759"}
DAPI_INCOME = {"symbol": "", "incomeType": "TRANSFER", "income": "-0.37500000", "asset": "BTC", "info": "WITHDRAW", "time": 1569514978020, "tranId": "9689322392", "tradeId": ""}
DAPI_FUNDING = {**DAPI_INCOME, "symbol": "BTCUSD_PERP", "incomeType": "FUNDING_FEE"}
FAPI_TRADE = {"buyer": False, "commission": "-0.07819010", "commissionAsset": "USDT", "id": 698759, "maker": False, "orderId": 25851813, "price": "7819.01", "qty": "0.002", "quoteQty": "15.63802", "realizedPnl": "-0.91539999", "side": "SELL", "positionSide": "SHORT", "symbol": "BTCUSDT", "time": 1569514978020}
DAPI_TRADE = {"buyer": False, "commission": "-0.00000345", "commissionAsset": "BTC", "id": 6, "maker": False, "orderId": 28, "pair": "BTCUSD", "marginAsset": "BTC", "baseQty": "0.01136364", "price": "8800.0", "qty": "1", "realizedPnl": "0", "side": "SELL", "positionSide": "BOTH", "symbol": "BTCUSD_PERP", "time": 1569514978020}
FAPI_ORDER = {"avgPrice": "0.00000", "clientOrderId": "autoclose-1760131071602075160", "cumQuote": "0", "executedQty": "0", "orderId": 1917641, "origQty": "0.40", "origType": "LIMIT", "price": "0", "reduceOnly": False, "side": "BUY", "positionSide": "SHORT", "status": "FILLED", "stopPrice": "9300", "closePosition": False, "symbol": "BTCUSDT", "time": 1569514978020, "timeInForce": "GTC", "type": "LIMIT", "updateTime": 1569514978020, "workingType": "CONTRACT_PRICE", "priceProtect": False}
DAPI_ORDER = {**{k: v for k, v in FAPI_ORDER.items() if k != "cumQuote"}, "symbol": "BTCUSD_251226", "pair": "BTCUSD", "cumBase": "0.00882854", "executedQty": "1"}
SPOT_TRADE = {"symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1, "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012", "commission": "10.10000000", "commissionAsset": "BNB", "time": 1569514978020, "isBuyer": True, "isMaker": False, "isBestMatch": True}
# fmt: on
VALID = {
    "ledger": [INCOME, DAPI_FUNDING],
    "trades": [FAPI_TRADE, DAPI_TRADE],
    "orders": [FAPI_ORDER, DAPI_ORDER],
}


def read(elements: Any, name: str = "resp.json") -> ExportFile:
    return read_api_export(Path(name), json.dumps(elements).encode())


def refused(data: bytes | Any, *fragments: str, name: str = "resp.json") -> str:
    """The ExportError's message, checked to name the file and every fragment."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(ExportError) as info:
        read_api_export(Path(name), raw)
    message = str(info.value)
    assert message.startswith(name), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def without(element: dict[str, Any], *keys: str, **changes: Any) -> dict[str, Any]:
    return {**{k: v for k, v in element.items() if k not in keys}, **changes}


# --- each endpoint, read ----------------------------------------------------------------


# fmt: off
ENDPOINT_CASES = [
    pytest.param(INCOME, "ledger", "usdm_futures", LedgerRow(T0, "REALIZED_PNL", Decimal("-0.91539999"), "USDT", "BTCUSDT", 9689322392, Where("resp.json", 1), trade_id=698759), id="fapi-income"),
    pytest.param(FAPI_TRADE, "trades", "usdm_futures", Trade(None, T0, "BTCUSDT", "SELL", "SHORT", Decimal("0.002"), "USDT", Decimal("-0.91539999"), 698759, 25851813, Where("resp.json", 1)), id="fapi-userTrades"),
    pytest.param(DAPI_TRADE, "trades", "coinm_futures", Trade(None, T0, "BTCUSD_PERP", "SELL", "BOTH", Decimal(1), "BTC", Decimal(0), 6, 28, Where("resp.json", 1), margin_asset="BTC"), id="dapi-userTrades"),
    pytest.param(FAPI_ORDER, "orders", "usdm_futures", Order(None, T0, 1917641, "BTCUSDT", "FILLED", "autoclose-1760131071602075160", Decimal(0), Where("resp.json", 1)), id="fapi-allOrders"),
    pytest.param(DAPI_ORDER, "orders", "coinm_futures", Order(None, T0, 1917641, "BTCUSD_251226", "FILLED", "autoclose-1760131071602075160", Decimal(1), Where("resp.json", 1)), id="dapi-allOrders"),
]
# fmt: on


@pytest.mark.parametrize(("element", "kind", "product", "record"), ENDPOINT_CASES)
def test_each_endpoint_reads_into_the_csv_records(element, kind, product, record):
    export = read([element])
    assert (export.kind, export.product, export.fmt, export.uids) == (
        kind,
        product,
        "api",
        frozenset(),
    )
    assert export.rows == (record,)
    assert export.label.endswith("(REST API)")


def test_dapi_income_writes_its_transaction_id_as_a_string_and_no_trade():
    export = read([DAPI_INCOME, DAPI_FUNDING])
    assert export.product == "coinm_futures"
    assert [(r.txid, r.trade_id, r.symbol) for r in export.rows] == [
        (9689322392, None, ""),
        (9689322392, None, "BTCUSD_PERP"),
    ]


def test_a_ledger_without_symbols_is_usdm_when_it_holds_only_stablecoins():
    transfer = {**INCOME, "symbol": "", "incomeType": "TRANSFER"}
    del transfer["tradeId"]
    export = read([transfer, {**transfer, "asset": "USDC"}])
    assert export.product == "usdm_futures"
    assert export.rows[0].trade_id is None
    refused([{**transfer, "asset": "BNB"}], "cannot tell USDⓈ-M from COIN-M", "BNB")


def test_numbers_may_be_json_numbers_and_are_kept_exact():
    text = (
        json.dumps([INCOME])
        .replace('"-0.91539999"', "0.1")
        .replace("9689322392", '"0009689322392"')
    )
    (row,) = read_api_export(Path("n.json"), text.encode()).rows
    assert row.amount == Decimal("0.1")
    assert str(row.amount) == "0.1"
    assert row.txid == 9689322392


def test_a_utf8_byte_order_mark_is_accepted():
    assert read_api_export(Path("bom.json"), b"\xef\xbb\xbf" + json.dumps([INCOME]).encode()).rows


def test_reads_the_file_when_given_no_bytes(tmp_path):
    path = tmp_path / "income.json"
    path.write_text(json.dumps([INCOME]))
    assert read_api_export(path).rows[0].where == Where(str(path), 1)
    refused_path = tmp_path / "absent.json"
    with pytest.raises(ExportError, match=r"absent\.json: cannot read"):
        read_api_export(refused_path)


# --- the real exports, as the API would answer -------------------------------------------


def _real_exports() -> list[Path | None]:
    """The Transaction, Trade and Order History CSVs (the API has no Position History)."""
    if not REAL.is_dir():
        return [None]
    return [p for p in sorted(REAL.glob("*/*.csv")) if "Margin Mode" not in _first_line(p)] or [
        None
    ]


def _first_line(path: Path) -> str:
    with path.open(encoding="utf-8-sig") as file:
        return file.readline()


@pytest.mark.parametrize("numbers", ["strings", "json-numbers"])
@pytest.mark.parametrize(
    "csv_path", _real_exports(), ids=lambda p: p and f"{p.parent.name}/{p.name[:24]}"
)
def test_real_exports_read_the_same_from_the_api(csv_path, numbers, tmp_path):
    if csv_path is None:
        if os.environ.get("RECOMPENSE_REQUIRE_REAL_DATA"):  # set by .ci/run
            pytest.fail(f"the real Binance exports are missing from {REAL} (CI must have them)")
        pytest.skip(f"the real Binance exports are not at {REAL}")
    csv = read_csv_export(csv_path)
    elements, expected = zip(*(_as_api(row, csv.product) for row in csv.rows), strict=True)
    api_path = tmp_path / f"{csv.kind}.json"
    api_path.write_text(_dumps(list(elements), raw_numbers=numbers == "json-numbers"))
    api = read_api_export(api_path)
    assert (api.kind, api.product, api.fmt) == (csv.kind, csv.product, "api")
    assert len(api.rows) == len(csv.rows) > 0
    assert api.rows == tuple(
        replace(r, where=Where(str(api_path), i)) for i, r in enumerate(expected, 1)
    )


def _as_api(row: Any, product: str) -> tuple[dict[str, Any], Any]:
    """The element the API returns for a CSV row, and the record it should read back as."""
    coinm = product == "coinm_futures"
    ms = (row.time - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    if isinstance(row, LedgerRow):
        element = {
            "symbol": row.symbol,
            "incomeType": row.type,
            "income": _num(row.amount),
            "asset": row.asset,
            "info": "",
            "time": ms,
            "tranId": str(row.txid) if coinm else row.txid,
            "tradeId": "",
        }
        return element, row
    pair = {"pair": row.symbol.split("_")[0]} if coinm else {}
    if isinstance(row, Trade):
        margin = margin_asset_of(row.symbol, "coinm_futures") if coinm else ""
        extra = (
            {**pair, "marginAsset": margin, "baseQty": _num(Decimal(0))}
            if coinm
            else {"quoteQty": _num(Decimal(0))}
        )
        element = {
            "buyer": row.side == "BUY",
            "commission": _num(Decimal("-0.1")),
            "commissionAsset": row.fee_asset,
            "id": row.trade_id,
            "maker": False,
            "orderId": row.order_id,
            "price": _num(Decimal("1.5")),
            "qty": _num(row.quantity),
            **extra,
            "realizedPnl": _num(row.realized),
            "side": row.side,
            "positionSide": row.position_side,
            "symbol": row.symbol,
            "time": ms,
        }
        return element, replace(row, uid=None, margin_asset=margin)
    assert isinstance(row, Order)
    client = (
        row.client_id if row.client_id is not None else f"web_{row.order_id}"
    )  # COIN-M's CSV has none
    cum = {**pair, "cumBase": _num(Decimal(0))} if coinm else {"cumQuote": _num(Decimal(0))}
    element = {
        "avgPrice": "0",
        "clientOrderId": client,
        **cum,
        "executedQty": _num(row.executed),
        "orderId": row.order_id,
        "origQty": "1",
        "origType": "LIMIT",
        "price": "0",
        "reduceOnly": False,
        "side": "BUY",
        "positionSide": "BOTH",
        "status": row.status,
        "stopPrice": "0",
        "closePosition": False,
        "symbol": row.symbol,
        "time": ms,
        "timeInForce": "GTC",
        "type": "LIMIT",
        "updateTime": ms,
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
    }
    return element, replace(row, uid=None, client_id=client)


def _num(value: Decimal) -> str:
    """A number as the API writes it (``0.00000000``, not the CSV's ``0E-8``), marked."""
    return f"\0num:{value:f}\0"


def _dumps(elements: list[Any], *, raw_numbers: bool) -> str:
    """JSON with the marked numbers as strings (as Binance writes) or as bare JSON numbers."""
    text = json.dumps(elements, indent=1)
    return re.sub(r'"\\u0000num:([^"\\]*)\\u0000"', r"\1" if raw_numbers else r'"\1"', text)


# --- malformed files, each refused with file, element and key ---------------------------

TEXT = json.dumps([INCOME, INCOME], indent=1)


# fmt: off
MALFORMED = [
    pytest.param(TEXT[: len(TEXT) // 2].encode(), ["resp.json:", "not JSON", "truncated"], id="truncated"),
    pytest.param(b"", ["empty file"], id="empty-file"),
    pytest.param(TEXT.encode("utf-16"), ["UTF-16", "ff fe", "Out-File -Encoding utf8"], id="utf-16-bom"),
    pytest.param(TEXT.encode("utf-16-le"), ["UTF-16"], id="utf-16-no-bom"),
    pytest.param(TEXT.replace("USDT", "USDT\xe9").encode("latin-1"), ["resp.json:3: not UTF-8", "0xe9"], id="latin-1"),
    pytest.param({"rows": [INCOME]}, ["top level is an object, not an array", "GET /fapi/v1/income"], id="top-object"),
    pytest.param("income", ["top level is a string"], id="top-string"),
    pytest.param({"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}, ["an error response", "-1021", "recvWindow"], id="error-response"),
    pytest.param([], ["no rows, nothing tells its product"], id="empty-array"),
    pytest.param([INCOME, [INCOME]], ["element 2: not a JSON object but an array"], id="element-array"),
    pytest.param([INCOME, without(INCOME, "income")], ["element 2: key 'income' missing", "GET /fapi/v1/income"], id="missing-key"),
    pytest.param([without(FAPI_TRADE, "realizedPnl", realisedPnl="0")], ["element 1: key 'realizedPnl' missing", "GET /fapi/v1/userTrades"], id="renamed-key"),
    pytest.param([without(FAPI_ORDER, "executedQty", executedAmount="0")], ["element 1: key 'executedQty' missing", "allOrders"], id="renamed-order-key"),
    pytest.param([INCOME, FAPI_TRADE], ["element 2: key 'incomeType' missing", "a GET /fapi/v1/userTrades element in a file of GET /fapi/v1/income", "mixed endpoints"], id="mixed-endpoints"),
    pytest.param([FAPI_ORDER, FAPI_TRADE], ["element 2: key 'clientOrderId' missing", "mixed endpoints"], id="mixed-orders-trades"),
    pytest.param([SPOT_TRADE], ["element 1: key 'isBuyer'", "spot", "another product"], id="spot-trades"),
    pytest.param([FAPI_TRADE, SPOT_TRADE], ["element 2: key 'isBuyer'", "another product"], id="spot-among-futures"),
    pytest.param([{"asset": "BTC", "free": "1"}], ["element 1: not an element of an endpoint", "/fapi/v1/income, /fapi/v1/userTrades and /fapi/v1/allOrders"], id="unknown-endpoint"),
    pytest.param([INCOME, {**INCOME, "symbol": "BTCUSD_PERP"}], ["element 2: key 'symbol': mixes USDⓈ-M symbols (BTCUSDT at element 1) and COIN-M symbols (BTCUSD_PERP at element 2)"], id="mixed-products"),
    pytest.param([{**DAPI_TRADE, "symbol": "BTCUSDT"}], ["element 1: key 'symbol': BTCUSDT is a USDⓈ-M symbol", "'pair', 'marginAsset', 'baseQty'"], id="dapi-keys-usdm-symbol"),
    pytest.param([{**FAPI_TRADE, "symbol": "BTCUSD_PERP"}], ["element 1: key 'symbol': BTCUSD_PERP is a COIN-M symbol", "'pair', 'marginAsset', 'baseQty' are missing"], id="coinm-symbol-fapi-keys"),
    pytest.param([{**DAPI_ORDER, "pair": "ETHUSD"}], ["element 1: key 'pair': pair 'ETHUSD' does not match symbol BTCUSD_251226"], id="pair-mismatch"),
    pytest.param([{**INCOME, "income": "0.1234567890123"}], ["element 1: key 'income':", "beyond 12 decimal places"], id="13-places"),
    pytest.param([{**INCOME, "income": "1e15"}], ["key 'income':", "out of range"], id="out-of-range"),
    pytest.param([{**INCOME, "income": True}], ["key 'income': not a number: True"], id="bool-amount"),
    pytest.param([{**INCOME, "asset": None}], ["key 'asset': not a string: None"], id="null-asset"),
    pytest.param([{**INCOME, "incomeType": ""}], ["key 'incomeType': empty"], id="empty-type"),
    pytest.param([{**INCOME, "tranId": -1}], ["key 'tranId': not an id"], id="negative-id"),
    pytest.param([{**INCOME, "tranId": 2**63}], ["key 'tranId': not an id"], id="id-past-int64"),
    pytest.param([{**INCOME, "tranId": "12a"}], ["key 'tranId': not an id"], id="id-letters"),
    pytest.param([{**INCOME, "tradeId": 1.5}], ["key 'tradeId': not an id"], id="trade-id-float"),
    pytest.param([{**INCOME, "time": "2025-10-10 21:17:51"}], ["key 'time': not a time in epoch milliseconds"], id="time-text"),
    pytest.param([{**INCOME, "time": 2**52}], ["key 'time': not a time in epoch milliseconds"], id="time-past-9999"),
    pytest.param([{**FAPI_TRADE, "side": "HOLD"}], ["key 'side': 'HOLD' is not one of BUY, SELL"], id="bad-side"),
    pytest.param([{**FAPI_TRADE, "price": "n/a"}], ["key 'price': not a number"], id="bad-price"),
]
# fmt: on


@pytest.mark.parametrize(("data", "fragments"), MALFORMED)
def test_malformed_files_are_refused_with_file_element_and_key(data, fragments):
    refused(data, *fragments)


def test_the_message_names_file_element_and_key_exactly():
    elements = [INCOME] * 16 + [{**INCOME, "income": "abc"}]
    assert (
        refused(elements, name="income.json")
        == "income.json: element 17: key 'income': not a number: 'abc'"
    )


def test_a_key_written_twice_is_refused_not_last_wins():
    text = json.dumps([INCOME]).replace('"asset": "USDT"', '"asset": "USDT", "income": "5"')
    refused(text.encode(), "element 1: key 'income' appears twice")


# --- properties ---------------------------------------------------------------------------

KEYS = sorted(
    {k for e in (*VALID["ledger"], *VALID["trades"], *VALID["orders"], SPOT_TRADE) for k in e}
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "1e15", "BTCUSD_PERP", "USDT", "BUY", "LONG"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
ELEMENTS = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), JSON, max_size=16)


def _refused_cleanly(data: bytes, name: str = "fuzz.json") -> ExportFile | None:
    """Read or refuse with an ExportError naming the file; anything else fails the test."""
    try:
        return read_api_export(Path(name), data)
    except ExportError as exc:
        assert str(exc).startswith(name), exc
        return None


@FUZZ
@given(st.one_of(JSON, st.lists(ELEMENTS, max_size=4)))
def test_any_json_value_is_read_or_refused_with_the_file_named(value):
    export = _refused_cleanly(json.dumps(value).encode())
    if export is not None:
        assert len(export.rows) == len(value)
        assert export.uids == frozenset()


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_with_the_file_named(data):
    _refused_cleanly(data)


@st.composite
def mutated(draw):
    """A valid response of one endpoint with one key dropped, renamed or given any value."""
    kind = draw(st.sampled_from(sorted(VALID)))
    variant = draw(st.sampled_from(VALID[kind]))
    elements = [dict(variant) for _ in range(draw(st.integers(1, 5)))]
    index = draw(st.integers(0, len(elements) - 1))
    key = draw(st.sampled_from(sorted(elements[index])))
    how = draw(st.sampled_from(["drop", "rename", "value"]))
    value = elements[index].pop(key)
    if how == "rename":
        elements[index][key + draw(st.sampled_from(["_", "s", "Id"]))] = value
    elif how == "value":
        elements[index][key] = draw(JSON)
    return elements, kind, index + 1, key, how


@FUZZ
@given(mutated())
def test_mutated_responses_are_read_or_refused_naming_element_and_key(case):
    elements, kind, index, key, how = case
    required = ENDPOINTS[kind][1]
    try:
        export = read_api_export(Path("mut.json"), json.dumps(elements).encode())
    except ExportError as exc:
        message = str(exc)
        if "mixes" in message:  # one symbol changed product: both elements are named
            assert f"at element {index})" in message, message
            return
        if "cannot tell USDⓈ-M from COIN-M" in message:  # the only symbol went: BTC alone
            assert kind == "ledger", message
            assert key == "symbol", message
            return
        assert message.startswith(f"mut.json: element {index}: key "), message
        if how != "value" and key in required:
            assert message.startswith(f"mut.json: element {index}: key {key!r} missing"), message
        return
    assert len(export.rows) == len(elements)
    assert how == "value" or key not in required


@FUZZ
@given(st.data())
def test_a_response_with_any_byte_changed_is_read_or_refused(data):
    raw = bytearray(
        json.dumps(data.draw(st.sampled_from([VALID[k] for k in sorted(VALID)]))).encode()
    )
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _refused_cleanly(bytes(raw))


@FUZZ
@given(st.data())
def test_a_truncated_response_is_refused_with_its_position(data):
    text = json.dumps([INCOME, FAPI_TRADE][: data.draw(st.integers(1, 2))])
    cut = data.draw(st.integers(0, len(text) - 1))
    message = refused(text[:cut].encode())
    assert re.match(r"resp\.json:(1:\d+: not JSON: .*truncated|.*empty file)", message), message


# Up to 28 significant digits (12 + 16); longer ones are tested below.
PLACES = st.integers(13, 16).flatmap(
    lambda n: st.tuples(
        st.integers(0, 10**12 - 1), st.integers(1, 10**n - 1).filter(lambda f: f % 10), st.just(n)
    )
)


@FUZZ
@given(PLACES, st.booleans(), st.booleans())
def test_numbers_with_more_than_12_places_are_refused(parts, negative, as_json_number):
    whole, fraction, places = parts
    text = f"{'-' if negative else ''}{whole}.{fraction:0{places}d}"
    value = text if as_json_number else json.dumps(text)
    raw = json.dumps([{**INCOME, "income": "X"}]).replace('"X"', value)
    refused(raw.encode(), "element 1: key 'income':", "beyond 12 decimal places")


def test_more_than_28_digits_with_more_than_12_places_are_refused():
    refused([{**INCOME, "income": "1.0000000000000000000000000000001"}], "beyond 12 decimal places")


@FUZZ
@given(st.floats(min_value=-1e14, max_value=1e14, allow_nan=False))
def test_json_floats_are_read_as_their_decimal_text_not_binary(value):
    text = json.dumps(value)  # what a JSON writer puts: the shortest round-trip, 0.1, 1e-05
    raw = json.dumps([{**INCOME, "income": "X"}]).replace('"X"', text).encode()
    exact = Decimal(text)
    if exact != 0 and exact.normalize().as_tuple().exponent < -12:
        refused(raw, "key 'income':", "beyond 12 decimal places")
    else:
        (row,) = read_api_export(Path("resp.json"), raw).rows
        assert row.amount == exact  # never Decimal.from_float(value), the binary expansion


def test_point_one_is_decimal_point_one():
    raw = json.dumps([{**INCOME, "income": "X"}]).replace('"X"', "0.1")
    (row,) = read_api_export(Path("f.json"), raw.encode()).rows
    assert row.amount == Decimal("0.1") != Decimal.from_float(0.1)
