"""Benchmark the what-if simulator against re-running the real engine for the same change.

Usage::

    python benchmarks/bench_whatif.py                       # 1M and 25M exchange users
    python benchmarks/bench_whatif.py --users 1000000 --repeats 9 --json

Method:

1. The dataset is generated once per size with ``recompense synth --users N --seed 7``
   into ``benchmarks/data/users-N-seed-7/`` (git-ignored; shared with the engine
   benchmarks). About 4% of exchange users are liquidated, so **25M exchange users give
   ~1M liquidated users**: the size the simulator works on (one row per liquidated
   user). The 1M-exchange-user size (~40k liquidated) is shown too.
2. The *published run* is made once per size with ``recompense.runs.execute_run`` and
   ``programs/together-2025-10.toml``, with a budget of $12 per exchange user ($300M at
   25M users, the programme's own budget) so that the budget binds and the solver runs,
   into ``benchmarks/data/whatif-runs/`` (git-ignored).
3. ``load``: :func:`recompense.whatif.load` of that folder, median of 3 (hashing both
   Parquet files against the manifest included).
4. ``simulate``: each scenario below timed ``--repeats`` times after one warm-up call
   (the web service keeps the population cached, so this is what a request costs);
   per scenario the median, and over every call the median and p95. The clock covers the
   whole :func:`~recompense.whatif.simulate` call: rules, weights, the real solver,
   histogram, quantiles, Lorenz curve and movers.
5. Baseline: for ``--baseline`` scenarios the what-if is exported with
   :func:`~recompense.whatif.export_policy` and the real engine re-run on the dataset
   with it (``execute_run`` into a temporary folder, timed in-process, writing the
   folder and report included: that is what an operator would otherwise do). The
   engine's payouts must equal the simulator's for every user, else the script exits 1.
   The ratio is engine seconds / simulate median for that scenario.

Figures are printed; nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from recompense.runs import execute_run
from recompense.whatif import Changes, export_policy, load, payouts, simulate

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "programs" / "together-2025-10.toml"
DATA = ROOT / "benchmarks" / "data"
USD_PER_USER = 12
SCENARIOS: dict[str, dict[str, str | bool]] = {
    "published (no change)": {},
    "min loss $100": {"min_loss_usd": "100"},
    "min ratio 20%": {"min_ratio": "0.20"},
    "min ratio 50%": {"min_ratio": "0.5"},
    "budget ×1.5": {"budget_usd": "*1.5"},
    "payout $10–$3,000": {"min_payout_usd": "10", "max_payout_usd": "3000"},
    "no cap at loss": {"cap_at_loss": False},
    "formula loss_usd": {"weight": "loss_usd"},
    "formula log1p × vip": {"weight": "log1p(loss_usd) * (1 + 0.1 * vip_tier)"},
    "all at once": {
        "min_loss_usd": "25",
        "min_ratio": "0.25",
        "max_payout_usd": "5000",
        "budget_usd": "*1.2",
        "weight": "pow(loss_usd, 0.6)",
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1_000_000, 25_000_000])
    parser.add_argument("--repeats", type=int, default=7, help="simulate calls per scenario")
    parser.add_argument(
        "--baseline",
        nargs="*",
        default=["min ratio 20%", "formula loss_usd"],
        help="scenarios re-run with the real engine",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    reports = [bench(users, args.repeats, args.baseline, quiet=args.json) for users in args.users]
    if args.json:
        print(json.dumps(reports, indent=2))
    if any(r["mismatches"] for r in reports):
        sys.exit(1)


def bench(users: int, repeats: int, baseline: list[str], *, quiet: bool) -> dict[str, Any]:
    say = (lambda *_: None) if quiet else print
    data = ensure_dataset(users)
    budget = Decimal(USD_PER_USER * users)
    run, publish_s = ensure_run(data, budget)
    load_s = [_timed(lambda: load(run))[1] for _ in range(3)]
    population = load(run)
    say(
        f"\n{users:,} exchange users: {population.size:,} liquidated, "
        f"{int(population.published_eligible.sum()):,} eligible, budget ${budget:,}"
    )
    say(f"load {statistics.median(load_s):.3f} s (median of 3); published run {publish_s}")
    rows, every = [], []
    for name, form in SCENARIOS.items():
        changes = changes_for(form, budget)
        outcome = simulate(population, changes)  # warm-up
        times = [_timed(lambda c=changes: simulate(population, c))[1] for _ in range(repeats)]
        every += times
        rows.append(
            {
                "scenario": name,
                "median_s": statistics.median(times),
                "p95_s": _p95(times),
                "eligible": outcome.eligible,
                "newly": outcome.newly_eligible,
                "no_longer": outcome.no_longer_eligible,
                "total_cents": outcome.total_cents,
                "lambda": outcome.lam,
            }
        )
    say(f"{'scenario':24} {'median':>8} {'p95':>8} {'eligible':>9} {'+new':>7} {'−gone':>7}")
    for r in rows:
        say(
            f"{r['scenario']:24} {r['median_s'] * 1000:6.0f}ms {r['p95_s'] * 1000:6.0f}ms "
            f"{r['eligible']:9,} {r['newly']:7,} {r['no_longer']:7,}"
        )
    say(
        f"all scenarios: median {statistics.median(every) * 1000:.0f} ms, "
        f"p95 {_p95(every) * 1000:.0f} ms over {len(every)} calls"
    )
    engine, mismatches = [], []
    for name in baseline:
        changes = changes_for(SCENARIOS[name], budget)
        seconds, same = engine_rerun(population, changes, data, run)
        sim = next(r["median_s"] for r in rows if r["scenario"] == name)
        engine.append({"scenario": name, "engine_s": seconds, "ratio": seconds / sim})
        if not same:
            mismatches.append(name)
        say(
            f"engine re-run for {name!r}: {seconds:.1f} s = {seconds / sim:,.0f}× the "
            f"simulator; payouts {'identical' if same else 'DIFFER'}"
        )
    return {
        "users": users,
        "liquidated": population.size,
        "published_eligible": int(population.published_eligible.sum()),
        "budget_usd": str(budget),
        "population_mb": round(_nbytes(population) / 2**20, 1),
        "load_s": statistics.median(load_s),
        "simulate_median_s": statistics.median(every),
        "simulate_p95_s": _p95(every),
        "scenarios": rows,
        "engine": engine,
        "mismatches": mismatches,
    }


def changes_for(form: dict[str, str | bool], budget: Decimal) -> Changes:
    """Budget entries ``*k`` scale the published budget."""
    resolved = {
        k: (str(budget * Decimal(v[1:])) if isinstance(v, str) and v.startswith("*") else v)
        for k, v in form.items()
    }
    return Changes.from_form(resolved)


def engine_rerun(population: Any, changes: Changes, data: Path, run: Path) -> tuple[float, bool]:
    """Seconds for the real engine on the exported policy; do the payouts match?"""
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        program = Path(tmp) / "whatif.toml"
        program.write_text(export_policy(run, changes), encoding="utf-8")
        start = time.perf_counter()
        execute_run(program, data, Path(tmp) / "run")
        seconds = time.perf_counter() - start
        real = pq.read_table(Path(tmp) / "run" / "allocations.parquet")
    paid = payouts(population, changes)
    same = np.array_equal(
        population.user_id[paid.index], real["user_id"].to_numpy()
    ) and np.array_equal(paid.allocation.amount_cents, real["amount_cents"].to_numpy())
    return seconds, same


def ensure_dataset(users: int) -> Path:
    folder = DATA / f"users-{users}-seed-7"
    if not folder.exists():
        command = [sys.executable, "-m", "recompense.cli", "synth", "--users", str(users)]
        subprocess.run([*command, "--seed", "7", "--out", str(folder), "--json"], check=True)
    return folder


def ensure_run(data: Path, budget: Decimal) -> tuple[Path, str]:
    run = DATA / "whatif-runs" / f"{data.name}-budget-{budget}"
    if run.exists():
        return run, "cached"
    shutil.rmtree(run.with_name(run.name + ".partial"), ignore_errors=True)
    seconds = _timed(lambda: execute_run(PROGRAM, data, run, budget_usd=budget))[1]
    return run, f"made in {seconds:.1f} s"


def _timed(func: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(int(np.ceil(0.95 * len(ordered))) - 1, 0)]


def _nbytes(population: Any) -> int:
    arrays = [getattr(population, f.name) for f in fields(population)]
    total = sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    return total + sum(a.nbytes for a in population.features.values())


if __name__ == "__main__":
    main()
