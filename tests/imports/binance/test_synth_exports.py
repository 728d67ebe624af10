"""Synthetic Binance exports: read back by the importer's CSV reader, linked as the real
files are, complete ledgers, liquidations shaped like the real ones, same seed → same
bytes."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from recompense.imports.binance.csvfiles import read_csv_export
from recompense.imports.binance.records import ExportFile, LedgerRow, Order, Trade, margin_asset_of
from recompense.imports.binance.synth import FILES, ExportsSummary, write_exports

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real" / "user-exports"
USERS, ROWS = 4, 400
KINDS = {"ledger": "ledger", "trades": "trades", "orders": "orders"}
NUMBER = re.compile(rb'^"(?:0E-8|-?(?:0|[1-9]\d*)\.\d{8})"$')
AUTOCLOSE = re.compile(r"^autoclose-(\d{13})(\d{6})?$")

Exports = dict[Path, dict[str, ExportFile]]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExportsSummary, Path, Exports]:
    out = tmp_path_factory.mktemp("synth") / "exports"
    summary = write_exports(out, users=USERS, ledger_rows_per_user=ROWS, seed=3)
    exports = {
        folder: {kind: read_csv_export(folder / name) for kind, name in FILES.items()}
        for folder in sorted(out.iterdir())
    }
    return summary, out, exports


def test_every_file_reads_back_as_its_kind_of_usdm_export(made) -> None:
    summary, _, exports = made
    assert len(exports) == summary.users == USERS
    for folder, files in exports.items():
        uid = int(folder.name)
        for kind, export in files.items():
            assert (export.kind, export.product) == (KINDS[kind], "usdm_futures")
            assert export.uids <= {uid}
    counted = Counter()
    for files in exports.values():
        counted["ledger_rows"] += len(files["ledger"].rows)
        counted["trades"] += len(files["trades"].rows)
        counted["orders"] += len(files["orders"].rows)
    assert counted == {
        "ledger_rows": summary.ledger_rows, "trades": summary.trades, "orders": summary.orders,
    }  # fmt: skip
    assert summary.ledger_rows == USERS * ROWS
    assert summary.bytes == sum(p.stat().st_size for f in exports for p in f.iterdir())


def test_bytes_look_like_binance(made) -> None:
    """BOM, the real files' header lines, every value quoted, empty ones bare,
    8-decimal numbers with zero as 0E-8, \\n line ends, sorted by time."""
    _, _, exports = made
    real = {
        "ledger": REAL / "Aaron" / "202511131155_u本位transaction history.csv",
        "trades": REAL / "Aaron" / "202511131124_u本位tradehistory.csv",
        "orders": REAL / "Aaron" / "202511160817_u本位order-history.csv",
    }
    numeric = {"ledger": (2,), "trades": (5, 6, 7, 9), "orders": (7, 9, 10, 11, 12, 16, 17)}
    for folder in exports:
        for kind, name in FILES.items():
            data = (folder / name).read_bytes()
            assert data.startswith(b"\xef\xbb\xbf")
            assert data.endswith(b'"\n')
            assert b"\r" not in data
            header, *lines = data.split(b"\n")[:-1]
            if REAL.is_dir():
                assert header == real[kind].read_bytes().split(b"\n")[0]
            for line in lines:
                cells = line.split(b",")
                assert all(c == b"" or (c[:1] == c[-1:] == b'"') for c in cells)
                for k in numeric[kind]:
                    assert NUMBER.match(cells[k]), (folder, kind, line)
            times = [line.split(b",")[0 if kind == "ledger" else 1] for line in lines]
            assert times == sorted(times)
    if not REAL.is_dir():
        pytest.skip(f"{REAL} missing: headers not compared with the real exports")


def test_realized_pnl_rows_and_closing_trades_match_one_to_one(made) -> None:
    _, _, exports = made
    for files in exports.values():
        ledger = [r for r in files["ledger"].rows if isinstance(r, LedgerRow)]
        trades = [t for t in files["trades"].rows if isinstance(t, Trade)]
        pnl = [r for r in ledger if r.type == "REALIZED_PNL"]
        closing = [t for t in trades if t.realized != 0]
        assert len(pnl) == len(closing) > 0
        by_id = {(t.symbol, t.trade_id): t for t in trades}
        assert len(by_id) == len(trades)  # trade ids unique per symbol
        linked = set()
        for row in pnl:
            trade = _linked(row, by_id)
            assert (trade.time, trade.realized) == (row.time, row.amount)
            assert row.asset == trade.fee_asset == margin_asset_of(trade.symbol, "usdm_futures")
            linked.add((trade.symbol, trade.trade_id))
        assert linked == {(t.symbol, t.trade_id) for t in closing}
        commission = [r for r in ledger if r.type == "COMMISSION"]
        liquidation = _liquidation_orders(files)
        assert len(commission) == sum(1 for t in trades if t.order_id not in liquidation)
        for row in commission:
            trade = _linked(row, by_id)
            assert row.time == trade.time
            assert row.amount < 0


def test_orders_hold_every_order_the_trades_name(made) -> None:
    _, _, exports = made
    for files in exports.values():
        orders = {o.order_id: o for o in files["orders"].rows if isinstance(o, Order)}
        assert len(orders) == len(files["orders"].rows)
        filled: dict[int, Decimal] = defaultdict(Decimal)
        for trade in files["trades"].rows:
            assert isinstance(trade, Trade)
            order = orders[trade.order_id]
            assert (order.symbol, order.time <= trade.time) == (trade.symbol, True)
            filled[trade.order_id] += trade.quantity
        for order in orders.values():
            assert order.executed == filled.get(order.order_id, 0)
            assert (order.status == "CANCELED") == (order.executed == 0)


def test_ledgers_are_complete_and_never_negative(made) -> None:
    _, _, exports = made
    for files in exports.values():
        rows = [r for r in files["ledger"].rows if isinstance(r, LedgerRow)]
        assert (rows[0].type, rows[0].asset, rows[0].amount > 0) == ("TRANSFER", "USDT", True)
        assert {r.type for r in rows} >= {"TRANSFER", "COMMISSION", "FUNDING_FEE", "REALIZED_PNL"}
        assert {r.asset for r in rows} <= {"USDT", "USDC"}
        balance: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            balance[row.asset] += row.amount
            assert balance[row.asset] >= 0, row.where
            assert "2025-06-01" <= row.time.date().isoformat() <= "2025-10-11"


def test_liquidations_are_shaped_like_the_real_ones(made) -> None:
    summary, _, exports = made
    files = exports[min(exports, key=lambda p: int(p.name))]  # the first user: always
    orders = [o for o in files["orders"].rows if isinstance(o, Order)]
    ledger = [r for r in files["ledger"].rows if isinstance(r, LedgerRow)]
    engine = [o for o in orders if _suffix(o) is True]
    takeover = [o for o in orders if _suffix(o) is False]
    assert engine
    assert takeover
    assert "EXPIRED" in {o.status for o in engine} <= {"FILLED", "EXPIRED"}
    clear = [r for r in ledger if r.type == "INSURANCE_CLEAR"]
    assert sorted((r.symbol, r.time) for r in clear) == sorted((o.symbol, o.time) for o in engine)
    assert all(r.amount < 0 for r in clear)
    for order in engine + takeover:
        assert order.executed > 0
        assert (
            "2025-10-10 21:15:00"
            <= order.time.strftime("%Y-%m-%d %H:%M:%S")
            < "2025-10-10 21:25:00"
        )
        ms = int(AUTOCLOSE.match(order.client_id or "").group(1))  # type: ignore[union-attr]
        assert ms // 1000 == int(order.time.timestamp())
    liquidation = _liquidation_orders(files)
    fills = [t for t in files["trades"].rows if isinstance(t, Trade) and t.order_id in liquidation]
    assert all(t.fee_asset and t.realized < 0 and t.side == "SELL" for t in fills)
    assert len({t.order_id for t in fills}) == len(engine) + len(takeover)
    total_clear = sum(
        1
        for f in exports.values()
        for r in f["ledger"].rows
        if r.type == "INSURANCE_CLEAR"  # type: ignore[union-attr]
    )
    assert summary.insurance_clear_rows == total_clear
    assert summary.liquidation_fills == sum(
        1
        for f in exports.values()
        for t in f["trades"].rows
        if t.order_id in _liquidation_orders(f)  # type: ignore[union-attr]
    )
    others = {o.client_id.split("_")[0] for o in orders if _suffix(o) is None}  # type: ignore[union-attr]
    assert others <= {"web", "ios", "android"}


def test_same_seed_same_bytes_and_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    first = write_exports(tmp_path / "a", users=3, ledger_rows_per_user=300, seed=5)
    elapsed = time.perf_counter() - started
    second = write_exports(tmp_path / "b", users=3, ledger_rows_per_user=300, seed=5)
    other = write_exports(tmp_path / "c", users=3, ledger_rows_per_user=300, seed=6)
    assert first == second
    assert _contents(tmp_path / "a") == _contents(tmp_path / "b") != _contents(tmp_path / "c")
    assert other.ledger_rows == first.ledger_rows == 900
    assert elapsed < 1.0  # typically ~0.05 s


def test_refuses_bad_sizes_and_a_filled_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="users >= 1"):
        write_exports(tmp_path / "x", users=0, ledger_rows_per_user=10)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("")
    with pytest.raises(FileExistsError):
        write_exports(tmp_path / "full", users=1, ledger_rows_per_user=10)
    tiny = write_exports(tmp_path / "tiny", users=2, ledger_rows_per_user=1)
    assert tiny.ledger_rows == 2
    for folder in (tmp_path / "tiny").iterdir():
        assert read_csv_export(folder / FILES["ledger"]).product == "usdm_futures"


def _linked(row: LedgerRow, by_id: dict[tuple[str, int], Trade]) -> Trade:
    """The trade whose id ends the row's Transaction ID, after a 5-6 digit prefix."""
    text = str(row.txid)
    found = [
        by_id[row.symbol, int(text[n:])] for n in (5, 6) if (row.symbol, int(text[n:])) in by_id
    ]
    assert len(found) == 1, row
    trade = found[0]
    assert text.endswith(str(trade.trade_id))
    assert text[-len(str(trade.trade_id)) - 1] == ("1" if trade.side == "BUY" else "0")
    return trade


def _liquidation_orders(files: dict[str, ExportFile]) -> set[int]:
    """Ids of the orders whose client id is ``autoclose-…``."""
    orders = [o for o in files["orders"].rows if isinstance(o, Order)]
    return {o.order_id for o in orders if _suffix(o) is not None}


def _suffix(order: Order) -> bool | None:
    """True: the liquidation engine's order; False: a takeover; None: the user's own."""
    match = AUTOCLOSE.match(order.client_id or "")
    return None if match is None else match.group(2) is not None


def _contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.csv"))}
