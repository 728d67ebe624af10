"""Where the engine's time goes: each validation check, then DuckDB profiles of the
two queries of the ``losses`` and ``features`` stages.

Usage::

    python benchmarks/profile_engine.py --data benchmarks/data/users-10000000-seed-7

Prints the wall time of every validation check (one query each, as ``validate`` runs
them), then for the losses query (counted fills priced and summed per user and hour)
and the features query (net assets, joins, rules, weight) the wall time and the most
expensive operators of DuckDB's JSON profile. Operator times are CPU seconds summed
over DuckDB's threads, so they may add up to more than the wall time. The SQL and the
full profiles are written to ``--out``.

This is a development tool: it calls private helpers of ``recompense.data.validation``
and ``recompense.engine.pipeline`` on purpose and must follow them if they move.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import ibis

from recompense.data import normalized, open_dataset
from recompense.data import validation as checks
from recompense.data.contract import FOREIGN_KEYS, TABLES, UNIQUE_KEYS
from recompense.engine import connect
from recompense.engine import features as feat
from recompense.engine.exact import epoch_micros
from recompense.engine.pipeline import _features
from recompense.engine.prices import price_grid, window_minutes
from recompense.policy import load_policy

HERE = Path(__file__).resolve().parent
PROGRAM = HERE.parent / "programs" / "together-2025-10.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument("--program", type=Path, default=PROGRAM)
    parser.add_argument("--out", type=Path, default=HERE / "data" / "profile")
    parser.add_argument("--top", type=int, default=8, help="operators shown per query")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    backend = connect()
    dataset = open_dataset(backend, args.data)
    print("validate, one query per check:")
    for label, seconds in time_validation(dataset):
        print(f"  {seconds:7.3f} s  {label}")
    for name, seconds, operators in profile_queries(backend, dataset, args):
        print(f"{name} query: {seconds:.3f} s wall; top operators (CPU s, rows):")
        for line in operators:
            print(f"  {line}")


def time_validation(dataset: Any) -> list[tuple[str, float]]:
    """Each check of ``recompense.data.validation.validate``, timed alone."""
    steps: list[tuple[str, Callable[[], object]]] = [
        ("schema", partial(checks.check_schema, dataset))
    ]
    for spec in TABLES:
        steps.append((f"column checks {spec.name}", partial(checks._column_checks, dataset, spec)))
    for name, columns in UNIQUE_KEYS:
        if len(columns) > 1:
            label = f"unique {name}({', '.join(columns)})"
            steps.append((label, partial(checks._unique, dataset, name, columns)))
    for child, column, parent, key in FOREIGN_KEYS:
        label = f"foreign key {child}.{column} -> {parent}.{key}"
        steps.append((label, partial(checks._foreign_key, dataset, child, column, parent, key)))
    return [(label, _timed(step)[1]) for label, step in steps]


def profile_queries(
    backend: Any, dataset: Any, args: argparse.Namespace
) -> list[tuple[str, float, list[str]]]:
    """Profile the losses query (cached as the pipeline does), then the features query."""
    policy = load_policy(args.program)
    tables = {name: normalized(dataset, name) for name in dataset.raw}
    minutes = window_minutes(policy.window.start, policy.window.end, (policy.program.snapshot_at,))
    epoch_us = epoch_micros(backend.name)
    grid = price_grid(tables["prices"], minutes, policy.staleness, epoch_us)
    fills = feat.counted_fills(tables["liquidations"], tables["accounts"], policy, epoch_us)
    per_hour = feat.user_hour_losses(feat.fill_losses(fills, grid))
    backend.to_pyarrow(per_hour.limit(1))  # registers the in-memory minute grid
    losses_sql = f"CREATE TEMP TABLE profiled_per_hour AS {ibis.to_sql(per_hour)}"
    results = [profile(backend.con, "losses", losses_sql, args)]
    cached = backend.table("profiled_per_hour")
    features_sql = ibis.to_sql(_features(tables, cached, grid, policy, epoch_us))
    results.append(profile(backend.con, "features", features_sql, args))
    return results


def profile(
    con: Any, name: str, sql: str, args: argparse.Namespace
) -> tuple[str, float, list[str]]:
    """Run ``sql`` once with DuckDB's JSON profiler on; the slowest operators."""
    path = args.out / f"{name}.json"
    (args.out / f"{name}.sql").write_text(sql + ";\n")
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{path}'")
    _, seconds = _timed(lambda: con.execute(sql).to_arrow_table())
    con.execute("PRAGMA disable_profiling")
    return name, seconds, top_operators(json.loads(path.read_text()), args.top)


def top_operators(profile_tree: dict[str, Any], count: int) -> list[str]:
    found: list[tuple[float, str]] = []
    stack = [profile_tree]
    while stack:
        node = stack.pop()
        stack.extend(node.get("children", []))
        if "operator_name" not in node:
            continue
        seconds = float(node.get("operator_timing", 0.0))
        rows = int(node.get("operator_cardinality", 0))
        detail = json.dumps(node.get("extra_info", {}))[:160]
        found.append((seconds, f"{seconds:6.3f} {rows:>11,}  {node['operator_name']}  {detail}"))
    return [line for _, line in sorted(found, reverse=True)[:count]]


def _timed(step: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = step()
    return result, round(time.perf_counter() - started, 3)


if __name__ == "__main__":
    main()
