"""Adversarial de-peg tables: any CSV an adversary writes is a run or a clear refusal.

Hypothesis writes ``collateral_liquidations.csv`` and ``reference_prices.csv`` cell by
cell — mostly plausible values, and anything else it can think of (text in number
columns, exponents, 13 decimal places, huge and negative numbers, naive and odd
timestamps, empty cells, unknown products, ids that point nowhere). ``check`` must exit
0 or 2, and ``run`` (the de-peg programme) 0 or 2 — an exit-2 message names a file, and
no path leaves a traceback or a partial run folder.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from builders import DEPEG_PROGRAM, World
from recompense.cli.main import app

ODD = st.sampled_from(
    ["", " ", "NaN", "inf", "-1", "0", "1e400", "1E-13", "0.0000000000001", "abc", "12,5",
     "9" * 40, "-0", "2025-10-10", "2025-10-10T21:40:00", "2025-13-40T99:99:99Z", "null"]
)  # fmt: skip
DECIMAL = st.decimals(min_value=-(10**16), max_value=10**16, places=12, allow_nan=False)
POSITIVE = st.one_of(st.decimals(min_value="0.000000000001", max_value=10_000, places=12), DECIMAL)
TIMES = st.sampled_from(
    ["2025-10-10T21:36:00Z", "2025-10-10T22:16:59.999999+00:00", "2025-10-10T22:17:00Z",
     "2025-10-10T23:40:00+02:00", "2025-10-11T00:00:00Z", "2025-10-11T00:00:00+00:00"]
)  # fmt: skip


def cell(plausible: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly plausible (so that runs get far), sometimes anything."""
    return st.one_of(*[plausible] * 8, ODD, st.text(max_size=12))


EVENT_COLUMNS = [
    "event_id", "account_id", "product", "asset", "quantity", "liquidation_price", "ts"
]  # fmt: skip
REFERENCE_COLUMNS = ["asset", "at", "market_usd", "redemption_rate", "underlying_usd"]
EVENT = st.fixed_dictionaries(
    {
        "account_id": st.sampled_from(["10", "20", "30"]),
        "product": st.sampled_from(["usdm_futures", "loan", "cross_margin", "coinm_futures"]),
        "asset": st.sampled_from(["USDE", "bnsol", "WBETH", "BTC"]),
        "quantity": POSITIVE.map(str),
        "liquidation_price": POSITIVE.map(str),
        "ts": TIMES,
    }
)
SPOILERS = st.one_of(ODD, DECIMAL.map(str), st.text(max_size=12), st.sampled_from(["99", "spot"]))


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, str]]:
    """Plausible rows (ids 1..n), as they are or with one cell spoiled."""
    rows = [
        {"event_id": str(i + 1), **row} for i, row in enumerate(draw(st.lists(EVENT, max_size=5)))
    ]
    if rows and draw(st.integers(0, 2)) == 0:
        row = draw(st.sampled_from(rows))
        row[draw(st.sampled_from(EVENT_COLUMNS))] = draw(SPOILERS)
    return rows


REFERENCE = st.fixed_dictionaries(
    {
        "asset": cell(st.sampled_from(["USDE", "BNSOL", "WBETH", "usde"])),
        "at": cell(TIMES),
        "market_usd": cell(DECIMAL.map(str)),
        "redemption_rate": cell(DECIMAL.map(str)),
        "underlying_usd": cell(DECIMAL.map(str)),
    }
)


VALID_REFERENCES = [
    {"asset": a, "at": "2025-10-11T00:00:00Z", "market_usd": m, "redemption_rate": r,
     "underlying_usd": u}
    for a, m, r, u in (("USDE", "0.9979", "1", "1.0001"), ("BNSOL", "180", "1.07", "182.5"),
                       ("WBETH", "3700", "1.081", "3526.83"))
]  # fmt: skip


@st.composite
def references(draw: st.DrawFn) -> list[dict[str, str]]:
    """The three right rows, one of them spoiled, or anything."""
    how = draw(st.sampled_from(["valid", "valid", "spoiled", "anything"]))
    if how == "anything":
        return draw(st.lists(REFERENCE, max_size=4))
    rows = [dict(r) for r in VALID_REFERENCES]
    if how == "spoiled":
        row = draw(st.sampled_from(rows))
        key = draw(st.sampled_from(REFERENCE_COLUMNS))
        row[key] = draw(SPOILERS)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's folder (pytest's, removed with its other temporary folders)."""
    return tmp_path_factory.mktemp("collateral-fuzz")


def base_dataset(root: Path) -> Path:
    folder = root / "base"
    if not folder.exists():
        world = World()
        for user in (1, 2, 3):
            world.user(user)
        world.write(folder)
    return folder


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=events(), refs=references())
def test_any_de_peg_tables_run_or_are_refused_with_a_message(root, rows, refs):
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        data = work / "data"
        shutil.copytree(base_dataset(root), data)
        write_csv(data / "collateral_liquidations.csv", rows, EVENT_COLUMNS)
        write_csv(data / "reference_prices.csv", refs, REFERENCE_COLUMNS)
        runner = CliRunner()
        checked = runner.invoke(
            app, ["check", "--program", str(DEPEG_PROGRAM), "--data", str(data)]
        )
        assert checked.exit_code in (0, 2), checked.output
        out = work / "run"
        ran = runner.invoke(
            app, ["run", "--program", str(DEPEG_PROGRAM), "--data", str(data), "--out", str(out)]
        )
        assert ran.exit_code in (0, 2), ran.output
        assert "Traceback" not in ran.output + checked.output
        event(f"check exit {checked.exit_code}, run exit {ran.exit_code}")
        if checked.exit_code == 2:
            assert ran.exit_code == 2
            assert ".csv" in checked.output
        if ran.exit_code == 2:
            assert not out.exists()  # nothing half-written
            assert "error:" in ran.output
        else:
            assert (out / "manifest.json").is_file()
    finally:
        shutil.rmtree(work, ignore_errors=True)
