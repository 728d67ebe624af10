"""Bad input gets a clear error naming file, column and values; never a traceback."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builders import World, table
from recompense.data import DataError, open_dataset, validate


def world_with_fills() -> World:
    world = World()
    world.fill(world.user(1, net_usdt=100.0), 60.0)
    world.fill(world.user(2, net_usdt=100.0), 70.0)
    return world


def check(duckdb_backend, folder, **kwargs):
    validate(open_dataset(duckdb_backend, folder, **kwargs))


def expect_error(duckdb_backend, folder, *fragments, **kwargs):
    with pytest.raises(DataError) as info:
        check(duckdb_backend, folder, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_clean_dataset_passes(duckdb_backend, tmp_path):
    check(duckdb_backend, world_with_fills().write(tmp_path))


def test_a_clean_csv_dataset_passes(duckdb_backend, tmp_path):
    check(duckdb_backend, world_with_fills().write(tmp_path, fmt="csv"))


def test_missing_file_is_named(duckdb_backend, tmp_path):
    folder = world_with_fills().write(tmp_path)
    (folder / "balances.parquet").unlink()
    expect_error(duckdb_backend, folder, "missing file(s): balances.parquet")


def test_missing_column_is_named(duckdb_backend, tmp_path):
    folder = world_with_fills().write(tmp_path)
    users = pq.read_table(folder / "users.parquet").drop_columns(["vip_tier"])
    pq.write_table(users, folder / "users.parquet")
    expect_error(duckdb_backend, folder, "users.parquet: column 'vip_tier': missing column")


def test_wrong_type_is_named(duckdb_backend, tmp_path):
    folder = world_with_fills().write(tmp_path)
    fills = pq.read_table(folder / "liquidations.parquet")
    fills = fills.set_column(
        fills.schema.get_field_index("realized_pnl"), "realized_pnl", pa.array(["x", "y"])
    )
    pq.write_table(fills, folder / "liquidations.parquet")
    expect_error(
        duckdb_backend,
        folder,
        "liquidations.parquet: column 'realized_pnl': expected a number",
        "found string",
    )


def test_naive_timestamps_are_refused_unless_declared_utc(duckdb_backend, tmp_path):
    folder = world_with_fills().write(tmp_path)
    fills = pq.read_table(folder / "liquidations.parquet")
    naive = fills.column("ts").cast(pa.timestamp("us"))
    pq.write_table(
        fills.set_column(fills.schema.get_field_index("ts"), "ts", naive),
        folder / "liquidations.parquet",
    )
    expect_error(
        duckdb_backend, folder, "liquidations.parquet: column 'ts'", "--naive-timestamps-are-utc"
    )
    check(duckdb_backend, folder, naive_timestamps_are_utc=True)


def test_duplicate_ids_are_listed(duckdb_backend, tmp_path):
    world = world_with_fills()
    world.accounts.append({"account_id": 10, "user_id": 2, "kind": "sub"})
    expect_error(
        duckdb_backend,
        world.write(tmp_path),
        "accounts.parquet: column 'account_id': 1 duplicate key(s)",
        "10 ×2",
    )


def test_nan_and_negative_values_are_listed_by_row_key(duckdb_backend, tmp_path):
    world = world_with_fills()
    world.liquidations[0]["realized_pnl"] = float("nan")
    world.liquidations[1]["realized_pnl"] = float("-inf")
    expect_error(
        duckdb_backend,
        world.write(tmp_path / "nan"),
        "column 'realized_pnl': 2 NaN or infinite values (e.g. fill_id 1 = nan, fill_id 2 = -inf)",
    )
    world = world_with_fills()
    world.liquidations[1]["clearance_fee"] = -1.0
    expect_error(
        duckdb_backend,
        world.write(tmp_path / "negative"),
        "column 'clearance_fee': 1 negative values (must be ≥ 0) (e.g. fill_id 2)",
    )


def test_negative_balance_and_liability_are_refused(duckdb_backend, tmp_path):
    world = world_with_fills()
    world.balances[0]["balance"] = -5.0
    world.balances[1]["liability"] = -1.0
    message = expect_error(
        duckdb_backend, world.write(tmp_path), "balances.parquet: column 'balance'"
    )
    assert "column 'liability'" in message


def test_unknown_enum_values_are_shown(duckdb_backend, tmp_path):
    world = world_with_fills()
    world.liquidations[0]["product"] = "options"
    expect_error(
        duckdb_backend, world.write(tmp_path), "column 'product': 1 unknown values", "'options'"
    )


def test_a_fill_on_an_unknown_account_is_named(duckdb_backend, tmp_path):
    world = world_with_fills()
    world.fill(999, 100.0)
    expect_error(
        duckdb_backend,
        world.write(tmp_path),
        "liquidations.parquet: column 'account_id'",
        "account_id 999",
        "not in",
    )


def test_duplicate_prices_per_minute_are_refused(duckdb_backend, tmp_path):
    world = world_with_fills()
    world.prices.append(dict(world.prices[0]))
    expect_error(
        duckdb_backend,
        world.write(tmp_path),
        "prices.parquet: column 'asset+minute': 1 duplicate key(s)",
    )


def test_non_positive_prices_are_refused(duckdb_backend, tmp_path):
    world = world_with_fills()
    world.prices[3]["usd"] = 0.0
    expect_error(
        duckdb_backend, world.write(tmp_path), "prices.parquet: column 'usd': 1 values ≤ 0"
    )


def test_null_ids_are_refused(duckdb_backend, tmp_path):
    world = world_with_fills()
    folder = world.write(tmp_path)
    users = table("users", world.users)
    ids = pa.array([1, None], pa.int64())
    pq.write_table(users.set_column(0, "user_id", ids), folder / "users.parquet")
    expect_error(duckdb_backend, folder, "users.parquet: column 'user_id': 1 null values")


def test_a_corrupt_file_is_named(duckdb_backend, tmp_path):
    folder = world_with_fills().write(tmp_path)
    (folder / "liquidations.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    expect_error(duckdb_backend, folder, "liquidations.parquet: cannot read parquet file")


def test_a_truncated_file_is_named(duckdb_backend, tmp_path):
    folder = world_with_fills().write(tmp_path)
    data = (folder / "balances.parquet").read_bytes()
    (folder / "balances.parquet").write_bytes(data[: len(data) // 2] + data[-8:])
    expect_error(duckdb_backend, folder, "balances.parquet")


def test_a_folder_of_parquet_parts_is_one_table(duckdb_backend, tmp_path):
    world = world_with_fills()
    folder = world.write(tmp_path)
    fills = pq.read_table(folder / "liquidations.parquet")
    (folder / "liquidations.parquet").unlink()
    (folder / "liquidations").mkdir()
    pq.write_table(fills.slice(0, 1), folder / "liquidations" / "part-0.parquet")
    pq.write_table(fills.slice(1), folder / "liquidations" / "part-1.parquet")
    check(duckdb_backend, folder)


def test_csv_with_a_bad_number_is_named(duckdb_backend, tmp_path):
    folder = world_with_fills().write(tmp_path, fmt="csv")
    text = (
        (folder / "balances.csv").read_text().replace("1000", "1,0x0", 1).replace("100,", "abc,", 1)
    )
    (folder / "balances.csv").write_text(text)
    expect_error(duckdb_backend, folder, "balances.csv")
