"""Benchmark at exchange scale: DuckDB and Spark local next to the hand-written SQL baseline.

Usage::

    python benchmarks/bench_scale.py --users 1000000 10000000 50000000
    python benchmarks/bench_scale.py --users 50000000 --engines duckdb sql --json
    python benchmarks/bench_scale.py --users 10000000 --engines spark \
        --spark-conf "spark.driver.memory=8g"

Method (the helpers come from bench_engine.py, so both scripts measure alike):

1. Each dataset is generated once with ``recompense synth --users N --seed 7`` into
   ``--data-dir/users-N-seed-7/`` and reused; its files are read once before timing so
   every tool finds them in the page cache. 50M users is about 1.8 GB of Parquet.
2. Each engine runs as a fresh subprocess: ``recompense run ... --json --engine duckdb``,
   ``recompense run ... --json --engine spark --spark-master local[2]`` (with
   ``RECOMPENSE_SPARK_CONF`` from ``--spark-conf``) and ``sql`` (``baseline_sql.py
   --validate``: the contract's checks hand-written in baseline_validate.sql, timed as
   ``validate_s``, then the rules as one DuckDB SQL script, timed as ``compute_s``; so
   wall against wall compares the same work). The budget is ``--budget-usd-per-user``
   × users ($6, as in ``make demo``: $300M for 50M users), so it binds at every size.
3. Per run: wall time of the whole process (interpreter and JVM start-up included), the
   tool's own timings (the engine's ``timings_s``; the baseline's ``validate_s`` and
   ``compute_s``) and the peak resident memory of the process tree, sampled every 50 ms
   over the process and all its descendants: for Spark local the JVM is a child of the
   Python process, so its heap and off-heap memory are counted.
4. Answers: the run folders of duckdb and spark are compared byte for byte (the four
   Parquet artifacts), and each engine's per-user values against the SQL baseline's as
   in bench_engine.py. A mismatch is printed and the exit status is 1.
5. Linearity: seconds per million users and per million fill rows at every size, and
   the growth exponent between consecutive sizes, log(t2/t1) / log(n2/n1): 1.0 is
   linear. It is computed on wall time and on the tool's own time (without start-up).

A run that fails, or passes ``--timeout`` (``--spark-timeout`` for Spark) or the memory
limit (``--max-rss-gb``, capped at 90% of the memory available when it starts), is
killed and recorded as failed with the reason; the other runs go on. Targets are
reported as met or missed, never enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq
from bench_engine import (
    GIB,
    PROGRAM,
    ROOT,
    SAMPLE_S,
    Limits,
    Run,
    compare_tables,
    ensure_dataset,
    load_table,
    log,
    machine,
    print_machine,
    recompense,
    warm_page_cache,
)

HERE = Path(__file__).resolve().parent
ENGINES = ("duckdb", "spark", "sql")
ARTIFACTS = ("eligibility.parquet", "allocations.parquet", "hourly.parquet", "recipients.parquet")
# name: (engine figure, SQL baseline figure); see summary() for the figures.
RATIOS = (
    ("wall_vs_sql_wall", "wall_s", "wall_s"),
    ("best_wall_vs_sql_best_wall", "best_wall_s", "best_wall_s"),
    ("cpu_vs_sql_cpu", "cpu_s", "cpu_s"),
    ("eligibility_vs_sql_validated", "eligibility_s", "validated_s"),
    ("validate_vs_sql_validate", "validate", "validate_s"),
    ("eligibility_vs_sql_compute", "eligibility_s", "compute_s"),
    ("eligibility_no_validate_vs_sql_compute", "eligibility_no_validate_s", "compute_s"),
    (
        "best_eligibility_no_validate_vs_sql_best_compute",
        "best_eligibility_no_validate_s",
        "best_compute_s",
    ),
)
COUNTED = {"users": "users", "balances": "balance_rows", "liquidations": "fill_rows"}
# The targets for DuckDB at 50M users on a 2-core machine.
TARGET_WALL_S = 300.0
TARGET_PEAK_GB = 8.0
TARGET_VS_SQL = 1.3


@dataclass(frozen=True, slots=True)
class ScaleRun:
    """One engine, one size, one repeat: what the harness saw and what the tool said."""

    engine: str
    repeat: int
    wall_s: float | None = None
    peak_rss: int | None = None
    cpu_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None
    failed: str | None = None
    parts: dict[str, Any] = field(default_factory=dict)  # see _TreeSampler.parts


@dataclass(frozen=True, slots=True)
class Measured:
    """One process tree: exit status, wall time, peak RSS and CPU seconds of the tree."""

    returncode: int
    wall_s: float
    peak_rss: int
    cpu_s: float
    stdout: str
    stderr: str
    killed: str | None = None
    parts: dict[str, Any] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [bench_size(users, args) for users in args.users]
    result = {
        "machine": machine() | {"java": java_version()},
        "settings": settings(args),
        "sizes": sizes,
        "scaling": scaling(sizes),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_result(result)
    return 1 if any(s["mismatches"] for s in sizes) else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `recompense run` on DuckDB and Spark local next to the SQL baseline.",
        epilog="Example: python benchmarks/bench_scale.py --users 1000000 10000000 50000000",
    )
    parser.add_argument("--users", type=int, nargs="+", required=True, help="dataset sizes")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats")
    parser.add_argument("--seed", type=int, default=7, help="synthetic dataset seed")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--program", type=Path, default=PROGRAM)
    parser.add_argument("--budget-usd-per-user", type=int, default=6, help="budget = this × N")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument(
        "--spark-conf",
        default="spark.driver.memory=8g",
        help="RECOMPENSE_SPARK_CONF for the Spark runs (spark.k=v;spark.k=v)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds (duckdb, sql)")
    parser.add_argument("--spark-timeout", type=float, default=2400.0, help="seconds")
    parser.add_argument("--max-rss-gb", type=float, default=20.0, help="kill a tree above this")
    parser.add_argument("--keep-runs", action="store_true", help="keep the run folders")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser.parse_args(argv)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "engines": args.engines,
        "repeats": args.repeats,
        "budget_usd_per_user": args.budget_usd_per_user,
        "spark_master": args.spark_master,
        "spark_conf": args.spark_conf,
        "duckdb_env": {k: v for k, v in os.environ.items() if k.startswith("RECOMPENSE_DUCKDB")},
    }


# One dataset size --------------------------------------------------------------------


def bench_size(users: int, args: argparse.Namespace) -> dict[str, Any]:
    data, synth_s = ensure_dataset(users, args.seed, args.data_dir)
    warm_page_cache(data)
    load_before = os.getloadavg()[0]
    work = args.data_dir / "scale-runs" / data.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs: list[ScaleRun] = []
    engines = list(args.engines)
    for repeat in range(args.repeats):
        for engine in engines[repeat % len(engines) :] + engines[: repeat % len(engines)]:
            runs.append(measure(engine, repeat, users, data, work, args))
            log(f"{data.name} repeat {repeat + 1}/{args.repeats} {engine}: {describe(runs[-1])}")
    compared, mismatches = compare([r for r in runs if r.repeat == 0 and r.failed is None])
    if not args.keep_runs:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            work.parent.rmdir()  # only if empty
    report: dict[str, Any] = {"users": users, "data": str(data), "synth_s": synth_s}
    report["dataset"] = dataset_counts(data, runs)
    report["load_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    report["engines"] = {e: summary([r for r in runs if r.engine == e]) for e in engines}
    report["ratios"] = ratios(report["engines"])
    report["targets"] = targets(report["engines"], report["ratios"])
    report["compared"] = compared
    report["mismatches"] = mismatches
    report["runs"] = [run_json(r) for r in runs]
    return report


def measure(
    engine: str, repeat: int, users: int, data: Path, work: Path, args: argparse.Namespace
) -> ScaleRun:
    """Run ``engine`` once in a fresh process tree; a failure is recorded, not raised."""
    out = work / f"{engine}-{repeat}"
    out.mkdir()
    command, output = engine_command(engine, users, data, out, args)
    available = int(psutil.virtual_memory().available * 0.9)
    timeout = args.spark_timeout if engine == "spark" else args.timeout
    limits = Limits(timeout, min(int(args.max_rss_gb * GIB), available))
    env = {"RECOMPENSE_SPARK_CONF": args.spark_conf} if engine == "spark" else {}
    measured = run_tree(command, limits, out, env)
    failed = measured.killed
    if failed is None and measured.returncode != 0:
        lines = measured.stderr.strip().splitlines() or ["(no output)"]
        failed = f"exit status {measured.returncode}: {lines[-1][:300]}"
    seen = (measured.wall_s, measured.peak_rss, measured.cpu_s)
    if failed:
        return ScaleRun(engine, repeat, *seen, failed=failed, parts=measured.parts)
    stdout = json.loads(measured.stdout[measured.stdout.index("{") :])
    if engine == "sql":
        timings = {k: float(stdout[k]) for k in ("validate_s", "compute_s", "write_s")}
        counts = {"rows": stdout["rows"]}
    else:
        timings = {k: float(v) for k, v in stdout["timings_s"].items()}
        counts = {k: stdout["counts"][k] for k in ("liquidated", "eligible")}
    return ScaleRun(engine, repeat, *seen, timings, counts, output, parts=measured.parts)


def engine_command(
    engine: str, users: int, data: Path, out: Path, args: argparse.Namespace
) -> tuple[list[str], Path]:
    """The command line and the run folder (or the baseline's table) it writes."""
    if engine == "sql":
        table = out / "users.parquet"
        script = str(HERE / "baseline_sql.py")
        command = [sys.executable, script, "--program", str(args.program), "--data", str(data)]
        return [*command, "--validate", "--out", str(table)], table
    run = out / "run"
    budget = str(users * args.budget_usd_per_user)
    command = [recompense(), "run", "--program", str(args.program), "--data", str(data)]
    command += ["--out", str(run), "--budget-usd", budget, "--json", "--engine", engine]
    if engine == "spark":
        command += ["--spark-master", args.spark_master]
    return command, run


# Running one process tree: wall time, peak memory, CPU -------------------------------


def run_tree(command: list[str], limits: Limits, logs: Path, env: dict[str, str]) -> Measured:
    """Run ``command``; sample its tree every 50 ms; kill the tree past ``limits``.

    CPU seconds: the larger of the tree's sampled user + system time and the kernel's
    ``wait4`` usage of the process (which holds its reaped children too), so a child
    the process waited for is not counted twice.
    """
    stdout_path, stderr_path = logs / "stdout.txt", logs / "stderr.txt"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, cwd=ROOT, env=os.environ | env
        )
        sampler = _TreeSampler(process.pid, started, limits)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        sampler.stop()
    cpu_s = max(sum(sampler.cpu.values()), usage.ru_utime + usage.ru_stime)
    peak = max(sampler.peak, usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux
    texts = stdout_path.read_text(), stderr_path.read_text()
    code = os.waitstatus_to_exitcode(status)
    parts = sampler.parts
    return Measured(code, round(wall_s, 3), peak, round(cpu_s, 2), *texts, sampler.killed, parts)


class _TreeSampler(threading.Thread):
    """Polls RSS and CPU time of a process and its descendants; kills the tree past a limit.

    ``parts``: the peak RSS of the process itself (``python_peak_rss``) and, for Spark
    local, of its JVM (``jvm_peak_rss``) and the JVM's ``-Xmx`` (``jvm_xmx``).
    """

    def __init__(self, pid: int, started: float, limits: Limits) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.started = started
        self.limits = limits
        self.peak = 0
        self.cpu: dict[int, float] = {}  # pid -> last user + system seconds seen
        self.parts: dict[str, Any] = {"python_peak_rss": 0}
        self.killed: str | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_S):
            try:
                tree = [self.process, *self.process.children(recursive=True)]
            except psutil.Error:
                continue  # the process just exited
            rss = sum(self._sample(p) for p in tree)
            self.peak = max(self.peak, rss)
            self._enforce(rss, tree)

    def _sample(self, process: psutil.Process) -> int:
        try:
            with process.oneshot():
                rss = int(process.memory_info().rss)
                times = process.cpu_times()
                if process.pid == self.process.pid:
                    self._peak("python_peak_rss", rss)
                elif process.name() == "java" and self._is_spark(process):
                    self._peak("jvm_peak_rss", rss)
        except psutil.Error:
            return 0  # exited between listing and sampling
        self.cpu[process.pid] = times.user + times.system
        return rss

    def _peak(self, key: str, rss: int) -> None:
        self.parts[key] = max(self.parts.get(key, 0), rss)

    def _is_spark(self, process: psutil.Process) -> bool:
        """The Spark driver JVM (not the short-lived launcher); notes its -Xmx once."""
        if "jvm_xmx" not in self.parts:
            cmdline = process.cmdline()
            launcher = "org.apache.spark.launcher.Main" in cmdline
            if launcher or "org.apache.spark.deploy.SparkSubmit" not in cmdline:
                return False
            heap = next((a for a in cmdline if a.startswith("-Xmx")), "(JVM default)")
            self.parts["jvm_xmx"] = heap
            self.parts["jvm_pid"] = process.pid
        return process.pid == self.parts["jvm_pid"]

    def _enforce(self, rss: int, tree: list[psutil.Process]) -> None:
        elapsed = time.perf_counter() - self.started
        if self.limits.max_rss and rss > self.limits.max_rss:
            self.killed = f"exceeded the memory limit of {self.limits.max_rss / GIB:.1f} GiB"
        elif self.limits.timeout_s and elapsed > self.limits.timeout_s:
            self.killed = f"exceeded the time limit of {self.limits.timeout_s:.0f} s"
        if self.killed:
            for process in reversed(tree):
                with contextlib.suppress(psutil.Error):
                    process.kill()
            self._done.set()

    def stop(self) -> None:
        self._done.set()
        self.join()


def dataset_counts(data: Path, runs: list[ScaleRun]) -> dict[str, Any]:
    """Row counts from the Parquet footers; liquidated and eligible users from a run."""
    counts: dict[str, Any] = {
        label: pq.ParquetFile(data / f"{table}.parquet").metadata.num_rows
        for table, label in COUNTED.items()
    }
    counts["bytes"] = sum(p.stat().st_size for p in data.glob("*.parquet"))
    done = next((r for r in runs if r.engine != "sql" and r.failed is None), None)
    if done:
        counts.update(liquidated_users=done.counts["liquidated"], eligible=done.counts["eligible"])
    return counts


# Same answers? -----------------------------------------------------------------------


def compare(runs: list[ScaleRun]) -> tuple[list[str], list[str]]:
    """Duckdb vs spark artifacts byte for byte; each engine vs SQL per user.

    Returns what was compared and the mismatches found (empty: identical).
    """
    by_engine = {r.engine: r for r in runs}
    compared: list[str] = []
    problems: list[str] = []
    duck, spark = by_engine.get("duckdb"), by_engine.get("spark")
    if duck and spark and duck.output and spark.output:
        compared.append("duckdb vs spark: artifacts byte for byte")
        for name in ARTIFACTS:
            if not filecmp.cmp(duck.output / name, spark.output / name, shallow=False):
                problems.append(f"duckdb vs spark: {name} differs")
    sql = by_engine.get("sql")
    if sql is None:
        return compared, problems
    expected = load_table(Run("sql", 0, output=sql.output))
    for engine in ("duckdb", "spark"):
        if engine in by_engine:
            compared.append(f"{engine} vs sql: per-user values")
            actual = load_table(Run("engine", 0, output=by_engine[engine].output))
            problems += compare_tables(actual, expected, f"{engine} vs sql")
    return compared, problems


# Summary -----------------------------------------------------------------------------


def summary(runs: list[ScaleRun]) -> dict[str, Any]:
    """Medians of the wall time, CPU and each own timing; the largest peak; best-of times.

    The best (smallest) of the repeats is kept next to the median: on a shared machine
    a neighbour's load only ever adds time, so the best run is the least disturbed.
    """
    done = [r for r in runs if r.failed is None]
    if not done:
        failed = runs[0]
        peak = round((failed.peak_rss or 0) / GIB, 3)
        return {"failed": failed.failed, "wall_s": failed.wall_s, "peak_rss_gib": peak}
    found: dict[str, Any] = {
        "wall_s": _median([r.wall_s for r in done]),
        "peak_rss_gib": round(max(r.peak_rss or 0 for r in done) / GIB, 3),
        "cpu_s": _median([r.cpu_s for r in done]),
        "best_wall_s": min(r.wall_s or 0.0 for r in done),
    }
    for key in ("python_peak_rss", "jvm_peak_rss"):
        if key in done[0].parts:
            peak = max(r.parts.get(key, 0) for r in done)
            found[key.replace("_rss", "_gib")] = round(peak / GIB, 3)
    if "jvm_xmx" in done[0].parts:
        found["jvm_xmx"] = done[0].parts["jvm_xmx"]
    for key in done[0].timings:
        found[key] = _median([r.timings[key] for r in done])
    if runs[0].engine == "sql":
        found["own_s"] = round(found["validate_s"] + found["compute_s"] + found["write_s"], 3)
        found["validated_s"] = _median([_sum(r, ("validate_s", "compute_s")) for r in done])
        found["best_compute_s"] = min(r.timings["compute_s"] for r in done)
    else:
        found["own_s"] = found["total"]
        stages = ("losses", "features")
        found["eligibility_s"] = _median([_sum(r, ("validate", *stages)) for r in done])
        no_validate = [_sum(r, stages) for r in done]
        found["eligibility_no_validate_s"] = _median(list(no_validate))
        found["best_eligibility_no_validate_s"] = round(min(no_validate), 3)
    return found


def ratios(engines: dict[str, Any]) -> dict[str, float]:
    """Each engine against the SQL baseline (lower is better), per RATIOS."""
    sql = engines.get("sql", {})
    found: dict[str, float] = {}
    for engine in ("duckdb", "spark"):
        s = engines.get(engine, {})
        if "failed" in s or "failed" in sql or not s or not sql:
            continue
        for name, top, bottom in RATIOS:
            found[f"{engine}_{name}"] = round(s[top] / sql[bottom], 2)
    return found


def targets(engines: dict[str, Any], ratio: dict[str, float]) -> dict[str, Any]:
    """The issue's DuckDB targets (stated for 50M users) at this size."""
    duck = engines.get("duckdb", {})
    if not duck or "failed" in duck:
        return {}
    peak_gb = round(duck["peak_rss_gib"] * GIB / 1e9, 2)
    found = {
        f"duckdb_wall_s < {TARGET_WALL_S:.0f}": _met(
            duck["wall_s"], duck["wall_s"] < TARGET_WALL_S
        ),
        f"duckdb_peak_gb < {TARGET_PEAK_GB:.0f}": _met(peak_gb, peak_gb < TARGET_PEAK_GB),
    }
    compared = ("wall_vs_sql_wall", "cpu_vs_sql_cpu", "best_wall_vs_sql_best_wall")
    compared += ("eligibility_vs_sql_validated", "best_eligibility_no_validate_vs_sql_best_compute")
    for key in (f"duckdb_{name}" for name in compared):
        if key in ratio:
            found[f"{key} <= {TARGET_VS_SQL}"] = _met(ratio[key], ratio[key] <= TARGET_VS_SQL)
    return found


def scaling(sizes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per engine and size: seconds per million users and fills, growth exponents."""
    table: dict[str, list[dict[str, Any]]] = {}
    ordered = sorted(sizes, key=lambda s: s["users"])
    for engine in dict.fromkeys(e for s in ordered for e in s["engines"]):
        rows, previous = [], None
        for size in ordered:
            s = size["engines"].get(engine)
            if not s or "failed" in s:
                continue
            millions, fills = size["users"] / 1e6, size["dataset"]["fill_rows"] / 1e6
            row = {"users": size["users"]} | {k: s[k] for k in ("wall_s", "own_s", "cpu_s")}
            row |= {
                "wall_s_per_m_users": round(s["wall_s"] / millions, 3),
                "own_s_per_m_users": round(s["own_s"] / millions, 3),
                "own_s_per_m_fills": round(s["own_s"] / fills, 3),
                "cpu_s_per_m_users": round(s["cpu_s"] / millions, 3),
                "peak_rss_gib": s["peak_rss_gib"],
            }
            if previous:
                growth = math.log(size["users"] / previous["users"])
                for key in ("wall_s", "own_s", "cpu_s"):
                    row[f"{key}_exponent"] = round(math.log(row[key] / previous[key]) / growth, 2)
            rows.append(row)
            previous = row
        table[engine] = rows
    return table


def _met(value: float, ok: bool) -> dict[str, Any]:
    return {"value": value, "met": ok}


def _median(values: list[float | None]) -> float:
    return round(statistics.median(v for v in values if v is not None), 3)


def _sum(run: ScaleRun, stages: tuple[str, ...]) -> float:
    return sum(run.timings.get(stage, 0.0) for stage in stages)


def run_json(run: ScaleRun) -> dict[str, Any]:
    return {
        "engine": run.engine,
        "repeat": run.repeat,
        "wall_s": run.wall_s,
        "peak_rss_gib": None if run.peak_rss is None else round(run.peak_rss / GIB, 3),
        "cpu_s": run.cpu_s,
        **{k: round(v / GIB, 3) for k, v in run.parts.items() if k.endswith("_rss")},
        "jvm_xmx": run.parts.get("jvm_xmx"),
        "timings": run.timings,
        "counts": run.counts,
        "failed": run.failed,
    }


def java_version() -> str | None:
    java = shutil.which("java")
    if not java:
        return None
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    return (done.stderr.strip().splitlines() or [""])[0]


# Printing ----------------------------------------------------------------------------


def print_result(result: dict[str, Any]) -> None:
    print_machine(result["machine"])
    print(f"java: {result['machine']['java']}; settings: {json.dumps(result['settings'])}")
    for size in result["sizes"]:
        print_size(size)
    print("\nscaling: /M = seconds per million users; exp = growth exponent (1.0 = linear)")
    print(
        f"{'engine':<7} {'users':>11} {'wall s':>8} {'own s':>8} {'cpu s':>8} {'wall/M':>7} "
        f"{'own/M':>7} {'own/M fills':>11} {'cpu/M':>7} {'exp wall':>8} {'exp own':>8} "
        f"{'exp cpu':>8} {'peak GiB':>8}"
    )
    for engine, rows in result["scaling"].items():
        for r in rows:
            exps = [r.get(f"{k}_exponent") for k in ("wall_s", "own_s", "cpu_s")]
            shown = " ".join(f"{e:>8.2f}" if e is not None else f"{'':>8}" for e in exps)
            print(
                f"{engine:<7} {r['users']:>11,} {r['wall_s']:>8.2f} {r['own_s']:>8.2f} "
                f"{r['cpu_s']:>8.1f} {r['wall_s_per_m_users']:>7.2f} "
                f"{r['own_s_per_m_users']:>7.2f} {r['own_s_per_m_fills']:>11.2f} "
                f"{r['cpu_s_per_m_users']:>7.2f} {shown} {r['peak_rss_gib']:>8.2f}"
            )


def print_size(size: dict[str, Any]) -> None:
    d = size["dataset"]
    print(f"\n{size['users']:,} users ({size['data']}, {d['bytes'] / 1e9:.2f} GB)")
    counts = ", ".join(f"{k} {v:,}" for k, v in d.items() if k != "bytes")
    load = size["load_1min"]
    print(f"{counts}; 1-min load before/after {load['before']:.2f}/{load['after']:.2f}")
    header = ("wall s", "own s", "elig s", "no-valid s", "cpu s", "peak GiB")
    print(f"{'engine':<7} " + " ".join(f"{h:>10}" for h in header))
    for engine, s in size["engines"].items():
        if "failed" in s:
            where = f"after {s['wall_s']} s, peak {s['peak_rss_gib']} GiB"
            print(f"{engine:<7} FAILED ({where}): {s['failed']}")
            continue
        elig = s.get("eligibility_s", s.get("compute_s"))
        no_validate = s.get("eligibility_no_validate_s", elig)
        cells = (s["wall_s"], s["own_s"], elig, no_validate, s["cpu_s"], s["peak_rss_gib"])
        print(f"{engine:<7} " + " ".join(f"{c:>10.2f}" for c in cells))
        if "jvm_xmx" in s:
            parts = f"python {s['python_peak_gib']:.2f} GiB, JVM {s['jvm_peak_gib']:.2f} GiB"
            print(f"        peaks by process: {parts} (JVM started with {s['jvm_xmx']})")
        if "total" in s:
            stages = ("validate", "losses", "features", "allocate", "write", "total")
            print("        stages (s): " + ", ".join(f"{k} {s[k]:.2f}" for k in stages))
    for name, value in size["ratios"].items():
        print(f"{name:<48} {value:>6.2f}")
    for name, target in size["targets"].items():
        print(f"target {name:<48} {target['value']:>8.2f} {'met' if target['met'] else 'MISSED'}")
    for problem in size["mismatches"]:
        print(f"MISMATCH {problem}")
    if size["compared"] and not size["mismatches"]:
        print("outputs identical: " + "; ".join(size["compared"]))


def describe(run: ScaleRun) -> str:
    peak = (run.peak_rss or 0) / GIB
    if run.failed:
        return f"FAILED after {run.wall_s} s, peak {peak:.2f} GiB: {run.failed}"
    return f"wall {run.wall_s:.2f} s, peak {peak:.2f} GiB, {run.timings}"


if __name__ == "__main__":
    sys.exit(main())
