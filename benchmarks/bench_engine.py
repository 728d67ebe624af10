"""Benchmark the engine against a hand-written DuckDB SQL baseline and a pandas one.

Usage::

    python benchmarks/bench_engine.py --users 1000000 [--repeats 3] [--json]
    python benchmarks/bench_engine.py --users 10000000 --pandas-max-rss-gb 20

Method:

1. The synthetic dataset is generated once per size with ``recompense synth`` into
   ``--data-dir/users-N-seed-S/`` (git-ignored) and reused afterwards; its files are
   read once before timing, so no tool pays for the disk.
2. Three tools compute the same per-user table from the same Parquet files, each in a
   fresh subprocess: ``engine`` (``recompense run ... --json``, the real CLI, which also
   allocates and writes the run folder), ``sql`` (baseline_sql.py: one hand-written
   DuckDB SQL script, baseline.sql) and ``pandas`` (baseline_pandas.py). Runs are
   interleaved, the order rotating each repeat, so drift (thermal, page cache, noisy
   neighbours) spreads over all three.
3. Per run: the wall time of the whole process (start-up and imports included), the
   tool's own timings (the engine's ``timings_s`` stages; the baselines' ``compute_s``,
   from the first read to the table in memory) and the peak memory of the process
   tree: the largest of the RSS sampled every 50 ms over the process and its children
   (psutil) and the kernel's ``ru_maxrss`` of the process (``os.wait4``).
4. The "eligibility stage" of the engine is validate + losses + features (dataset to
   per-user table in memory); it is reported with and without ``validate``, since the
   baselines check nothing. It is compared with the baselines' ``compute_s``.
5. The outputs of the first repeat are compared per user: the set of users, fills,
   loss, net assets and incident loss in cents and ``eligible`` exactly, the weight
   to 1e-12 relative. A mismatch is printed and the exit status is 1.

The pandas run is killed, and reported as skipped with the reason, when it exceeds
``--pandas-timeout`` seconds or ``--pandas-max-rss-gb`` of memory (capped at 90% of
the memory available when it starts); ``--skip-pandas`` leaves it out. Speed targets
are reported as met or missed, never enforced: only a mismatch fails the script.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROGRAM = ROOT / "programs" / "together-2025-10.toml"
TOOLS = ("engine", "sql", "pandas")
SAMPLE_S = 0.05
GIB = 1 << 30
EXACT = ("fills", "loss_cents", "net_assets_cents", "incident_loss_cents", "eligible")
WEIGHT_RTOL = 1e-12
# name: (tool, figure) / (tool, figure); the engine's figures are defined in tool_summary.
RATIOS = (
    ("engine_eligibility_vs_sql", ("engine", "eligibility_s"), ("sql", "compute_s")),
    (
        "engine_eligibility_no_validate_vs_sql",
        ("engine", "eligibility_no_validate_s"),
        ("sql", "compute_s"),
    ),
    ("engine_wall_vs_sql_wall", ("engine", "wall_s"), ("sql", "wall_s")),
    ("pandas_vs_engine_eligibility", ("pandas", "compute_s"), ("engine", "eligibility_s")),
    (
        "pandas_vs_engine_eligibility_no_validate",
        ("pandas", "compute_s"),
        ("engine", "eligibility_no_validate_s"),
    ),
    ("pandas_wall_vs_engine_wall", ("pandas", "wall_s"), ("engine", "wall_s")),
)
# The targets (2-core machine).
TARGET_ELIGIBILITY_VS_SQL = 1.3
TARGET_PANDAS_VS_ENGINE = 5.0
TARGET_WALL_10M_S = 60.0
TARGET_PEAK_GB = 6.0


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_s: float | None = None
    max_rss: int | None = None  # bytes


@dataclass(frozen=True, slots=True)
class Measured:
    """One subprocess: exit status, wall time, peak RSS of its tree, why it was killed."""

    returncode: int
    wall_s: float
    peak_rss: int
    stdout: str
    stderr: str
    killed: str | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """One tool, one repeat: what the harness saw and what the tool said about itself."""

    tool: str
    repeat: int
    wall_s: float | None = None
    peak_rss: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    output: Path | None = None
    skipped: str | None = None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reports = [bench_size(users, args) for users in args.users]
    result = {"machine": machine(), "program": str(args.program), "sizes": reports}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_machine(result["machine"])
        for report in reports:
            print_report(report)
    return 1 if any(r["mismatches"] for r in reports) else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `recompense run` against a DuckDB SQL and a pandas baseline.",
        epilog="Example: python benchmarks/bench_engine.py --users 1000000 --repeats 3",
    )
    parser.add_argument("--users", type=int, nargs="+", required=True, help="dataset size(s)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic dataset seed")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--program", type=Path, default=PROGRAM)
    parser.add_argument("--skip-pandas", action="store_true", help="leave pandas out")
    parser.add_argument("--pandas-timeout", type=float, default=1800.0, help="seconds")
    parser.add_argument("--pandas-max-rss-gb", type=float, default=20.0)
    parser.add_argument("--keep-runs", action="store_true", help="keep the outputs")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser.parse_args(argv)


# One dataset size --------------------------------------------------------------------


def bench_size(users: int, args: argparse.Namespace) -> dict[str, Any]:
    data, synth_s = ensure_dataset(users, args.seed, args.data_dir)
    warm_page_cache(data)
    load_before = os.getloadavg()[0]
    work = args.data_dir / "runs" / data.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tools = [t for t in TOOLS if not (t == "pandas" and args.skip_pandas)]
    runs: list[Run] = []
    for repeat in range(args.repeats):
        for tool in tools[repeat % len(tools) :] + tools[: repeat % len(tools)]:
            runs.append(measure(tool, repeat, data, work, args, runs))
            log(f"{data.name} repeat {repeat + 1}/{args.repeats} {tool}: {describe(runs[-1])}")
    mismatches = compare_runs([r for r in runs if r.repeat == 0])
    if not args.keep_runs:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            work.parent.rmdir()  # only if empty
    report = summarize(users, runs, tools)
    report.update(data=str(data), synth_s=synth_s, mismatches=mismatches)
    report["load_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    if args.skip_pandas:
        report["tools"]["pandas"] = {"skipped": "--skip-pandas"}
    return report


def ensure_dataset(users: int, seed: int, data_dir: Path) -> tuple[Path, float | None]:
    """The dataset folder, generated with ``recompense synth`` unless already there."""
    data = data_dir / f"users-{users}-seed-{seed}"
    if (data / "users.parquet").exists():
        return data, None
    data_dir.mkdir(parents=True, exist_ok=True)
    log(f"generating {data} ...")
    started = time.perf_counter()
    command = [recompense(), "synth", "--users", str(users), "--seed", str(seed)]
    subprocess.run([*command, "--out", str(data), "--json"], check=True, capture_output=True)
    return data, round(time.perf_counter() - started, 2)


def warm_page_cache(data: Path) -> None:
    for path in sorted(data.rglob("*.parquet")):
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def measure(
    tool: str, repeat: int, data: Path, work: Path, args: argparse.Namespace, done: list[Run]
) -> Run:
    """Run ``tool`` once in a fresh process; pandas is skipped once it hit a limit."""
    earlier = next((r.skipped for r in done if r.tool == tool and r.skipped), None)
    if earlier:
        return Run(tool, repeat, skipped=earlier)
    out = work / f"{tool}-{repeat}"
    out.mkdir()
    command, output = tool_command(tool, data, out, args.program)
    limits = Limits()
    if tool == "pandas":
        available = int(psutil.virtual_memory().available * 0.9)
        limits = Limits(args.pandas_timeout, min(int(args.pandas_max_rss_gb * GIB), available))
    measured = run_measured(command, limits, out)
    if measured.killed:
        return Run(tool, repeat, measured.wall_s, measured.peak_rss, skipped=measured.killed)
    if measured.returncode != 0:
        raise SystemExit(f"{tool} failed ({measured.returncode}):\n{measured.stderr[-3000:]}")
    timings = tool_timings(tool, measured.stdout)
    return Run(tool, repeat, measured.wall_s, measured.peak_rss, timings, output)


def tool_command(tool: str, data: Path, out: Path, program: Path) -> tuple[list[str], Path]:
    """The command line of ``tool`` and the file or folder it writes its table to."""
    if tool == "engine":
        run = out / "run"
        command = [recompense(), "run", "--program", str(program), "--data", str(data)]
        return [*command, "--out", str(run), "--json"], run
    script = HERE / f"baseline_{tool}.py"
    table = out / "users.parquet"
    command = [sys.executable, str(script), "--program", str(program), "--data", str(data)]
    return [*command, "--out", str(table)], table


def tool_timings(tool: str, stdout: str) -> dict[str, float]:
    """The engine's ``timings_s``; the baselines' ``compute_s`` and ``write_s``."""
    summary = json.loads(stdout[stdout.index("{") :])
    if tool == "engine":
        return {k: float(v) for k, v in summary["timings_s"].items()}
    return {k: float(summary[k]) for k in ("compute_s", "write_s")}


def recompense() -> str:
    beside = Path(sys.executable).with_name("recompense")
    found = str(beside) if beside.exists() else shutil.which("recompense")
    if not found:
        raise SystemExit("the `recompense` command is not installed (pip install -e .)")
    return found


# Running one process: wall time and peak memory ------------------------------------


def run_measured(command: list[str], limits: Limits, logs: Path) -> Measured:
    """Run ``command``; sample its tree's RSS every 50 ms; kill it past ``limits``."""
    stdout_path, stderr_path = logs / "stdout.txt", logs / "stderr.txt"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=ROOT)
        sampler = _Sampler(process.pid, started, limits)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    peak = max(sampler.peak, usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux
    texts = stdout_path.read_text(), stderr_path.read_text()
    return Measured(process.returncode, round(wall_s, 3), peak, *texts, sampler.killed)


class _Sampler(threading.Thread):
    """Polls the RSS of a process and its descendants; kills the tree past a limit."""

    def __init__(self, pid: int, started: float, limits: Limits) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.started = started
        self.limits = limits
        self.peak = 0
        self.killed: str | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_S):
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree)
            except psutil.Error:
                continue  # the process (or a child) just exited
            self.peak = max(self.peak, rss)
            self._enforce(rss, tree)

    def _enforce(self, rss: int, tree: list[psutil.Process]) -> None:
        elapsed = time.perf_counter() - self.started
        if self.limits.max_rss and rss > self.limits.max_rss:
            self.killed = f"exceeded the memory limit of {self.limits.max_rss / GIB:.1f} GiB"
        elif self.limits.timeout_s and elapsed > self.limits.timeout_s:
            self.killed = f"exceeded the time limit of {self.limits.timeout_s:.0f} s"
        if self.killed:
            for process in reversed(tree):
                process.kill()
            self._done.set()

    def stop(self) -> None:
        self._done.set()
        self.join()


# Same answers? -----------------------------------------------------------------------


def compare_runs(runs: list[Run]) -> list[str]:
    """Mismatch lines between the engine's table and each baseline's (empty: identical)."""
    tables = {r.tool: load_table(r) for r in runs if r.output is not None}
    if "engine" not in tables:
        return []
    problems: list[str] = []
    for tool, table in tables.items():
        if tool != "engine":
            problems += compare_tables(tables["engine"], table, f"engine vs {tool}")
    return problems


def load_table(run: Run) -> pd.DataFrame:
    """user_id + EXACT columns + weight (NaN when not eligible), indexed by user_id."""
    output = Path(run.output or "")
    if run.tool != "engine":
        table = pq.read_table(output, columns=["user_id", *EXACT, "weight"])
        return table.to_pandas().set_index("user_id")
    eligibility = pq.read_table(output / "eligibility.parquet")
    frame = pd.DataFrame({"user_id": eligibility["user_id"].to_numpy()})
    for column in ("loss", "net_assets", "incident_loss"):
        frame[f"{column}_cents"] = usd_to_cents(eligibility[f"{column}_usd"])
    frame["fills"] = eligibility["fills"].to_numpy()
    frame["eligible"] = eligibility["eligible"].to_numpy()
    weights = pq.read_table(output / "allocations.parquet", columns=["user_id", "weight"])
    frame = frame.merge(weights.to_pandas(), on="user_id", how="left")
    return frame.set_index("user_id")


def usd_to_cents(usd: Any) -> np.ndarray:
    """decimal128(20, 2) USD → int64 cents, exactly (the unscaled value is the cents)."""
    scaled = pc.multiply(usd, pa.scalar(Decimal(100), pa.decimal128(3, 0)))
    return pc.cast(scaled, pa.int64()).to_numpy()


def compare_tables(expected: pd.DataFrame, actual: pd.DataFrame, label: str) -> list[str]:
    only_expected = expected.index.difference(actual.index)
    only_actual = actual.index.difference(expected.index)
    problems = [
        f"{label}: {len(ids)} user(s) only in {side}, e.g. {list(ids[:5])}"
        for side, ids in (("engine", only_expected), ("baseline", only_actual))
        if len(ids)
    ]
    both = expected.merge(
        actual, left_index=True, right_index=True, suffixes=("_engine", "_baseline")
    )
    for column in (*EXACT, "weight"):
        left, right = both[f"{column}_engine"], both[f"{column}_baseline"]
        if column == "weight":
            same = np.isclose(left, right, rtol=WEIGHT_RTOL, atol=0, equal_nan=True)
        else:
            same = (left == right).to_numpy()
        if not same.all():
            bad = both.loc[~same, [left.name, right.name]].head(5)
            shown = bad.to_string(float_format="{:.17g}".format)
            problems.append(f"{label}: {int((~same).sum())} user(s) differ in {column}:\n{shown}")
    return problems


# Summary -----------------------------------------------------------------------------


def summarize(users: int, runs: list[Run], tools: list[str]) -> dict[str, Any]:
    report: dict[str, Any] = {"users": users, "repeats": max(r.repeat for r in runs) + 1}
    report["tools"] = {tool: tool_summary([r for r in runs if r.tool == tool]) for tool in tools}
    report["ratios"] = ratios(report["tools"])
    report["targets"] = targets(users, report["tools"], report["ratios"])
    report["runs"] = [run_json(r) for r in runs]
    return report


def tool_summary(runs: list[Run]) -> dict[str, Any]:
    """Medians of the wall time and of each own timing; the largest peak RSS."""
    done = [r for r in runs if r.skipped is None]
    if not done:
        return {"skipped": runs[0].skipped}
    summary: dict[str, Any] = {
        "wall_s": _median([r.wall_s for r in done]),
        "peak_rss_gib": round(max(r.peak_rss or 0 for r in done) / GIB, 3),
    }
    for key in done[0].timings:
        summary[key] = _median([r.timings[key] for r in done])
    if runs[0].tool == "engine":
        stages = ("losses", "features")
        summary["eligibility_s"] = _median([_sum(r, ("validate", *stages)) for r in done])
        summary["eligibility_no_validate_s"] = _median([_sum(r, stages) for r in done])
    return summary


def ratios(tools: dict[str, Any]) -> dict[str, float]:
    """engine/SQL (lower is better) and pandas/engine (higher is better)."""
    found = {}
    for name, (top, top_key), (bottom, bottom_key) in RATIOS:
        a, b = tools.get(top, {}), tools.get(bottom, {})
        if top_key in a and b.get(bottom_key):
            found[name] = round(a[top_key] / b[bottom_key], 2)
    return found


def targets(users: int, tools: dict[str, Any], ratio: dict[str, float]) -> dict[str, Any]:
    """Each target of the issue: the measured figure and whether it is met."""
    engine = tools.get("engine", {})
    found: dict[str, Any] = {}
    for key in ("engine_eligibility_vs_sql", "engine_eligibility_no_validate_vs_sql"):
        if key in ratio:
            found[f"{key} <= {TARGET_ELIGIBILITY_VS_SQL}"] = _met(
                ratio[key], ratio[key] <= TARGET_ELIGIBILITY_VS_SQL
            )
    for key in ("pandas_vs_engine_eligibility", "pandas_vs_engine_eligibility_no_validate"):
        if key in ratio:
            found[f"{key} >= {TARGET_PANDAS_VS_ENGINE}"] = _met(
                ratio[key], ratio[key] >= TARGET_PANDAS_VS_ENGINE
            )
    if users >= 10_000_000 and "wall_s" in engine:
        wall = engine["wall_s"]
        found[f"engine_wall_s < {TARGET_WALL_10M_S}"] = _met(wall, wall < TARGET_WALL_10M_S)
    if "peak_rss_gib" in engine:
        peak = engine["peak_rss_gib"] * GIB / 1e9
        found[f"engine_peak_gb < {TARGET_PEAK_GB}"] = _met(round(peak, 2), peak < TARGET_PEAK_GB)
    return found


def _met(value: float, ok: bool) -> dict[str, Any]:
    return {"value": value, "met": ok}


def _median(values: list[float | None]) -> float:
    return round(statistics.median(v for v in values if v is not None), 3)


def _sum(run: Run, stages: tuple[str, ...]) -> float:
    return sum(run.timings.get(stage, 0.0) for stage in stages)


def run_json(run: Run) -> dict[str, Any]:
    return {
        "tool": run.tool,
        "repeat": run.repeat,
        "wall_s": run.wall_s,
        "peak_rss_gib": None if run.peak_rss is None else round(run.peak_rss / GIB, 3),
        "timings": run.timings,
        "skipped": run.skipped,
    }


# Printing ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    versions = {}
    for package in ("recompense", "duckdb", "ibis-framework", "pandas", "pyarrow", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((ln.split(":", 1)[1].strip() for ln in lines if "model name" in ln), "")


def print_machine(info: dict[str, Any]) -> None:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    print(f"machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM")
    print(f"python {info['python']}; {versions}")


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{report['users']:,} users, {report['repeats']} repeat(s), medians ({report['data']})")
    load = report["load_1min"]
    print(f"1-min load average before/after: {load['before']:.2f}/{load['after']:.2f}")
    print(f"{'tool':<8} {'wall s':>8} {'compute s':>10} {'no-validate s':>14} {'peak GiB':>9}")
    for tool, s in report["tools"].items():
        print(f"{tool:<8} " + (f"skipped: {s['skipped']}" if "skipped" in s else _row(s)))
    engine = report["tools"].get("engine", {})
    if "total" in engine:
        stages = ("validate", "losses", "features", "allocate", "write", "total")
        print("engine stages (s): " + ", ".join(f"{k} {engine[k]:.2f}" for k in stages))
    for name, value in report["ratios"].items():
        print(f"{name:<42} {value:>6.2f}")
    for name, target in report["targets"].items():
        print(f"target {name:<48} {target['value']:>8.2f} {'met' if target['met'] else 'MISSED'}")
    for problem in report["mismatches"]:
        print(f"MISMATCH {problem}")
    if not report["mismatches"]:
        compared = [t for t, s in report["tools"].items() if "skipped" not in s]
        print(f"outputs: identical per user ({', '.join(compared)})")


def _row(s: dict[str, Any]) -> str:
    """wall, compute (engine: eligibility stage), the same without validate, peak."""
    compute = s.get("eligibility_s", s.get("compute_s"))
    no_validate = s.get("eligibility_no_validate_s", compute)
    return f"{s['wall_s']:>8.2f} {compute:>10.2f} {no_validate:>14.2f} {s['peak_rss_gib']:>9.2f}"


def describe(run: Run) -> str:
    if run.skipped:
        return f"skipped ({run.skipped})"
    return f"wall {run.wall_s:.2f} s, peak {(run.peak_rss or 0) / GIB:.2f} GiB, {run.timings}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
