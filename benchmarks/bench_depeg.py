"""Benchmark the de-peg rule (``kind = "full"``) against hand-written DuckDB SQL.

Usage::

    python benchmarks/bench_depeg.py                                 # 50M users
    python benchmarks/bench_depeg.py --users 1000000 --repeats 3
    python benchmarks/bench_depeg.py --users 1000000 --json

Method:

1. The dataset is generated once per size and seed with DuckDB SQL (:func:`generate`:
   ``range()`` and ``hash()``, no Python loop; ``recompense synth`` takes far too long
   at 50M users) into ``--data-dir/depeg-users-N-seed-S/`` and reused afterwards.
   It holds ``users`` (N), ``accounts`` (about 1.3 per user;
   account ids never equal user ids), ``collateral_liquidations`` for 1% of users
   (1–4 events each; USDE, BNSOL and WBETH at de-peg prices, 2% of events in an unlisted
   asset, 0.5% in lower case; 94% inside the window, the rest before, after or on its
   two edges), the three ``reference_prices`` rows at 2025-10-11T00:00Z, and the other
   required tables empty with the contract's types. Its files are read once before
   timing, so both tools find them in the page cache.
2. Two tools compute the same per-user table from the same files, each in a fresh
   subprocess (this script with ``--tool``): ``engine`` (``open_dataset`` and
   ``evaluate_full`` on DuckDB, the library calls ``recompense run`` makes for a full
   programme, before its run folder is written) and ``sql`` (baseline_depeg.sql
   through the plain ``duckdb`` API, parameters read from the programme file with
   ``tomllib``: no code shared with the engine). Runs are interleaved, the order
   rotating each repeat.
3. Per run: the wall time of the whole process (start-up and imports included), the
   tool's own times (the engine: ``open_s``, ``evaluate_s`` and its stages; the SQL:
   ``compute_s``, from the connection to the table in memory), the same in CPU seconds
   of the process (DuckDB's threads included: steadier than wall time when other work
   shares the cores) and the peak memory of the process tree (bench_engine.run_measured:
   RSS sampled every 50 ms and ``ru_maxrss``). The engine's ``validate`` stage checks
   the whole dataset (50M users, 65M accounts); the SQL checks nothing, so the engine is
   also shown without it.
4. Answers: the outputs of the first repeat are compared exactly, per user (events,
   loss and amount in cents, ``eligible``, user type, VIP tier, e-mail, locale) and per
   asset (the adjusted reference price). A mismatch is printed and the exit status is
   1. Speed is reported, never enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from bench_engine import GIB, ROOT, Limits, log, machine, print_machine, run_measured

HERE = Path(__file__).resolve().parent
PROGRAM = ROOT / "programs" / "depeg-2025-10.toml"
SCRIPT = HERE / "baseline_depeg.sql"
TOOLS = ("engine", "sql")
COMPARED = (
    "user_id",
    "events",
    "loss_cents",
    "amount_cents",
    "eligible",
    "user_type",
    "vip_tier",
    "email",
    "locale",
)
RULE_STAGES = ("references", "events", "users")  # the engine without `validate`
ACCOUNT_BASE = 100_000_000_000  # account ids start here: never equal to a user id
REFERENCE_AT = "2025-10-11 00:00:00+00"
WINDOW_START = "2025-10-10 21:36:00+00"
WINDOW_US = 41 * 60 * 1_000_000  # 21:36–22:17, half-open


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tool:
        summary = run_tool(args.tool, args.data, args.program, args.out)
        print(json.dumps(summary))
        return 0
    report = bench(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if report["mismatches"] else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the de-peg rule (evaluate_full on DuckDB) against DuckDB SQL.",
        epilog="Example: python benchmarks/bench_depeg.py --users 1000000 --repeats 3",
    )
    parser.add_argument("--users", type=int, default=50_000_000, help="dataset size")
    parser.add_argument("--seed", type=int, default=7, help="synthetic dataset seed")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/recompense-bench-depeg"))
    parser.add_argument("--program", type=Path, default=PROGRAM)
    parser.add_argument("--keep-runs", action="store_true", help="keep the outputs")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    # One tool in this process (what the harness runs in a subprocess).
    parser.add_argument("--tool", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# The harness ---------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> dict[str, Any]:
    data, generate_s = ensure_dataset(args.users, args.seed, args.data_dir)
    warm_page_cache(data)
    load_before = os.getloadavg()[0]
    work = args.data_dir / "runs" / data.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for tool in TOOLS[repeat % 2 :] + TOOLS[: repeat % 2]:
            runs.append(measure(tool, repeat, data, work, args.program))
            log(f"{data.name} repeat {repeat + 1}/{args.repeats} {tool}: {describe(runs[-1])}")
    outputs = {r["tool"]: Path(r["output"]) for r in runs if r["repeat"] == 0}
    mismatches = compare(outputs["engine"], outputs["sql"])
    answer = answers(outputs["sql"] / "users.parquet")
    references = pq.read_table(outputs["sql"] / "references.parquet").to_pylist()
    answer["reference_usd"] = {r["asset"]: str(r["reference_usd"]) for r in references}
    if not args.keep_runs:
        shutil.rmtree(work, ignore_errors=True)
    tools = {tool: tool_summary([r for r in runs if r["tool"] == tool]) for tool in TOOLS}
    return {
        "machine": machine(),
        "program": str(args.program),
        "data": str(data),
        "dataset": dataset_figures(data) | {"generate_s": generate_s},
        "repeats": args.repeats,
        "load_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "tools": tools,
        "ratios": ratios(tools),
        "answers": answer,
        "mismatches": mismatches,
        "runs": runs,
    }


def measure(tool: str, repeat: int, data: Path, work: Path, program: Path) -> dict[str, Any]:
    """Run one tool in a fresh process; its JSON summary, wall time and peak RSS."""
    out = work / f"{tool}-{repeat}"
    out.mkdir()
    command = [sys.executable, str(Path(__file__).resolve()), "--tool", tool]
    command += ["--data", str(data), "--program", str(program), "--out", str(out)]
    measured = run_measured(command, Limits(), out)
    if measured.returncode != 0:
        raise SystemExit(f"{tool} failed ({measured.returncode}):\n{measured.stderr[-3000:]}")
    summary = json.loads(measured.stdout.strip().splitlines()[-1])
    return {
        "tool": tool,
        "repeat": repeat,
        "wall_s": measured.wall_s,
        "peak_rss": measured.peak_rss,
        "output": str(out),
        **summary,
    }


def describe(run: dict[str, Any]) -> str:
    own = run["evaluate_s"] if run["tool"] == "engine" else run["compute_s"]
    return f"wall {run['wall_s']:.2f} s, own {own:.2f} s, peak {run['peak_rss'] / GIB:.2f} GiB"


def tool_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repeats; the engine's stages, and its time without ``validate``."""
    sql = runs[0]["tool"] == "sql"
    if not sql:
        runs = [run | _derived(run) for run in runs]

    def median(key: str) -> float:
        return round(float(statistics.median(r[key] for r in runs)), 3)

    summary = {
        "wall_s": median("wall_s"),
        "process_cpu_s": median("process_cpu_s"),
        "peak_gib": round(median("peak_rss") / GIB, 2),
        "rows": runs[0]["rows"],
    }
    if sql:
        return summary | {k: median(k) for k in ("compute_s", "compute_cpu_s")}
    keys = ["import_s", "open_s", "evaluate_s", "connected_s", "rule_s", "write_s"]
    keys += ["open_cpu_s", "evaluate_cpu_s", "connected_cpu_s", "rule_cpu_s"]
    stages = {s: median(f"stage_{s}") for s in runs[0]["timings"]}
    stages_cpu = {s: median(f"stage_cpu_{s}") for s in runs[0]["timings"]}
    return summary | {k: median(k) for k in keys} | {"stages": stages, "stages_cpu": stages_cpu}


def _derived(run: dict[str, Any]) -> dict[str, float]:
    """The engine's figures made of others: without ``validate``; open + evaluate."""
    figures = {
        "rule_s": sum(run["timings"][s] for s in RULE_STAGES),
        "rule_cpu_s": sum(run["cpu_timings"][s] for s in RULE_STAGES),
        "connected_s": run["open_s"] + run["evaluate_s"],
        "connected_cpu_s": run["open_cpu_s"] + run["evaluate_cpu_s"],
    }
    for stage in run["timings"]:
        figures[f"stage_{stage}"] = run["timings"][stage]
        figures[f"stage_cpu_{stage}"] = run["cpu_timings"][stage]
    return figures


def ratios(tools: dict[str, Any]) -> dict[str, float]:
    """Engine ÷ SQL: above 1, the engine is slower."""
    engine, sql = tools["engine"], tools["sql"]
    pairs = {
        "engine_open_and_evaluate_vs_sql_compute": engine["connected_s"],
        "engine_evaluate_vs_sql_compute": engine["evaluate_s"],
        "engine_rule_no_validate_vs_sql_compute": engine["rule_s"],
    }
    result = {name: round(value / sql["compute_s"], 2) for name, value in pairs.items()}
    cpu = {
        "engine_open_and_evaluate_cpu_vs_sql_compute_cpu": engine["connected_cpu_s"],
        "engine_rule_no_validate_cpu_vs_sql_compute_cpu": engine["rule_cpu_s"],
    }
    result |= {name: round(value / sql["compute_cpu_s"], 2) for name, value in cpu.items()}
    result["engine_wall_vs_sql_wall"] = round(engine["wall_s"] / sql["wall_s"], 2)
    result["engine_process_cpu_vs_sql_process_cpu"] = round(
        engine["process_cpu_s"] / sql["process_cpu_s"], 2
    )
    result["engine_peak_vs_sql_peak"] = round(engine["peak_gib"] / sql["peak_gib"], 2)
    return result


# Same answers? ---------------------------------------------------------------------------


def compare(engine: Path, sql: Path) -> list[str]:
    """Mismatch lines between the two outputs (empty: identical, user by user)."""
    problems = []
    left, right = (_users(p / "users.parquet") for p in (engine, sql))
    ids = [set(t["user_id"].to_pylist()) for t in (left, right)]
    if ids[0] != ids[1]:
        only = [sorted(ids[0] - ids[1]), sorted(ids[1] - ids[0])]
        problems.append(
            f"users: {len(only[0])} only in the engine's table (e.g. {only[0][:5]}), "
            f"{len(only[1])} only in the SQL's (e.g. {only[1][:5]})"
        )
    else:
        for name in COMPARED[1:]:
            if not left[name].equals(right[name]):
                problems.append(f"column {name}: {_first_difference(left, right, name)}")
    refs = [pq.read_table(p / "references.parquet").to_pylist() for p in (engine, sql)]
    if refs[0] != refs[1]:
        problems.append(f"reference prices: engine {refs[0]}, sql {refs[1]}")
    return problems


def _users(path: Path) -> pa.Table:
    table = pq.read_table(path, columns=list(COMPARED)).sort_by("user_id")
    ints = ("user_id", "events", "loss_cents", "amount_cents", "vip_tier")
    for name in ints:
        table = table.set_column(
            table.schema.get_field_index(name), name, table[name].cast(pa.int64())
        )
    return table.combine_chunks()


def _first_difference(left: pa.Table, right: pa.Table, name: str) -> str:
    a, b = left[name].to_pylist(), right[name].to_pylist()
    users = left["user_id"].to_pylist()
    shown = [f"user {users[i]}: {a[i]!r} vs {b[i]!r}" for i in range(len(a)) if a[i] != b[i]]
    return f"{len(shown)} user(s) differ, e.g. " + "; ".join(shown[:5])


def answers(users_file: Path) -> dict[str, Any]:
    """What the run pays: users with a counted event, users paid, events, total."""
    row = duckdb.sql(
        "SELECT count(*), count(*) FILTER (WHERE eligible), sum(events), "
        f"sum(amount_cents) FROM read_parquet('{_quoted(users_file)}')"
    ).fetchone()
    if row is None:
        raise SystemExit(f"{users_file}: no summary row")
    return {
        "users_with_events": row[0],
        "users_paid": row[1],
        "events_counted": int(row[2] or 0),
        "total_paid_cents": int(row[3] or 0),
    }


# One tool, in its own process ----------------------------------------------------------


def run_tool(tool: str, data: Path, program: Path, out: Path) -> dict[str, Any]:
    """Compute the per-user table and the reference prices with ``tool``; write them."""
    return run_engine(data, program, out) if tool == "engine" else run_sql(data, program, out)


def run_engine(data: Path, program: Path, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    from recompense.data import open_dataset
    from recompense.engine.backends import connect
    from recompense.engine.collateral import evaluate_full
    from recompense.policy import load_programme
    from recompense.policy.full import FullPolicy

    policy = load_programme(program)
    if not isinstance(policy, FullPolicy):
        raise SystemExit(f"{program}: not a full-payment programme (program.kind)")
    imported, cpu_imported = time.perf_counter(), time.process_time()
    backend = connect("duckdb")
    dataset = open_dataset(backend, data)
    opened, cpu_opened = time.perf_counter(), time.process_time()
    marks: list[tuple[str, float]] = []
    result = evaluate_full(
        backend, dataset, policy, on_stage=lambda name: marks.append((name, time.process_time()))
    )
    evaluated, cpu_evaluated = time.perf_counter(), time.process_time()
    ends = [cpu for _, cpu in marks[1:]] + [cpu_evaluated]
    stage_cpu = {name: round(end - cpu, 4) for (name, cpu), end in zip(marks, ends, strict=True)}
    pq.write_table(result.users, out / "users.parquet")
    pq.write_table(result.references.select(["asset", "reference_usd"]), out / "references.parquet")
    return {
        "import_s": round(imported - started, 4),
        "open_s": round(opened - imported, 4),
        "evaluate_s": round(evaluated - opened, 4),
        "timings": result.timings,
        "write_s": round(time.perf_counter() - evaluated, 4),
        "rows": result.users.num_rows,
        "event_rows": result.events.num_rows,
        # CPU seconds of the process (DuckDB's threads included): steadier than wall
        # time on a shared machine.
        "open_cpu_s": round(cpu_opened - cpu_imported, 4),
        "evaluate_cpu_s": round(cpu_evaluated - cpu_opened, 4),
        "cpu_timings": stage_cpu,
        "process_cpu_s": round(time.process_time(), 4),
    }


def run_sql(data: Path, program: Path, out: Path) -> dict[str, Any]:
    params = sql_parameters(program)
    started, cpu_started = time.perf_counter(), time.process_time()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in ("users", "accounts", "collateral_liquidations", "reference_prices"):
        path = _quoted(data / f"{name}.parquet")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    reference, query = [s for s in SCRIPT.read_text().split(";\n") if s.strip()]
    con.execute(reference, _used(reference, params))
    references = con.execute("SELECT * FROM reference ORDER BY asset").to_arrow_table()
    bad = [r for r in references.to_pylist() if r["rows_at"] != 1]
    if bad:
        raise SystemExit(f"{data}: reference_prices: not exactly one row at reference_at: {bad}")
    users = con.execute(query, _used(query, params)).to_arrow_table()
    computed, cpu_computed = time.perf_counter(), time.process_time()
    pq.write_table(users, out / "users.parquet")
    order = {asset: i for i, asset in enumerate(params["assets"])}
    listed = sorted(references.to_pylist(), key=lambda r: order[r["asset"]])
    pq.write_table(
        pa.Table.from_pylist(
            [{"asset": r["asset"], "reference_usd": r["reference_usd"]} for r in listed],
            schema=pa.schema([("asset", pa.string()), ("reference_usd", pa.decimal128(38, 12))]),
        ),
        out / "references.parquet",
    )
    return {
        "compute_s": round(computed - started, 4),
        "write_s": round(time.perf_counter() - computed, 4),
        "rows": users.num_rows,
        "compute_cpu_s": round(cpu_computed - cpu_started, 4),
        "process_cpu_s": round(time.process_time(), 4),
    }


def sql_parameters(program: Path) -> dict[str, Any]:
    """The SQL's parameters, read from the programme file alone (no engine code)."""
    with program.open("rb") as handle:
        raw = tomllib.load(handle)
    collateral, payout = raw["collateral"], raw.get("payout", {})
    adjustments = [
        {
            "asset": a["asset"],
            "weight": str(a.get("redemption_weight", "0")),
            "floor": None if a.get("floor_usd") is None else str(a["floor_usd"]),
        }
        for a in collateral.get("adjustments", [])
    ]
    ceiling = payout.get("ceiling_usd")
    return {
        "window_start": raw["window"]["start"],
        "window_end": raw["window"]["end"],
        "products": list(collateral["products"]),
        "assets": list(collateral["assets"]),
        "reference_at": collateral["reference_at"],
        # An empty list has no element type to bind; an empty asset name matches nothing.
        "adjustments": adjustments or [{"asset": "", "weight": "0", "floor": None}],
        "ceiling_cents": None if ceiling is None else int(Decimal(str(ceiling)) * 100),
    }


def _used(statement: str, params: dict[str, Any]) -> dict[str, Any]:
    """DuckDB refuses named parameters a statement does not use."""
    code = re.sub(r"--[^\n]*", "", statement)
    names = set(re.findall(r"\$([a-z_]+)", code))
    return {k: v for k, v in params.items() if k in names}


# The dataset ------------------------------------------------------------------------------


def ensure_dataset(users: int, seed: int, data_dir: Path) -> tuple[Path, float | None]:
    """The dataset folder, generated unless already complete (written aside, then renamed)."""
    data = data_dir / f"depeg-users-{users}-seed-{seed}"
    if data.is_dir():
        return data, None
    partial = data.with_name(data.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log(f"generating {data} ...")
    started = time.perf_counter()
    generate(partial, users, seed)
    partial.rename(data)
    return data, round(time.perf_counter() - started, 2)


def generate(folder: Path, users: int, seed: int) -> None:
    """Write the dataset with DuckDB SQL: every value a function of (id, seed)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, query in dataset_queries(users, seed).items():
        started = time.perf_counter()
        path = _quoted(folder / f"{name}.parquet")
        con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        log(f"  {name}.parquet: {time.perf_counter() - started:.1f} s")


def dataset_queries(users: int, seed: int) -> dict[str, str]:
    """One SELECT per table. ``hash(...)`` gives each row its pseudo-random draws."""
    num = "DECIMAL(38, 12)"
    ts = "TIMESTAMPTZ"
    empty = {
        "balances": f"SELECT 0::BIGINT AS account_id, ''::VARCHAR AS wallet, "
        f"''::VARCHAR AS asset, 0::{num} AS balance, 0::{num} AS liability, "
        f"0::{num} AS unrealized_pnl",
        "prices": f"SELECT ''::VARCHAR AS asset, NULL::{ts} AS minute, 0::{num} AS usd",
        "liquidations": f"SELECT 0::BIGINT AS fill_id, 0::BIGINT AS account_id, "
        f"''::VARCHAR AS product, ''::VARCHAR AS kind, ''::VARCHAR AS symbol, "
        f"NULL::{ts} AS ts, ''::VARCHAR AS margin_asset, 0::{num} AS realized_pnl, "
        f"0::{num} AS clearance_fee",
        "prior_compensation": f"SELECT 0::BIGINT AS user_id, ''::VARCHAR AS program_id, "
        f"0::{num} AS amount_usd, NULL::{ts} AS paid_at",
    }
    queries = {
        "users": _USERS.format(users=users, seed=seed),
        "accounts": _ACCOUNTS.format(users=users, seed=seed, base=ACCOUNT_BASE),
        "collateral_liquidations": _EVENTS.format(
            users=users, seed=seed, base=ACCOUNT_BASE, start=WINDOW_START, span=WINDOW_US
        ),
        "reference_prices": _REFERENCES.format(at=REFERENCE_AT),
    }
    return queries | {name: f"{query} WHERE false" for name, query in empty.items()}


_USERS = """
SELECT
    i AS user_id,
    CASE WHEN h % 1000 < 2 THEN 'institutional' WHEN h % 1000 < 30 THEN 'vip'
         ELSE 'retail' END AS user_type,
    CAST(CASE WHEN h % 1000 BETWEEN 2 AND 29 THEN 1 + (h // 1000) % 9 ELSE 0 END AS INTEGER)
        AS vip_tier,
    to_timestamp(CAST(1500000000 + (h // 10000) % 259968000 AS BIGINT)) AS registered_at,
    CASE WHEN (h // 100) % 50 = 0 THEN NULL ELSE 'user' || i || '@example.com' END AS email,
    CASE (h // 5000) % 10 WHEN 0 THEN 'zh-CN' WHEN 1 THEN 'es' WHEN 2 THEN 'fr'
         WHEN 3 THEN 'ru' WHEN 4 THEN 'tr' WHEN 5 THEN NULL ELSE 'en' END AS locale
FROM (SELECT i, hash(i, {seed}) AS h FROM range(1, {users} + 1) AS t(i))
"""

# Every user a master account; 30% also a sub-account.
_ACCOUNTS = """
SELECT {base} + 2 * i AS account_id, i AS user_id, 'master' AS kind
FROM range(1, {users} + 1) AS t(i)
UNION ALL
SELECT {base} + 2 * i + 1, i, 'sub'
FROM range(1, {users} + 1) AS t(i)
WHERE hash(i, {seed}, 1) % 10 < 3
"""

# 1% of users, 1–4 events each. Prices and quantities are exact decimals built from
# integers (USDE to 4 places, the others to 2; quantities log-uniform).
_EVENTS = """
WITH
liquidated AS (
    SELECT i AS user_id, 1 + (hash(i, {seed}, 3) // 100) % 4 AS n,
           hash(i, {seed}, 1) % 10 < 3 AS has_sub
    FROM range(1, {users} + 1) AS t(i)
    WHERE hash(i, {seed}, 3) % 100 = 0
),
drawn AS (
    SELECT l.user_id, l.has_sub, k, hash(l.user_id, {seed}, 4, k) AS h,
           (hash(l.user_id, {seed}, 5, k) % 1000000007) / 1000000007.0 AS q,
           hash(l.user_id, {seed}, 6, k) AS p
    FROM liquidated AS l CROSS JOIN range(4) AS r(k)
    WHERE k < l.n
),
typed AS (
    SELECT *,
        CASE WHEN (h // 64) % 100 < 45 THEN 'USDE' WHEN (h // 64) % 100 < 75 THEN 'BNSOL'
             WHEN (h // 64) % 100 < 98 THEN 'WBETH' ELSE 'BNB' END AS symbol,
        (h // 6400) % 100 AS when_
    FROM drawn
)
SELECT
    4 * user_id + k AS event_id,
    {base} + 2 * user_id + CAST(has_sub AND h % 2 = 1 AS INTEGER) AS account_id,
    CASE (h // 2) % 20 WHEN 9 THEN 'cross_margin' WHEN 10 THEN 'cross_margin'
         WHEN 11 THEN 'portfolio_margin' WHEN 12 THEN 'portfolio_margin' WHEN 13 THEN 'loan'
         WHEN 14 THEN 'loan' WHEN 15 THEN 'coinm_futures' WHEN 16 THEN 'isolated_margin'
         WHEN 17 THEN 'isolated_margin' ELSE 'usdm_futures' END AS product,
    CASE WHEN (h // 640000) % 200 = 0 THEN lower(symbol) ELSE symbol END AS asset,
    CASE symbol
        WHEN 'USDE' THEN CAST(greatest(1, round(exp(ln(1000) + q * ln(800)))) AS BIGINT) * 0.01
        WHEN 'BNSOL' THEN CAST(greatest(1, round(exp(ln(100) + q * ln(1600)))) AS BIGINT)
            * 0.0001
        WHEN 'WBETH' THEN CAST(greatest(1, round(exp(ln(1000) + q * ln(800)))) AS BIGINT)
            * 0.000001
        ELSE CAST(1 + p % 1000 AS BIGINT) * 0.01
    END::DECIMAL(38, 12) AS quantity,
    CASE symbol
        WHEN 'USDE' THEN CAST(6500 + p % 3001 AS BIGINT) * 0.0001
        WHEN 'BNSOL' THEN CAST(2000 + p % 16001 AS BIGINT) * 0.01
        WHEN 'WBETH' THEN CAST(40000 + p % 340001 AS BIGINT) * 0.01
        ELSE CAST(100000 + p % 20001 AS BIGINT) * 0.01
    END::DECIMAL(38, 12) AS liquidation_price,
    TIMESTAMPTZ '{start}' + to_microseconds(CASE
        WHEN when_ < 94 THEN CAST((h // 640) % {span} AS BIGINT)
        WHEN when_ < 97 THEN -1 - CAST((h // 640) % 5760000000 AS BIGINT)
        WHEN when_ < 99 THEN {span} + CAST((h // 640) % 6180000000 AS BIGINT)
        WHEN h % 2 = 0 THEN 0
        ELSE {span}
    END) AS ts
FROM typed
"""

_REFERENCES = """
SELECT asset, TIMESTAMPTZ '{at}' AS "at", market_usd::DECIMAL(38, 12) AS market_usd,
       redemption_rate::DECIMAL(38, 12) AS redemption_rate,
       underlying_usd::DECIMAL(38, 12) AS underlying_usd
FROM (VALUES ('USDE', '0.9979', '1', '1.0001'),
             ('BNSOL', '180', '1.0685', '182.5'),
             ('WBETH', '3700', '1.0738', '3526.83'))
    AS t(asset, market_usd, redemption_rate, underlying_usd)
"""


def dataset_figures(data: Path) -> dict[str, Any]:
    """Rows per table (from the Parquet footers) and bytes on disk."""
    files = sorted(data.glob("*.parquet"))
    rows = {p.stem: pq.ParquetFile(p).metadata.num_rows for p in files}
    return {"rows": rows, "bytes": sum(p.stat().st_size for p in files)}


def warm_page_cache(data: Path) -> None:
    for path in sorted(data.rglob("*.parquet")):
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


# Printing --------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    print_machine(report["machine"])
    dataset = report["dataset"]
    rows = ", ".join(f"{k} {v:,}" for k, v in dataset["rows"].items() if v)
    made = f", generated in {dataset['generate_s']} s" if dataset["generate_s"] else ""
    print(f"\n{report['data']}: {rows}; {dataset['bytes'] / GIB:.2f} GiB{made}")
    load = report["load_1min"]
    print(f"{report['repeats']} repeat(s), medians; 1-min load {load['before']:.2f}", end="")
    print(f" before, {load['after']:.2f} after")
    engine, sql = report["tools"]["engine"], report["tools"]["sql"]
    print(f"{'tool':<7} {'wall s':>8} {'CPU s':>8} {'own s':>8} {'own CPU s':>10} {'peak GiB':>9}")
    print(
        f"{'engine':<7} {engine['wall_s']:>8.2f} {engine['process_cpu_s']:>8.2f} "
        f"{engine['connected_s']:>8.2f} {engine['connected_cpu_s']:>10.2f} "
        f"{engine['peak_gib']:>9.2f}  own: open_dataset + evaluate_full"
    )
    print(
        f"{'sql':<7} {sql['wall_s']:>8.2f} {sql['process_cpu_s']:>8.2f} "
        f"{sql['compute_s']:>8.2f} {sql['compute_cpu_s']:>10.2f} {sql['peak_gib']:>9.2f}"
        "  own: connect + baseline_depeg.sql to Arrow"
    )
    stages = ", ".join(
        f"{k} {v:.2f}/{engine['stages_cpu'][k]:.2f}" for k, v in engine["stages"].items()
    )
    print(
        f"engine (wall/CPU s): imports {engine['import_s']:.2f}, open_dataset "
        f"{engine['open_s']:.2f}/{engine['open_cpu_s']:.2f}, evaluate_full "
        f"{engine['evaluate_s']:.2f}/{engine['evaluate_cpu_s']:.2f} ({stages}); "
        f"without validate {engine['rule_s']:.2f}/{engine['rule_cpu_s']:.2f}"
    )
    print("ratios (engine ÷ SQL):")
    for name, value in report["ratios"].items():
        print(f"  {name:<50} {value:>6.2f}")
    answer = report["answers"]
    cents = answer["total_paid_cents"]
    print(
        f"paid: ${cents // 100:,}.{cents % 100:02d} to {answer['users_paid']:,} users "
        f"({answer['users_with_events']:,} with a counted event, "
        f"{answer['events_counted']:,} events)"
    )
    shown = ", ".join(f"{k} {v}" for k, v in answer["reference_usd"].items())
    print(f"adjusted reference prices (USD): {shown}")
    if report["mismatches"]:
        print("MISMATCH between the engine and the SQL:")
        for line in report["mismatches"]:
            print(f"  {line}")
    else:
        print("same answers: every user's cents, and every reference price, identical")


if __name__ == "__main__":
    sys.exit(main())
