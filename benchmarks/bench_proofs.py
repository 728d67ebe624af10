"""Benchmark ``recompense commit`` (both trees, all proofs) and single proof lookups.

Usage::

    python benchmarks/bench_proofs.py --users 2000000 [--repeats 3] [--workers N] [--json]

Method:

1. A run folder with ``--users`` payouts is made once into
   ``--data-dir/proofs-N-seed-S/run`` (git-ignored): ``allocations.parquet`` and a
   ``manifest.json`` that pass the run-folder contract (``read_allocations`` checks the
   SHA-256). The engine is not run: a real crash with 2M *eligible* users would need a
   synthetic exchange of about 100M users. Amounts follow the Together programme's shape:
   log-normal, clipped to $4–$6,000, in cents.
2. Each repeat copies that folder and runs the real CLI, ``recompense commit --run COPY
   --json`` (the console script), in a fresh process with a fixed
   ``RECOMPENSE_COMMITMENT_KEY``. Measured: **wall** (the whole process, interpreter
   start-up and the spawning of hashing workers included), the command's own stages
   (``read``, ``build`` = both trees, ``write`` = the store and the OpenZeppelin dump),
   **CPU** (user + system seconds of the process and its workers, from ``getrusage``:
   what a shared machine's load does not inflate), and **peak**: the largest sum of RSS
   over the process and its workers, sampled every 50 ms with psutil (and never less than
   the kernel's ``ru_maxrss`` of the process).
3. Lookups, in this process after one warm-up: ``proof_bundle`` (open the memory-mapped
   store, find the user, regenerate the salt, read both paths, and check the bundle with
   the verifier) for ``--lookups`` random users; median, p99 and max. Also ``Prover``
   (the run opened once, then one bundle per user), the verifier alone per bundle, and a
   few ``recompense proof`` processes (interpreter start-up included).
4. Every bundle looked up is verified; a failure exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa

from recompense.proofs import Prover, proof_bundle, verify_proof
from recompense.runs.artifacts import ALLOCATIONS, ALLOCATIONS_SCHEMA, sha256_file, write_parquet

ROOT = Path(__file__).resolve().parents[1]
KEY = "5a" * 32
SAMPLE_S = 0.05
GIB = 1024**3


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pristine = ensure_run(args.users, args.seed, args.data_dir)
    commits = [measure_commit(pristine, args, repeat) for repeat in range(args.repeats)]
    run = Path(commits[-1]["run"])
    lookups = measure_lookups(run, args.lookups, args.seed)
    report = {
        "machine": machine(),
        "users": args.users,
        "workers": args.workers,
        "commit": summarize(commits),
        "lookups": lookups,
        "store_bytes": store_sizes(run),
    }
    if not args.keep:
        for commit in commits:
            shutil.rmtree(commit["run"], ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if lookups["all_verified"] else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    parser.add_argument("--lookups", type=int, default=1_000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / "data")
    parser.add_argument("--keep", action="store_true", help="keep the committed copies")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def ensure_run(users: int, seed: int, data_dir: Path) -> Path:
    """A run folder with ``users`` payouts (made once, then reused)."""
    run = data_dir / f"proofs-{users}-seed-{seed}" / "run"
    if (run / "manifest.json").exists():
        return run
    rng = np.random.default_rng(seed)
    user_ids = np.sort(rng.choice(50 * users, users, replace=False)).astype(np.int64)
    amounts = np.clip(np.round(rng.lognormal(np.log(3_000), 1.2, users)), 400, 600_000)
    amounts = amounts.astype(np.int64)
    tmp = run.with_name(f".run.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    table = pa.table(
        {
            "user_id": user_ids,
            "weight": np.ones(users),
            "amount_cents": amounts,
            "floor_cents": np.full(users, 400, np.int64),
            "cap_cents": np.full(users, 600_000, np.int64),
            "bound": pa.array(["share"] * users, pa.string()),
        },
        schema=ALLOCATIONS_SCHEMA,
    )
    write_parquet(table, tmp / ALLOCATIONS)
    manifest = {
        "format": "recompense-run/1",
        "program": {"id": "together-2025-10", "currency": "USDC"},
        "note": "benchmark run folder: allocations only (benchmarks/bench_proofs.py)",
        "allocated_cents": int(amounts.sum()),
        "artifacts": {ALLOCATIONS: sha256_file(tmp / ALLOCATIONS)},
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    os.rename(tmp, run)
    return run


def measure_commit(pristine: Path, args: argparse.Namespace, repeat: int) -> dict[str, Any]:
    run = pristine.parent / f"commit-{repeat}-{os.getpid()}"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(pristine, run)
    (run / ALLOCATIONS).read_bytes()  # into the page cache
    command = [str(Path(sys.executable).parent / "recompense"), "commit", "--run", str(run)]
    command += ["--json"] + ([] if args.workers is None else ["--workers", str(args.workers)])
    env = {**os.environ, "RECOMPENSE_COMMITMENT_KEY": KEY}
    load = os.getloadavg()[0]
    cpu_before = children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    sampler = Sampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    cpu = children_cpu() - cpu_before
    sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"commit failed ({process.returncode}):\n{stderr.decode()}")
    result = json.loads(stdout)
    log(
        f"commit {repeat + 1}/{args.repeats}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"peak {sampler.peak / GIB:.2f} GiB, load {load:.2f}"
    )
    return {
        "run": str(run),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "timings_s": result["timings_s"],
        "peak_bytes": max(sampler.peak, resource_peak()),
        "load_1min": round(load, 2),
        "sum_root": result["sum_tree"]["root"],
        "standard_root": result["standard_tree"]["root"],
    }


def measure_lookups(run: Path, count: int, seed: int) -> dict[str, Any]:
    env = {"RECOMPENSE_COMMITMENT_KEY": KEY}
    commitment = json.loads((run / "commitment.json").read_text())
    user_ids = np.load(run / "proofs" / "user_ids.npy", mmap_mode="r")
    rng = np.random.default_rng(seed)
    chosen = [int(user_ids[i]) for i in rng.integers(0, len(user_ids), count)]
    proof_bundle(run, chosen[0], environ=env)  # warm-up: imports, page cache
    lookup, opened, checks, ok = [], [], [], True
    prover = Prover(run, environ=env)
    for user_id in chosen:
        started = time.perf_counter()
        bundle = proof_bundle(run, user_id, environ=env)
        lookup.append(time.perf_counter() - started)
        started = time.perf_counter()
        prover.bundle(user_id)
        opened.append(time.perf_counter() - started)
        started = time.perf_counter()
        ok &= verify_proof(commitment, bundle).ok
        checks.append(time.perf_counter() - started)
    cli = [cli_proof(run, user_id, env) for user_id in chosen[:5]]
    return {
        "count": count,
        "proof_bundle_ms": quantiles(lookup),
        "prover_bundle_ms": quantiles(opened),
        "verify_ms": quantiles(checks),
        "cli_proof_wall_s": round(statistics.median(cli), 3),
        "all_verified": bool(ok),
    }


def cli_proof(run: Path, user_id: int, env: dict[str, str]) -> float:
    command = [str(Path(sys.executable).parent / "recompense"), "proof", "--run", str(run)]
    started = time.perf_counter()
    subprocess.run(
        [*command, str(user_id)], check=True, capture_output=True, env={**os.environ, **env}
    )
    return time.perf_counter() - started


def quantiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "median": round(float(np.median(ms)), 3),
        "p99": round(float(np.percentile(ms, 99)), 3),
        "max": round(float(ms.max()), 3),
    }


def summarize(commits: list[dict[str, Any]]) -> dict[str, Any]:
    if len({(c["sum_root"], c["standard_root"]) for c in commits}) != 1:
        raise SystemExit("the same run and key gave different roots")
    stages = commits[0]["timings_s"].keys()
    return {
        "repeats": len(commits),
        "wall_s": round(statistics.median(c["wall_s"] for c in commits), 3),
        "wall_s_all": [c["wall_s"] for c in commits],
        "cpu_s": round(statistics.median(c["cpu_s"] for c in commits), 3),
        "timings_s": {
            s: round(statistics.median(c["timings_s"][s] for c in commits), 3) for s in stages
        },
        "peak_gib": round(max(c["peak_bytes"] for c in commits) / GIB, 2),
        "load_1min": [c["load_1min"] for c in commits],
    }


def store_sizes(run: Path) -> dict[str, int]:
    sizes = {p.name: p.stat().st_size for p in sorted((run / "proofs").iterdir())}
    return {"commitment.json": (run / "commitment.json").stat().st_size, **sizes}


class Sampler(threading.Thread):
    """Polls the summed RSS of a process and its descendants (the hashing workers)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_S):
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                continue

    def stop(self) -> None:
        self._done.set()
        self.join()


def resource_peak() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux


def children_cpu() -> float:
    """User + system CPU seconds of reaped descendants (the command and its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
        "python": platform.python_version(),
        "numpy": metadata.version("numpy"),
        "pycryptodome": metadata.version("pycryptodome"),
        "eth-hash": metadata.version("eth-hash"),
    }


def print_report(report: dict[str, Any]) -> None:
    m, c, lookups = report["machine"], report["commit"], report["lookups"]
    print(f"Machine: {m['usable_cpus']} usable CPUs, {m['memory_gib']} GiB, Python {m['python']}")
    print(f"Users: {report['users']:,}  workers: {report['workers'] or 'all cores'}")
    print(f"commit wall (median of {c['repeats']}): {c['wall_s']:.2f} s  all: {c['wall_s_all']}")
    print(f"  CPU (process + workers): {c['cpu_s']:.2f} s")
    print(f"  stages: {c['timings_s']}")
    print(f"  peak memory (process + workers): {c['peak_gib']:.2f} GiB  load: {c['load_1min']}")
    for name in ("proof_bundle_ms", "prover_bundle_ms", "verify_ms"):
        q = lookups[name]
        print(f"{name}: median {q['median']} ms, p99 {q['p99']} ms, max {q['max']} ms")
    print(f"recompense proof (process, start-up included): {lookups['cli_proof_wall_s']} s")
    print(f"every bundle verified: {lookups['all_verified']}")
    sizes = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in report["store_bytes"].items())
    print(f"files: {sizes}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
