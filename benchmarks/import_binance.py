"""Importing Binance exports (issue 14): the importer's rows/s against DuckDB on the same CSVs.

Usage::

    python benchmarks/import_binance.py                        # 10M ledger rows, 2000 users
    python benchmarks/import_binance.py --ledger-rows 1000000 --users 200 --json
    python benchmarks/import_binance.py --keep benchmarks/data/binance-10M  # reuse the files

Method:

1. A synthetic export is written with :func:`recompense.imports.binance.synth.write_exports`
   (seed ``--seed``): ``--users`` folders, each a Transaction History, a Trade History and
   an Order History in Binance's exact CSV format, ``--ledger-rows`` ledger rows in all
   (about 0.53 trades and 0.34 orders per ledger row). Into a temporary folder, or
   ``--keep DIR`` (``DIR/exports``, reused when ``DIR/synth.json`` names the same sizes).
   Every file is read once before timing, so each tool finds them in the page cache.
2. Each tool runs in a fresh process (this script with ``--child``); its own clock
   starts after its imports. The harness records the process's wall time and the peak
   RSS of its tree (sampled every 50 ms) and kills it past ``--max-rss-gb`` (default 8)
   or ``--timeout``; a killed run is reported with the reason, the others go on.
   - ``duckdb-varchar``: DuckDB alone, ``read_csv(glob, header = true, columns = {…})``
     with every column ``VARCHAR`` (the header's names given, ``auto_detect = false``:
     sniffing the files made DuckDB 2-15× slower here) and ``count(*)``, for each of the
     three kinds of file (all folders at once);
   - ``duckdb-decimal``: the same reads, every numeric column cast to
     ``DECIMAL(38,12)`` and summed (so each value is parsed);
   - ``importer``: ``import_binance([exports], out=…/dataset, options=ImportOptions())``:
     recognising each file by its header, parsing every row to exact records, deriving
     the liquidation fills and balances, and writing the contract's Parquet dataset.
3. rows/s = all rows of the three kinds / the tool's own seconds; rows/CPU s the same
   over the CPU seconds of its process (all threads) and of the children it reaped (the
   importer's worker processes), which a busy machine inflates less; the ratios are the
   importer's over each baseline's. The 1-minute load average before each run is
   recorded. The row counts must agree (generated, read by DuckDB, read by the importer)
   and the dataset must hold one liquidation row per generated liquidation fill, else
   the script exits 1.

DuckDB knows which file is which by its name; the importer recognises them by header.
Figures are printed; nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from recompense.imports.binance.csvfiles import LEDGER, ORDERS_USDM, TRADES_USDM
from recompense.imports.binance.synth import FILES, ExportsSummary, write_exports

TOOLS = ("duckdb-varchar", "duckdb-decimal", "importer")
HEADERS = {"ledger": LEDGER, "trades": TRADES_USDM, "orders": ORDERS_USDM}
NUMERIC = {
    "ledger": ("Amount",),
    "trades": ("Price", "Quantity", "Amount", "Realized Profit"),
    "orders": (
        "Price", "Average Price", "Amount", "Executed Amount", "Executed Quote Amount",
        "Stop Price", "Activate Price", "Price Rate",
    ),
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, Path(args.data), Path(args.out))))
        return 0
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="import-binance-"))
    try:
        report = bench(root, args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if report["mismatches"] else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python benchmarks/import_binance.py --ledger-rows 1000000 --users 200",
    )
    parser.add_argument("--ledger-rows", type=int, default=10_000_000, help="in all users")
    parser.add_argument("--users", type=int, default=2000, help="export folders")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", metavar="DIR", help="write (or reuse) the exports here")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--repeats", type=int, default=1, help="runs per tool (median)")
    parser.add_argument("--max-rss-gb", type=float, default=8.0, help="kill a run past it")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def bench(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    # The harness (pandas, psutil) is imported by the parent only: a child's memory is its
    # tool's own.
    from bench_engine import log, machine, warm_page_cache

    exports, summary, synth_s = ensure_exports(root, args)
    warm_page_cache(exports)
    rows = summary.ledger_rows + summary.trades + summary.orders
    report: dict[str, Any] = {"machine": machine(), "synth": asdict(summary), "synth_s": synth_s}
    report["command"] = " ".join(["python", "benchmarks/import_binance.py", *sys.argv[1:]])
    report["rows"] = rows
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in args.tools}
    for repeat in range(args.repeats):
        for tool in args.tools:
            run = measure(tool, exports, root / f"{tool}-{repeat}", args)
            runs[tool].append(run)
            log(f"repeat {repeat + 1}/{args.repeats} {tool}: {describe(run)}")
    report["tools"] = {tool: summarize(tool_runs, rows) for tool, tool_runs in runs.items()}
    report["ratios"] = ratios(report["tools"])
    report["mismatches"] = check(summary, runs)
    return report


def ensure_exports(root: Path, args: argparse.Namespace) -> tuple[Path, ExportsSummary, float]:
    """The exports under ``root``: reused if ``root/synth.json`` names the same sizes."""
    from bench_engine import log

    exports, stamp = root / "exports", root / "synth.json"
    per_user = max(1, args.ledger_rows // args.users)
    wanted = {"users": args.users, "ledger_rows_per_user": per_user, "seed": args.seed}
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved["parameters"] == wanted and exports.is_dir():
            log(f"reusing {exports}")
            return exports, ExportsSummary(**saved["summary"]), saved["seconds"]
        shutil.rmtree(exports, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    log(f"writing {args.users} users × {per_user} ledger rows into {exports}")
    started = time.perf_counter()
    summary = write_exports(
        exports, users=args.users, ledger_rows_per_user=per_user, seed=args.seed
    )
    seconds = round(time.perf_counter() - started, 2)
    saved = {"parameters": wanted, "summary": asdict(summary), "seconds": seconds}
    stamp.write_text(json.dumps(saved, indent=2))
    return exports, summary, seconds


def measure(tool: str, exports: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One run of ``tool`` in a fresh process, with wall time and peak memory."""
    from bench_engine import GIB, Limits, run_measured

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    load = os.getloadavg()[0]  # other processes' share of the cores
    command = [sys.executable, str(Path(__file__).resolve()), "--child", tool]
    command += ["--data", str(exports), "--out", str(work / "dataset")]
    measured = run_measured(command, Limits(args.timeout, int(args.max_rss_gb * GIB)), work)
    run: dict[str, Any] = {"wall_s": measured.wall_s, "peak_gib": measured.peak_rss / 2**30}
    run["load_before"] = load
    if measured.killed:
        lines = measured.stderr.strip().splitlines()
        reached = lines[-1] if lines else "still reading the files (no user derived)"
        return run | {"failed": f"{measured.killed}; {reached}"}
    if measured.returncode != 0:
        return run | {"failed": f"exit {measured.returncode}: {measured.stderr[-2000:]}"}
    shutil.rmtree(work / "dataset", ignore_errors=True)
    return run | json.loads(measured.stdout.strip().splitlines()[-1])


def child(tool: str, exports: Path, out: Path) -> dict[str, Any]:
    """Run one tool in this process; its clock starts after the imports."""
    if tool == "importer":
        from recompense.imports.binance import ImportOptions, import_binance

        started, cpu = time.perf_counter(), _cpu()
        result = import_binance([exports], out=out, options=ImportOptions(), progress=_progress)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        files = result.report["files"]
        counts = {kind: 0 for kind in FILES}
        names = {name: kind for kind, name in FILES.items()}
        for f in files:
            counts[names[Path(f["path"]).name]] += f["rows"]
        tables = result.report["tables"]
        liquidations = tables["liquidations"]
        return {"seconds": seconds, "cpu_s": cpu, "counts": counts, "liquidations": liquidations}
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    started, cpu = time.perf_counter(), _cpu()
    counts = {}
    for kind, name in FILES.items():
        columns = ", ".join(f"'{c}': 'VARCHAR'" for c in HEADERS[kind])
        source = (
            f"read_csv('{exports}/*/{name}', header = true, auto_detect = false, delim = ',', "
            f"quote = '\"', escape = '\"', columns = {{{columns}}})"
        )
        sums = "".join(f', sum(CAST("{c}" AS DECIMAL(38, 12)))' for c in NUMERIC[kind])
        select = f"count(*){sums if tool == 'duckdb-decimal' else ''}"
        counts[kind] = con.execute(f"SELECT {select} FROM {source}").fetchone()[0]  # type: ignore[index]
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    return {"seconds": seconds, "cpu_s": cpu, "counts": counts}


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of its reaped children (the
    importer's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _progress(done: int, total: int) -> None:
    """On stderr, so a run killed for its memory tells how far it got."""
    if done == 1 or done == total or done % 100 == 0:
        print(f"derived {done}/{total} users", file=sys.stderr, flush=True)


def summarize(runs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    done = [r for r in runs if "failed" not in r]
    peak = max(r["peak_gib"] for r in runs)
    if not done:
        return {"failed": runs[0]["failed"], "peak_gib": round(peak, 2), "runs": runs}
    seconds = statistics.median(r["seconds"] for r in done)
    cpu = statistics.median(r["cpu_s"] for r in done)
    return {
        "seconds": round(seconds, 2),
        "wall_s": round(statistics.median(r["wall_s"] for r in done), 2),
        "cpu_s": round(cpu, 2),
        "rows_per_s": round(rows / seconds),
        "rows_per_cpu_s": round(rows / cpu),
        "peak_gib": round(peak, 2),
        "runs": runs,
    }


def ratios(tools: dict[str, Any]) -> dict[str, float]:
    """The importer's rows/s (per wall and per CPU second) as a share of each baseline's."""
    importer = tools.get("importer", {})
    if "rows_per_s" not in importer:
        return {}
    found = {}
    for name, tool in tools.items():
        if name != "importer" and "rows_per_s" in tool:
            found[f"importer / {name}"] = round(importer["rows_per_s"] / tool["rows_per_s"], 4)
            cpu = importer["rows_per_cpu_s"] / tool["rows_per_cpu_s"]
            found[f"importer / {name} (CPU)"] = round(cpu, 4)
    return found


def check(summary: ExportsSummary, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every finished run read every row; the dataset has every liquidation fill."""
    expected = {"ledger": summary.ledger_rows, "trades": summary.trades, "orders": summary.orders}
    problems = []
    for tool, tool_runs in runs.items():
        for run in tool_runs:
            if "failed" in run:
                continue
            if run["counts"] != expected:
                problems.append(f"{tool} read {run['counts']}, generated {expected}")
            if tool == "importer" and run["liquidations"] != summary.liquidation_fills:
                problems.append(
                    f"importer wrote {run['liquidations']} liquidation rows, generated "
                    f"{summary.liquidation_fills} liquidation fills"
                )
    return problems


def describe(run: dict[str, Any]) -> str:
    if "failed" in run:
        return f"FAILED after {run['wall_s']:.1f} s ({run['failed'][:300]})"
    return f"{run['seconds']:.2f} s (wall {run['wall_s']:.2f} s), peak {run['peak_gib']:.2f} GiB"


def print_report(report: dict[str, Any]) -> None:
    from bench_engine import print_machine

    print_machine(report["machine"])
    s = report["synth"]
    print(
        f"exports: {s['users']:,} users, {s['ledger_rows']:,} ledger rows, {s['trades']:,} "
        f"trades, {s['orders']:,} orders ({report['rows']:,} rows, {s['bytes'] / 1e9:.2f} GB; "
        f"{s['liquidation_fills']:,} liquidation fills, {s['insurance_clear_rows']:,} "
        f"INSURANCE_CLEAR rows), written in {report['synth_s']:.1f} s"
    )
    print(
        f"{'tool':<16} {'seconds':>9} {'wall s':>9} {'CPU s':>9} {'rows/s':>12} "
        f"{'rows/CPU s':>12} {'peak GiB':>9} {'load':>5}"
    )
    for name, tool in report["tools"].items():
        if "failed" in tool:
            run = tool["runs"][0]
            blank = f"{'':>9} {'':>12} {'':>12}"
            print(
                f"{name:<16} {'killed':>9} {run['wall_s']:>9.2f} {blank} "
                f"{tool['peak_gib']:>9.2f} {run['load_before']:>5.1f}\n{'':<16} {tool['failed']}"
            )
            continue
        load = max(r["load_before"] for r in tool["runs"])
        print(
            f"{name:<16} {tool['seconds']:>9.2f} {tool['wall_s']:>9.2f} {tool['cpu_s']:>9.2f} "
            f"{tool['rows_per_s']:>12,} {tool['rows_per_cpu_s']:>12,} {tool['peak_gib']:>9.2f} "
            f"{load:>5.1f}"
        )
    for name, value in report["ratios"].items():
        print(f"{name}: {value:.4f} (the baseline is {1 / value:,.1f}× faster)")
    for problem in report["mismatches"]:
        print(f"MISMATCH: {problem}")


if __name__ == "__main__":
    sys.exit(main())
