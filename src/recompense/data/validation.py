"""Check that a dataset obeys the contract before the engine touches it.

Checks run in order and return their findings as data (:class:`Problem`), beancount
style; :func:`validate` raises one :class:`DataError` listing every problem. Each stage
runs only when the one before it found nothing, because each relies on it:

1. :func:`check_schema` — columns present, types acceptable (Parquet footers were
   checked file by file when the dataset was opened: :mod:`recompense.data.parquet`);
2. :func:`check_raw_values` — on the values as stored: CSV text parses (integers,
   decimal numbers, timestamps with an offset), numbers are finite, inside
   ±``AMOUNT_LIMIT`` and carry no digit beyond the 12th decimal place — so that the
   casts of :func:`~recompense.data.readers.normalized` can neither fail nor round;
3. :func:`check_values` — on normalised values: nulls, signs, enums, whole price
   minutes, single-column keys;
4. :func:`check_keys` — composite and foreign keys.

Each table is scanned once per stage for all of its column checks; composite keys and
foreign keys take one query each. Examples of offending rows are fetched only for
checks that failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recompense.data.contract import (
    FOREIGN_KEYS,
    SCALE,
    TABLES,
    UNIQUE_KEYS,
    Column,
    TableSpec,
)
from recompense.data.errors import DataError, backend_errors, out_of_memory_errors
from recompense.data.readers import Dataset, normalized
from recompense.data.stored import stored_checks

EXAMPLES = 5
# The column shown to identify offending rows, per table.
ROW_KEY = {
    "users": "user_id",
    "accounts": "account_id",
    "balances": "account_id",
    "prices": "asset",
    "liquidations": "fill_id",
    "prior_compensation": "user_id",
    "collateral_liquidations": "event_id",
    "reference_prices": "asset",
}


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    column: str
    message: str
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        shown = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return f"{self.file}: column '{self.column}': {self.message}{shown}"


def validate(dataset: Dataset) -> None:
    """Raise :class:`DataError` listing every contract violation; return if clean."""
    problems = check_schema(dataset)
    if not problems:
        problems = check_raw_values(dataset)
    if not problems:
        problems = check_values(dataset)
    if not problems:
        problems = check_keys(dataset)
    if problems:
        raise DataError("dataset does not match the contract:\n" + "\n".join(map(str, problems)))


def check_schema(dataset: Dataset) -> list[Problem]:
    """Missing columns, wrong types, naive timestamps (CSV columns are text: stage 2)."""
    problems: list[Problem] = []
    for spec in present(dataset):
        schema = dataset.raw[spec.name].schema()
        for col in spec.columns:
            if col.name not in schema:
                problems.append(Problem(dataset.describe(spec.name), col.name, "missing column"))
                continue
            if dataset.formats[spec.name] == "csv":
                continue
            naive = not dataset.is_instant(spec.name, col.name)
            wrong = _type_problem(col, schema[col.name], naive, dataset.naive_timestamps_are_utc)
            if wrong:
                problems.append(Problem(dataset.describe(spec.name), col.name, wrong))
    return problems


def check_raw_values(dataset: Dataset) -> list[Problem]:
    """Stage 2: every stored value parses, is finite, fits and is exact at 12 decimals."""
    problems: list[Problem] = []
    for spec in present(dataset):
        problems += _guarded(dataset, spec.name, lambda s=spec: _raw_checks(dataset, s))
    return problems


def check_values(dataset: Dataset) -> list[Problem]:
    problems: list[Problem] = []
    for spec in present(dataset):
        problems += _guarded(dataset, spec.name, lambda s=spec: _column_checks(dataset, s))
    return problems


def check_keys(dataset: Dataset) -> list[Problem]:
    """Composite unique keys and foreign keys."""
    problems: list[Problem] = []
    for name, columns in UNIQUE_KEYS:
        if len(columns) > 1 and name in dataset.raw:
            problems += _guarded(dataset, name, lambda n=name, c=columns: _unique(dataset, n, c))
    for child, column, parent, parent_column in FOREIGN_KEYS:
        if child not in dataset.raw:
            continue
        problems += _guarded(
            dataset,
            child,
            lambda c=child, k=column, p=parent, pk=parent_column: _foreign_key(
                dataset, c, k, p, pk
            ),
        )
    return problems


def present(dataset: Dataset) -> list[TableSpec]:
    """The contract's tables the dataset holds (optional ones may be absent)."""
    return [spec for spec in TABLES if spec.name in dataset.raw]


def _type_problem(col: Column, dtype: Any, naive: bool, naive_ok: bool) -> str | None:
    expected = {
        "int": "an integer",
        "num": "a number (float or decimal)",
        "ts": "a timestamp",
        "str": "text",
        "enum": "text",
    }[col.kind]
    ok = {
        "int": dtype.is_integer(),
        "num": dtype.is_floating() or dtype.is_decimal() or dtype.is_integer(),
        "ts": dtype.is_timestamp(),
        "str": dtype.is_string(),
        "enum": dtype.is_string(),
    }[col.kind]
    if not ok:
        return f"expected {expected}, found {dtype}"
    if col.kind == "ts" and naive and not naive_ok:
        return (
            "timestamps have no time zone; store them as UTC-aware timestamps, "
            "or pass --naive-timestamps-are-utc if they are UTC"
        )
    if col.kind == "ts" and dtype.timezone not in (None, "UTC", "Etc/UTC", "+00:00"):
        return f"timestamps must be UTC, found time zone {dtype.timezone!r}"
    return None


def _raw_checks(dataset: Dataset, spec: TableSpec) -> list[Problem]:
    table = dataset.raw[spec.name]
    checks: dict[str, tuple[Column, str, Any]] = {}
    for col in spec.columns:
        found = stored_checks(col, table[col.name], naive_ok=dataset.naive_timestamps_are_utc)
        for i, (message, predicate) in enumerate(found):
            checks[f"{col.name}__{i}"] = (col, message, predicate)
    if not checks:  # e.g. Parquet with integer ids and decimals: nothing to scan for
        return []
    return _run_checks(dataset, spec, table, checks, show_value=True, distinct=False)[0]


def _column_checks(dataset: Dataset, spec: TableSpec) -> list[Problem]:
    table = normalized(dataset, spec.name, stored_numbers=True)
    checks: dict[str, tuple[Column, str, Any]] = {}
    for col in spec.columns:
        column = table[col.name]
        if not col.nullable:
            checks[f"{col.name}__null"] = (col, "null values", column.isnull())
        if col.non_negative:
            checks[f"{col.name}__neg"] = (col, "negative values (must be ≥ 0)", column < 0)
        if col.positive:
            message = f"values ≤ 0 at {SCALE} decimal places (must be > 0)"
            checks[f"{col.name}__pos"] = (col, message, _not_positive(column))
        if col.kind == "enum":
            bad = column.notnull() & ~column.isin(list(col.allowed))
            checks[f"{col.name}__enum"] = (
                col,
                f"unknown values; allowed: {', '.join(col.allowed)}",
                bad,
            )
    if spec.name == "prices":
        minute = table["minute"]
        message = "timestamps that are not whole minutes (seconds must be 0)"
        checks["minute__whole"] = (spec.column("minute"), message, minute.truncate("m") != minute)
    problems, counts = _run_checks(dataset, spec, table, checks, show_value=spec.name == "prices")
    for col in spec.columns:
        if col.unique and counts[f"{col.name}__distinct"] != counts["__rows"]:
            problems += _unique(dataset, spec.name, (col.name,))
    return problems


def _not_positive(column: Any) -> Any:
    """≤ 0 once read to 12 places; for a float, below half a unit of the 12th place
    (what :func:`~recompense.data.readers.as_number` reads as 0), compared as the float."""
    if column.type().is_floating():
        return column * 10.0**SCALE < 0.5
    return column <= 0


def _run_checks(
    dataset: Dataset,
    spec: TableSpec,
    table: Any,
    checks: dict[str, tuple[Column, str, Any]],
    *,
    show_value: bool,
    distinct: bool = True,
) -> tuple[list[Problem], dict[str, Any]]:
    """Count every check's failures in one scan; fetch examples for those that failed.

    ``distinct``: also count the distinct values of unique columns (the single-column key
    check of stage 3; the stored-values stage leaves it out: an exact distinct count of
    50M ids is most of a scan's cost).
    """
    metrics = {
        key: predicate.fill_null(False).cast("int64").sum()
        for key, (_, _, predicate) in checks.items()
    }
    metrics["__rows"] = table.count()
    for col in spec.columns:
        if col.unique and distinct:
            metrics[f"{col.name}__distinct"] = table[col.name].nunique()
    counts = table.aggregate(**metrics).to_pyarrow().to_pylist()[0]
    problems = []
    file = dataset.describe(spec.name)
    key = ROW_KEY[spec.name]
    for name, (col, message, predicate) in checks.items():
        failing = int(counts[name] or 0)
        if not failing:
            continue
        rows = table.filter(predicate.fill_null(False))
        if col.kind == "enum":
            examples = _examples(rows, col.name)
        elif show_value and col.name != key:
            examples = _keyed_examples(rows, key, col.name)
        else:
            examples = [f"{key} {e}" for e in _examples(rows, key)]
        problems.append(Problem(file, col.name, f"{failing} {message}", tuple(examples)))
    return problems, counts


def _keyed_examples(table: Any, key: str, column: str) -> list[str]:
    """``fill_id 17 = '1e30'``: the row's key and the offending value as stored."""
    rows = table.select(key, column).order_by(key).limit(EXAMPLES).to_pyarrow().to_pylist()
    return [f"{key} {_shown(r[key], quote=False)} = {_shown(r[column])}" for r in rows]


def _shown(value: Any, *, quote: bool = True) -> str:
    if isinstance(value, str):
        return repr(value) if quote else value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _unique(dataset: Dataset, name: str, columns: tuple[str, ...]) -> list[Problem]:
    table = normalized(dataset, name)
    dupes = table.group_by(list(columns)).aggregate(n=table.count()).filter(lambda t: t.n > 1)
    count = int(dupes.count().to_pyarrow().as_py())
    if not count:
        return []
    rows = dupes.order_by(list(columns)).limit(EXAMPLES).to_pyarrow().to_pylist()
    examples = tuple("/".join(str(r[c]) for c in columns) + f" ×{r['n']}" for r in rows)
    return [
        Problem(dataset.describe(name), "+".join(columns), f"{count} duplicate key(s)", examples)
    ]


def _foreign_key(
    dataset: Dataset, child: str, column: str, parent: str, parent_column: str
) -> list[Problem]:
    left = normalized(dataset, child)
    right = normalized(dataset, parent).select(_pk=parent_column)
    orphans = left.anti_join(right, left[column] == right._pk)
    count = int(orphans.count().to_pyarrow().as_py())
    if not count:
        return []
    examples = _examples(orphans, column, distinct=True)
    message = f"{count} row(s) refer to a {parent_column} not in {dataset.describe(parent)}"
    return [
        Problem(dataset.describe(child), column, message, tuple(f"{column} {e}" for e in examples))
    ]


def _examples(table: Any, column: str, *, distinct: bool = False) -> list[str]:
    values = table.select(column)
    if distinct:
        values = values.distinct()
    rows = values.order_by(column).limit(EXAMPLES).to_pyarrow().column(0).to_pylist()
    return [repr(v) if isinstance(v, str) else str(v) for v in rows]


def _guarded(dataset: Dataset, name: str, check: Any) -> list[Problem]:
    """Run a check; a corrupt or unreadable file becomes a Problem naming the file."""
    try:
        result: list[Problem] = check()
    except backend_errors() as exc:
        if isinstance(exc, out_of_memory_errors()):
            raise  # a resource problem, reported by the engine, not a broken file
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Problem(dataset.describe(name), "*", f"cannot read file: {message}")]
    return result


__all__ = ["Problem", "check_keys", "check_raw_values", "check_schema", "check_values", "validate"]
