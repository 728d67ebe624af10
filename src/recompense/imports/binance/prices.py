"""USD prices for an import: Binance kline files, a contract prices file, stablecoins.

- **Kline files** (``--klines BTC=FILE``): Binance's bulk-download kline CSV
  (``open_time`` in ms UTC, ``open, high, low, close, …``; with or without the header
  line), 1-minute klines only. A minute's price is the **close** of that minute's kline
  (its last mark price), so a fill at 21:16:43 is priced at the close of 21:16.
- **A contract prices file** (``--prices FILE``): ``asset,minute,usd`` CSV, minutes with
  an offset (``2025-10-10T21:16:00Z``), as in the data contract.
- **Stablecoins** at a configured value (``--stablecoin USDT=1``; USDT and USDC are 1
  unless told otherwise), written for exactly the minutes the import needs.

Two sources giving the same asset and minute different prices are refused. Lookup
follows the engine's rule: the minute itself, else the latest earlier minute no more than
the staleness limit before it.
"""

from __future__ import annotations

import bisect
import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from recompense.imports.binance.errors import ExportError
from recompense.imports.binance.records import FieldError, epoch_ms, number

MINUTE_MS = 60_000
_KLINE_HEADER = "open_time"
_ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})$")


@dataclass
class PriceBook:
    """Every known (asset, minute) → USD, with the source each came from."""

    prices: dict[str, dict[datetime, Decimal]] = field(default_factory=dict)
    sources: dict[tuple[str, datetime], str] = field(default_factory=dict)
    stablecoins: dict[str, Decimal] = field(default_factory=dict)
    described: list[dict[str, str]] = field(default_factory=list)
    _sorted: dict[str, list[datetime]] = field(default_factory=dict)

    def add(self, asset: str, minute: datetime, usd: Decimal, source: str) -> None:
        if usd <= 0:
            raise ExportError(f"{source}: price of {asset} at {minute:%Y-%m-%d %H:%M} is {usd}")
        known = self.prices.setdefault(asset, {}).get(minute)
        if known is not None and known != usd:
            raise ExportError(
                f"{source}: {asset} at {minute:%Y-%m-%d %H:%M} UTC is {usd}, but "
                f"{self.sources[(asset, minute)]} says {known}"
            )
        self.prices[asset][minute] = usd
        self.sources.setdefault((asset, minute), source)
        self._sorted.pop(asset, None)

    def lookup(
        self, asset: str, at: datetime, staleness: timedelta
    ) -> tuple[datetime, Decimal] | None:
        """The price the engine would use for ``asset`` at ``at`` (its minute)."""
        minute = at.replace(second=0, microsecond=0)
        if asset in self.stablecoins:
            return minute, self.stablecoins[asset]
        table = self.prices.get(asset)
        if not table:
            return None
        minutes = self._sorted.get(asset)
        if minutes is None:
            minutes = self._sorted[asset] = sorted(table)
        i = bisect.bisect_right(minutes, minute) - 1
        if i < 0 or minute - minutes[i] > staleness:
            return None
        return minutes[i], table[minutes[i]]


def build(
    klines: Mapping[str, Sequence[Path]],
    price_files: Sequence[Path],
    stablecoins: Mapping[str, Decimal],
) -> PriceBook:
    book = PriceBook(stablecoins=dict(stablecoins))
    for asset, value in stablecoins.items():
        book.described.append({"asset": asset, "source": f"stablecoin at {value} USD"})
    for asset, paths in klines.items():
        for path in paths:
            rows = _read_klines(book, asset, path)
            book.described.append(
                {"asset": asset, "source": f"{path} (1-minute klines, close; {rows} minutes)"}
            )
    for path in price_files:
        rows = _read_prices_file(book, path)
        book.described.append({"asset": "*", "source": f"{path} (prices; {rows} rows)"})
    return book


def _read_klines(book: PriceBook, asset: str, path: Path) -> int:
    count = 0
    for line, cells in _csv_lines(path):
        if line == 1 and cells and cells[0].strip() == _KLINE_HEADER:
            continue
        if len(cells) < 7:
            raise ExportError(f"{path}:{line}: not a Binance kline row (need 12 columns)")
        try:
            open_ms, close_ms = int(cells[0]), int(cells[6])
            opened = epoch_ms(open_ms)
            close = number(cells[4].strip())
        except (ValueError, FieldError) as exc:
            raise ExportError(f"{path}:{line}: {exc}") from None
        if open_ms % MINUTE_MS or close_ms - open_ms != MINUTE_MS - 1:
            raise ExportError(
                f"{path}:{line}: not a 1-minute kline (open_time {open_ms}, close_time "
                f"{close_ms}); only 1-minute klines are read"
            )
        book.add(asset, opened, close, f"{path}:{line}")
        count += 1
    return count


def _read_prices_file(book: PriceBook, path: Path) -> int:
    count = 0
    header: list[str] | None = None
    for line, cells in _csv_lines(path):
        if header is None:
            header = [c.strip() for c in cells]
            if header[:3] != ["asset", "minute", "usd"]:
                raise ExportError(f"{path}:1: a prices file's header is asset,minute,usd")
            continue
        if len(cells) < 3:
            raise ExportError(f"{path}:{line}: row cut short")
        asset, stamp, usd = (c.strip() for c in cells[:3])
        if not _ISO_WITH_OFFSET.match(stamp):
            raise ExportError(
                f"{path}:{line}: column 'minute': {stamp!r} is not a time with an offset "
                "(2025-10-10T21:16:00Z)"
            )
        minute = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
        if minute.second or minute.microsecond:
            raise ExportError(f"{path}:{line}: column 'minute': {stamp} is not a whole minute")
        try:
            value = number(usd)
        except FieldError as exc:
            raise ExportError(f"{path}:{line}: column 'usd': {exc}") from None
        book.add(asset, minute, value, f"{path}:{line}")
        count += 1
    return count


def _csv_lines(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise ExportError(f"{path}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [(reader.line_num, cells) for cells in reader if cells]
    except csv.Error as exc:
        raise ExportError(f"{path}:{reader.line_num}: not CSV: {exc}") from None
