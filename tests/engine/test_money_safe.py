"""Issue 13's defects, each at its mechanism: every export shape computed exactly or refused.

Each test builds the smallest dataset that used to pay a wrong amount or crash, and
requires the exact cents (checked against ``Decimal`` arithmetic written here) or a
clean refusal naming the file, column and row.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from builders import World, table, ts
from recompense.data import DataError, open_dataset
from recompense.engine import evaluate
from recompense.engine.errors import AmountRangeError


def run(backend, folder, policy, **kwargs):
    dataset = open_dataset(backend, folder, **kwargs)
    result = evaluate(backend, dataset, policy)
    return {row["user_id"]: row for row in result.users.to_pylist()}


def refused(backend, folder, policy, *fragments, error=DataError, **kwargs):
    with pytest.raises(error) as info:
        run(backend, folder, policy, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def decimal_fills(folder, amounts: list[str], dtype: pa.DataType, **write_options):
    """User 1 with one fill per amount (realized PnL as ``dtype``, exact), written over
    the liquidations of a world written to ``folder``."""
    world = World()
    account = world.user(1, net_usdt=100.0)
    world.fill(account, 1.0)
    folder = world.write(folder)
    base = world.liquidations[0]
    value = str if pa.types.is_string(dtype) else Decimal
    rows = [
        {**base, "fill_id": i + 1, "realized_pnl": value(a), "clearance_fee": value("0")}
        for i, a in enumerate(amounts)
    ]
    schema = table("liquidations", []).schema
    for name in ("realized_pnl", "clearance_fee"):
        schema = schema.set(schema.get_field_index(name), pa.field(name, dtype))
    path = folder / "liquidations.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, **write_options)
    return folder


# 3. Decimal inputs are exact: −49.994875 and −0.0001245 USDT are $50.00, not $49.99.
def test_decimal_fills_are_summed_exactly(backend, tmp_path, policy):
    folder = decimal_fills(tmp_path / "data", ["-49.994875", "-0.0001245"], pa.decimal128(20, 10))
    users = run(backend, folder, policy)
    assert users[1]["loss_cents"] == 5000
    assert users[1]["passes_min_loss"]


def test_csv_decimal_text_is_exact_including_exponents(backend, tmp_path, policy):
    folder = decimal_fills(tmp_path / "data", ["-49.994875", "-1245E-7", "0E-8"], pa.string())
    fills = pq.read_table(folder / "liquidations.parquet")
    (folder / "liquidations.parquet").unlink()
    pacsv.write_csv(fills, folder / "liquidations.csv")
    assert "1245E-7" in (folder / "liquidations.csv").read_text()
    users = run(backend, folder, policy)
    assert users[1]["loss_cents"] == 5000
    assert users[1]["fills"] == 3


# 2. Wide Parquet decimals: decimal256(50, 20) holding −10.00 used to pay $6,000.
def test_decimals_wider_than_38_digits_are_refused_naming_column_and_type(
    backend, tmp_path, policy
):
    folder = decimal_fills(tmp_path / "data", ["-10.00"], pa.decimal256(50, 20))
    refused(
        backend,
        folder,
        policy,
        "liquidations.parquet: column 'realized_pnl': type decimal256(50, 20) is wider than 38",
    )


def test_more_than_twelve_decimal_places_are_refused_not_rounded(backend, tmp_path, policy):
    folder = decimal_fills(tmp_path / "data", ["-60.0000000000001"], pa.decimal128(30, 13))
    refused(
        backend,
        folder,
        policy,
        "column 'realized_pnl': 1 values with a non-zero digit beyond 12 decimal places",
        "fill_id 1 = -60.0000000000001",
    )


# 1. Prices with seconds double the money.
def test_price_minutes_with_seconds_are_refused(backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=1000.0), 300.0, at="2025-10-10T12:00:30")
    world.prices.append({"asset": "USDT", "minute": ts("2025-10-10T12:00:40"), "usd": 1.0})
    refused(
        backend,
        world.write(tmp_path / "data"),
        policy,
        "prices.parquet: column 'minute': 1 timestamps that are not whole minutes",
        "asset USDT = 2025-10-10T12:00:40+00:00",
    )


# 6. Naive timestamps mixed with aware ones.
def test_a_csv_column_mixing_offsets_and_naive_times_is_refused(backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=1000.0), 300.0)
    folder = world.write(tmp_path / "data", fmt="csv")
    path = folder / "liquidations.csv"
    text = path.read_text().replace("2025-10-10 21:20:00.000000Z", "2025-10-10T23:20:00+02:00")
    naive = text.splitlines()[-1].replace("+02:00", "").replace("T23:", "T21:")
    path.write_text(text + "2" + naive.removeprefix("1") + "\n")
    message = refused(
        backend,
        folder,
        policy,
        "liquidations.csv: column 'ts': 1 timestamps without a UTC offset",
    )
    assert "fill_id 2" in message
    # Declared UTC, the naive row is read as UTC and the +02:00 row as 21:20Z.
    users = run(backend, folder, policy, naive_timestamps_are_utc=True)
    assert users[1]["fills"] == 2
    assert users[1]["loss_cents"] == 60000


def test_a_naive_parquet_part_among_aware_parts_is_refused(backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=1000.0), 300.0)
    folder = world.write(tmp_path / "data")
    fills = pq.read_table(folder / "liquidations.parquet")
    (folder / "liquidations.parquet").unlink()
    (folder / "liquidations").mkdir()
    pq.write_table(fills, folder / "liquidations" / "part-0.parquet")
    naive = fills.set_column(
        fills.schema.get_field_index("ts"), "ts", fills["ts"].cast(pa.timestamp("us"))
    )
    naive = naive.set_column(0, "fill_id", pa.array([99], pa.int64()))
    pq.write_table(naive, folder / "liquidations" / "part-1.parquet")
    refused(
        backend,
        folder,
        policy,
        "liquidations/part-1.parquet: column 'ts': timestamps have no time zone",
    )


# 7. Huge amounts (an export in wei by mistake).
def test_amounts_beyond_the_contract_range_are_refused_naming_rows(backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=1000.0), 300.0)
    world.fill(world.user(2, net_usdt=1000.0), 3e18)  # 3 ETH in wei
    refused(
        backend,
        world.write(tmp_path / "data"),
        policy,
        "liquidations.parquet: column 'realized_pnl': 1 values outside the contract's range",
        "fill_id 2 = -3e+18",
    )


def test_usd_values_beyond_the_range_are_refused_naming_fills(backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=1000.0), 300.0)
    world.fill(world.user(2, net_usdt=1000.0), 20_000_000.0, asset="BTC")  # $2·10¹²
    refused(
        backend,
        world.write(tmp_path / "data"),
        policy,
        "fill_id 2",
        "user_id 2",
        error=AmountRangeError,
    )


def test_a_user_total_beyond_the_range_is_refused(backend, tmp_path, policy):
    world = World()
    account = world.user(1, net_usdt=1000.0)
    for _ in range(3):  # each fill is in range, the sum is not
        world.fill(account, 4_000_000.0, asset="BTC")  # $4·10¹¹ each
    refused(backend, world.write(tmp_path / "data"), policy, "user_id 1", error=AmountRangeError)


# 11. A table in two formats is ambiguous.
def test_a_table_in_two_formats_is_refused_as_ambiguous(duckdb_backend, tmp_path, policy):
    world = World()
    world.fill(world.user(1, net_usdt=1000.0), 300.0)
    folder = world.write(tmp_path / "data")
    world.write(tmp_path / "csv", fmt="csv")
    (tmp_path / "csv" / "liquidations.csv").rename(folder / "liquidations.csv")
    refused(
        duckdb_backend,
        folder,
        policy,
        "table 'liquidations' is ambiguous",
        "liquidations.parquet",
        "liquidations.csv",
    )


# 11. Negative half-way amounts round away from zero, like money.round_to_cents.
def test_negative_half_cents_round_away_from_zero(backend, tmp_path, policy):
    world = World()
    account = world.user(1, net_usdt=0)
    world.balances.append(
        {
            "account_id": account,
            "wallet": "spot",
            "asset": "USDT",
            "balance": 0.0,
            "liability": 10.005,
            "unrealized_pnl": 0.0,
        }
    )
    world.fill(account, 60.0)
    users = run(backend, world.write(tmp_path / "data"), policy)
    expected = int((Decimal("-10.005") * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert users[1]["net_assets_cents"] == expected == -1001
