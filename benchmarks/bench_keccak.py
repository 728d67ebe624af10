"""Keccak-256 for the proof trees: the public API in use against the old ``ctypes`` path.

Usage::

    python benchmarks/bench_keccak.py [--users 2000000] [--repeats 3] [--rows 1000000]

``proofs/hashing.py`` used to call pycryptodome's private ``_keccak`` shared object
through ``ctypes`` with raw addresses; it now uses safe-pysha3's public
``sha3.keccak_256`` (eth-hash's ``pysha3`` backend). The old path lives on here only, as
the baseline (``CtypesKeccak``), and both are measured in the same run:

1. Per hash, on one core: ``--rows`` random 64-byte rows (a standard-tree node), hashed
   once and twice (a leaf), best of 3 per variant, variants interleaved. For reference
   also pycryptodome's public ``Crypto.Hash.keccak`` and ``eth_hash`` (the verifier's).
   Every variant must give the bytes of ``eth_hash``, or the script exits 1.
2. ``commit`` at ``--users`` (the run folder of ``bench_proofs.py``, made once): each
   repeat runs ``commit_run`` in a fresh process per variant, with every core's worker
   (the workers re-import this file, which swaps the baseline in when
   ``RECOMPENSE_BENCH_KECCAK=ctypes``). Wall and CPU (process + workers) per run;
   medians, and the ratio baseline / public. Both variants must give the same roots.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_proofs import KEY, children_cpu, ensure_run
from eth_hash.auto import keccak as eth_keccak

from recompense.proofs import hashing, trees
from recompense.runs.artifacts import ALLOCATIONS

ROOT = Path(__file__).resolve().parents[1]
VARIANT = "RECOMPENSE_BENCH_KECCAK"
Rows = hashing.Rows


class CtypesKeccak:
    """The old path: pycryptodome's private C Keccak with raw addresses, 3 calls a hash."""

    def __init__(self) -> None:
        import Crypto.Hash as crypto_hash

        folder = Path(crypto_hash.__file__).parent
        library = ctypes.CDLL(str(sorted(folder.glob("_keccak*.so"))[0]))
        pointer, size = ctypes.c_void_p, ctypes.c_size_t
        self._init = library.keccak_init
        self._init.argtypes = [ctypes.POINTER(pointer), size, ctypes.c_uint8]
        self._destroy = library.keccak_destroy
        self._destroy.argtypes = [pointer]
        self._reset = library.keccak_reset
        self._reset.argtypes = [pointer]
        self._absorb = library.keccak_absorb
        self._absorb.argtypes = [pointer, pointer, size]
        self._digest = library.keccak_digest
        self._digest.argtypes = [pointer, pointer, size, ctypes.c_uint8]

    def rows(self, messages: Rows, *, twice: bool = False) -> Rows:
        rows = np.ascontiguousarray(messages)
        out = np.empty((len(rows), 32), dtype=np.uint8)
        state = ctypes.c_void_p()
        if self._init(ctypes.byref(state), 64, 24) != 0:  # capacity 64 bytes, 24 rounds
            raise RuntimeError("pycryptodome keccak_init failed")
        handle, width = state.value, rows.shape[1]
        source, target = rows.ctypes.data, out.ctypes.data
        reset, absorb, digest = self._reset, self._absorb, self._digest
        middle = ctypes.addressof(scratch := ctypes.create_string_buffer(32))
        try:
            for i in range(len(rows)):
                absorb(handle, source + i * width, width)
                if twice:
                    digest(handle, middle, 32, 1)
                    reset(handle)
                    absorb(handle, middle, 32)
                digest(handle, target + 32 * i, 32, 1)
                reset(handle)
        finally:
            self._destroy(handle)
        del scratch
        return out


def _install_baseline() -> None:
    """Swap the old path into the tree builder (in this process and, by re-import, workers)."""
    baseline = CtypesKeccak()
    hashing.keccak256_rows = baseline.rows  # type: ignore[assignment]
    trees.keccak256_rows = baseline.rows  # type: ignore[assignment]


if os.environ.get(VARIANT) == "ctypes":
    _install_baseline()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child(args.child, args.workers)
    per_hash = measure_per_hash(args.rows)
    pristine = ensure_run(args.users, args.seed, ROOT / "benchmarks" / "data")
    runs: dict[str, list[dict[str, Any]]] = {"ctypes": [], "public": []}
    for repeat in range(args.repeats):
        order = ("ctypes", "public") if repeat % 2 == 0 else ("public", "ctypes")
        for variant in order:
            runs[variant].append(measure_commit(pristine, variant, repeat, args.workers))
    roots = {(r["sum_root"], r["standard_root"]) for rs in runs.values() for r in rs}
    report = {"users": args.users, "per_hash_us": per_hash, "commit": summarize(runs)}
    report["same_roots"] = len(roots) == 1
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0 if report["same_roots"] and per_hash["all_equal"] else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def measure_per_hash(count: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    messages = rng.integers(0, 256, (count, 64), dtype=np.uint8)
    sample = messages[:2_000]
    expected = [bytes(eth_keccak(m.tobytes())) for m in sample]
    public = hashing.keccak256_rows
    variants: dict[str, Callable[..., Rows]] = {
        "ctypes": CtypesKeccak().rows,
        "public": public,
        "pycryptodome-public": _pycryptodome_rows,
        "eth-hash": _eth_hash_rows,
    }
    expected_twice = [bytes(eth_keccak(digest)) for digest in expected]
    slow = ("pycryptodome-public", "eth-hash")  # a fifth of the rows is enough for them
    best: dict[str, float] = {}
    equal = True
    for twice in (False, True):
        for _ in range(3):
            for name, rows in variants.items():
                data = messages[: count // 5] if name in slow else messages
                started = time.perf_counter()
                got = rows(data, twice=twice)
                seconds = (time.perf_counter() - started) / len(data) * 1e6
                key = f"{name}{' twice' if twice else ''}"
                best[key] = min(best.get(key, float("inf")), seconds)
                want = expected_twice if twice else expected
                equal &= [row.tobytes() for row in got[: len(sample)]] == want
    return {**{k: round(v, 3) for k, v in best.items()}, "all_equal": bool(equal)}


def _pycryptodome_rows(messages: Rows, *, twice: bool = False) -> Rows:
    from Crypto.Hash import keccak

    def one(data: bytes) -> bytes:
        return bytes(keccak.new(data=data, digest_bits=256).digest())

    out = [one(one(m.tobytes())) if twice else one(m.tobytes()) for m in messages]
    return np.frombuffer(b"".join(out), np.uint8).reshape(len(out), 32)


def _eth_hash_rows(messages: Rows, *, twice: bool = False) -> Rows:
    out = [eth_keccak(m.tobytes()) for m in messages]
    if twice:
        out = [eth_keccak(d) for d in out]
    return np.frombuffer(b"".join(out), np.uint8).reshape(len(out), 32)


def measure_commit(
    pristine: Path, variant: str, repeat: int, workers: int | None
) -> dict[str, Any]:
    run = pristine.parent / f"keccak-{variant}-{repeat}-{os.getpid()}"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(pristine, run)
    (run / ALLOCATIONS).read_bytes()  # into the page cache
    command = [sys.executable, __file__, "--child", str(run)]
    command += [] if workers is None else ["--workers", str(workers)]
    env = {**os.environ, VARIANT: variant, "RECOMPENSE_COMMITMENT_KEY": KEY}
    load = os.getloadavg()[0]
    cpu_before = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    wall = time.perf_counter() - started
    cpu = children_cpu() - cpu_before
    shutil.rmtree(run, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"commit ({variant}) failed:\n{done.stderr.decode()}")
    result = json.loads(done.stdout)
    print(
        f"commit {variant} {repeat + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"build {result['timings_s']['build']:.2f} s, load {load:.2f}",
        file=sys.stderr,
        flush=True,
    )
    return {"wall_s": wall, "cpu_s": cpu, "load": load, **result}


def child(run: Path, workers: int | None) -> int:
    from recompense.proofs import commit_run

    committed = commit_run(run, workers=workers)
    commitment = committed.commitment
    print(
        json.dumps(
            {
                "backend": "ctypes" if os.environ.get(VARIANT) == "ctypes" else "public",
                "timings_s": committed.timings_s,
                "sum_root": commitment["sum_tree"]["root"],
                "standard_root": commitment["standard_tree"]["root"],
            }
        )
    )
    return 0


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant, rs in runs.items():
        out[variant] = {
            "wall_s": round(statistics.median(r["wall_s"] for r in rs), 2),
            "cpu_s": round(statistics.median(r["cpu_s"] for r in rs), 2),
            "build_s": round(statistics.median(r["timings_s"]["build"] for r in rs), 2),
            "wall_s_all": [round(r["wall_s"], 2) for r in rs],
            "load_1min": [round(r["load"], 2) for r in rs],
        }
    for measure in ("wall_s", "cpu_s", "build_s"):
        out[f"ratio_{measure}"] = round(out["ctypes"][measure] / out["public"][measure], 2)
    return out


def render(report: dict[str, Any]) -> str:
    h, c = report["per_hash_us"], report["commit"]
    lines = ["Keccak-256 per hash, 64-byte rows, one core, best of 3 (µs): once / twice"]
    for name in ("ctypes", "public", "pycryptodome-public", "eth-hash"):
        lines.append(f"  {name:<20} {h[name]:6.3f} / {h[name + ' twice']:6.3f}")
    lines.append(f"  every variant gave eth_hash's bytes: {h['all_equal']}")
    lines.append(f"commit at {report['users']:,} users, median (ctypes = old private path):")
    for variant in ("ctypes", "public"):
        v = c[variant]
        lines.append(
            f"  {variant:<7} wall {v['wall_s']:6.2f} s  CPU {v['cpu_s']:6.2f} s  "
            f"build {v['build_s']:6.2f} s  all {v['wall_s_all']}  load {v['load_1min']}"
        )
    lines.append(
        f"  ratio ctypes / public: wall {c['ratio_wall_s']}×, CPU {c['ratio_cpu_s']}×, "
        f"build {c['ratio_build_s']}×"
    )
    lines.append(f"  same roots from both: {report['same_roots']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
