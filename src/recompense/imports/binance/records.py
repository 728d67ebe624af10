"""What a Binance export holds, as immutable records with exact numbers.

Every reader (:mod:`.csvfiles` for the web exports, :mod:`.apijson` for the REST API's
JSON) produces these records; :mod:`.derive` turns them into the data contract's rows.
Times are aware UTC ``datetime`` s (Binance writes naive UTC: the column says ``(UTC)``),
amounts are ``Decimal`` exactly as written (at most 12 decimal places, the contract's
precision), ids are Python ints within int64. Each record remembers where it came from
(:class:`Where`) so every message can name the file and line.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from recompense.data.contract import AMOUNT_LIMIT, SCALE
from recompense.imports.binance.errors import ExportError

Product = Literal["usdm_futures", "coinm_futures"]
Kind = Literal["ledger", "trades", "orders", "positions", "statement"]
PRODUCT_LABELS: dict[str, str] = {"usdm_futures": "USDⓈ-M", "coinm_futures": "COIN-M"}

INT64_MAX = 2**63 - 1
# Stablecoins a USDⓈ-M futures wallet holds: a ledger naming no symbol and only these
# assets is USDⓈ-M. (BNB is margin in both products, so it decides nothing.)
USDM_ONLY_ASSETS = frozenset({"USDT", "USDC", "FDUSD", "BUSD"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_10000_MS = 253_402_300_800_000
# COIN-M contracts are quoted in USD and margined in the coin: BTCUSD_PERP, BTCUSD_251226.
_COINM_SYMBOL = re.compile(r"^[A-Z0-9]+USD_(?:PERP|\d{6})$")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?$")
_ID = re.compile(r"^\d{1,19}$")
_PLAIN = re.compile(r"-?\d{1,15}(?:\.\d{1,12})?")
_ZERO = Decimal(0)
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?$")


@dataclass(frozen=True, slots=True)
class Where:
    """A row's origin: file and 1-based line (for JSON, the 1-based element index)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One row of the income ledger (Transaction History, ``/fapi/v1/income``)."""

    time: datetime
    type: str  # REALIZED_PNL, INSURANCE_CLEAR, COMMISSION, FUNDING_FEE, TRANSFER, ...
    amount: Decimal
    asset: str
    symbol: str  # "" when the row names none (transfers, insurance top-ups)
    txid: int
    where: Where
    trade_id: int | None = None  # the REST API names the trade; the CSV export does not


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill (Trade History, ``userTrades``)."""

    uid: int | None
    time: datetime
    symbol: str
    side: str  # BUY | SELL
    position_side: str  # LONG | SHORT | BOTH
    quantity: Decimal
    fee_asset: str
    realized: Decimal
    trade_id: int
    order_id: int
    where: Where
    margin_asset: str = ""  # the REST API of COIN-M names it; else derived


@dataclass(frozen=True, slots=True)
class Order:
    """One order (Order History, ``allOrders``); COIN-M's CSV export has no client id."""

    uid: int | None
    time: datetime
    order_id: int
    symbol: str
    status: str
    client_id: str | None
    executed: Decimal
    where: Where


@dataclass(frozen=True, slots=True)
class Position:
    """One closed or open position (Position History); informative only."""

    symbol: str
    margin_mode: str
    side: str
    closing_pnl: Decimal
    opened: datetime
    closed: datetime | None
    status: str
    where: Where


@dataclass(frozen=True, slots=True)
class StatementRow:
    """One row of the account statement ("Generate all statements"), any wallet."""

    uid: int
    time: datetime
    account: str  # Spot, Funding, USDT-Futures, Coin-Futures, Cross Margin, ...
    operation: str
    coin: str
    change: Decimal
    where: Where


Row = LedgerRow | Trade | Order | Position | StatementRow


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One recognised export: its kind, product, the uids it names and its rows."""

    path: Path
    kind: Kind
    product: Product | None  # None for the account statement (all wallets)
    fmt: Literal["csv", "api"]
    rows: tuple[Row, ...]
    uids: frozenset[int]
    row_count: int = -1  # as read (``rows`` may be dropped once derived)

    def __post_init__(self) -> None:
        if self.row_count < 0:
            object.__setattr__(self, "row_count", len(self.rows))

    @property
    def label(self) -> str:
        product = PRODUCT_LABELS.get(self.product or "", "")
        names = {
            "ledger": "Transaction History",
            "trades": "Trade History",
            "orders": "Order History",
            "positions": "Position History",
            "statement": "account statement",
        }
        text = f"{product} {names[self.kind]}".strip()
        return f"{text} (REST API)" if self.fmt == "api" else text


def utf8_text(path: Path, data: bytes, *, wide: str, origin: str, nul_is_wide: bool = False) -> str:
    """The text of an export, which Binance writes as UTF-8 (a BOM allowed).

    ``wide`` is the message for UTF-16/32 text; ``origin`` says who writes UTF-8 (for the
    message about a file re-saved in another encoding, which names line and byte);
    ``nul_is_wide`` also takes a NUL among the first 4 bytes as UTF-16/32 without a BOM.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (nul_is_wide and b"\x00" in data[:4]):
        raise ExportError(f"{path}: {wide}")
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ExportError(
            f"{path}:{line}: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); "
            f"{origin} UTF-8: was the file re-saved in another encoding?"
        ) from None


class FieldError(ValueError):
    """A value that does not parse; the reader adds file, line and column."""


def product_of_symbol(symbol: str) -> Product:
    """COIN-M symbols end ``USD_PERP`` or ``USD_<yymmdd>``; every other one is USDⓈ-M."""
    return "coinm_futures" if _COINM_SYMBOL.match(symbol) else "usdm_futures"


def margin_asset_of(symbol: str, product: Product) -> str:
    """The asset a symbol's PnL is paid in when no ledger row says it.

    COIN-M: the coin (``BTCUSD_251226`` → BTC). USDⓈ-M: the quote (``BTCUSDT_251226`` →
    USDT, ``1000PEPEUSDC`` → USDC), which is what the ledger's REALIZED_PNL rows show.
    """
    base = symbol.split("_", 1)[0]
    if product == "coinm_futures":
        return base.removesuffix("USD")
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB"):
        if base.endswith(quote) and len(base) > len(quote):
            return quote
    raise FieldError(f"cannot tell the quote asset of symbol {symbol!r}")


def number(text: str) -> Decimal:
    """Exact decimal text (``-0.68``, ``0E-8``); refuse more than 12 places or ±10¹⁵."""
    if _PLAIN.fullmatch(text):  # the common form: in range and within 12 places by shape
        value = Decimal(text)
        return value if value else _ZERO
    if not _NUMBER.match(text):
        raise FieldError(f"not a number: {text!r}")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise FieldError(f"not a number: {text!r}") from exc
    if abs(value) >= AMOUNT_LIMIT:  # exact: comparisons do not round
        raise FieldError(f"{text!r} is out of range (|value| must be below 10^15)")
    if decimal_places(value) > SCALE:
        raise FieldError(f"{text!r} has digits beyond {SCALE} decimal places")
    return value if value else Decimal(0)  # -0 and 0E-8 are 0


def decimal_places(value: Decimal) -> int:
    """Places after the point that carry a non-zero digit, exactly (no context rounding)."""
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    zeros = 0
    for digit in reversed(digits):
        if digit:
            break
        zeros += 1
    return max(0, -exponent - zeros) if zeros < len(digits) else 0


def identifier(text: str) -> int:
    """A non-negative 64-bit id written as plain digits."""
    if len(text) <= 18 and text.isascii() and text.isdigit():  # the common case, fast
        return int(text)
    if not _ID.match(text) or int(text) > INT64_MAX:
        raise FieldError(f"not an id (digits within 64 bits): {text!r}")
    return int(text)


@functools.lru_cache(maxsize=1 << 16)  # rows share seconds: a liquidation writes hundreds
def utc_time(text: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS[.fff]`` in UTC (Binance writes no offset; the header says UTC)."""
    if not _TIME.match(text):
        raise FieldError(f"not a time 'YYYY-MM-DD HH:MM:SS': {text!r}")
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise FieldError(f"not a valid time: {text!r}") from exc


def epoch_ms(value: object) -> datetime:
    """Milliseconds since the epoch (REST API, kline files), as an aware UTC time."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _YEAR_10000_MS:
        raise FieldError(f"not a time in epoch milliseconds: {value!r}")
    return _EPOCH + timedelta(milliseconds=value)


def fee_asset(text: str) -> str:
    """The asset of a trade's fee text: ``-0.68126964 USDT`` → USDT (amount checked too)."""
    amount, _, asset = text.strip().partition(" ")
    number(amount)
    if not re.fullmatch(r"[A-Z0-9]{2,20}", asset):
        raise FieldError(f"not a fee with its asset ('-0.68 USDT'): {text!r}")
    return asset
