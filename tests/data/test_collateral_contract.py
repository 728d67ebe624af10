"""The full-payment tables (``collateral_liquidations``, ``reference_prices``) under the data
contract, as an operator meets it: ``recompense check --program … --data …`` exits 2 with a
line naming the file and the column, and never a traceback.

The table of broken values runs the command in process (Typer's runner: half a second
each, where a fresh interpreter takes four); a real process checks the clean dataset, a
missing table and a refusal's exit code and stderr.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from builders import table
from recompense.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DEPEG = ROOT / "programs" / "depeg-2025-10.toml"
TOGETHER = ROOT / "programs" / "together-2025-10.toml"
REQUIRED = ("users", "accounts", "balances", "prices", "liquidations", "prior_compensation")
NUMBER = pa.decimal128(38, 12)
STAMP = pa.timestamp("us", tz="UTC")
SCHEMAS = {
    "collateral_liquidations": pa.schema(
        [
            ("event_id", pa.int64()),
            ("account_id", pa.int64()),
            ("product", pa.string()),
            ("asset", pa.string()),
            ("quantity", NUMBER),
            ("liquidation_price", NUMBER),
            ("ts", STAMP),
        ]
    ),
    "reference_prices": pa.schema(
        [
            ("asset", pa.string()),
            ("at", STAMP),
            ("market_usd", NUMBER),
            ("redemption_rate", NUMBER),
            ("underlying_usd", NUMBER),
        ]
    ),
}
AT = datetime(2025, 10, 11, tzinfo=UTC)
WHEN = datetime(2025, 10, 10, 21, 40, tzinfo=UTC)


def clean() -> dict[str, list[dict[str, Any]]]:
    """Two users, one account each, three events, one reference row per asset."""
    users = [
        {
            "user_id": n,
            "user_type": "retail",
            "vip_tier": 0,
            "registered_at": datetime(2020, 1, 1, tzinfo=UTC),
            "email": None,
            "locale": None,
        }
        for n in (1, 2)
    ]
    event = {"product": "cross_margin", "ts": WHEN, "liquidation_price": Decimal("0.7")}
    return {
        "users": users,
        "accounts": [{"account_id": n * 10, "user_id": n, "kind": "master"} for n in (1, 2)],
        "collateral_liquidations": [
            {**event, "event_id": 1, "account_id": 10, "asset": "USDE", "quantity": Decimal(5)},
            {**event, "event_id": 2, "account_id": 20, "asset": "usde", "quantity": Decimal(1)},
            {
                **event,
                "event_id": 3,
                "account_id": 20,
                "product": "loan",
                "asset": "WBETH",
                "quantity": Decimal("0.5"),
                "liquidation_price": Decimal(3000),
            },
        ],
        "reference_prices": [
            {
                "asset": "USDE",
                "at": AT,
                "market_usd": Decimal("0.95"),
                "redemption_rate": Decimal(1),
                "underlying_usd": Decimal(1),
            },
            {
                "asset": "BNSOL",
                "at": AT,
                "market_usd": Decimal(150),
                "redemption_rate": Decimal("1.07"),
                "underlying_usd": Decimal(200),
            },
            {
                "asset": "WBETH",
                "at": AT,
                "market_usd": Decimal(3500),
                "redemption_rate": Decimal("1.07"),
                "underlying_usd": Decimal(3800),
            },
        ],
    }


def write(folder: Path, tables: dict[str, list[dict[str, Any]]], *, csv: str = "") -> Path:
    """Parquet files; the table named by ``csv`` as CSV text (its rows are strings)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED:
        pq.write_table(table(name, tables.get(name, [])), folder / f"{name}.parquet")
    for name, schema in SCHEMAS.items():
        if name not in tables:
            continue
        if name == csv:
            text = pa.Table.from_pylist(
                tables[name], schema=pa.schema([(field.name, pa.string()) for field in schema])
            )
            pacsv.write_csv(text, folder / f"{name}.csv")
        else:
            pq.write_table(
                pa.Table.from_pylist(tables[name], schema=schema), folder / f"{name}.parquet"
            )
    return folder


def recompense_check(
    data: Path, *extra: str, program: Path = DEPEG, process: bool = False
) -> tuple[int, str]:
    """``recompense check``: its exit code and its output, whitespace collapsed (the
    console wraps long lines)."""
    args = ["check", "--program", str(program), "--data", str(data), *extra]
    if process:
        command = [sys.executable, "-m", "recompense.cli", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, " ".join((done.stdout + done.stderr).split())
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a defect: show it
    return result.exit_code, " ".join(result.output.split())


def refused(data: Path, *fragments: str, **kwargs: Any) -> str:
    code, output = recompense_check(data, **kwargs)
    assert code == 2, output
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, (fragment, output)
    return output


def test_a_clean_dataset_passes_the_check(tmp_path):
    code, output = recompense_check(write(tmp_path, clean()), process=True)
    assert code == 0, output
    assert "(full payment)" in output
    assert "matches the data contract" in output


def test_without_the_collateral_tables_a_full_programme_is_refused(tmp_path):
    tables = clean()
    del tables["collateral_liquidations"], tables["reference_prices"]
    folder = write(tmp_path, tables)
    output = refused(folder, process=True)
    assert f"{folder}: missing file(s): collateral_liquidations.parquet" in output
    assert "reference_prices.parquet (or reference_prices.csv)" in output
    code, output = recompense_check(folder, program=TOGETHER)  # the shared kind does not
    assert code == 0, output


def test_a_refusal_in_a_real_process_is_one_message_on_stderr(tmp_path):
    tables = clean()
    tables["collateral_liquidations"][0]["quantity"] = Decimal(0)
    output = refused(write(tmp_path, tables), process=True)
    assert f"{tmp_path}/{EVENTS}: column 'quantity'" in output


def _event(**values: Any) -> Any:
    def edit(tables: dict[str, list[dict[str, Any]]]) -> None:
        tables["collateral_liquidations"][0].update(values)

    return edit


def _reference(**values: Any) -> Any:
    def edit(tables: dict[str, list[dict[str, Any]]]) -> None:
        tables["reference_prices"][0].update(values)

    return edit


def _repeat(name: str, **values: Any) -> Any:
    def edit(tables: dict[str, list[dict[str, Any]]]) -> None:
        tables[name].append({**tables[name][0], **values})

    return edit


EVENTS = "collateral_liquidations.parquet"
REFERENCES = "reference_prices.parquet"


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        pytest.param(_event(quantity=Decimal(-1)), [EVENTS, "quantity"], id="negative-quantity"),
        pytest.param(_event(quantity=Decimal(0)), [EVENTS, "quantity"], id="zero-quantity"),
        pytest.param(
            _event(liquidation_price=Decimal(0)), [EVENTS, "liquidation_price"], id="zero-price"
        ),
        pytest.param(
            _event(liquidation_price=Decimal("-0.01")),
            [EVENTS, "liquidation_price"],
            id="negative-price",
        ),
        pytest.param(_event(product="spot"), [EVENTS, "product", "spot"], id="unknown-product"),
        pytest.param(_event(asset=None), [EVENTS, "asset"], id="null-event-asset"),
        pytest.param(_event(ts=None), [EVENTS, "ts"], id="null-ts"),
        pytest.param(
            _event(quantity=Decimal("1e15")), [EVENTS, "quantity"], id="quantity-at-the-limit"
        ),
        pytest.param(
            _repeat("collateral_liquidations"),
            [EVENTS, "event_id", "duplicate"],
            id="duplicate-event-id",
        ),
        pytest.param(
            _event(account_id=999),
            [EVENTS, "account_id", "accounts.parquet", "999"],
            id="unknown-account",
        ),
        pytest.param(
            _reference(market_usd=Decimal(0)), [REFERENCES, "market_usd"], id="zero-market"
        ),
        pytest.param(
            _reference(redemption_rate=Decimal(-1)),
            [REFERENCES, "redemption_rate"],
            id="negative-rate",
        ),
        pytest.param(
            _reference(underlying_usd=Decimal(0)),
            [REFERENCES, "underlying_usd"],
            id="zero-underlying",
        ),
        pytest.param(_reference(asset=None), [REFERENCES, "asset"], id="null-reference-asset"),
        pytest.param(_reference(at=None), [REFERENCES, "at"], id="null-at"),
        pytest.param(
            _repeat("reference_prices", market_usd=Decimal(1)),
            [REFERENCES, "asset+at", "duplicate"],
            id="duplicate-asset-at",
        ),
    ],
)
def test_every_broken_value_is_named_by_file_and_column(tmp_path, edit, fragments):
    tables = clean()
    edit(tables)
    file, column, *more = fragments
    refused(write(tmp_path, tables), f"{tmp_path}/{file}: column '{column}'", *more)


def test_naive_timestamps_in_csv_are_refused_unless_declared_utc(tmp_path):
    tables = clean()
    for row in tables["collateral_liquidations"]:
        row["ts"] = "2025-10-10 21:40:00"
    for name in ("event_id", "account_id", "quantity", "liquidation_price"):
        for row in tables["collateral_liquidations"]:
            row[name] = str(row[name])
    folder = write(tmp_path, tables, csv="collateral_liquidations")
    refused(folder, f"{tmp_path}/collateral_liquidations.csv: column 'ts'")
    code, output = recompense_check(folder, "--naive-timestamps-are-utc")
    assert code == 0, output


def test_naive_reference_times_in_csv_are_refused(tmp_path):
    tables = clean()
    for row in tables["reference_prices"]:
        row.update({k: None if v is None else str(v) for k, v in row.items()})
        row["at"] = "2025-10-11T00:00:00"
    folder = write(tmp_path, tables, csv="reference_prices")
    refused(folder, f"{tmp_path}/reference_prices.csv: column 'at'")


def test_csv_digits_beyond_the_twelfth_place_are_refused(tmp_path):
    tables = clean()
    for row in tables["collateral_liquidations"]:
        row.update({k: str(v) for k, v in row.items()})
        row["ts"] = "2025-10-10T21:40:00Z"
    tables["collateral_liquidations"][1]["quantity"] = "0.0000000000001"
    folder = write(tmp_path, tables, csv="collateral_liquidations")
    refused(folder, f"{tmp_path}/collateral_liquidations.csv: column 'quantity'")
