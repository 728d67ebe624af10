"""Open a dataset folder as Ibis tables on any backend (DuckDB by default, PySpark).

Files are not loaded: the backend reads them lazily (``read_parquet``/``read_csv``), so
inputs larger than memory stream through DuckDB's out-of-core operators. CSV columns are
read as text and parsed by us. Columns are normalised to the engine's types (ids int64,
amounts ``decimal(38, 12)``, timestamps UTC) by
:func:`normalized`; the checks that the data obeys the contract live in
:mod:`recompense.data.validation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis

from recompense.data.contract import NUMBER_TYPE, TABLES, TableSpec
from recompense.data.errors import DataError, backend_errors, out_of_memory_errors
from recompense.data.parquet import footer_problems


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

    def require(self, names: tuple[str, ...], why: str) -> None:
        """Refuse, naming the files, when optional tables ``names`` are absent."""
        missing = [n for n in names if n not in self.raw]
        if missing:
            shown = ", ".join(f"{n}.parquet (or {n}.csv)" for n in missing)
            raise DataError(f"{self.folder}: missing file(s): {shown}; {why}")

    def describe(self, table: str) -> str:
        """The file name shown in messages (``liquidations.parquet``)."""
        files = self.files[table]
        if len(files) == 1:
            return str(files[0])
        return f"{files[0].parent}/*.{self.formats[table]}"


def find_files(folder: Path, spec: TableSpec) -> tuple[tuple[Path, ...], str] | None:
    """Locate ``<name>.parquet``, ``<name>.csv`` or a folder ``<name>/`` of parts.

    Exactly one of them, holding one format: a table found twice (``liquidations.parquet``
    and ``liquidations.csv``, or a file and a folder, or a folder of both kinds) is
    refused as ambiguous rather than one of them silently ignored.
    """
    found: list[tuple[tuple[Path, ...], str]] = []
    for fmt in ("parquet", "csv"):
        path = folder / f"{spec.name}.{fmt}"
        if path.is_file():
            found.append(((path,), fmt))
    directory = folder / spec.name
    if directory.is_dir():
        for fmt in ("parquet", "csv"):
            parts = tuple(sorted(p for p in directory.glob(f"*.{fmt}") if p.is_file()))
            if parts:
                found.append((parts, fmt))
    if len(found) > 1:
        shown = ", ".join(_shown(paths, fmt) for paths, fmt in found)
        raise DataError(
            f"{folder}: table '{spec.name}' is ambiguous: found {shown}; keep exactly one"
        )
    return found[0] if found else None


def _shown(paths: tuple[Path, ...], fmt: str) -> str:
    return str(paths[0]) if len(paths) == 1 else f"{paths[0].parent}/*.{fmt}"


def open_dataset(backend: Any, folder: Path, *, naive_timestamps_are_utc: bool = False) -> Dataset:
    """Open every contract table in ``folder``; :class:`DataError` names what is missing."""
    try:
        is_folder = folder.is_dir()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise DataError(f"{folder}: cannot open dataset folder: {exc.strerror}") from exc
    if not is_folder:
        raise DataError(f"{folder}: dataset folder not found")
    files: dict[str, tuple[Path, ...]] = {}
    formats: dict[str, str] = {}
    raw: dict[str, Any] = {}
    missing = []
    for spec in TABLES:
        found = find_files(folder, spec)
        if found is None:
            if not spec.required:
                continue
            missing.append(f"{spec.name}.parquet (or {spec.name}.csv)")
            continue
        files[spec.name], formats[spec.name] = found
    if missing:
        raise DataError(f"{folder}: missing file(s): {', '.join(missing)}")
    footers = [
        line
        for spec in TABLES
        if formats.get(spec.name) == "parquet"
        for line in footer_problems(spec, files[spec.name], naive_ok=naive_timestamps_are_utc)
    ]
    if footers:
        raise DataError("dataset does not match the contract:\n" + "\n".join(footers))
    for spec in TABLES:
        if spec.name not in files:
            continue
        paths = [str(p) for p in files[spec.name]]
        source = _source(backend, paths, folder / spec.name)
        table_name = f"input_{spec.name}"
        try:
            if formats[spec.name] == "parquet":
                raw[spec.name] = backend.read_parquet(source, table_name=table_name)
            else:
                raw[spec.name] = backend.read_csv(
                    source, table_name=table_name, **_csv_options(backend, spec)
                )
        except backend_errors() as exc:
            if isinstance(exc, out_of_memory_errors()):
                raise
            shown = paths[0] if len(paths) == 1 else f"{folder / spec.name}/"
            raise DataError(
                f"{shown}: cannot read {formats[spec.name]} file: {_first_line(exc)}"
            ) from exc
    instants = {name: _instant_columns(backend, table) for name, table in raw.items()}
    return Dataset(folder, files, formats, raw, naive_timestamps_are_utc, instants)


def normalized(dataset: Dataset, name: str, *, stored_numbers: bool = False) -> Any:
    """The table with contract columns only, cast to engine types.

    Ids become int64, amounts ``decimal(38, 12)`` (exact: see :mod:`contract`),
    timestamps UTC instants, text stays text. CSV columns arrive as text and are parsed
    here; :func:`recompense.data.validation.validate` has checked beforehand that every
    value parses and fits, so these casts cannot fail or round a decimal input.

    ``stored_numbers`` keeps amounts stored as numbers as they are (validation compares
    their signs without paying for the conversion of every row); text is still parsed.
    """
    spec = next(s for s in TABLES if s.name == name)
    table = dataset.raw[name]
    casts = {}
    for col in spec.columns:
        column = table[col.name]
        if column.type().is_string() and col.kind in ("int", "num", "ts"):
            column = column.strip()  # CSV text: " 17 " is 17, as the checks read it
        if col.kind == "int":
            casts[col.name] = column.cast("int64")
        elif col.kind == "num":
            numeric = stored_numbers and not column.type().is_string()
            casts[col.name] = column if numeric else as_number(column)
        elif col.kind == "ts":
            aware = dataset.is_instant(name, col.name) and column.type().timezone
            casts[col.name] = column if aware else column.cast("timestamp('UTC')")
        else:
            casts[col.name] = column.cast("string")
    return table.select(**casts)


def as_number(column: Any) -> Any:
    """A stored number as the engine's exact ``decimal(38, 12)``.

    Decimals and integers are cast exactly (the checks have refused digits beyond the
    12th place). A float is not exact to begin with; it is taken as its binary value to
    12 places, computed the same way on every backend in float64:
    ``floor(x) + round((x − floor(x)) · 10¹²) · 10⁻¹²`` (``x − floor(x)`` is exact, and
    the product is within 10⁻⁴ of a unit of the 12th place). So 0.78 reads as 0.78 and
    the float nearest 8621655511.78 as 8621655511.780000686646, its actual value. The
    backends' own casts scale the whole float by 10¹² first, which makes the last
    digits noise (DuckDB: 8621655511.780001054720); going through text (``repr``) is
    exact but some 80× slower.
    """
    if not column.type().is_floating():
        return column.cast(NUMBER_TYPE)
    whole = column.floor()
    units = ((column - whole) * 1e12).round()
    # 18-digit operands: a 64-bit multiplication, not a 128-bit rounding (30× faster).
    unit = ibis.literal(Decimal("1e-12"), type="decimal(18, 12)")
    fraction = (units.cast("decimal(18, 0)") * unit).cast(NUMBER_TYPE)
    return whole.cast(NUMBER_TYPE) + fraction


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


def _csv_options(backend: Any, spec: TableSpec) -> dict[str, Any]:
    """Read every contract column of a CSV file as text, on every backend.

    Parsing is ours, not the reader's guess: numbers as exact decimal text, timestamps
    with or without an offset decided per value (a column mixing ``+02:00`` and naive
    values is refused, not half-converted), ids as integers — with the same checks and
    messages on DuckDB and Spark (:mod:`recompense.data.validation`).
    """
    if backend.name == "pyspark":
        return {"inferSchema": False, "header": True}
    return {"header": True, "types": {col.name: "VARCHAR" for col in spec.columns}}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
