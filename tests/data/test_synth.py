"""The synthetic crash: determinism, the contract, calibration to the real day, shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
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
from recompense.engine.collateral import FullResult
from recompense.policy.full import FullPolicy

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "data" / "real"
DEPEG = ROOT / "programs" / "depeg-2025-10.toml"
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
DEPEG_WINDOW = (us(2025, 10, 10, 21, 36), us(2025, 10, 10, 22, 17))  # depeg-2025-10, [start, end)
EDGES_IN = (DEPEG_WINDOW[0], DEPEG_WINDOW[1] - 1)  # 21:36:00 and 22:16:59.999999
EDGES_OUT = (DEPEG_WINDOW[1], DEPEG_WINDOW[0] - 1)  # 22:17:00 and 21:35:59.999999


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
    for table in ("users", "balances", "liquidations", "prices", "collateral_liquidations"):
        name = f"{table}.parquet"
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
    events = pq.read_table(summary.out / "collateral_liquidations.parquet")["event_id"]
    assert events.to_pylist() == list(range(1, summary.collateral_liquidations + 1))
    assert summary.collateral_liquidations > 10
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
EXACT = {"collateral_liquidations", "reference_prices"}  # num columns as decimal(38, 12)


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
        exact = col.kind == "num" and spec.name in EXACT
        assert column.type == (pa.decimal128(38, 12) if exact else ARROW[col.kind]), col.name
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


# --- the de-peg tables (programs/depeg-2025-10.toml) -----------------------------------

COLLATERAL = ("USDE", "BNSOL", "WBETH")
REDEMPTION = {
    "USDE": ("USDT", Decimal(1)),
    "BNSOL": ("SOL", Decimal("1.0685")),
    "WBETH": ("ETH", Decimal("1.0738")),
}
MIDNIGHT = us(2025, 10, 11)  # the programme's collateral.reference_at


@pytest.fixture(scope="module")
def path_prices(tables: Tables) -> dict[tuple[str, int], Decimal]:
    """(asset, minute µs) -> the price as the decimal the path was rounded to (≤ 6 places)."""
    prices = tables["prices"]
    keep = pc.is_in(prices["asset"], value_set=pa.array([*COLLATERAL, "SOL", "ETH", "USDT"]))
    rows = prices.filter(keep)
    return {
        (a, m): Decimal(repr(p))
        for a, m, p in zip(
            texts(rows["asset"]).tolist(),
            micros(rows["minute"]).tolist(),
            floats(rows["usd"]).tolist(),
            strict=True,
        )
    }


@pytest.fixture(scope="module")
def owner_of(tables: Tables) -> dict[int, int]:
    accounts = tables["accounts"]
    return dict(zip(*(accounts[c].to_pylist() for c in ("account_id", "user_id")), strict=True))


def ceiling(row: dict[str, Decimal]) -> Decimal:
    """No redemption weight from 0 to 1 and no floor up to $1 makes a reference above this."""
    return max(row["market_usd"], row["redemption_rate"] * row["underlying_usd"], Decimal(1))


def test_depeg_tables_open_and_validate(made: tuple[SynthSummary, Tables]) -> None:
    from recompense.data import open_dataset, validate
    from recompense.engine import connect

    summary, tables = made
    dataset = open_dataset(connect("duckdb"), summary.out)
    assert {"collateral_liquidations", "reference_prices"} <= set(dataset.raw)
    validate(dataset)
    assert summary.collateral_liquidations == tables["collateral_liquidations"].num_rows
    assert summary.reference_prices == tables["reference_prices"].num_rows == 3


def test_reference_prices_are_the_paths_at_midnight(
    tables: Tables, path_prices: dict[tuple[str, int], Decimal]
) -> None:
    rows = tables["reference_prices"].to_pylist()
    assert [r["asset"] for r in rows] == list(COLLATERAL)
    for row in rows:
        underlying, rate = REDEMPTION[row["asset"]]
        assert row["at"] == datetime(2025, 10, 11, tzinfo=UTC)
        assert row["market_usd"] == path_prices[row["asset"], MIDNIGHT]
        assert row["redemption_rate"] == rate
        assert row["underlying_usd"] == path_prices[underlying, MIDNIGHT]
        peg = row["market_usd"] / (rate * row["underlying_usd"])
        assert abs(peg - 1) < Decimal("0.01"), row["asset"]  # re-pegged by midnight
    assert rows[0]["market_usd"] == Decimal("0.9985")  # the USDE anchor


def test_usde_reference_is_the_real_close_at_midnight(tables: Tables, real: Path) -> None:
    start, _, table = kline(real / "binance_spot_USDEUSDT_1m_2025-10-09_12.csv", "open_time_utc")
    close = floats(table["close"])[start == MIDNIGHT]
    assert close.tolist() == [0.9979]
    market = tables["reference_prices"]["market_usd"][0].as_py()
    assert abs(market - Decimal("0.9979")) <= Decimal("0.001")


def test_collateral_holders_events_and_edges(
    made: tuple[SynthSummary, Tables], owner_of: dict[int, int]
) -> None:
    summary, tables = made
    events = tables["collateral_liquidations"]
    owner = np.array([owner_of[a] for a in events["account_id"].to_pylist()])
    holders, per_holder = np.unique(owner, return_counts=True)
    assert summary.collateral_users == len(holders)
    assert 0.004 < len(holders) / USERS < 0.008
    assert per_holder.min() >= 1
    assert per_holder.max() <= 4
    assets = texts(events["asset"])
    upper = np.array([a.upper() for a in assets])
    assert set(upper) == set(COLLATERAL)
    assert 1 <= sum(a != u for a, u in zip(assets, upper, strict=True)) <= 2  # one chunk
    products = set(texts(events["product"]))
    assert {"loan", "cross_margin", "isolated_margin", "portfolio_margin"} <= products
    assert products <= set(contract.COLLATERAL_PRODUCTS)
    at = micros(events["ts"])
    inside = (at >= DEPEG_WINDOW[0]) & (at < DEPEG_WINDOW[1])
    assert 0.85 < share(inside) < 0.98
    deep = (at >= us(2025, 10, 10, 21, 38)) & (at < us(2025, 10, 10, 21, 56))
    assert share(deep) > 0.5  # where BNSOL and WBETH traded at 10-30% of their peg
    for edge in (*EDGES_IN, *EDGES_OUT):
        assert (at == edge).any(), edge
    quantity = floats(events["quantity"])
    for asset, low, high in (("USDE", 500, 3_000), ("BNSOL", 2, 20), ("WBETH", 0.2, 2)):
        assert low < np.median(quantity[upper == asset]) < high, asset


def test_liquidation_price_is_the_path_price_or_above_any_reference(
    tables: Tables, path_prices: dict[tuple[str, int], Decimal]
) -> None:
    above = {r["asset"]: ceiling(r) for r in tables["reference_prices"].to_pylist()}
    events = tables["collateral_liquidations"].to_pylist()
    at_path = 0
    for event in events:
        asset = event["asset"].upper()
        minute = us(*event["ts"].timetuple()[:5])
        price = event["liquidation_price"]
        if price == path_prices[asset, minute]:
            at_path += 1
        else:
            assert price > above[asset], event
    assert 0.8 < at_path / len(events) < 0.98


def test_every_depeg_prior_payee_holds_collateral_in_the_window(
    tables: Tables, owner_of: dict[int, int]
) -> None:
    prior = tables["prior_compensation"]
    payees = set(
        prior.filter(pc.equal(prior["program_id"], "depeg-2025-10"))["user_id"].to_pylist()
    )
    events = tables["collateral_liquidations"]
    at = micros(events["ts"])
    inside = (at >= DEPEG_WINDOW[0]) & (at < DEPEG_WINDOW[1])
    owner = np.array([owner_of[a] for a in events["account_id"].to_pylist()])
    assert len(payees) > 5
    assert payees <= set(owner[inside].tolist())


# --- the de-peg programme on the synthetic crash -----------------------------------


@pytest.fixture(scope="module")
def depeg(made: tuple[SynthSummary, Tables]) -> FullResult:
    from recompense.data import open_dataset
    from recompense.engine import connect
    from recompense.engine.collateral import evaluate_full

    backend = connect("duckdb")
    return evaluate_full(backend, open_dataset(backend, made[0].out), depeg_policy())


def depeg_policy() -> FullPolicy:
    from recompense.policy import load_programme

    policy = load_programme(DEPEG)
    assert isinstance(policy, FullPolicy)
    return policy


def test_the_depeg_programme_pays_a_plausible_set(depeg: FullResult, tables: Tables) -> None:
    """About $5.5 per user of the dataset (so ~$272M at 50M users, under the $300M
    budget; Binance paid ~$283M): at 20k users, $2-$12 per user."""
    amount = np.asarray(depeg.users["amount_cents"].to_numpy(), dtype=np.int64)
    assert (amount > 0).sum() > 50
    assert 1 <= (amount == 0).sum() <= 0.15 * len(amount)  # sold above the reference
    assert 2 * USERS * 100 < amount.sum() < 12 * USERS * 100
    assert set(depeg.events["asset"].to_pylist()) == set(COLLATERAL)  # upper-cased


def test_the_engine_counts_the_window_edges_and_lower_case_assets(
    depeg: FullResult, tables: Tables
) -> None:
    events = tables["collateral_liquidations"]
    ids = np.asarray(events["event_id"].to_numpy())
    at = micros(events["ts"])
    counted = set(depeg.events["event_id"].to_pylist())
    for edge in EDGES_IN:
        assert set(ids[at == edge].tolist()) <= counted, edge
    for edge in EDGES_OUT:
        assert not set(ids[at == edge].tolist()) & counted, edge
    lower = [e for e, a in zip(ids.tolist(), texts(events["asset"]), strict=True) if a.islower()]
    assert lower
    assert set(lower) <= counted
    inside = (at >= DEPEG_WINDOW[0]) & (at < DEPEG_WINDOW[1])
    assert counted == set(ids[inside].tolist())  # every product and asset is listed


def test_the_engine_pays_what_an_exact_reading_of_the_rule_gives(
    depeg: FullResult, tables: Tables, owner_of: dict[int, int]
) -> None:
    """Decimal arithmetic from the programme's numbers, not the engine's helpers."""
    expected = expected_cents(tables, depeg_policy(), owner_of)
    users = depeg.users
    got = dict(zip(users["user_id"].to_pylist(), users["amount_cents"].to_pylist(), strict=True))
    assert got == expected


def test_the_payees_include_every_depeg_prior_payee(depeg: FullResult, tables: Tables) -> None:
    prior = tables["prior_compensation"]
    before = set(
        prior.filter(pc.equal(prior["program_id"], "depeg-2025-10"))["user_id"].to_pylist()
    )
    users = depeg.users.filter(depeg.users["eligible"])
    payees = set(users["user_id"].to_pylist())
    assert before <= payees
    assert 0.1 < len(before) / len(payees) < 0.4  # the others: holders synth never paid


def expected_cents(tables: Tables, policy: FullPolicy, owner_of: dict[int, int]) -> dict[int, int]:
    with localcontext() as ctx:
        ctx.prec = 80
        reference = {}
        for row in tables["reference_prices"].to_pylist():
            adjustment = policy.collateral.adjustment(row["asset"])
            w = adjustment.redemption_weight
            value = (1 - w) * row["market_usd"] + w * row["redemption_rate"] * row["underlying_usd"]
            if adjustment.floor_usd is not None:
                value = max(value, adjustment.floor_usd)
            reference[row["asset"]] = value.quantize(Decimal("1e-12"), ROUND_HALF_UP)
        cents: dict[int, int] = {}
        for event in tables["collateral_liquidations"].to_pylist():
            if not policy.window.start <= event["ts"] < policy.window.end:
                continue
            short = max(Decimal(0), reference[event["asset"].upper()] - event["liquidation_price"])
            loss = (short * event["quantity"] * 100).quantize(Decimal(1), ROUND_HALF_UP)
            user = owner_of[event["account_id"]]
            cents[user] = cents.get(user, 0) + int(loss)
    return cents
