"""Load test of the web service on loopback: the voucher list and eligibility endpoints
with PostgreSQL behind them, driven by ``wrk``, against baselines in the same run.

Usage::

    python benchmarks/bench_web.py [--users 1000000] [--duration 15] [--connections 16]
    python benchmarks/bench_web.py --users 25000000 --breakdown-only  # where the time goes
    python benchmarks/bench_web.py --telemetry --breakdown 0         # metrics and logs: cost
    make bench-web                                               # installs wrk if missing

Method:

1. The published run: ``programs/together-2025-10.toml`` run on the synthetic exchange
   of ``--users`` users, budget $12 per exchange user (the what-if benchmark's run
   folder, shared with it under ``benchmarks/data/whatif-runs/``, made once if missing).
   At 25,000,000 exchange users that is 994,180 liquidated users and 472,076 vouchers
   (the programme's own $300M budget); at 1,000,000, 39,507 and 18,945.
2. A fresh PostgreSQL schema ``bench_web_*`` (dropped afterwards), migrated; the run is
   distributed into it with ``recompense.distribution.distribute`` (timed), then
   ``ANALYZE``. Connections carry ``application_name=bench_web`` so that the CPU of
   their PostgreSQL backends can be read from ``/proc``.
3. The service with ``--workers`` (default 2: one per core) on a free loopback port:
   ``recompense serve`` itself (uvicorn on httptools and uvloop with TCP_NODELAY on every
   connection: :data:`recompense.web.server.UVICORN_OPTIONS`). ``wrk`` (``--threads``,
   ``--connections``) runs a generated Lua script that rotates over ``--sample`` users,
   each with their own bearer token (HS256, minted as ``recompense token`` does). Per
   target: ``--warmup`` seconds unmeasured, then ``--duration`` seconds measured.
4. Targets, in the same run:

   - ``uvicorn floor``: a bare ASGI app answering ``ok`` under the same uvicorn, worker
     count and protocol class — the most this server stack can do on this machine now;
   - ``GET /healthz``: the service's own cheapest route (routing, middleware, no
     authentication, no database);
   - ``vouchers``: ``GET /api/users/{id}/vouchers`` for eligible users (token, two
     indexed queries);
   - ``eligibility``: ``GET /api/programs/{p}/users/{id}/eligibility`` for liquidated
     users (token, binary search in the run index, the explanation in words);
   - ``mixed``: the two alternating.

5. Per target: requests/s, latency p50/p90/p99 (``wrk``'s histogram), errors (non-2xx
   answers and socket errors), the ratio of requests/s to the two baselines, and CPU
   milliseconds per request of the server processes and of their PostgreSQL backends
   (from ``/proc``: robust to other processes sharing the cores, unlike wall-clock
   figures; the capacity of two idle cores is estimated from it). The 1-minute load
   average is printed per target. The target (≥ 1,000 requests/s with p99 ≤ 50 ms) is
   reported as met or missed, never enforced.
6. ``--telemetry``: instead of the targets above, the cost of the request metrics and
   the access log (issue 16): ``recompense serve`` with both off
   (``RECOMPENSE_REQUEST_METRICS=0``, ``RECOMPENSE_ACCESS_LOG=0``) and with both on (at
   ``--log-level info``, JSON lines to a file, and a scraper fetching ``/metrics`` every
   5 s, as a busy Prometheus would), alternating off/on ``--rounds`` times so that a
   drift of the machine's load falls on both; ``GET /healthz``, vouchers, eligibility.
   Before them, uvicorn's own access line (the bare app at log level warning, then
   info); after them, the same comparison in this process through ASGI, split into
   metrics and access log (``--in-process-only``: that part alone).
7. ``--breakdown N``: where a request's time goes, in this process, N calls per step,
   CPU time: token verification (first use, cached), pool checkout with and without
   the pre-ping, the two voucher queries, the eligibility story, and whole requests
   through the app's ASGI interface (no socket).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ROOT = HERE.parent
PROGRAM_FILE = ROOT / "programs" / "together-2025-10.toml"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "bench-web-" + "k" * 40
USD_PER_USER = 12
TARGET_RPS, TARGET_P99_MS = 1000, 50.0

LUA = """
local users = {%(users)s}
local mode, program = "%(mode)s", "%(program)s"
local n, i = #users, 0
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("start", counter * 7919)
end
function init(args)
  i = start or 0
end
function request()
  i = i + 1
  local u = users[(i %% n) + 1]
  local path
  local kind = mode
  if mode == "mixed" then kind = (i %% 2 == 0) and "vouchers" or "eligibility" end
  if kind == "vouchers" then
    path = "/api/users/" .. u[1] .. "/vouchers"
  elseif kind == "eligibility" then
    path = "/api/programs/" .. program .. "/users/" .. u[1] .. "/eligibility"
  else
    path = mode
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. u[2]})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%f, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, '
    .. '"max_us": %%d, "status_errors": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


RUNNER = """
import os, sys, uvicorn
from recompense.web.server import UVICORN_OPTIONS
app, port, _, workers = sys.argv[1:]
level = os.environ.get("BENCH_LOG_LEVEL", "warning")  # info: uvicorn's own access log on
uvicorn.run(app, host="127.0.0.1", port=int(port), workers=int(workers), log_level=level,
            **UVICORN_OPTIONS)
"""


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ``uvicorn floor`` baseline: the least an ASGI app can do."""
    if scope["type"] != "http":  # lifespan: accept startup and shutdown
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def main() -> None:
    args = _arguments()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: `make bench-web` installs it (apt-get install wrk)")
    run = ensure_run(args.users)
    manifest = json.loads((run / "manifest.json").read_text())
    program = manifest["program"]["id"]
    print(
        f"run: {run.name}: {manifest['counts']['liquidated']:,} liquidated users, "
        f"{manifest['counts']['eligible']:,} vouchers"
    )
    with pg_schema() as url:
        seconds = _distribute(run, url)
        print(f"distributed into PostgreSQL in {seconds:.1f} s (then ANALYZE)")
        users = sample_users(run, args.sample)
        env = {**os.environ, "RECOMPENSE_JWT_SECRET": SECRET}
        env.pop("RECOMPENSE_JWT_PUBLIC_KEY", None)
        if args.telemetry:
            telemetry_overhead(args, url, users, program, env)
            results = []
        else:
            results = [] if args.breakdown_only else measure_all(args, url, users, program, env)
        if args.breakdown:
            breakdown(url, users, program, args.breakdown)
    if results:
        report(results, args)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000, help="exchange users")
    parser.add_argument("--duration", type=int, default=15, help="measured seconds per target")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--sample", type=int, default=5000, help="users rotated over")
    parser.add_argument("--breakdown", type=int, default=2000, help="calls per step (0: none)")
    parser.add_argument("--breakdown-only", action="store_true", help="skip the load test")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--telemetry", action="store_true", help="metrics and access log: off against on"
    )
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs (--telemetry)")
    parser.add_argument(
        "--in-process-only", action="store_true", help="--telemetry: skip the wrk rounds"
    )
    return parser.parse_args()


def ensure_run(users: int) -> Path:
    """The what-if benchmark's published run for ``users`` exchange users (made if missing)."""
    from recompense.runs import execute_run

    data = DATA / f"users-{users}-seed-7"
    if not data.exists():
        command = [sys.executable, "-m", "recompense.cli", "synth", "--users", str(users)]
        subprocess.run([*command, "--seed", "7", "--out", str(data), "--json"], check=True)
    budget = Decimal(USD_PER_USER * users)
    run = DATA / "whatif-runs" / f"{data.name}-budget-{budget}"
    if not run.exists():
        execute_run(PROGRAM_FILE, data, run, budget_usd=budget)
    return run


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    import psycopg

    from recompense.ledger.db import upgrade

    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_web_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}&application_name=bench_web"
    try:
        upgrade(url)
        yield url
    finally:
        from recompense.ledger.db import connect

        connect(url).dispose()
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _distribute(run: Path, url: str) -> float:
    import sqlalchemy as sa

    from recompense.distribution.approvals import approve
    from recompense.distribution.distribute import distribute
    from recompense.ledger.db import connect

    for officer in ("ops:bench-approver-1", "ops:bench-approver-2"):  # the four eyes
        approve(run, url, officer)
    start = time.perf_counter()
    distribute(run, url, actor="ops:bench")
    seconds = time.perf_counter() - start
    with connect(url).begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    return seconds


def sample_users(run: Path, count: int) -> dict[str, list[tuple[int, str]]]:
    """Random liquidated users, and random eligible ones, each with a bearer token."""
    import numpy as np
    import pyarrow.parquet as pq

    from recompense.web.auth import mint_token
    from recompense.web.settings import Settings

    table = pq.read_table(run / "eligibility.parquet", columns=["user_id", "eligible"])
    ids = np.asarray(table["user_id"].to_numpy())
    eligible = np.asarray(table["eligible"].to_numpy(), dtype=bool)
    rng = np.random.default_rng(7)
    settings = Settings.from_env({"RECOMPENSE_JWT_SECRET": SECRET}, db_url="unused")

    def with_tokens(pool: Any) -> list[tuple[int, str]]:
        chosen = rng.choice(pool, size=min(count, len(pool)), replace=False)
        ttl = 4 * 3600
        return [
            (int(u), mint_token(settings, role="user", user_id=int(u), ttl_s=ttl)) for u in chosen
        ]

    return {"eligible": with_tokens(ids[eligible]), "liquidated": with_tokens(ids)}


def measure_all(
    args: argparse.Namespace, url: str, users: dict[str, Any], program: str, env: dict[str, str]
) -> list[dict[str, Any]]:
    """The floor (a bare ASGI app, same uvicorn set-up), then ``recompense serve``."""
    results = []
    env = {**env, "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])}
    env["RECOMPENSE_DB_URL"] = url
    env.setdefault("RECOMPENSE_SESSION_SECRET", "bench-web-session-" + "s" * 40)

    def floor(port: int) -> list[str]:
        return [sys.executable, "-c", RUNNER, "bench_web:hello", str(port)]

    def serve(port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "recompense.cli", "serve", "--db", url),
            *("--port", str(port), "--log-level", "warning"),
        ]

    with server(floor, args.workers, env) as (base, pid):
        results.append(measure(args, base, pid, "uvicorn floor", "/", users["eligible"], program))
    with server(serve, args.workers, env) as (base, pid):
        targets = [
            ("GET /healthz", "/healthz", users["eligible"]),
            ("vouchers", "vouchers", users["eligible"]),
            ("eligibility", "eligibility", users["liquidated"]),
            ("mixed", "mixed", users["eligible"]),
        ]
        for name, mode, pool in targets:
            results.append(measure(args, base, pid, name, mode, pool, program))
    return results


METRICS_TOKEN = "bench-web-metrics-" + "t" * 40


def telemetry_overhead(
    args: argparse.Namespace, url: str, users: dict[str, Any], program: str, env: dict[str, str]
) -> None:
    """The service with request metrics and access log off, then on, ``--rounds`` times."""
    import statistics

    env = {**env, "RECOMPENSE_DB_URL": url, "RECOMPENSE_METRICS_TOKEN": METRICS_TOKEN}
    env.setdefault("RECOMPENSE_SESSION_SECRET", "bench-web-session-" + "s" * 40)
    targets = [
        ("GET /healthz", "/healthz", users["eligible"]),
        ("vouchers", "vouchers", users["eligible"]),
        ("eligibility", "eligibility", users["liquidated"]),
    ]
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if args.in_process_only:
        in_process_overhead(url, users, program)
        return
    uvicorn_access_line(args, users, program, env)
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            switch = "1" if mode == "on" else "0"
            mode_env = {
                **env,
                "RECOMPENSE_REQUEST_METRICS": switch,
                "RECOMPENSE_ACCESS_LOG": switch,
            }
            level = "info" if mode == "on" else "warning"

            def serve(port: int, level: str = level) -> list[str]:
                return [
                    *(sys.executable, "-m", "recompense.cli", "serve", "--db", url),
                    *("--port", str(port), "--log-level", level),
                ]

            with server(serve, args.workers, mode_env) as (base, pid), _scraper(base, mode):
                for name, target, pool in targets:
                    result = measure(args, base, pid, f"{name} ({mode})", target, pool, program)
                    found.setdefault((name, mode), []).append(result)
    in_process_overhead(url, users, program)
    print(f"\nmetrics and access log, off against on: medians of {args.rounds} rounds")
    print("| target | req/s off | req/s on | change | p99 off | p99 on | CPU ms/req off | on |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, _ in targets:
        off, on = found[name, "off"], found[name, "on"]

        def med(rows: list[dict[str, Any]], key: str) -> float:
            return float(statistics.median(r[key] for r in rows))

        rps_off, rps_on = med(off, "rps"), med(on, "rps")
        print(
            f"| {name} | {rps_off:,.0f} | {rps_on:,.0f} | {(rps_on / rps_off - 1) * 100:+.1f} % "
            f"| {med(off, 'p99_us') / 1000:.1f} ms | {med(on, 'p99_us') / 1000:.1f} ms "
            f"| {med(off, 'server_cpu_ms'):.3f} | {med(on, 'server_cpu_ms'):.3f} |"
        )


def uvicorn_access_line(
    args: argparse.Namespace, users: dict[str, Any], program: str, env: dict[str, str]
) -> None:
    """What uvicorn's own access log line costs (on by default at ``--log-level info``
    before ``serve`` wrote its own): the bare ASGI app, log level warning against info."""
    env = {**env, "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])}

    def floor(port: int) -> list[str]:
        return [sys.executable, "-c", RUNNER, "bench_web:hello", str(port)]

    for level in ("warning", "info"):
        with server(floor, args.workers, {**env, "BENCH_LOG_LEVEL": level}) as (base, pid):
            name = f"uvicorn floor, log level {level}"
            measure(args, base, pid, name, "/", users["eligible"], program)


def in_process_overhead(
    url: str, users: dict[str, Any], program: str, rounds: int = 7, calls: int = 3000
) -> None:
    """CPU per request of this process (``time.process_time``: every thread, no other
    process), the app called directly through ASGI, in four set-ups taken in turn
    ``rounds`` times: nothing, request metrics, access log (JSON lines to a file, the
    logging switches ``serve`` sets), both. The heap is frozen first, as in ``serve``'s
    workers (else the collector's full passes over the loaded runs, which more
    allocations bring sooner, swamp the difference). Medians: the machine's other load
    moves every set-up alike."""
    import asyncio
    import dataclasses
    import logging
    import statistics

    from recompense.observability.logs import json_handler
    from recompense.web.app import create_app, tune_process
    from recompense.web.settings import Settings

    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    log_file = tempfile.TemporaryFile("w")  # noqa: SIM115  (lives as long as the process)
    logging.getLogger("recompense").addHandler(json_handler(log_file, logging.INFO))
    logging.getLogger("recompense").setLevel(logging.INFO)
    base = Settings.from_env({"RECOMPENSE_JWT_SECRET": SECRET}, db_url=url)
    setups = {"none": (False, False), "metrics": (True, False), "log": (False, True)}
    setups["both"] = (True, True)
    apps = {
        name: create_app(dataclasses.replace(base, request_metrics=m, access_log=a))
        for name, (m, a) in setups.items()
    }
    for app in apps.values():  # load the runs now, then freeze them as serve's workers do
        app.state.service.warm()
    tune_process()
    targets = {
        "GET /healthz": ("/healthz", users["eligible"]),
        "vouchers": ("/api/users/{u}/vouchers", users["eligible"]),
        "eligibility": (f"/api/programs/{program}/users/{{u}}/eligibility", users["liquidated"]),
    }
    spent: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for target, (template, pool) in targets.items():
            for name, app in apps.items():
                requests = [(template.format(u=u), t) for u, t in pool[:calls]]
                asyncio.run(_asgi_calls(app, requests[:100]))  # warm
                start = time.process_time()
                asyncio.run(_asgi_calls(app, requests))
                seconds = time.process_time() - start
                spent.setdefault((target, name), []).append(seconds * 1e6 / len(requests))
    print(f"\nIn-process CPU µs per request, medians of {rounds} rounds of {calls:,} calls:")
    print("| target | none | + metrics | + access log | both | both − none |")
    print("|---|---:|---:|---:|---:|---:|")
    for target in targets:
        med = {name: statistics.median(spent[target, name]) for name in apps}
        print(
            f"| {target} | {med['none']:.0f} | {med['metrics']:.0f} | {med['log']:.0f} "
            f"| {med['both']:.0f} | {med['both'] - med['none']:+.0f} |"
        )


async def _asgi_calls(app: Any, requests: list[tuple[str, str]]) -> None:
    for path, token in requests:
        scope = {
            **{"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http"},
            **{"path": path, "raw_path": path.encode(), "query_string": b"", "root_path": ""},
            "headers": [(b"host", b"b"), (b"authorization", f"Bearer {token}".encode())],
            **{"client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200, message

        await app(scope, receive, send)


@contextlib.contextmanager
def _scraper(base: str, mode: str) -> Iterator[None]:
    """With telemetry on, fetch ``/metrics`` every 5 s meanwhile (the ledger's gauges too)."""
    import threading

    import httpx

    stop = threading.Event()
    scrapes: list[float] = []

    def scrape() -> None:
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        while not stop.wait(5.0):
            started = time.perf_counter()
            answer = httpx.get(f"{base}/metrics", headers=headers, timeout=10)
            answer.raise_for_status()
            scrapes.append(time.perf_counter() - started)

    thread = threading.Thread(target=scrape, daemon=True)
    if mode == "on":
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if mode == "on":
            thread.join()
            if scrapes:
                print(f"  {len(scrapes)} scrapes of /metrics, slowest {max(scrapes) * 1000:.0f} ms")


@contextlib.contextmanager
def server(command: Any, workers: int, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """A server on a free port: ``command(port)`` plus the worker count; (base URL, pid)."""
    import httpx

    port = _free_port()
    full = [*command(port), "--workers", str(workers)]
    log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in the finally below)
    process = subprocess.Popen(full, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                sys.exit(f"server did not start: {log.read().decode(errors='replace')}")
            time.sleep(0.5)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def measure(
    args: argparse.Namespace,
    base: str,
    pid: int,
    name: str,
    mode: str,
    pool: list[tuple[int, str]],
    program: str,
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        rows = ",".join(f'{{"{u}","{t}"}}' for u, t in pool)
        script.write(LUA % {"users": rows, "mode": mode, "program": program})
    try:
        _wrk(args, base, script.name, args.warmup)
        load_before = os.getloadavg()[0]
        cpu_before = _server_cpu(pid), _postgres_cpu()
        result = _wrk(args, base, script.name, args.duration)
        cpu_after = _server_cpu(pid), _postgres_cpu()
    finally:
        os.unlink(script.name)
    done = max(result["requests"], 1)
    result.update(
        name=name,
        rps=result["requests"] / result["seconds"],
        server_cpu_ms=(cpu_after[0] - cpu_before[0]) * 1000 / done,
        postgres_cpu_ms=max(cpu_after[1] - cpu_before[1], 0.0) * 1000 / done,
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )
    print(_line(result), flush=True)
    return result


def _wrk(args: argparse.Namespace, base: str, script: str, seconds: int) -> dict[str, Any]:
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s"]
    out = subprocess.run(
        [*command, "--timeout", "5s", "-s", script, base], capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            found: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return found
    sys.exit(f"wrk failed: {out.stdout}\n{out.stderr}")


def _server_cpu(pid: int) -> float:
    """CPU seconds of the server process and all its workers."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL backends serving ``application_name=bench_web``."""
    import psutil
    import psycopg

    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_web'"
            )
        ]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def breakdown(url: str, users: dict[str, Any], program: str, count: int) -> None:
    """CPU microseconds per call of each step behind the two endpoints, one call at a time
    in this process (``time.process_time``: every thread, no other process counted)."""
    import sqlalchemy as sa

    from recompense.ledger.db import connect
    from recompense.web import queries
    from recompense.web.auth import Verifier
    from recompense.web.i18n import Translator
    from recompense.web.routes.eligibility import eligibility_out
    from recompense.web.service import Service
    from recompense.web.settings import Settings
    from recompense.web.story import story

    settings = Settings.from_env({"RECOMPENSE_JWT_SECRET": SECRET}, db_url=url)
    eligible, liquidated = users["eligible"][:count], users["liquidated"][:count]
    engine, plain = connect(url), sa.create_engine(url)  # plain: no pool pre-ping
    svc = Service(settings)
    index = svc.index(program)
    warm = Verifier(settings)
    for _, token in eligible:
        warm.verify(token)
    steps: list[tuple[str, list[tuple[int, str]], Any]] = [
        ("token verified (first use: HS256)", eligible, lambda u, t: Verifier(settings).verify(t)),
        ("token verified (cached)", eligible, lambda u, t: warm.verify(t)),
        ("pool checkout with pre-ping", eligible, lambda u, t: engine.connect().close()),
        ("pool checkout without pre-ping", eligible, lambda u, t: plain.connect().close()),
        (
            "vouchers + credits, ledger engine (pre-ping, ROLLBACK)",
            eligible,
            lambda u, t: queries.vouchers_and_credits(engine, u),
        ),
        (
            "vouchers + credits, the service's read engine",
            eligible,
            lambda u, t: queries.vouchers_and_credits(svc.reads, u),
        ),
        (
            "story + eligibility_out",
            liquidated,
            lambda u, t: eligibility_out(story(index, u), Translator("en")),
        ),
    ]
    held = engine.connect()  # closed below: an open transaction would block DROP SCHEMA
    raw = held.connection.driver_connection
    sql = "SELECT * FROM vouchers WHERE user_id = %s ORDER BY issued_at, id"
    lean = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # no pre-ping, no ROLLBACK
    steps += [
        ("voucher query on a held connection", eligible, lambda u, t: _held(held, u)),
        ("the same query in plain psycopg", eligible, lambda u, t: _raw(raw, sql, u)),
        ("both reads as prebuilt text(), autocommit", eligible, lambda u, t: _lean(lean, u)),
    ]
    steps += _asgi_steps(settings, program, eligible, liquidated)
    print(f"\nWhere the time goes: CPU µs per call, in-process, {count:,} calls each")
    for name, pool, step in steps:
        for user, token in pool[:50]:
            step(user, token)  # warm caches and the pool
        start = time.process_time()
        for user, token in pool:
            step(user, token)
        print(f"  {name:<56} {(time.process_time() - start) * 1e6 / len(pool):8.0f}")
    held.close()
    svc.reads.dispose()
    by_package(settings, "/api/users/{u}/vouchers", eligible)
    by_package(settings, f"/api/programs/{program}/users/{{u}}/eligibility", liquidated)


def _held(conn: Any, user: int) -> None:
    from recompense.web import queries

    queries._user_vouchers(conn, user)


LEAN_VOUCHERS = (
    "SELECT id, program_id, user_id, amount_cents, currency, status, issued_at, expires_at,"
    " closed_at, issue_entry_id, close_entry_id FROM vouchers WHERE user_id = :u"
    " ORDER BY issued_at, id"
)
LEAN_CREDITS = (
    "SELECT j.id, j.kind, j.program_id, p.voucher_id, p.amount_cents, p.currency,"
    " j.created_at FROM postings p JOIN ledger_accounts a ON a.id = p.account_id"
    " JOIN journal_entries j ON j.id = p.entry_id WHERE a.code = ANY(:codes)"
    " ORDER BY j.created_at, j.id"
)


def _lean(engine: Any, user: int) -> None:
    """What the voucher list's reads could cost: the same two reads, leaner (a sketch)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        found = conn.execute(sa.text(LEAN_VOUCHERS), {"u": user}).fetchall()
        codes = sorted({f"user:{user}:rewards:{row[4]}" for row in found})
        conn.execute(sa.text(LEAN_CREDITS), {"codes": codes}).fetchall()


def _raw(conn: Any, sql: str, user: int) -> None:
    conn.execute(sql, (user,)).fetchall()


def _asgi_steps(
    settings: Any, program: str, eligible: list[Any], liquidated: list[Any]
) -> list[tuple[str, list[tuple[int, str]], Any]]:
    """Whole requests through the app's ASGI interface (no socket, no uvicorn), with the
    request metrics and the access log off, then on (JSON lines to a file, as served)."""
    import asyncio
    import dataclasses
    import logging

    import httpx

    from recompense.observability.logs import json_handler
    from recompense.web.app import create_app

    log_file = tempfile.TemporaryFile("w")  # noqa: SIM115  (lives as long as the process)
    access = logging.getLogger("recompense")
    access.addHandler(json_handler(log_file, logging.INFO))
    access.setLevel(logging.INFO)
    loop = asyncio.new_event_loop()
    steps = []
    for mode in ("off", "on"):
        on = mode == "on"
        app = create_app(dataclasses.replace(settings, request_metrics=on, access_log=on))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")

        def request(template: str, client: Any = client) -> Any:
            def get(user: int, token: str) -> None:
                headers = {"Authorization": f"Bearer {token}"}
                path = template.format(u=user, p=program)
                answer = loop.run_until_complete(client.get(path, headers=headers))
                assert answer.status_code == 200, answer.text

            return get

        steps += [
            (f"ASGI GET /healthz (with httpx), telemetry {mode}", eligible, request("/healthz")),
            (f"ASGI vouchers, telemetry {mode}", eligible, request("/api/users/{u}/vouchers")),
            (
                f"ASGI eligibility, telemetry {mode}",
                liquidated,
                request("/api/programs/{p}/users/{u}/eligibility"),
            ),
        ]
    return steps


def by_package(settings: Any, path: str, pool: list[tuple[int, str]]) -> None:
    """CPU of whole requests to ``path`` through the ASGI app, by package, under cProfile.

    FastAPI runs sync endpoints, dependencies and response validation in a thread pool,
    which cProfile does not follow: for this measurement they run inline instead (the
    thread hops themselves are then not counted).
    """
    import asyncio
    import cProfile
    import pstats

    import fastapi.dependencies.utils
    import fastapi.routing

    from recompense.web.app import create_app

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    saved = fastapi.routing.run_in_threadpool, fastapi.dependencies.utils.run_in_threadpool
    fastapi.routing.run_in_threadpool = fastapi.dependencies.utils.run_in_threadpool = inline
    app = create_app(settings)

    async def call(url: str, token: str) -> None:
        scope = {
            **{"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http"},
            **{"path": url, "raw_path": url.encode(), "query_string": b"", "root_path": ""},
            "headers": [(b"host", b"b"), (b"authorization", f"Bearer {token}".encode())],
            **{"client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200, message

        await app(scope, receive, send)

    async def all_calls() -> None:
        for user, token in pool:
            await call(path.format(u=user), token)

    try:
        asyncio.run(all_calls())  # warm: tokens, run index, pool
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(asyncio.run, all_calls())
    finally:
        fastapi.routing.run_in_threadpool, fastapi.dependencies.utils.run_in_threadpool = saved
    stats: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        stats[_package(filename)] = stats.get(_package(filename), 0.0) + tottime
    total = sum(stats.values())
    print(f"  {path}: {total * 1e6 / len(pool):.0f} µs CPU per request under cProfile, by package:")
    for name, seconds in sorted(stats.items(), key=lambda kv: -kv[1])[:9]:
        print(f"    {name:<24} {100 * seconds / total:5.1f} %")


def _package(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if "/src/recompense/" in filename:
        return "recompense." + filename.split("/src/recompense/")[1].split("/")[0]
    if filename.startswith("~") or "/lib/python3" in filename:
        return "Python (stdlib, builtins)"
    return filename


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    floor = next(r for r in results if r["name"] == "uvicorn floor")["rps"]
    health = next(r for r in results if r["name"] == "GET /healthz")["rps"]
    print(
        f"\n{args.workers} workers, wrk {args.threads} thread(s) {args.connections} "
        f"connections, {args.duration} s per target, {os.cpu_count()} cores"
    )
    columns = "target | req/s | × floor | × healthz | p50 | p90 | p99 | errors | CPU ms/req"
    print(f"| {columns} (server + PG) |\n|" + "---|" * 9)
    for r in results:
        print(
            f"| {r['name']} | {r['rps']:,.0f} | {r['rps'] / floor:.2f} | {r['rps'] / health:.2f} "
            f"| {r['p50_us'] / 1000:.1f} ms | {r['p90_us'] / 1000:.1f} ms "
            f"| {r['p99_us'] / 1000:.1f} ms | {r['status_errors'] + r['socket_errors']} "
            f"| {r['server_cpu_ms']:.2f} + {r['postgres_cpu_ms']:.2f} |"
        )
    for r in results:
        if r["name"] in ("vouchers", "eligibility", "mixed"):
            met = r["rps"] >= TARGET_RPS and r["p99_us"] / 1000 <= TARGET_P99_MS
            cores = os.cpu_count() or 1
            capacity = cores * 1000 / max(r["server_cpu_ms"] + r["postgres_cpu_ms"], 1e-9)
            print(
                f"{r['name']}: target ≥ {TARGET_RPS:,} req/s with p99 ≤ {TARGET_P99_MS:.0f} ms: "
                f"{'MET' if met else 'MISSED'} ({r['rps']:,.0f} req/s, p99 "
                f"{r['p99_us'] / 1000:.1f} ms); CPU-bound ceiling on {cores} idle cores "
                f"≈ {capacity:,.0f} req/s"
            )
    if args.json:
        print(json.dumps(results, indent=2))


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['name']:>28}: {r['rps']:8,.0f} req/s  p50 {r['p50_us'] / 1000:6.1f} ms  "
        f"p99 {r['p99_us'] / 1000:6.1f} ms  errors {r['status_errors'] + r['socket_errors']}  "
        f"CPU/req {r['server_cpu_ms']:.2f} + {r['postgres_cpu_ms']:.2f} ms  "
        f"load {r['load_before']:.1f}"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
