"""Open a dataset folder as Ibis tables on any backend (DuckDB by default, PySpark).

Files are not loaded: the backend reads them lazily (``read_parquet``/``read_csv``), so
inputs larger than memory stream through DuckDB's out-of-core operators. Columns are
normalised to the engine's types (ids int64, amounts float64, timestamps UTC) by
:func:`normalized`; the checks that the data obeys the contract live in
:mod:`recompense.data.validation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recompense.data.contract import TABLES, TableSpec
from recompense.data.errors import DataError, backend_errors, out_of_memory_errors


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset folder opened on a backend: raw tables, as read, by contract name."""

    folder: Path
    files: Mapping[str, tuple[Path, ...]]
    formats: Mapping[str, str]
    raw: Mapping[str, Any]  # table name -> ibis.Table as read from disk
    naive_timestamps_are_utc: bool = False
    # Timestamp columns that hold instants (UTC-adjusted), per table. Ibis can't always
    # tell: on Spark both TIMESTAMP and TIMESTAMP_NTZ map to a zone-less Ibis timestamp.
    instants: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def is_instant(self, table: str, column: str) -> bool:
        return column in self.instants.get(table, frozenset())

    def describe(self, table: str) -> str:
        """The file name shown in messages (``liquidations.parquet``)."""
        files = self.files[table]
        if len(files) == 1:
            return str(files[0])
        return f"{files[0].parent}/*.{self.formats[table]}"


def find_files(folder: Path, spec: TableSpec) -> tuple[tuple[Path, ...], str] | None:
    """Locate ``<name>.parquet``, ``<name>.csv`` or a folder ``<name>/`` of Parquet parts."""
    for fmt in ("parquet", "csv"):
        path = folder / f"{spec.name}.{fmt}"
        if path.is_file():
            return (path,), fmt
    directory = folder / spec.name
    if directory.is_dir():
        parts = tuple(sorted(p for p in directory.glob("*.parquet") if p.is_file()))
        if parts:
            return parts, "parquet"
        parts = tuple(sorted(p for p in directory.glob("*.csv") if p.is_file()))
        if parts:
            return parts, "csv"
    return None


def open_dataset(backend: Any, folder: Path, *, naive_timestamps_are_utc: bool = False) -> Dataset:
    """Open every contract table in ``folder``; :class:`DataError` names what is missing."""
    if not folder.is_dir():
        raise DataError(f"{folder}: dataset folder not found")
    files: dict[str, tuple[Path, ...]] = {}
    formats: dict[str, str] = {}
    raw: dict[str, Any] = {}
    missing = []
    for spec in TABLES:
        found = find_files(folder, spec)
        if found is None:
            missing.append(f"{spec.name}.parquet (or {spec.name}.csv)")
            continue
        files[spec.name], formats[spec.name] = found
    if missing:
        raise DataError(f"{folder}: missing file(s): {', '.join(missing)}")
    for spec in TABLES:
        paths = [str(p) for p in files[spec.name]]
        source = _source(backend, paths, folder / spec.name)
        table_name = f"input_{spec.name}"
        try:
            if formats[spec.name] == "parquet":
                raw[spec.name] = backend.read_parquet(source, table_name=table_name)
            else:
                typed = {"types": _csv_types(spec)} if backend.name == "duckdb" else {}
                raw[spec.name] = backend.read_csv(source, table_name=table_name, **typed)
        except backend_errors() as exc:
            if isinstance(exc, out_of_memory_errors()):
                raise
            shown = paths[0] if len(paths) == 1 else f"{folder / spec.name}/"
            raise DataError(
                f"{shown}: cannot read {formats[spec.name]} file: {_first_line(exc)}"
            ) from exc
    instants = {name: _instant_columns(backend, table) for name, table in raw.items()}
    return Dataset(folder, files, formats, raw, naive_timestamps_are_utc, instants)


def normalized(dataset: Dataset, name: str) -> Any:
    """The table with contract columns only, cast to engine types (int64/float64/UTC)."""
    spec = next(s for s in TABLES if s.name == name)
    table = dataset.raw[name]
    casts = {}
    for col in spec.columns:
        column = table[col.name]
        if col.kind == "int":
            casts[col.name] = column.cast("int64")
        elif col.kind == "num":
            casts[col.name] = column.cast("float64")
        elif col.kind == "ts":
            aware = dataset.is_instant(name, col.name) and column.type().timezone
            casts[col.name] = column if aware else column.cast("timestamp('UTC')")
        else:
            casts[col.name] = column.cast("string")
    return table.select(**casts)


def _instant_columns(backend: Any, table: Any) -> frozenset[str]:
    """Timestamp columns that are instants: zone-aware in Ibis, or Spark's TIMESTAMP (LTZ)."""
    schema = table.schema()
    aware = {name for name, dtype in schema.items() if dtype.is_timestamp() and dtype.timezone}
    if backend.name == "pyspark":
        from pyspark.sql.types import TimestampType

        spark_schema = backend._session.table(table.get_name()).schema
        aware |= {f.name for f in spark_schema.fields if isinstance(f.dataType, TimestampType)}
    return frozenset(aware)


def _source(backend: Any, paths: list[str], directory: Path) -> str | list[str]:
    """One file as its path; parts as a list (DuckDB) or their folder (Spark globs it)."""
    if len(paths) == 1:
        return paths[0]
    return str(directory) if backend.name == "pyspark" else paths


def _csv_types(spec: TableSpec) -> dict[str, str]:
    """Declared CSV column types, so an empty file or a column of blanks still types right.

    Timestamps are left to detection: whether a text timestamp carries an offset decides
    if it is UTC-aware or naive, and naive timestamps need ``--naive-timestamps-are-utc``.
    """
    kinds = {"int": "BIGINT", "num": "DOUBLE", "str": "VARCHAR", "enum": "VARCHAR"}
    return {col.name: kinds[col.kind] for col in spec.columns if col.kind in kinds}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
