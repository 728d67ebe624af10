"""Malformed and inconsistent exports: exit code 2, file, line and column, nothing written.

The cases start from the real exports (a slice of Aaron's USDⓈ-M crash: the ledger,
trade and order rows of 2025-10-10) and break them the ways files get broken: cut short,
re-encoded, a column renamed, a file of another product, a value mistyped, the exports
disagreeing. A Hypothesis test then breaks them the ways nobody listed.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recompense.cli.main import app
from recompense.imports.binance import ExportError, ImportOptions, Upload, import_binance

OWN = ImportOptions(net_assets_usd=Decimal("1000"))
LEDGER, TRADES, ORDERS = "ledger.csv", "trades.csv", "orders.csv"


@pytest.fixture(scope="module")
def crash(real_data: Path) -> dict[str, str]:
    """Aaron's USDⓈ-M rows of 2025-10-10 21:17–21:20 (liquidations only), as text."""
    aaron = real_data / "user-exports" / "Aaron"
    picks = {
        LEDGER: "202511131155_u本位transaction history.csv",
        TRADES: "202511131124_u本位tradehistory.csv",
        ORDERS: "202511160817_u本位order-history.csv",
    }
    out = {}
    for name, file in picks.items():
        lines = (aaron / file).read_text(encoding="utf-8-sig").splitlines(keepends=True)
        rows = [
            line for line in lines[1:] if '"2025-10-10 21:1' in line or '"2025-10-10 21:20' in line
        ]
        out[name] = "\ufeff" + lines[0] + "".join(rows)
    return out


def _write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        (folder / name).write_bytes(data)
    return folder


def _refused(folder: Path, tmp_path: Path, *expected: str) -> str:
    out = tmp_path / "dataset"
    result = CliRunner().invoke(
        app, ["import", "binance", str(folder), "--out", str(out), "--net-assets-usd", "1000"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    for part in expected:
        assert part in message, (part, message)
    assert not out.exists()
    return message


def test_the_slice_imports(crash: dict[str, str], tmp_path: Path) -> None:
    result = import_binance([_write(tmp_path / "u", crash)], options=OWN)
    assert result.tables["liquidations"].num_rows == 376


def test_a_file_cut_short(crash: dict[str, str], tmp_path: Path) -> None:
    text = crash[TRADES]
    cut = text[: text.index("\n", len(text) // 2) - 25]  # inside a quoted field of a row
    lines = cut.count("\n") + 1
    _refused(_write(tmp_path / "u", {**crash, TRADES: cut}), tmp_path, f"{TRADES}:{lines}")


def test_a_row_cut_short_mid_file(crash: dict[str, str], tmp_path: Path) -> None:
    lines = crash[TRADES].splitlines(keepends=True)
    lines[5] = ",".join(lines[5].split(",")[:9]) + "\n"
    _refused(
        _write(tmp_path / "u", {**crash, TRADES: "".join(lines)}),
        tmp_path,
        f"{TRADES}:6",
        "cut short",
    )


def test_utf16_and_latin1(crash: dict[str, str], tmp_path: Path) -> None:
    _refused(
        _write(tmp_path / "a", {**crash, LEDGER: crash[LEDGER].encode("utf-16")}),
        tmp_path,
        LEDGER,
        "UTF-16",
    )
    latin = crash[ORDERS].replace("autoclose-1760131223397", "autoclosé-1760131223397", 1)
    line = latin[: latin.index("autoclosé")].count("\n") + 1
    _refused(
        _write(tmp_path / "b", {**crash, ORDERS: latin.encode("latin-1", "replace")}),
        tmp_path,
        f"{ORDERS}:{line}",
        "not UTF-8",
    )


def test_a_column_renamed(crash: dict[str, str], tmp_path: Path) -> None:
    renamed = crash[TRADES].replace('"Realized Profit"', '"Realised Profit"', 1)
    _refused(
        _write(tmp_path / "u", {**crash, TRADES: renamed}),
        tmp_path,
        f"{TRADES}:1",
        "Trade History",
        "'Realized Profit' missing",
        "'Realised Profit'",
    )


def test_a_file_of_another_product(crash: dict[str, str], tmp_path: Path) -> None:
    spot = '\ufeff"Date(UTC)","Pair","Side","Price","Executed","Amount","Fee"\n'
    spot += (
        '"2025-10-10 21:17:51","BTCUSDT","SELL","106942.9","0.001BTC","106.9429USDT","0.1USDT"\n'
    )
    _refused(
        _write(tmp_path / "u", {**crash, "spot.csv": spot}),
        tmp_path,
        "spot.csv:1",
        "not a Binance futures export",
    )
    coinm = crash[TRADES].replace("BTCUSDT_251226", "BTCUSD_251226")
    _refused(_write(tmp_path / "v", {**crash, TRADES: coinm}), tmp_path, TRADES, "COIN-M symbol")


@pytest.mark.parametrize(
    ("column", "bad", "says"),
    [
        ("Amount", "12,5", "not a number"),
        ("Amount", "-15.1875646600000001", "beyond 12 decimal places"),
        ("Amount", "1e400", "out of range"),
        ("Amount", "1e99999", "not a number"),
        ("Transaction ID", "99999999999999999999", "not an id"),
        ("Date(UTC)", "2025-10-10T21:17:51Z", "not a time"),
    ],
)
def test_a_value_that_does_not_parse(
    crash: dict[str, str], tmp_path: Path, column: str, bad: str, says: str
) -> None:
    lines = crash[LEDGER].splitlines(keepends=True)
    header = [c.strip('"\ufeff') for c in lines[0].strip().split(",")]
    cells = lines[3].rstrip("\n").split(",")
    cells[header.index(column)] = f'"{bad}"'
    lines[3] = ",".join(cells) + "\n"
    _refused(
        _write(tmp_path / "u", {**crash, LEDGER: "".join(lines)}),
        tmp_path,
        f"{LEDGER}:4",
        f"column '{column}'",
        says,
    )


def test_a_trade_whose_ledger_row_disagrees(crash: dict[str, str], tmp_path: Path) -> None:
    text = crash[TRADES].replace('"-15.23076466"', '"-15.23076467"', 1)
    _refused(
        _write(tmp_path / "u", {**crash, TRADES: text}),
        tmp_path,
        "trade 1272347",
        "-15.23076467",
        "-15.23076466",
        LEDGER,
    )


def test_a_liquidation_fill_missing_its_ledger_row(crash: dict[str, str], tmp_path: Path) -> None:
    lines = crash[LEDGER].splitlines(keepends=True)
    kept = [line for line in lines if '"1015601272347"' not in line or "REALIZED_PNL" not in line]
    assert len(kept) == len(lines) - 1
    _refused(
        _write(tmp_path / "u", {**crash, LEDGER: "".join(kept)}),
        tmp_path,
        "fill 1272347",
        "no REALIZED_PNL row",
    )


def test_a_ledger_row_with_no_trade_in_a_liquidation_second(
    crash: dict[str, str], tmp_path: Path
) -> None:
    lines = crash[TRADES].splitlines(keepends=True)
    kept = [line for line in lines if '"1272347"' not in line]
    _refused(
        _write(tmp_path / "u", {**crash, TRADES: "".join(kept)}),
        tmp_path,
        "matches no trade",
        "missing from the Trade History",
    )


def test_an_insurance_clear_without_its_fills(crash: dict[str, str], tmp_path: Path) -> None:
    lines = crash[TRADES].splitlines(keepends=True)
    kept = [lines[0]] + [
        line for line in lines[1:] if not ("BTCUSDC" in line and "21:19:24" in line)
    ]
    ledger = "".join(
        line
        for line in crash[LEDGER].splitlines(keepends=True)
        if not ("REALIZED_PNL" in line and "BTCUSDC" in line)
    )
    _refused(
        _write(tmp_path / "u", {**crash, TRADES: "".join(kept), LEDGER: ledger}),
        tmp_path,
        "INSURANCE_CLEAR of 8303.19546502 USDC",
        "no liquidation fill",
    )


def test_two_exports_disagreeing_about_one_id(crash: dict[str, str], tmp_path: Path) -> None:
    other = crash[ORDERS].replace('"FILLED","autoclose-1760131071602075160"', '"FILLED","web_x"', 1)
    folder = _write(tmp_path / "u", crash)
    (folder / "orders again.csv").write_text(other, encoding="utf-8")
    _refused(folder, tmp_path, "orders row", "different contents")


def test_adl_is_written_but_never_counted(
    crash: dict[str, str], tmp_path: Path, program_path: Path
) -> None:
    """The 21:20:23 orders (taken over, no clearance fee) made auto-deleveraging instead."""
    from recompense.selfcheck import selfcheck

    adl = crash[ORDERS].replace('"autoclose-1760131223397"', '"adl_autoclose-1760131223397"')
    folder = _write(tmp_path / "u", {**crash, ORDERS: adl})
    fills = import_binance([folder], options=OWN).tables["liquidations"].to_pylist()
    adl_fills = [f for f in fills if f["kind"] == "adl"]
    assert adl_fills
    assert {f["ts"].strftime("%H:%M:%S") for f in adl_fills} == {"21:20:23"}
    assert len(fills) == 376
    check = selfcheck(program_path, [folder], options=OWN)
    assert len(check.fills) == 376 - len(adl_fills)
    assert not {f["fill_id"] for f in adl_fills} & {f.fill_id for f in check.fills}


def test_deliveries_are_not_written(crash: dict[str, str], tmp_path: Path) -> None:
    settled = crash[ORDERS].replace("autoclose-1760131223397", "settlement_autoclose-1760131223397")
    result = import_binance([_write(tmp_path / "u", {**crash, ORDERS: settled})], options=OWN)
    (user,) = result.report["users"]
    assert user["counts"]["usdm_futures_delivery_fills"] > 0
    assert (
        result.tables["liquidations"].num_rows
        == 376 - user["counts"]["usdm_futures_delivery_fills"]
    )


def test_a_ledger_with_no_uid_and_two_users_next_to_it(
    crash: dict[str, str], tmp_path: Path
) -> None:
    folder = _write(tmp_path / "u", crash)
    other = crash[TRADES].replace('"26515667"', '"42"')
    (folder / "sub").mkdir()
    _write(folder, {"trades of 42.csv": other})
    message = _refused(folder, tmp_path, LEDGER, "names no user", "2 users", "--user-id")
    assert "26515667" in message
    assert "42" in message


def test_user_id_must_agree_with_the_files(crash: dict[str, str], tmp_path: Path) -> None:
    folder = _write(tmp_path / "u", crash)
    result = CliRunner().invoke(
        app,
        ["import", "binance", str(folder), "--out", str(tmp_path / "o"), "--user-id", "7",
         "--net-assets-usd", "1000"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "belongs to uid 26515667, not to --user-id 7" in " ".join(result.output.split())


def test_a_missing_price_names_asset_and_minute(crash: dict[str, str], tmp_path: Path) -> None:
    folder = _write(tmp_path / "u", crash)
    result = CliRunner().invoke(
        app,
        ["import", "binance", str(folder), "--out", str(tmp_path / "o"),
         "--net-assets-usd", "1000", "--stablecoin", "USDT=1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # USDC stays at its default of 1
    with pytest.raises(ExportError, match=r"USDC at 2025-10-10 21:19 UTC \(for fill \d+"):
        import_binance(
            [folder],
            options=ImportOptions(net_assets_usd=Decimal(1), stablecoins={"USDT": Decimal(1)}),
        )


def test_the_statement_gives_balances_in_every_wallet(
    crash: dict[str, str], tmp_path: Path
) -> None:
    statement = (
        '\ufeff"User_ID","UTC_Time","Account","Operation","Coin","Change","Remark"\n'
        '"26515667","2025-03-01 10:00:00","Spot","Deposit","USDT","5000.00000000",""\n'
        '"26515667","2025-03-02 10:00:00","Spot","Transfer Between Main and Futures","USDT","-3000.00000000",""\n'
        '"26515667","2025-03-02 10:00:00","USDT-Futures","Transfer Between Main and Futures","USDT","3000.00000000",""\n'
        '"26515667","2025-10-10 21:00:00","Spot","Withdraw","USDT","-100.00000000",""\n'
    )
    folder = _write(tmp_path / "u", {**crash, "statement.csv": statement})
    result = import_binance([folder])
    balances = {
        (b["wallet"], b["asset"]): b["balance"] for b in result.tables["balances"].to_pylist()
    }
    assert balances == {("spot", "USDT"): Decimal(2000), ("usdm_futures", "USDT"): Decimal(3000)}
    bad = statement.replace('"Spot","Withdraw"', '"Options","Withdraw"')
    _write(folder, {"statement.csv": bad})
    with pytest.raises(ExportError, match=r"statement.csv:5: column 'Account': 'Options'"):
        import_binance([folder])


def test_uploads_and_files_give_the_same_dataset(crash: dict[str, str], tmp_path: Path) -> None:
    folder = _write(tmp_path / "u", crash)
    uploads = [Upload(name, text.encode()) for name, text in crash.items()]
    a = import_binance([folder], options=OWN)
    b = import_binance(uploads, options=OWN)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name


# --- what nobody listed ----------------------------------------------------------------

_mutation = st.one_of(
    st.tuples(st.just("replace_cell"), st.integers(0, 10**6), st.text(max_size=30)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 200)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(max_size=20)),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from([LEDGER, TRADES, ORDERS]),
    mutations=st.lists(_mutation, min_size=1, max_size=4),
)
def test_any_damage_is_an_export_error_or_a_clean_import(
    crash: dict[str, str], target: str, mutations: list[tuple[str, int, object]]
) -> None:
    data = {name: text.encode("utf-8") for name, text in crash.items()}
    blob = data[target]
    for kind, at, what in mutations:
        at %= max(1, len(blob))
        if kind == "replace_cell":
            start = blob.rfind(b",", 0, at) + 1
            end = blob.find(b",", at)
            end = len(blob) if end < 0 else end
            blob = blob[:start] + json.dumps(what).encode("utf-8") + blob[end:]
        elif kind == "delete":
            blob = blob[:at] + blob[at + int(what) :]  # type: ignore[call-overload]
        else:
            blob = blob[:at] + what + blob[at:]  # type: ignore[operator]
    data[target] = blob
    uploads = [Upload(name, content) for name, content in data.items()]
    try:
        import_binance(uploads, options=OWN)
    except ExportError as exc:
        assert str(exc).strip()
        assert any(name in str(exc) for name in data) or "user" in str(exc) or "price" in str(exc)


def test_api_trades_in_milliseconds_link_to_a_csv_ledger(crash: dict[str, str]) -> None:
    """The REST API writes milliseconds, the web export seconds: rows link by the second."""
    from recompense.imports.binance.csvfiles import read_csv_export

    trades = read_csv_export(Path(TRADES), crash[TRADES].encode())
    elements = [
        {
            "symbol": t.symbol, "id": t.trade_id, "orderId": t.order_id, "side": t.side,
            "positionSide": t.position_side, "price": "1", "qty": str(t.quantity),
            "quoteQty": "1", "realizedPnl": str(t.realized), "commission": "0",
            "commissionAsset": t.fee_asset, "buyer": False, "maker": False,
            "time": int(t.time.timestamp()) * 1000 + 457,
        }
        for t in trades.rows  # type: ignore[union-attr]
    ]  # fmt: skip
    mixed = [
        Upload(LEDGER, crash[LEDGER].encode()),
        Upload(ORDERS, crash[ORDERS].encode()),
        Upload("userTrades.json", json.dumps(elements).encode()),
    ]
    api = import_binance(mixed, options=OWN).tables["liquidations"].to_pylist()
    csv = import_binance([Upload(n, t.encode()) for n, t in crash.items()], options=OWN)
    expected = csv.tables["liquidations"].to_pylist()
    assert len(api) == len(expected) == 376
    for a, e in zip(api, expected, strict=True):
        assert a["ts"].replace(microsecond=0) == e["ts"]
        assert a["ts"].microsecond == 457_000
        assert {k: v for k, v in a.items() if k != "ts"} == {
            k: v for k, v in e.items() if k != "ts"
        }
