"""The synthetic crash: determinism, the contract, calibration to the real day, shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from recompense.data import contract, synth
from recompense.data.synth import SynthSummary, generate

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
MINUTE = 60_000_000
USERS = 20_000

Tables = dict[str, pa.Table]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Microseconds since the epoch of a UTC date-time."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * 1_000_000


SNAPSHOT = us(2025, 10, 9, 23, 59)
WINDOW = (us(2025, 10, 10), us(2025, 10, 12))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthSummary, Tables]:
    summary = generate(USERS, 11, tmp_path_factory.mktemp("synth") / "crash")
    tables = {t.name: pq.read_table(summary.out / f"{t.name}.parquet") for t in contract.TABLES}
    return summary, tables


@pytest.fixture(scope="module")
def tables(made: tuple[SynthSummary, Tables]) -> Tables:
    return made[1]


def micros(column: pa.ChunkedArray) -> I64:
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(), dtype=np.int64)


def floats(column: pa.ChunkedArray) -> F64:
    return np.asarray(column.to_numpy(), dtype=np.float64)


def texts(column: pa.ChunkedArray) -> npt.NDArray[np.object_]:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


# --- determinism and the folder ---------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = generate(3_000, 5, tmp_path / "a")
    again = generate(3_000, 5, tmp_path / "b")
    other = generate(3_000, 6, tmp_path / "c")
    for spec in contract.TABLES:
        name = f"{spec.name}.parquet"
        assert (first.out / name).read_bytes() == (again.out / name).read_bytes(), name
    for name in ("users.parquet", "balances.parquet", "liquidations.parquet", "prices.parquet"):
        assert (first.out / name).read_bytes() != (other.out / name).read_bytes(), name
    assert sorted(p.name for p in first.out.iterdir()) == sorted(
        f"{t.name}.parquet" for t in contract.TABLES
    )


def test_chunks_join_up_and_report_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth, "CHUNK_USERS", 1_000)
    calls: list[tuple[int, int]] = []
    summary = generate(2_500, 3, tmp_path / "out", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1_000, 2_500), (2_000, 2_500), (2_500, 2_500)]
    users = pq.read_table(summary.out / "users.parquet")
    assert users["user_id"].to_pylist() == list(range(1, 2_501))
    fills = pq.read_table(summary.out / "liquidations.parquet")["fill_id"].to_numpy()
    assert np.array_equal(fills, np.arange(1, len(fills) + 1))
    assert summary.liquidations == len(fills)
    assert summary.users == 2_500


def test_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate(100, 1, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_fills_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    summary = generate(100, 1, tmp_path / "out")
    assert summary.users == 100
    assert (summary.out / "users.parquet").is_file()


def test_a_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(synth, "_chunk", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate(100, 1, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("users, seed", [(0, 1), (10, -1)])
def test_rejects_bad_arguments(tmp_path: Path, users: int, seed: int) -> None:
    with pytest.raises(ValueError):
        generate(users, seed, tmp_path / "out")


# --- the contract ---------------------------------------------------------------

ARROW = {
    "int": pa.int64(),
    "str": pa.string(),
    "enum": pa.string(),
    "ts": pa.timestamp("us", tz="UTC"),
    "num": pa.float64(),
}


@pytest.mark.parametrize("spec", contract.TABLES, ids=lambda s: s.name)
def test_columns_types_and_values_follow_the_contract(
    tables: Tables, spec: contract.TableSpec
) -> None:
    table = tables[spec.name]
    assert table.num_rows > 0
    assert table.schema.names == [c.name for c in spec.columns]
    assert table.schema.metadata is None or b"pandas" not in table.schema.metadata
    for col in spec.columns:
        column = table[col.name]
        assert column.type == ARROW[col.kind], col.name
        if not col.nullable:
            assert column.null_count == 0, col.name
        if col.kind == "num":
            assert np.isfinite(floats(column)).all(), col.name
        if col.non_negative:
            assert pc.min(column).as_py() >= 0, col.name
        if col.positive:
            assert pc.min(column).as_py() > 0, col.name
        if col.allowed:
            assert set(pc.unique(column).to_pylist()) <= set(col.allowed), col.name


def test_unique_and_foreign_keys_hold(tables: Tables) -> None:
    for name, columns in contract.UNIQUE_KEYS:
        table = tables[name]
        grouped = table.group_by(list(columns)).aggregate([])
        assert grouped.num_rows == table.num_rows, (name, columns)
    for child, column, parent, parent_column in contract.FOREIGN_KEYS:
        known = tables[parent][parent_column]
        assert pc.all(pc.is_in(tables[child][column], value_set=known)).as_py(), (child, column)


def test_every_user_has_exactly_one_master(tables: Tables) -> None:
    accounts = tables["accounts"]
    masters = accounts.filter(pc.equal(accounts["kind"], "master"))
    assert masters.num_rows == tables["users"].num_rows
    assert pc.count_distinct(masters["user_id"]).as_py() == masters.num_rows
    assert not pc.any(
        pc.is_in(accounts["account_id"], value_set=tables["users"]["user_id"])
    ).as_py()


def test_fills_and_snapshot_have_a_price_within_60_minutes(tables: Tables) -> None:
    fills = tables["liquidations"]
    balances = tables["balances"]
    queries = [
        (texts(fills["margin_asset"]), micros(fills["ts"])),
        (texts(balances["asset"]), np.full(balances.num_rows, SNAPSHOT)),
    ]
    for assets, at in queries:
        age = price_age(tables["prices"], assets, at)
        assert (age >= 0).all()
        assert (age < 60 * MINUTE).all()


def test_some_prices_skip_minutes_but_never_an_hour(tables: Tables) -> None:
    prices = tables["prices"]
    per_asset = prices.group_by("asset").aggregate([("minute", "count")])
    counts = dict(zip(*(per_asset[c].to_pylist() for c in ("asset", "minute_count")), strict=True))
    assert set(counts) >= {"BTC", "ETH", "SOL", "XRP", "BNB", "DOGE", "USDT", "USDC", "USDE"}
    assert set(counts) >= {"BNSOL", "WBETH"}
    assert max(counts.values()) == 4 * 1440
    assert sum(c < 4 * 1440 for c in counts.values()) >= 2
    for asset in counts:
        minutes = np.sort(micros(prices.filter(pc.equal(prices["asset"], asset))["minute"]))
        assert minutes[0] == us(2025, 10, 9)
        assert (minutes % MINUTE == 0).all()
        assert np.diff(minutes).max() < 60 * MINUTE, asset


def price_age(prices: pa.Table, assets: npt.NDArray[np.object_], at: I64) -> I64:
    """Age of the latest price at or before ``at`` per query; -1 where there is none."""
    age = np.full(len(at), -1, dtype=np.int64)
    for asset in np.unique(assets):
        rows = prices.filter(pc.equal(prices["asset"], asset))
        minutes = np.sort(micros(rows["minute"]))
        mine = assets == asset
        i = np.searchsorted(minutes, at[mine], side="right") - 1
        age[mine] = np.where(i >= 0, at[mine] - minutes[np.maximum(i, 0)], -1)
    return age


# --- calibration against the real day ---------------------------------------------


@pytest.fixture(scope="module")
def real() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"real crash data not found at {REAL} (not shipped with the package)")
    return REAL


def series(tables: Tables, asset: str, day: int = 10) -> tuple[I64, F64]:
    prices = tables["prices"]
    rows = prices.filter(pc.equal(prices["asset"], asset))
    minute, usd = micros(rows["minute"]), floats(rows["usd"])
    keep = (minute >= us(2025, 10, day)) & (minute < us(2025, 10, day + 1))
    return minute[keep], usd[keep]


def kline(path: Path, time_column: str) -> tuple[I64, F64, pa.Table]:
    """Start (µs UTC), low and the table of a minute file; minutes without trades dropped."""
    table = pacsv.read_csv(path)
    table = table.filter(pc.is_valid(table["low"]))
    column = table[time_column]
    if pa.types.is_timestamp(column.type):  # naive UTC text such as 2025-10-10 21:54:00
        start = micros(pc.cast(column, pa.timestamp("us")))
    else:  # Binance bulk files: open_time in ms
        start = np.asarray(column.to_numpy(), dtype=np.int64) * 1000
    return start, floats(table["low"]), table


def test_btc_low_matches_the_mark_price_low(tables: Tables, real: Path) -> None:
    start, low, _ = kline(real / "binance_um_BTCUSDT_markprice_5m_2025-10-10.csv", "open_time")
    minute, usd = series(tables, "BTC")
    assert abs(usd.min() / low.min() - 1) < 0.02
    assert abs(minute[usd.argmin()] - start[low.argmin()]) <= 10 * MINUTE


def test_btc_path_follows_the_coin_m_mark_price(tables: Tables, real: Path) -> None:
    start, _, table = kline(
        real / "binance_cm_BTCUSD_PERP_markprice_1m_2025-10-10.csv", "open_time"
    )
    minute, usd = series(tables, "BTC")
    close = dict(zip(start.tolist(), floats(table["close"]), strict=True))
    both = np.array([m in close for m in minute.tolist()])
    assert both.sum() > 1400
    ours, theirs = usd[both], np.array([close[m] for m in minute[both].tolist()])
    assert np.corrcoef(ours, theirs)[0, 1] > 0.9


def test_usde_depeg_low(tables: Tables, real: Path) -> None:
    start, low, _ = kline(real / "binance_spot_USDEUSDT_1m_2025-10-09_12.csv", "open_time_utc")
    minute, usd = series(tables, "USDE")
    assert abs(low.min() - 0.65) < 1e-9
    assert start[low.argmin()] == us(2025, 10, 10, 21, 54)
    assert abs(usd.min() - low.min()) < 0.05
    assert abs(minute[usd.argmin()] - start[low.argmin()]) <= 10 * MINUTE
    before = usd[minute < us(2025, 10, 10, 21, 19)]
    assert np.abs(before - 1).max() < 0.002


def test_eth_low_near_the_gemini_low(tables: Tables, real: Path) -> None:
    _, low, _ = kline(real / "gemini_ETHUSD_1m_from_trades_2025-10-10.csv", "open_time_utc")
    _, usd = series(tables, "ETH")
    assert abs(usd.min() / low.min() - 1) < 0.05


def test_staked_tokens_depeg_after_2136(tables: Tables) -> None:
    for token, base, ratio in (("BNSOL", "SOL", 1.0685), ("WBETH", "ETH", 1.0738)):
        minute, usd = series(tables, token)
        _, base_usd = series(tables, base)
        peg = usd / base_usd / ratio
        calm = minute < us(2025, 10, 10, 21, 36)
        assert np.abs(peg[calm] - 1).max() < 0.01, token
        assert peg.min() < 0.5, token
        assert minute[peg.argmin()] < us(2025, 10, 10, 22, 30), token


def test_fills_peak_in_the_crash_hour(tables: Tables) -> None:
    hour = micros(tables["liquidations"]["ts"]) // (60 * MINUTE)
    values, counts = np.unique(hour, return_counts=True)
    assert values[counts.argmax()] * 60 * MINUTE == us(2025, 10, 10, 21)
    assert counts.max() / counts.sum() > 0.5


# --- shares on a 20k-user dataset ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fills:
    """Per fill: user, USD PnL and fee at the fill's minute, whether inside the window."""

    user: I64
    usd: F64
    fee_usd: F64
    inside: npt.NDArray[np.bool_]


def liquidation_facts(tables: Tables) -> Fills:
    fills, accounts = tables["liquidations"], tables["accounts"]
    fill_account = fills["account_id"].to_numpy()
    ids, owners = accounts["account_id"].to_numpy(), accounts["user_id"].to_numpy()
    at = micros(fills["ts"])
    price = asof_price(tables["prices"], texts(fills["margin_asset"]), at)
    return Fills(
        user=np.asarray(owners[np.searchsorted(ids, fill_account)], dtype=np.int64),
        usd=floats(fills["realized_pnl"]) * price,
        fee_usd=floats(fills["clearance_fee"]) * price,
        inside=(at >= WINDOW[0]) & (at < WINDOW[1]),
    )


def asof_price(prices: pa.Table, assets: npt.NDArray[np.object_], at: I64) -> F64:
    out = np.zeros(len(at))
    for asset in np.unique(assets):
        rows = prices.filter(pc.equal(prices["asset"], asset))
        order = np.argsort(micros(rows["minute"]))
        minutes, usd = micros(rows["minute"])[order], floats(rows["usd"])[order]
        mine = assets == asset
        out[mine] = usd[np.searchsorted(minutes, at[mine], side="right") - 1]
    return out


def net_assets(tables: Tables) -> dict[int, float]:
    balances, accounts = tables["balances"], tables["accounts"]
    ids, owners = accounts["account_id"].to_numpy(), accounts["user_id"].to_numpy()
    user = owners[np.searchsorted(ids, balances["account_id"].to_numpy())]
    units = floats(balances["balance"]) - floats(balances["liability"])
    units += floats(balances["unrealized_pnl"])
    price = asof_price(tables["prices"], texts(balances["asset"]), np.full(len(user), SNAPSHOT))
    total = np.bincount(user, units * price)
    return {int(u): float(total[u]) for u in np.unique(user)}


def share(mask: npt.NDArray[np.bool_]) -> float:
    return float(np.mean(mask))


def test_sizes_relative_to_users(made: tuple[SynthSummary, Tables]) -> None:
    summary, tables = made
    assert summary.users == tables["users"].num_rows == USERS
    assert 1.25 < summary.accounts / USERS < 1.42
    assert 1.0 < summary.balances / USERS < 1.5
    assert 0.03 < summary.liquidated_users / USERS < 0.05
    assert 7 < summary.liquidations / summary.liquidated_users < 15
    assert 0.01 < summary.prior_compensation / summary.liquidated_users < 0.07
    assert summary.prices == tables["prices"].num_rows


def test_users_mix(tables: Tables) -> None:
    users = tables["users"]
    kinds = texts(users["user_type"])
    assert 0.015 < share(kinds == "vip") < 0.025
    assert 0.0005 < share(kinds == "institutional") < 0.005
    tiers = users["vip_tier"].to_numpy()
    assert share(tiers[kinds == "retail"] == 0) > 0.85
    assert tiers.max() <= 9
    assert tiers[kinds != "retail"].min() >= 1
    registered = micros(users["registered_at"])
    assert registered.min() >= us(2017, 7, 14)
    assert registered.max() < us(2025, 10, 9)
    locales = texts(users["locale"])
    assert share(locales == "en") > 0.3
    assert share(locales == "es") > 0.1
    assert len(set(locales)) >= 7
    email = users["email"].to_pylist()
    ids = users["user_id"].to_pylist()
    assert all(e == f"user{i}@example.com" for e, i in zip(email, ids, strict=True) if e)
    assert 0.95 * users.num_rows < sum(e is not None for e in email) < users.num_rows


def test_liquidation_shares(tables: Tables) -> None:
    fills = tables["liquidations"]
    kind, product = texts(fills["kind"]), texts(fills["product"])
    margin, symbol = texts(fills["margin_asset"]), texts(fills["symbol"])
    facts = liquidation_facts(tables)
    assert 0.03 < share(kind == "adl") < 0.07
    assert 0.005 < share(~facts.inside) < 0.04
    boundary = micros(fills["ts"])
    assert (boundary == WINDOW[1]).any()
    assert (boundary == WINDOW[0]).any()
    assert ((boundary >= WINDOW[1] - MINUTE) & (boundary < WINDOW[1])).any()
    assert share(product == "usdm_futures") > 0.5
    coinm = product == "coinm_futures"
    assert share(coinm) > 0.02
    assert set(margin[coinm]) <= {"BTC", "ETH", "SOL", "XRP", "BNB", "DOGE", "LINK", "ADA"}
    assert all(s.endswith("USD_PERP") for s in symbol[coinm])
    assert set(margin[~coinm]) == {"USDT", "USDC"}
    assert share(floats(fills["realized_pnl"])[kind == "liquidation"] < 0) > 0.9
    assert share(floats(fills["clearance_fee"])[kind == "adl"] == 0) == 1.0


def test_sub_accounts_and_underwater_users_are_liquidated(tables: Tables) -> None:
    fills, accounts = tables["liquidations"], tables["accounts"]
    subs = accounts.filter(pc.equal(accounts["kind"], "sub"))["account_id"]
    on_sub = pc.is_in(fills["account_id"], value_set=subs).to_numpy(zero_copy_only=False)
    user = liquidation_facts(tables).user
    assert 0.03 < len(np.unique(user[on_sub])) / len(np.unique(user)) < 0.25
    net = net_assets(tables)
    underwater = [u for u in np.unique(user).tolist() if net.get(u, 0.0) <= 0]
    assert underwater
    assert len(underwater) / len(np.unique(user)) < 0.04


def test_losses_are_heavy_tailed_and_half_pass_30_percent(tables: Tables) -> None:
    facts = liquidation_facts(tables)
    inside = facts.inside
    user = facts.user[inside]
    users, slot = np.unique(user, return_inverse=True)
    loss = -np.bincount(slot, facts.usd[inside])
    assert 100 < np.median(loss) < 2_000
    assert 0.05 < share(loss < 50) < 0.3
    assert np.quantile(loss, 0.99) > 20 * np.median(loss)
    net = net_assets(tables)
    worth = np.array([net.get(u, 0.0) for u in users.tolist()])
    positive = worth > 0
    assert 0.4 < share(loss[positive] >= 0.3 * worth[positive]) < 0.6
    fee_ratio = facts.fee_usd[inside].sum() / -facts.usd[inside & (facts.usd < 0)].sum()
    assert 0.005 < fee_ratio < 0.015


def test_net_worth_is_heavy_tailed(tables: Tables) -> None:
    worth = np.array(list(net_assets(tables).values()))
    assert 0.6 < share((worth >= 10) & (worth <= 10_000)) < 0.95
    assert worth.max() > 1_000_000


def test_prior_compensation(tables: Tables) -> None:
    prior = tables["prior_compensation"]
    programs = texts(prior["program_id"])
    assert set(programs) <= {"depeg-2025-10", "transfer-delay-2025-10"}
    assert share(programs == "depeg-2025-10") > 0.5
    paid = micros(prior["paid_at"])
    assert paid.min() >= us(2025, 10, 11)
    assert paid.max() < us(2025, 10, 12)
    liquidated = np.unique(liquidation_facts(tables).user)
    assert np.isin(prior["user_id"].to_numpy(), liquidated).all()
    assert pc.min(prior["amount_usd"]).as_py() > 0
