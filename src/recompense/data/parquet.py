"""What a Parquet file's footer says about its columns, checked file by file.

The engines cannot be trusted to say it: DuckDB reads fixed-length decimals wider than
38 digits (``decimal256(50, 20)``) as the wrong numbers, and a table split into parts
is typed from one part, so a part with naive timestamps among UTC-aware ones is read
in the session's time zone without a word. So before any engine opens a dataset, every
part's footer is read with pyarrow (the footer only: cheap) and refused when:

- a ``num`` column is a decimal wider than 38 digits (no engine here reads it exactly);
- a ``ts`` column is naive (unless naive timestamps are declared UTC) or in another
  time zone than UTC;
- a part lacks a contract column that another part has.

The same checks, hence the same refusals, on DuckDB and on Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recompense.data.contract import MAX_DECIMAL_PRECISION, TableSpec
from recompense.data.errors import DataError

UTC_NAMES = ("UTC", "Etc/UTC", "+00:00", "Z")


def footer_problems(spec: TableSpec, paths: Sequence[Path], *, naive_ok: bool) -> list[str]:
    """Every problem in the footers of one table's Parquet files, as message lines."""
    problems: list[str] = []
    for path in paths:
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{path}: cannot read parquet file: {_first_line(exc)}") from exc
        for col in spec.columns:
            if col.name not in schema.names:
                if len(paths) > 1:
                    problems.append(f"{path}: column '{col.name}': missing column")
                continue
            wrong = _problem(col.kind, schema.field(col.name).type, naive_ok=naive_ok)
            if wrong:
                problems.append(f"{path}: column '{col.name}': {wrong}")
    return problems


def _problem(kind: str, dtype: pa.DataType, *, naive_ok: bool) -> str | None:
    if kind == "num" and pa.types.is_decimal(dtype) and dtype.precision > MAX_DECIMAL_PRECISION:
        return (
            f"type {dtype} is wider than {MAX_DECIMAL_PRECISION} digits, which no engine here "
            f"reads exactly; write decimal(38, s) or narrower"
        )
    if kind == "ts" and pa.types.is_timestamp(dtype):
        if dtype.tz is None and not naive_ok:
            return (
                "timestamps have no time zone; store them as UTC-aware timestamps, "
                "or pass --naive-timestamps-are-utc if they are UTC"
            )
        if dtype.tz is not None and dtype.tz not in UTC_NAMES:
            return f"timestamps must be UTC, found time zone {dtype.tz!r}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
