"""Synthetic Binance USDⓈ-M futures exports, byte for byte in Binance's CSV format.

``write_exports(out, users=N, ledger_rows_per_user=R, seed=S)`` writes one folder per
user (``out/<uid>/``) holding a Transaction History (``ledger.csv``), a Trade History
(``trades.csv``) and an Order History (``orders.csv``) with the headers of
:mod:`.csvfiles`, as Binance writes them: a UTF-8 byte-order mark, every non-empty field
quoted (empty ones are written as nothing: ``,,``), ``\\n`` line ends, naive UTC times,
numbers as 8-decimal text with zero as ``0E-8`` (fees are ``-0.68126964 USDT``, a
liquidation fill's ``0.00000000 USDT``), every file sorted by time. Used by the import
benchmark and by tests; the same ``(users, ledger_rows_per_user, seed)`` gives the same
bytes (numpy ``PCG64`` streams keyed by the seed and the user's index; nothing reads the
clock).

What the files hold, shaped on the two real exports in ``shared/data/real/user-exports``:

- the ledger is *complete*: it starts with a positive USDT ``TRANSFER`` (then a USDC
  one), each sized so that its asset's balance never goes below zero along the ledger;
  then ``COMMISSION``, ``FUNDING_FEE`` and ``REALIZED_PNL`` rows in USDT and USDC only,
  2025-06-01 … 2025-10-11;
- a trade's ``COMMISSION`` and ``REALIZED_PNL`` rows share one ``Transaction ID``: the
  symbol's numeric code, ``1`` for a buy or ``0`` for a sell, then the trade id as text
  (``9006`` + ``1`` + ``5416927822``), at the trade's second — as the real files link
  them. Opening trades have no ``REALIZED_PNL`` row; every closing trade's PnL is nonzero
  and equal, digit for digit, to its row's ``Amount``; trade ids are unique per symbol
  (and across symbols);
- the order history holds every order a trade names, plus some cancelled ones; client
  ids are ``web_``/``ios_``/``android_`` + 20 characters;
- about a third of the users (always the first) are liquidated on 2025-10-10 between
  21:15 and 21:25: orders ``autoclose-<13-digit ms><6 digits>`` (``EXPIRED`` with a
  partial fill when another order closes the rest, else ``FILLED``), several fills each
  (no commission), and one negative ``INSURANCE_CLEAR`` row per such order (the symbol,
  the same second); a share of the positions (always in the first user) end with an
  insurance-fund takeover, ``autoclose-<ms>`` without the suffix and no
  ``INSURANCE_CLEAR``.

Amounts are int64 counts of 1e-8 and prices and quantities counts of the symbol's tick
and step, so every amount is exact (price × quantity has at most 8 decimals); the text
is laid out as numpy byte matrices (one row per line, zero bytes as padding, dropped
at the end), with no per-row Python: 10M ledger rows (2,000 users; 5.3M trades, 3.4M
orders, 2.7 GB) take about 40 s on one core.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recompense.imports.binance.csvfiles import LEDGER, ORDERS_USDM, TRADES_USDM

__all__ = ["FILES", "ExportsSummary", "write_exports"]

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
Rng = np.random.Generator

FILES = {"ledger": "ledger.csv", "trades": "trades.csv", "orders": "orders.csv"}
START = 1_748_736_000  # 2025-06-01 00:00:00 UTC
END = 1_760_227_199  # 2025-10-11 23:59:59 UTC
CRASH = 1_760_130_900  # 2025-10-10 21:15:00 UTC; liquidations until 21:25:00
SHARE_LIQUIDATED = 0.3
SHARE_TAKEOVER = 0.35  # of liquidated positions: the last order is a takeover
SHARE_FUNDING = 0.2  # of the rows that are neither transfers nor liquidation
BLOCK_ROWS = 100_000  # lines laid out at once (bounds the byte matrices' memory)
_BOM = b"\xef\xbb\xbf"

# symbol, code (as in the real Transaction IDs), price in quote, tick and step decimals
_SYMBOLS = (
    ("BTCUSDT", 9003, 110_000.0, 1, 3), ("ETHUSDT", 9006, 4_000.0, 2, 3),
    ("BCHUSDT", 9008, 550.0, 2, 3), ("XRPUSDT", 9010, 2.8, 4, 1),
    ("LTCUSDT", 9014, 110.0, 2, 3), ("ETCUSDT", 9018, 20.0, 3, 2),
    ("ADAUSDT", 9024, 0.8, 4, 0), ("BNBUSDT", 9033, 1_000.0, 2, 2),
    ("VETUSDT", 9043, 0.025, 6, 0), ("THETAUSDT", 9051, 0.8, 4, 1),
    ("CRVUSDT", 9091, 0.7, 4, 1), ("SOLUSDT", 9107, 200.0, 2, 2),
    ("UNIUSDT", 9115, 9.0, 4, 0), ("AAVEUSDT", 9135, 280.0, 2, 1),
    ("HBARUSDT", 9211, 0.22, 5, 0), ("ICPUSDT", 9391, 5.0, 3, 0),
    ("YGGUSDT", 9505, 0.15, 5, 0), ("1000BONKUSDT", 9585, 0.02, 6, 0),
    ("BTCUSDC", 9611, 110_000.0, 1, 3), ("ETHUSDC", 9612, 4_000.0, 2, 3),
    ("BNBUSDC", 9613, 1_000.0, 2, 2), ("DOGEUSDC", 9620, 0.25, 5, 0),
    ("WIFUSDT", 9622, 0.8, 4, 0), ("LINKUSDC", 9642, 22.0, 3, 2),
    ("1000PEPEUSDC", 9660, 0.01, 7, 0), ("WLDUSDC", 9666, 1.2, 4, 0),
    ("AVAXUSDC", 9673, 28.0, 3, 0), ("WIFUSDC", 9681, 0.8, 4, 0),
    ("ENAUSDC", 9701, 0.6, 4, 0), ("BBUSDT", 9705, 0.15, 5, 0),
    ("ADAUSDC", 9974, 0.8, 4, 0), ("BTCUSDT_251226", 10156, 111_000.0, 1, 3),
    ("SKYUSDT", 10257, 0.07, 5, 0), ("BTCUSDT_260327", 10288, 112_000.0, 1, 3),
)  # fmt: skip
_TYPES = ("TRANSFER", "COMMISSION", "FUNDING_FEE", "REALIZED_PNL", "INSURANCE_CLEAR")
TRANSFER, COMMISSION, FUNDING_FEE, REALIZED_PNL, INSURANCE_CLEAR = range(5)
_ASSETS = ("USDT", "USDC")
_STATUSES = ("FILLED", "EXPIRED", "CANCELED")
FILLED, EXPIRED, CANCELED = range(3)
_CLIENTS = ("web_", "ios_", "android_", "autoclose-", "autoclose-")
AUTOCLOSE, TAKEOVER = 3, 4  # client kinds: with the 6-digit suffix, without


@dataclass(frozen=True, slots=True)
class ExportsSummary:
    """Exact counts of what :func:`write_exports` wrote."""

    users: int
    ledger_rows: int
    trades: int
    orders: int
    liquidation_fills: int
    insurance_clear_rows: int
    bytes: int


def write_exports(
    out: Path, *, users: int, ledger_rows_per_user: int, seed: int = 7
) -> ExportsSummary:
    """Write ``users`` folders of three exports each into the new folder ``out``.

    Each ledger has exactly ``ledger_rows_per_user`` rows. Raises ``ValueError`` for
    ``users < 1``, ``ledger_rows_per_user < 1`` or a negative seed, ``FileExistsError``
    if ``out`` exists and is not an empty folder. The folder appears complete or not at
    all (built under a hidden name beside it, then renamed).
    """
    if users < 1 or ledger_rows_per_user < 1 or seed < 0:
        raise ValueError(
            "need users >= 1, ledger_rows_per_user >= 1 and seed >= 0, got "
            f"{users}, {ledger_rows_per_user}, {seed}"
        )
    if users * (2 * ledger_rows_per_user + 16) >= 9 * 10**8:
        raise ValueError("at most about 4.5e8 ledger rows (a symbol's ids span 10^9)")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)
        market = _market(seed)
        counts = np.zeros(6, np.int64)
        for index in range(users):
            user = _user(seed, index, ledger_rows_per_user, market)
            counts += _write_user(tmp / str(user.uid), user, market)
        if out.is_dir():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportsSummary(users, *(int(c) for c in counts))


# ---------------------------------------------------------------------------------
# The market and one user's history, as arrays


@dataclass(frozen=True, slots=True)
class _Market:
    names: tuple[str, ...]
    code: I64
    quote: I64  # index into _ASSETS
    pd: I64  # tick decimals
    qd: I64  # step decimals
    day_ticks: I64  # (symbol, day since START) -> price in ticks
    trade_base: I64  # trade ids of a symbol start here
    order_base: I64


@dataclass(frozen=True, slots=True)
class _Table:
    columns: dict[str, I64]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, name: str) -> I64:
        return self.columns[name]

    def take(self, index: npt.NDArray[np.intp]) -> _Table:
        return _Table({k: v[index] for k, v in self.columns.items()})


@dataclass(frozen=True, slots=True)
class _User:
    uid: int
    ledger: _Table
    trades: _Table
    orders: _Table
    key: list[int]  # seeds the writer's draws (client order ids)


def _market(seed: int) -> _Market:
    """Symbols and a daily price walk (3% a day) per symbol over the window."""
    rng = np.random.default_rng([seed, 0])
    names, code, price, pd, qd = (np.array(c) for c in zip(*_SYMBOLS, strict=True))
    days = (END - START) // 86_400 + 1
    walk = np.cumsum(rng.normal(0, 0.03, (len(names), days)), axis=1)
    ticks = np.maximum(1, np.round(price[:, None] * np.exp(walk) * 10.0 ** pd[:, None]))
    spread = np.arange(len(names), dtype=np.int64) * 10**9
    return _Market(
        tuple(str(n) for n in names),
        code.astype(np.int64),
        np.array([n.endswith("USDC") for n in names], np.int64),
        pd.astype(np.int64),
        qd.astype(np.int64),
        ticks.astype(np.int64),
        spread + 10**9 + rng.integers(0, 10**8, len(names)),
        spread + 2 * 10**9 + rng.integers(0, 10**8, len(names)),
    )


def _user(seed: int, index: int, rows: int, market: _Market) -> _User:
    rng = np.random.default_rng([seed, 1, index])
    uid = 10_000_000 + index * 1_000 + int(rng.integers(0, 1_000))
    symbols = rng.choice(len(market.names), size=int(rng.integers(3, 13)), replace=False)
    size_usd = float(np.exp(rng.normal(7.5, 1.2)))  # a typical position's notional
    transfers = min(rows, 2)
    liq = None
    if index == 0 or rng.random() < SHARE_LIQUIDATED:
        liq = _liquidation(rng, index, market, symbols, size_usd)
        if _ledger_rows_of(*liq) > (rows - transfers) // 2:
            liq = None  # too few rows for it
    budget = rows - transfers - (0 if liq is None else _ledger_rows_of(*liq))
    orders, fills = _positions(rng, market, symbols, size_usd, budget)
    if liq is not None:
        fills = _cat(fills, _Table(liq[1].columns | {"order": liq[1]["order"] + len(orders)}))
        orders = _cat(orders, liq[0])
    orders = _Table(
        orders.columns | {"order_id": _ids(market.order_base, orders, index, 2 * rows + 16)}
    )
    fills = _Table(fills.columns | {
        "trade_id": _ids(market.trade_base, fills, index, rows + 1),
        "order_id": orders["order_id"][fills["order"]],
    })  # fmt: skip
    funding = rows - transfers - _ledger_rows_of(orders, fills)
    ledger = _ledger(rng, market, symbols, size_usd, fills, orders, funding, transfers)
    trades, orders = fills.take(_by_time(fills["time"])), orders.take(_by_time(orders["time"]))
    return _User(uid, ledger, trades, orders, [seed, 2, index])


def _positions(
    rng: Rng, market: _Market, symbols: I64, size_usd: float, budget: int
) -> tuple[_Table, _Table]:
    """Opened-then-closed positions using about 80% of ``budget`` ledger rows."""
    most = max(budget, 0) // 3 + 1
    m_open, m_close = np.minimum(rng.geometric(0.6, (2, most)), 6)
    used = np.cumsum(m_open + 2 * m_close)
    p = int(np.searchsorted(used, (1 - SHARE_FUNDING) * budget, side="right"))
    m_open, m_close = m_open[:p], m_close[:p]
    sym = rng.choice(symbols, p)
    long = rng.random(p) < 0.6
    t_open = rng.integers(START + 7_200, END - 86_400, p)
    hold = np.exp(rng.normal(9.5, 1.5, p)).astype(np.int64)
    t_close = np.minimum(t_open + 1 + hold, END - 600)
    entry = market.day_ticks[sym, (t_open - START) // 86_400]
    move = np.exp(rng.normal(0, 0.02 * np.sqrt((t_close - t_open) / 86_400 + 0.1)))
    leave = np.maximum(1, np.round(entry * move)).astype(np.int64)
    steps = np.maximum(_steps(rng, market, sym, entry, size_usd), np.maximum(m_open, m_close))
    market_order = (rng.random((2, p)) < 0.4).astype(np.int64)  # else a limit order
    client = np.where(rng.random(p) < 0.8, rng.integers(0, 3), rng.integers(0, 3, p))
    opening = _orders(sym, long, long, steps, entry, t_open, market_order[0], client, m_open)
    closing = _orders(sym, ~long, long, steps, leave, t_close, market_order[1], client, m_close)
    entry_of = np.concatenate([np.zeros(p, np.int64), entry])
    orders, fills = _fills(rng, market, _cat(opening, closing), entry_of, liquidation=False)
    cancelled = orders.take(np.flatnonzero(rng.random(len(orders)) < 0.05))
    return _cat(orders, _cancelled(rng, cancelled)), fills


def _steps(rng: Rng, market: _Market, sym: I64, ticks: I64, usd: float) -> I64:
    price = ticks / 10.0 ** market.pd[sym]
    notional = usd * np.exp(rng.normal(0, 0.8, len(sym)))
    return np.maximum(1, np.round(notional / price * 10.0 ** market.qd[sym])).astype(np.int64)


def _orders(
    sym: I64, buy: Mask, long: Mask, steps: I64, ticks: I64, t_fill: I64, kind: I64,
    client: I64, fills: I64,
) -> _Table:  # fmt: skip
    columns = {
        "sym": sym, "buy": buy.astype(np.int64), "long": long.astype(np.int64), "type": kind,
        "price": ticks, "orig": steps, "executed": steps, "client": client,
        "first_fill": t_fill, "nfills": fills.astype(np.int64),
    }  # fmt: skip
    blank = ("status", "ms", "suffix", "time", "update", "quote")
    return _Table(columns | {name: np.zeros(len(sym), np.int64) for name in blank})


def _fills(
    rng: Rng, market: _Market, orders: _Table, entry: I64, *, liquidation: bool
) -> tuple[_Table, _Table]:
    """Split each order's executed steps over its fills: price, fee and PnL per fill.

    ``entry`` is the position's entry price (ticks) for closing orders, 0 for opening
    ones. Returns the orders with their times and executed quote amount, and the fills.
    """
    nf = orders["nfills"]
    owner = np.repeat(np.arange(len(orders)), nf)
    first = np.cumsum(nf) - nf
    weight = rng.exponential(1.0, len(owner))
    share = weight / np.bincount(owner, weight, len(orders))[owner]
    steps = 1 + np.floor((orders["executed"] - nf)[owner] * share).astype(np.int64)
    steps[first] += orders["executed"] - np.bincount(owner, steps, len(orders)).astype(np.int64)
    sym, price = orders["sym"][owner], orders["price"][owner]
    gap = rng.integers(0, 3, len(owner))
    if liquidation:
        price = np.round(price * (1 + rng.uniform(0.0, 0.04, len(owner)))).astype(np.int64)
        gap[:] = 0  # the engine's fills share the order's second
    else:
        price = np.maximum(1, price + rng.integers(-3, 4, len(owner)) * orders["type"][owner])
        gap[first] = 0
    time = orders["first_fill"][owner] + _cumsum_within(gap, owner, first)
    closing = entry[owner] > 0
    direction = np.where(orders["long"][owner] == 1, 1, -1)
    price = price + (closing & (price == entry[owner])) * direction  # always some PnL
    scale = 10 ** (8 - market.pd[sym] - market.qd[sym])
    realized = np.where(closing, (price - entry[owner]) * steps * scale * direction, 0)
    amount = price * steps * scale
    maker = np.zeros(len(owner), bool)
    fee = np.zeros(len(owner), np.int64)
    if not liquidation:
        maker = (orders["type"][owner] == 0) & (rng.random(len(owner)) < 0.8)
        fee = -np.maximum(1, np.round(amount * np.where(maker, 2e-4, 5e-4))).astype(np.int64)
    placed = orders["first_fill"]
    if not liquidation:
        placed = placed - rng.integers(0, 1_800, len(orders)) * (orders["type"] == 0)
    done = _Table(orders.columns | {
        "time": placed, "update": time[first + nf - 1],
        "quote": np.bincount(owner, amount, len(orders)).astype(np.int64),
    })  # fmt: skip
    return done, _Table({
        "time": time, "sym": sym, "buy": orders["buy"][owner], "long": orders["long"][owner],
        "price": price, "steps": steps, "amount": amount, "fee": fee,
        "realized": realized.astype(np.int64), "maker": maker.astype(np.int64),
        "order": owner, "liq": np.full(len(owner), int(liquidation), np.int64),
    })  # fmt: skip


def _cumsum_within(gap: I64, owner: I64, first: I64) -> I64:
    total = np.cumsum(gap)
    return total - (total[first] - gap[first])[owner]


def _cancelled(rng: Rng, like: _Table) -> _Table:
    """Limit orders that never filled: placed below (buys) or above (sells) the market."""
    n = len(like)
    away = np.where(like["buy"] == 1, 0.97, 1.03)
    return _Table(like.columns | {
        "type": np.zeros(n, np.int64), "executed": np.zeros(n, np.int64),
        "status": np.full(n, CANCELED, np.int64), "nfills": np.zeros(n, np.int64),
        "price": np.maximum(1, np.round(like["price"] * away)).astype(np.int64),
        "time": like["first_fill"] - rng.integers(60, 3_600, n),
        "update": like["first_fill"] + rng.integers(0, 600, n),
        "quote": np.zeros(n, np.int64),
    })  # fmt: skip


def _liquidation(
    rng: Rng, index: int, market: _Market, symbols: I64, size_usd: float
) -> tuple[_Table, _Table]:
    """Long positions opened before the crash and closed by the liquidation engine.

    Returns the orders (the openings, then the liquidation orders) and their fills.
    """
    count = int(rng.integers(1, min(4, len(symbols)) + 1))
    sym = rng.choice(symbols, count, replace=False)
    t_open = rng.integers(CRASH - 30 * 86_400, CRASH - 3_600, count)
    entry = market.day_ticks[sym, (t_open - START) // 86_400]
    steps = np.maximum(_steps(rng, market, sym, entry, size_usd * 4), 64)
    yes, limit = np.ones(count, bool), np.zeros(count, np.int64)
    opening = _orders(
        sym, yes, yes, steps, entry, t_open, limit, rng.integers(0, 3, count),
        rng.integers(1, 4, count),
    )  # fmt: skip
    opening, opening_fills = _fills(rng, market, opening, np.zeros(count, np.int64),
                                    liquidation=False)  # fmt: skip
    parts = [_closing(rng, index == 0 and k == 0, int(steps[k])) for k in range(count)]
    ms, executed, takeover, orig = (np.concatenate(c) for c in zip(*parts, strict=True))
    pos = np.repeat(np.arange(count), [len(c[0]) for c in parts])
    n = len(ms)
    drop = rng.uniform(0.6, 0.9, count)[pos] * rng.uniform(0.97, 1.0, n)  # per position
    bankrupt = np.maximum(1, np.round(entry[pos] * drop)).astype(np.int64)
    no = np.zeros(n, bool)
    kind = np.where(takeover == 1, TAKEOVER, AUTOCLOSE)
    nfills = np.minimum(rng.integers(2, 9, n), executed)
    closing = _orders(sym[pos], no, ~no, executed, bankrupt, ms // 1_000, np.zeros(n, np.int64),
                      kind, nfills)  # fmt: skip
    tail = int(rng.integers(0, 100_000))  # the suffix's last five digits, per user
    closing = _Table(closing.columns | {
        "orig": orig, "ms": ms, "status": np.where(orig > executed, EXPIRED, FILLED),
        "suffix": (tail + 100_000 * rng.integers(0, 2, n)) * (1 - takeover),
    })  # fmt: skip
    closing, closing_fills = _fills(rng, market, closing, entry[pos], liquidation=True)
    closing_fills = _Table(closing_fills.columns | {"order": closing_fills["order"] + count})
    return _cat(opening, closing), _cat(opening_fills, closing_fills)


def _closing(rng: Rng, both: bool, steps: int) -> tuple[I64, I64, I64, I64]:
    """One position's liquidation orders: time in ms, executed, takeover?, amount.

    ``both``: an engine order that expires part-filled, then a takeover of the rest.
    """
    parts = 2 if both or rng.random() < 0.5 else 1
    takeover = np.zeros(parts, np.int64)
    takeover[-1] = int(both or rng.random() < SHARE_TAKEOVER)
    first = CRASH * 1_000 + int(rng.integers(0, 540_000))
    ms = first + np.cumsum(np.r_[0, rng.integers(1_000, 60_000, parts - 1)]).astype(np.int64)
    if takeover[-1] and parts > 1:
        ms[-1] = ms[-2] + int(rng.integers(5, 40))  # the same second, a few ms later
    cut = int(rng.integers(steps // 8, steps // 2 + 1))
    executed = np.array([cut, steps - cut] if parts == 2 else [steps], np.int64)
    orig = steps - np.cumsum(executed) + executed
    return ms, executed, takeover, orig


def _ledger_rows_of(orders: _Table, fills: _Table) -> int:
    """COMMISSION per fill but the engine's, REALIZED_PNL per fill with PnL,
    INSURANCE_CLEAR per liquidation order with the suffix."""
    commission = int(np.count_nonzero(fills["liq"] == 0))
    pnl = int(np.count_nonzero(fills["realized"]))
    return commission + pnl + int(np.count_nonzero(orders["client"] == AUTOCLOSE))


def _ids(base: I64, rows: _Table, index: int, stride: int) -> I64:
    """The symbol's base + the user's range + the rank in time within the symbol."""
    order = np.lexsort((rows["time"], rows["sym"]))
    sym = rows["sym"][order]
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - np.searchsorted(sym, sym, side="left")
    return base[rows["sym"]] + index * stride + rank


def _ledger(
    rng: Rng, market: _Market, symbols: I64, size_usd: float, fills: _Table, orders: _Table,
    funding: int, transfers: int,
) -> _Table:  # fmt: skip
    """The transfers, then trade, funding and clearance rows sorted by time."""
    quote = market.quote[fills["sym"]]
    txid = _txid(market.code[fills["sym"]] * 10 + fills["buy"], fills["trade_id"])
    paid, won = np.flatnonzero(fills["liq"] == 0), np.flatnonzero(fills["realized"])
    fsym = rng.choice(symbols, funding)
    ftime = START + rng.integers(1, (END - START) // 28_800 + 1, funding) * 28_800
    ftime += rng.random(funding) < 0.2  # a second late, as some real ones are
    famount = np.round(rng.normal(0, size_usd * 2e-4, funding) * 1e8).astype(np.int64)
    lq = orders.take(np.flatnonzero(orders["client"] == AUTOCLOSE))
    fee = np.round(lq["quote"] * rng.uniform(0.005, 0.015, len(lq))).astype(np.int64)
    parts = [
        (fills["time"][paid], COMMISSION, fills["fee"][paid], quote[paid], fills["sym"][paid],
         txid[paid]),
        (fills["time"][won], REALIZED_PNL, fills["realized"][won], quote[won], fills["sym"][won],
         txid[won]),
        (ftime, FUNDING_FEE, famount + (famount == 0), market.quote[fsym], fsym,
         rng.integers(10**16, 9 * 10**17, funding)),
        (lq["update"], INSURANCE_CLEAR, -np.maximum(fee, 1), market.quote[lq["sym"]], lq["sym"],
         rng.integers(2 * 10**17, 3 * 10**17, len(lq))),
    ]  # fmt: skip
    names = ("time", "type", "amount", "asset", "sym", "txid")
    body = _Table({
        name: np.concatenate([_column(p[i], len(p[0])) for p in parts])
        for i, name in enumerate(names)
    })  # fmt: skip
    body = body.take(_by_time(body["time"]))
    return _cat(_transfers(rng, body, transfers), body)


def _transfers(rng: Rng, body: _Table, count: int) -> _Table:
    """USDT (then USDC) transfers in the first hour, each covering its asset's lowest
    running total along ``body``, so no balance ever goes below zero."""
    t = START + int(rng.integers(0, 3_600))
    amounts = []
    for asset in range(count):
        low = int(np.cumsum(body["amount"][body["asset"] == asset]).min(initial=0))
        amounts.append(int(np.exp(rng.normal(7, 1)) * 1e8) - low)
    return _Table({
        "time": t + np.arange(count, dtype=np.int64) * rng.integers(1, 60),
        "type": np.full(count, TRANSFER, np.int64), "amount": np.array(amounts, np.int64),
        "asset": np.arange(count, dtype=np.int64), "sym": np.full(count, -1, np.int64),
        "txid": rng.integers(25 * 10**10, 31 * 10**10, count),
    })  # fmt: skip


def _column(value: I64 | int, n: int) -> I64:
    return np.broadcast_to(np.asarray(value, np.int64), n)


def _txid(prefix: I64, trade_id: I64) -> I64:
    """``prefix`` followed by the trade id's digits, as one number."""
    digits = np.searchsorted(_POW10, trade_id, side="right")
    return prefix * _POW10[digits] + trade_id


def _by_time(time: I64) -> npt.NDArray[np.intp]:
    return np.argsort(time, kind="stable")


def _cat(a: _Table, b: _Table) -> _Table:
    return _Table({k: np.concatenate([v, b[k]]) for k, v in a.columns.items()})


_POW10 = 10 ** np.arange(19, dtype=np.int64)


# ---------------------------------------------------------------------------------
# Writing: each field a byte matrix (one row per line, zero bytes as padding)


def _write_user(folder: Path, user: _User, market: _Market) -> I64:
    """Write the three files; returns the counts ExportsSummary adds up."""
    folder.mkdir()
    rng = np.random.default_rng(user.key)
    files = {
        "ledger": (LEDGER, _ledger_fields(user.ledger, market)),
        "trades": (TRADES_USDM, _trade_fields(user.trades, market, user.uid)),
        "orders": (ORDERS_USDM, _order_fields(rng, user.orders, market, user.uid)),
    }
    written = 0
    for kind, (header, fields) in files.items():
        head = _BOM + ",".join(f'"{name}"' for name in header).encode() + b"\n"
        with (folder / FILES[kind]).open("wb") as handle:
            handle.write(head)
            written += len(head)
            for block in _lines(fields):
                handle.write(block)
                written += len(block)
    liq_fills = int(np.count_nonzero(user.trades["liq"]))
    clear = int(np.count_nonzero(user.ledger["type"] == INSURANCE_CLEAR))
    counts = (len(user.ledger), len(user.trades), len(user.orders), liq_fills, clear, written)
    return np.array(counts, np.int64)


def _ledger_fields(rows: _Table, market: _Market) -> list[U8]:
    return [
        _time(rows["time"]),
        _pick(_TYPES, rows["type"]),
        _decimal(rows["amount"]),
        _pick(_ASSETS, rows["asset"]),
        _pick((*market.names, ""), rows["sym"]),
        _uint(rows["txid"]),
    ]


def _trade_fields(rows: _Table, market: _Market, uid: int) -> list[U8]:
    n, sym = len(rows), rows["sym"]
    fee = [_decimal(rows["fee"], zero=None), _text(" ", n), _pick(_ASSETS, market.quote[sym])]
    return [
        _text(str(uid), n),
        _time(rows["time"]),
        _pick(market.names, sym),
        _pick(("SELL", "BUY"), rows["buy"]),
        _pick(("SHORT", "LONG"), rows["long"]),
        _decimal(rows["price"] * 10 ** (8 - market.pd[sym])),
        _decimal(rows["steps"] * 10 ** (8 - market.qd[sym])),
        _decimal(rows["amount"]),
        np.concatenate(fee, axis=1),
        _decimal(rows["realized"]),
        _pick(("false", "true"), rows["buy"]),
        _pick(("false", "true"), rows["maker"]),
        _uint(rows["trade_id"]),
        _uint(rows["order_id"]),
    ]


def _order_fields(rng: Rng, rows: _Table, market: _Market, uid: int) -> list[U8]:
    n, sym = len(rows), rows["sym"]
    step = 10 ** (8 - market.qd[sym])
    executed = rows["executed"] * step
    average = np.round(rows["quote"] / np.maximum(executed, 1) * 1e8).astype(np.int64)
    zero = _text("0E-8", n)
    return [
        _text(str(uid), n),
        _time(rows["time"]),
        _uint(rows["order_id"]),
        _pick(market.names, sym),
        _pick(("LIMIT", "MARKET"), rows["type"]),
        _pick(("SELL", "BUY"), rows["buy"]),
        _pick(("SHORT", "LONG"), rows["long"]),
        _decimal(rows["price"] * 10 ** (8 - market.pd[sym]) * (rows["type"] == 0)),
        _decimal(average, empty=executed == 0),
        _decimal(rows["orig"] * step),
        _decimal(executed),
        _decimal(rows["quote"]),
        zero,
        _pick(_STATUSES, rows["status"]),
        _client_ids(rng, rows),
        _pick(("GTC", "IOC"), rows["client"] >= AUTOCLOSE),
        zero,
        zero,
        _text("Contract Price", n),
        _text("false", n),
        _time(rows["update"]),
    ]


def _client_ids(rng: Rng, rows: _Table) -> U8:
    """``web_``/``ios_``/``android_`` + 20 letters and digits, or ``autoclose-`` + the
    time in ms (+ 6 digits for the liquidation engine's, none for a takeover)."""
    n = len(rows)
    body = _ALNUM[rng.integers(0, len(_ALNUM), (n, 20))]
    auto = np.flatnonzero(rows["client"] >= AUTOCLOSE)
    suffix = _digits(rows["suffix"][auto], 6, fixed=True)
    suffix[rows["client"][auto] == TAKEOVER] = 0
    body[auto, :13] = _digits(rows["ms"][auto], 13, fixed=True)
    body[auto, 13:19] = suffix
    body[auto, 19] = 0
    return np.concatenate([_pick(_CLIENTS, rows["client"]), body], axis=1)


def _lines(fields: Sequence[U8]) -> list[bytes]:
    """CSV lines, ``BLOCK_ROWS`` at a time: non-empty fields quoted, empty ones bare."""
    n = len(fields[0])
    blocks = []
    for lo in range(0, n, BLOCK_ROWS):
        parts: list[U8] = []
        for k, field in enumerate(fields):
            cells = field[lo : lo + BLOCK_ROWS]
            quote = _where(np.any(cells, axis=1, keepdims=False), '"')
            end = b"\n" if k == len(fields) - 1 else b","
            parts += [quote, cells, quote, _text(end.decode(), len(cells))]
        matrix = np.concatenate(parts, axis=1).ravel()
        blocks.append(matrix[matrix != 0].tobytes())
    return blocks


def _text(text: str, n: int) -> U8:
    return np.broadcast_to(np.frombuffer(text.encode(), np.uint8), (n, len(text.encode())))


def _where(mask: Mask, char: str) -> U8:
    """One column: ``char`` where ``mask``, else padding."""
    return np.where(mask, np.uint8(ord(char)), np.uint8(0)).astype(np.uint8)[:, None]


def _pick(texts: Sequence[str], index: npt.NDArray[np.integer] | Mask) -> U8:
    """``texts[index]`` as a byte matrix (index -1: the last text)."""
    encoded = [t.encode() for t in texts]
    table = np.zeros((len(encoded), max(1, *map(len, encoded))), np.uint8)
    for row, text in enumerate(encoded):
        table[row, : len(text)] = np.frombuffer(text, np.uint8)
    return table[np.asarray(index, np.intp)]


def _uint(values: I64) -> U8:
    """Non-negative integers as plain digits."""
    top = int(values.max()) if len(values) else 0
    return _digits(values, len(str(top)), fixed=False)


def _digits(values: I64, width: int, *, fixed: bool) -> U8:
    """``width`` decimal digits per value; leading zeros blanked unless ``fixed``."""
    rest = values.astype(np.uint64)
    out = np.empty((len(values), width), np.uint8)
    for column in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, np.uint64(10))
        out[:, column] = digit
    out += ord("0")
    if not fixed and width > 1:
        out[:, :-1][values[:, None] < _POW10[width - 1 : 0 : -1]] = 0
    return out


def _decimal(units: I64, *, zero: str | None = "0E-8", empty: Mask | None = None) -> U8:
    """Counts of 1e-8 as Binance writes them: ``-1310.78071375``, zero as ``0E-8``
    (``zero=None``: ``0.00000000``), nothing where ``empty``."""
    size = np.abs(units)
    top = int(size.max()) if len(units) else 0
    width = max(9, len(str(top)))
    digits = _digits(size, width, fixed=True)
    digits[:, : width - 9][size[:, None] < _POW10[width - 1 : 8 : -1]] = 0
    sign = _where(units < 0, "-")
    dot = _text(".", len(units))
    out = np.concatenate([sign, digits[:, : width - 8], dot, digits[:, width - 8 :]], axis=1)
    if zero is not None:
        none = units == 0
        out[none] = 0
        out[np.ix_(none, np.arange(len(zero)))] = np.frombuffer(zero.encode(), np.uint8)
    if empty is not None:
        out[empty] = 0
    return out


def _time(seconds: I64) -> U8:
    """``YYYY-MM-DD HH:MM:SS`` (UTC, no offset)."""
    day = seconds // 86_400
    clock = seconds % 86_400
    parts = [
        _DATES[day - START // 86_400], _text(" ", len(seconds)),
        _digits(clock // 3_600, 2, fixed=True), _text(":", len(seconds)),
        _digits(clock // 60 % 60, 2, fixed=True), _text(":", len(seconds)),
        _digits(clock % 60, 2, fixed=True),
    ]  # fmt: skip
    return np.concatenate(parts, axis=1)


_ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", np.uint8)
_DATES = np.frombuffer(
    np.datetime_as_string(np.arange(START // 86_400, END // 86_400 + 1).astype("datetime64[D]"))
    .astype("S10")
    .tobytes(),
    np.uint8,
).reshape(-1, 10)
