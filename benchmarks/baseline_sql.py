"""Baseline: the eligibility rules as one hand-written DuckDB SQL script (baseline.sql).

Run as its own process by bench_engine.py, so its wall time and peak memory are
measured alone. Reads the dataset's Parquet files with the plain ``duckdb`` API, writes
the per-user table (rules.COLUMNS) to ``--out`` and prints timings as JSON::

    python benchmarks/baseline_sql.py --program programs/together-2025-10.toml \
        --data benchmarks/data/users-1000000-seed-7 --out benchmarks/data/sql-users.parquet

With ``--validate`` it first runs the dataset contract's checks, hand-written in
baseline_validate.sql, timed as ``validate_s`` (the counterpart of the engine's
``validate`` stage); a violation exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from rules import COLUMNS, Rules, epoch_minute, load_rules, window_minutes

SCRIPT = Path(__file__).with_name("baseline.sql")
CHECKS = Path(__file__).with_name("baseline_validate.sql")
TABLES = ("users", "accounts", "balances", "prices", "liquidations", "prior_compensation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--validate", action="store_true", help="run the contract checks first")
    args = parser.parse_args()
    rules = load_rules(args.program)
    timings = {}
    if args.validate:
        started = time.perf_counter()
        validate(connect(args.data))
        timings["validate_s"] = round(time.perf_counter() - started, 4)
    started = time.perf_counter()
    users = evaluate(args.data, rules)
    computed = time.perf_counter()
    pq.write_table(users.select(list(COLUMNS)), args.out, compression="zstd")
    timings["compute_s"] = round(computed - started, 4)
    timings["write_s"] = round(time.perf_counter() - computed, 4)
    print(json.dumps({**timings, "rows": users.num_rows}))


def connect(data: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per table of the dataset."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in TABLES:
        path = str(data / f"{name}.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def validate(con: duckdb.DuckDBPyConnection) -> None:
    """Run every contract check; exit with status 1 naming the counts that are not 0."""
    bad = {}
    for statement in (s for s in CHECKS.read_text().split(";\n") if s.strip()):
        cursor = con.execute(statement)
        names = [d[0] for d in cursor.description]
        bad.update({k: v for k, v in zip(names, cursor.fetchone(), strict=True) if v})
    if bad:
        raise SystemExit(f"contract violations: {bad}")


def evaluate(data: Path, rules: Rules) -> pa.Table:
    """The per-user table; raises if a fill or balance had no fresh-enough price."""
    con = connect(data)
    *macros, query = [s for s in SCRIPT.read_text().split(";\n") if s.strip()]
    for statement in macros:
        con.execute(statement)
    users = con.execute(query, parameters(rules)).to_arrow_table()
    unpriced = sum(users[c].to_numpy().sum() for c in ("unpriced_fills", "unpriced_balances"))
    if unpriced:
        raise SystemExit(f"{data}: {unpriced} fill(s) or balance row(s) without a price")
    return users


def parameters(rules: Rules) -> dict[str, object]:
    first_minute, end_minute = window_minutes(rules)
    incidents = [{"starts": start, "ends": end} for start, end in rules.incidents]
    return {
        "window_start": rules.start,
        "window_end": rules.end,
        "first_minute": first_minute,
        "end_minute": end_minute,
        "snapshot_minute": epoch_minute(rules.snapshot),
        "snapshot_s": int(rules.snapshot.timestamp()),
        "staleness_minutes": int(rules.staleness.total_seconds()) // 60,
        "products": list(rules.products),
        "excluding": list(rules.excluding),
        "min_loss_cents": rules.min_loss_cents,
        "ratio_num": rules.ratio.numerator,
        "ratio_den": rules.ratio.denominator,
        # An empty list has no element type to bind; an empty interval matches nothing.
        "incidents": incidents or [{"starts": rules.start, "ends": rules.start}],
    }


if __name__ == "__main__":
    main()
