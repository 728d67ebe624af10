"""Many users are imported in worker processes; the dataset is the same as one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

import recompense.imports.binance as importer
from recompense.imports.binance import ImportOptions, import_binance
from recompense.imports.binance.synth import write_exports


def test_workers_give_the_same_bytes_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_exports(tmp_path / "exports", users=12, ledger_rows_per_user=300, seed=3)
    parallel = import_binance([tmp_path / "exports"], tmp_path / "a", options=ImportOptions())
    monkeypatch.setattr(importer, "PARALLEL_FROM_USERS", 10**9)
    serial = import_binance([tmp_path / "exports"], tmp_path / "b", options=ImportOptions())
    assert len(parallel.derived) == 12
    assert parallel.tables["liquidations"].num_rows > 0
    for name in parallel.tables:
        a = (tmp_path / "a" / f"{name}.parquet").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.parquet").read_bytes(), name
    assert parallel.report == serial.report


def test_a_problem_in_one_worker_names_its_file(tmp_path: Path) -> None:
    write_exports(tmp_path / "exports", users=10, ledger_rows_per_user=200, seed=4)
    victim = sorted((tmp_path / "exports").iterdir())[3]
    ledger = next(p for p in victim.iterdir() if "Transaction ID" in p.read_text("utf-8-sig")[:200])
    ledger.write_text(ledger.read_text("utf-8-sig").replace('"TRANSFER"', '"TRANSFER","x"', 1))
    with pytest.raises(importer.ExportError, match=rf"{ledger.name}:2: row too long"):
        import_binance([tmp_path / "exports"], options=ImportOptions())
