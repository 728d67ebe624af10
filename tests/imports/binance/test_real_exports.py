"""The importer on two real users' Binance exports (``../shared/data/real/user-exports``).

What can be checked independently of the importer is checked against the raw CSV text,
read here with the standard library: every fill's PnL and asset against its ledger row,
the clearance fees against the INSURANCE_CLEAR rows, the fill counts the exports' README
states, and the self-check's loss against ``recompense run`` on the imported dataset.

Prices: BTC (COIN-M margin) from the real 1-minute COIN-M mark-price klines; USDT and
USDC at 1. **BNB at the snapshot is an assumption**: the shared data has no BNB minute
price for 2025-10-09 23:59, so the tests give $1,250 (Aaron holds 0.26 BNB there: ±$100
on the price moves his net assets by ±$26 of $676k).
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from recompense.cli.main import app
from recompense.imports.binance import ImportOptions, import_binance
from recompense.selfcheck import selfcheck

AARON_UID, BLAH_UID = 26515667, 1105200956
BNB_ASSUMED = "1250"


@pytest.fixture(scope="module")
def exports(real_data: Path) -> Path:
    return real_data / "user-exports"


@pytest.fixture(scope="module")
def bnb_prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prices") / "bnb.csv"
    path.write_text(f"asset,minute,usd\nBNB,2025-10-09T23:59:00Z,{BNB_ASSUMED}\n")
    return path


@pytest.fixture(scope="module")
def aaron_options(real_data: Path, bnb_prices: Path) -> ImportOptions:
    klines = [
        real_data / f"binance_cm_BTCUSD_PERP_markprice_1m_2025-10-{d}.csv" for d in ("09", "10")
    ]
    return ImportOptions(klines={"BTC": klines}, price_files=[bnb_prices])


@pytest.fixture(scope="module")
def aaron(exports: Path, aaron_options: ImportOptions, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("aaron") / "dataset"
    return import_binance([exports / "Aaron"], out, options=aaron_options)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _ledgers(folder: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8-sig") as f:
            if f.readline().startswith('"Date(UTC)","type"'):
                rows += _csv(path)
    return rows


def test_fill_counts_match_the_exports_readme(aaron, exports: Path) -> None:
    fills = aaron.tables["liquidations"].to_pylist()
    by_product = Counter(f["product"] for f in fills)
    assert by_product == {"usdm_futures": 376, "coinm_futures": 148}
    assert {f["kind"] for f in fills} == {"liquidation"}
    assert {f["account_id"] for f in fills} == {AARON_UID}
    blah = import_binance(
        [exports / "blah"], options=ImportOptions(net_assets_usd=Decimal("9179.35"))
    )
    assert blah.tables["liquidations"].num_rows == 20


def test_every_fill_equals_its_ledger_row(aaron, exports: Path) -> None:
    ledger = {(r["type"], int(r["Transaction ID"])): r for r in _ledgers(exports / "Aaron")}
    fills = aaron.tables["liquidations"].to_pylist()
    for fill in fills:
        row = ledger[("REALIZED_PNL", fill["fill_id"])]
        assert Decimal(row["Amount"]) == fill["realized_pnl"]
        assert row["Asset"] == fill["margin_asset"]
        assert row["Symbol"] == fill["symbol"]
        assert row["Date(UTC)"] == fill["ts"].strftime("%Y-%m-%d %H:%M:%S")
    assert len({f["fill_id"] for f in fills}) == len(fills)


def test_clearance_fees_sum_to_the_insurance_clear_rows(aaron, exports: Path) -> None:
    charged: defaultdict[str, Decimal] = defaultdict(Decimal)
    for r in _ledgers(exports / "Aaron"):
        if r["type"] == "INSURANCE_CLEAR" and r["Symbol"] and Decimal(r["Amount"]) < 0:
            charged[r["Asset"]] -= Decimal(r["Amount"])
    spread: defaultdict[str, Decimal] = defaultdict(Decimal)
    for f in aaron.tables["liquidations"].to_pylist():
        spread[f["margin_asset"]] += f["clearance_fee"]
    assert dict(charged) == {k: v for k, v in spread.items() if v}
    assert charged["USDC"] == Decimal("8303.19546502")  # BTCUSDC, one isolated position
    # the positive INSURANCE_CLEAR (a top-up, no symbol) is no fee
    assert all(f["clearance_fee"] >= 0 for f in aaron.tables["liquidations"].to_pylist())


def test_the_delivery_is_not_a_liquidation(aaron) -> None:
    (user,) = aaron.report["users"]
    assert user["counts"]["usdm_futures_delivery_fills"] == 1
    assert "delivery" not in {f["kind"] for f in aaron.tables["liquidations"].to_pylist()}


def test_coin_m_liquidations_are_inferred_and_said_so(aaron) -> None:
    (user,) = aaron.report["users"]
    inferred = [k for k in user["classified"] if "inferred" in k]
    assert inferred
    assert user["classified"][inferred[0]] == 148
    assert user["counts"]["liquidation_fills_inferred"] == 148


def test_snapshot_balances_sum_the_complete_ledgers(aaron) -> None:
    balances = {
        (b["wallet"], b["asset"]): b["balance"] - b["liability"]
        for b in aaron.tables["balances"].to_pylist()
    }
    assert balances == {
        ("usdm_futures", "USDT"): Decimal("158452.06162298"),
        ("usdm_futures", "USDC"): Decimal("238137.74323411"),
        ("usdm_futures", "BNB"): Decimal("0.26247134"),
        ("coinm_futures", "BTC"): Decimal("2.29433541"),
    }
    (user,) = aaron.report["users"]
    assert any("open at the snapshot" in w for w in user["warnings"])


def test_an_incomplete_ledger_is_refused_unless_the_user_gives_net_assets(exports: Path) -> None:
    from recompense.imports.binance import ExportError

    with pytest.raises(ExportError, match=r"starts 2025-08-07 16:00:00 with FUNDING_FEE"):
        import_binance([exports / "blah"])
    result = import_binance(
        [exports / "blah"], options=ImportOptions(net_assets_usd=Decimal("9179.35"))
    )
    (user,) = result.report["users"]
    assert "own figure" in user["net_assets"]["source"]


def test_importing_twice_gives_identical_bytes(
    aaron, exports: Path, aaron_options: ImportOptions, tmp_path: Path
) -> None:
    again = import_binance([exports / "Aaron"], tmp_path / "again", options=aaron_options)
    for name in aaron.tables:
        first = (aaron.out / f"{name}.parquet").read_bytes()
        assert (again.out / f"{name}.parquet").read_bytes() == first, name


def test_overlapping_exports_do_not_double(
    aaron, exports: Path, aaron_options: ImportOptions, tmp_path: Path
) -> None:
    """The same folder twice, plus a second export of the USDⓈ-M ledger's crash days."""
    second = tmp_path / "second" / "Aaron"
    shutil.copytree(exports / "Aaron", second)
    ledger = next(p for p in second.glob("*u本位transaction history.csv"))
    lines = ledger.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    crash = [line for line in lines[1:] if line.startswith('"2025-10-1')]
    (second / "overlap ledger.csv").write_text(
        "\ufeff" + lines[0] + "".join(crash), encoding="utf-8"
    )
    result = import_binance([exports / "Aaron", second], options=aaron_options)
    for name in aaron.tables:
        assert result.tables[name].equals(aaron.tables[name]), name
    (user,) = result.report["users"]
    assert user["counts"]["duplicate_ledger_rows_dropped"] == 2866 + 1061 + len(crash)


def test_selfcheck_loss_equals_the_run_on_the_imported_dataset(
    aaron,
    exports: Path,
    real_data: Path,
    aaron_options: ImportOptions,
    program_path: Path,
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["run", "--program", str(program_path), "--data", str(aaron.out), "--out", str(run)]
    )
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(run / "eligibility.parquet").to_pylist()
    check = selfcheck(program_path, [exports / "Aaron"], options=aaron_options, run=run)
    assert check.loss_cents == int(row["loss_usd"] * 100) == 68_845_234
    assert check.net_assets_cents == int(row["net_assets_usd"] * 100)
    assert check.eligible
    assert row["eligible"]
    assert len(check.fills) == row["fills"] == 524
    assert check.payout is not None
    assert check.payout.in_run
    assert check.payout.matches
    assert check.timeline[-1][1] == check.loss_cents
    # Independently from the raw ledgers: every PnL and fee row of 21:16-21:21 on 10-10
    # (Aaron's liquidations, by the exports' README), priced at 1 (USDT, USDC) or at the
    # close of the BTC kline of its minute. Per-fill rounding moves it by < 0.5 µ$ a fill.
    btc = {
        int(r["open_time"]) // 1000: Decimal(r["close"])
        for r in _csv(real_data / "binance_cm_BTCUSD_PERP_markprice_1m_2025-10-10.csv")
    }
    expected = Decimal(0)
    for r in _ledgers(exports / "Aaron"):
        crash = "2025-10-10 21:16" <= r["Date(UTC)"] < "2025-10-10 21:21" and r["Symbol"]
        if crash and r["type"] in ("REALIZED_PNL", "INSURANCE_CLEAR"):
            minute = datetime.fromisoformat(r["Date(UTC)"] + "+00:00").replace(second=0)
            price = btc[int(minute.timestamp())] if r["Asset"] == "BTC" else Decimal(1)
            expected -= Decimal(r["Amount"]) * price
    micros = sum(f.loss_micros for f in check.fills)
    assert abs(micros - expected * 10**6) < Decimal(len(check.fills)) / 2


def test_the_cli_imports_and_reports(
    exports: Path, real_data: Path, bnb_prices: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dataset"
    klines = [
        f"BTC={real_data / f'binance_cm_BTCUSD_PERP_markprice_1m_2025-10-{d}.csv'}"
        for d in ("09", "10")
    ]
    args = ["import", "binance", str(exports / "Aaron"), "--out", str(out), "--json"]
    for item in klines:
        args += ["--klines", item]
    result = CliRunner().invoke(app, [*args, "--prices", str(bnb_prices)])
    assert result.exit_code == 0, result.output
    assert (out / "import-report.json").is_file()
    assert '"liquidation_fills_in_window": 524' in result.stdout
    check = CliRunner().invoke(
        app, ["check", "--program", "programs/together-2025-10.toml", "--data", str(out)]
    )
    assert check.exit_code == 0, check.output
