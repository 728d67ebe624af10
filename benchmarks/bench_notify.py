"""Notifications drained per second, into local SMTP and HTTP sinks, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_notify.py --count 20000
    .venv/bin/python benchmarks/bench_notify.py --workers 3 --threads 4 --db postgresql

Method:

- a fresh ledger per database (SQLite: a file in a temporary folder; PostgreSQL: a new
  schema on ``RECOMPENSE_BENCH_POSTGRES_URL``, default the local server, dropped after),
  migrated, then filled with ``--count`` pending notifications shaped like
  distribution's (half push, half email; locales en and es);
- the sinks run in their own processes: aiosmtpd (the tests' ``SmtpSink``) and a push
  gateway, by default a lean asyncio HTTP/1.1 server defined here (``--http-sink
  threading`` uses the tests' ``ThreadingHTTPServer`` instead, which costs ~4× more CPU
  per request: on a small machine the sinks compete with the workers for the cores);
- ``--workers`` processes import everything and open their database connection first,
  then start together and run ``drain(url, settings, once=True)``; the clock runs from
  the start signal until the last worker returns, so start-up is excluded;
- afterwards every row must be ``sent`` and the sinks must have received every
  idempotency key exactly once, or the run is reported as failed.

The figure is ``count / wall seconds``; with ``--repeats`` the median is reported. Next
to it: CPU per notification in the workers, the sinks and the PostgreSQL backends, the
cores all of them used together, and the load average before the run — on a shared
machine, other tenants' load lowers the rate but not the CPU per notification, so
``cores / (total CPU per notification)`` is the rate those cores could sustain. Speed is
measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "notify"))

POSTGRES_URL = os.environ.get(
    "RECOMPENSE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Figure:
    database: str
    http_sink: str
    count: int
    workers: int
    threads: int
    batch: int
    fill_seconds: float
    seconds: float
    per_second: float
    worker_cpu_us: float  # CPU per notification in the workers (all threads)
    sink_cpu_us: float  # CPU per notification in the SMTP and HTTP sinks
    db_cpu_us: float  # CPU per notification in the PostgreSQL backends (SQLite: in workers)
    cores_used: float  # CPU seconds of all of the above per wall second
    load_before: float  # 1-minute load average when the run started (other tenants)
    ok: bool
    problem: str


def main() -> None:
    args = _arguments()
    figures = []
    for database in args.db.split(","):
        runs = [_run(database, args) for _ in range(args.repeats)]
        best = sorted(runs, key=lambda f: f.seconds)[len(runs) // 2]
        figures.append(best)
        if not args.json:
            _print(best, [f.per_second for f in runs])
    if args.json:
        print(json.dumps({"machine": _machine(), "runs": [asdict(f) for f in figures]}, indent=2))
    else:
        print(f"machine: {_machine()}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="notifications (even)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=4, help="sender threads per worker")
    parser.add_argument("--batch", type=int, default=500, help="rows claimed at a time")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--http-sink", choices=("asyncio", "threading"), default="asyncio")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def _run(database: str, args: argparse.Namespace) -> Figure:
    from notify_support import insert_rows, outbox_rows

    from recompense.notify import NotifySettings

    with _ledger(database) as url:
        started = time.perf_counter()
        insert_rows(url, outbox_rows(range(1, args.count // 2 + 1)))
        fill = time.perf_counter() - started
        ctx = mp.get_context("spawn")
        with _Sink(ctx, "smtp") as smtp, _Sink(ctx, args.http_sink) as http:
            settings = NotifySettings(
                smtp_port=int(smtp.address),
                push_url=http.address,
                threads=args.threads,
                batch=args.batch,
                smtp_timeout=10,
                push_timeout=10,
                lease_seconds=60,
            )
            load = os.getloadavg()[0]
            seconds, worker_cpu, db_cpu = _drain_with_workers(ctx, url, settings, args.workers)
        sink_cpu = smtp.cpu + http.cpu
        ok, problem = _check(url, smtp.received + http.received, args.count)
    return Figure(
        database, args.http_sink, args.count, args.workers, args.threads, args.batch,
        round(fill, 2), round(seconds, 3), round(args.count / seconds),
        round(worker_cpu / args.count * 1e6), round(sink_cpu / args.count * 1e6),
        round(db_cpu / args.count * 1e6), round((worker_cpu + sink_cpu + db_cpu) / seconds, 2),
        load,
        ok, problem,
    )  # fmt: skip


def _drain_with_workers(
    ctx: Any, url: str, settings: Any, workers: int
) -> tuple[float, float, float]:
    """Wall seconds from the start signal to the last result; CPU seconds of the workers
    and of their PostgreSQL backends (read from /proc: same machine)."""
    start, ready, results = ctx.Event(), ctx.Queue(), ctx.Queue()
    processes = [
        ctx.Process(target=_worker, args=(url, settings, i, start, ready, results))
        for i in range(workers)
    ]
    for p in processes:
        p.start()
    for _ in processes:
        ready.get(timeout=120)
    began = time.perf_counter()
    start.set()
    outcomes = [results.get(timeout=600) for _ in processes]
    seconds = time.perf_counter() - began
    for p in processes:
        p.join()
    failed = [o for o in outcomes if isinstance(o, str)]
    if failed:
        raise SystemExit(f"a worker failed:\n{failed[0]}")
    cpu = sum(o["cpu_seconds"] for o in outcomes)
    return seconds, cpu, sum(o["db_cpu_seconds"] for o in outcomes)


def _worker(url: str, settings: Any, index: int, start: Event, ready: Any, results: Any) -> None:
    import traceback

    from recompense.ledger.db import connect
    from recompense.notify import drain

    engine = connect(url)
    with engine.connect() as conn:  # the pool holds an open connection before the clock
        backend = _backend_pid(conn)
    ready.put(index)
    start.wait()
    try:
        cpu, db_cpu = time.process_time(), _cpu_seconds(backend)
        result = drain(url, settings, worker_id=f"bench-{index}", once=True)
        results.put(
            {
                **asdict(result),
                "cpu_seconds": time.process_time() - cpu,
                "db_cpu_seconds": _cpu_seconds(backend) - db_cpu,
            }
        )
    except Exception:
        results.put(traceback.format_exc())


def _backend_pid(conn: Any) -> int | None:
    from sqlalchemy import text

    if conn.dialect.name != "postgresql":
        return None
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _cpu_seconds(pid: int | None) -> float:
    """utime + stime of a local process from /proc (0 if not local or not readable)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Sink:
    """A sink in its own process; ``address`` is the SMTP port or the push URL."""

    def __init__(self, ctx: Any, kind: str) -> None:
        self._stop, self._out = ctx.Event(), ctx.Queue()
        self._process = ctx.Process(target=_serve, args=(kind, self._stop, self._out))
        self.received: Counter[str] = Counter()
        self.cpu = 0.0

    def __enter__(self) -> _Sink:
        self._process.start()
        self.address = self._out.get(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.received, self.cpu = self._out.get(timeout=120)
        self._process.join()


def _serve(kind: str, stop: Event, out: Any) -> None:
    from notify_support import HttpSink, SmtpSink

    sink: Any = {"smtp": SmtpSink, "threading": HttpSink, "asyncio": AsyncHttpSink}[kind]()
    sink.start()
    out.put(str(sink.port) if kind == "smtp" else sink.url)
    cpu = time.process_time()
    stop.wait()
    keys = sink.keys()
    sink.stop()
    out.put((keys, time.process_time() - cpu))


class AsyncHttpSink:
    """A push gateway that parses just enough HTTP/1.1 (keep-alive, Content-Length)."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _PushProtocol(self.received), "127.0.0.1", 0)
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1/push"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    def keys(self) -> Counter[str]:
        return Counter(self.received)


class _PushProtocol(asyncio.Protocol):
    REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"

    def __init__(self, received: Counter[str]) -> None:
        self.received = received
        self.buffer = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            headers = dict(
                line.split(":", 1) for line in self.buffer[:end].decode("latin-1").split("\r\n")[1:]
            )
            fields = {k.strip().lower(): v.strip() for k, v in headers.items()}
            stop = end + 4 + int(fields.get("content-length", "0"))
            if len(self.buffer) < stop:
                return
            json.loads(self.buffer[end + 4 : stop])  # a gateway reads the notification
            self.buffer = self.buffer[stop:]
            self.received[fields.get("idempotency-key", "")] += 1
            self.transport.write(self.REPLY + b'{"ok":true}')


def _check(url: str, received: Counter[str], count: int) -> tuple[bool, str]:
    from notify_support import table

    rows = table(url)
    not_sent = sum(1 for r in rows.values() if r["status"] != "sent")
    twice = sum(1 for n in received.values() if n > 1)
    missing = len(set(rows) - set(received))
    if len(rows) != count or not_sent or twice or missing:
        return False, f"rows={len(rows)} not_sent={not_sent} duplicates={twice} missing={missing}"
    return True, ""


@contextmanager
def _ledger(database: str) -> Iterator[str]:
    """A migrated, empty ledger; dropped afterwards."""
    from sqlalchemy import create_engine, make_url, text

    from recompense.ledger.db import connect, upgrade

    if database == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/ledger.db"
            upgrade(url)
            yield url
            connect(url).dispose()
        return
    schema = f"bench_notify_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    query = {"options": f"-csearch_path={schema}"}
    url = make_url(POSTGRES_URL).update_query_dict(query).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        connect(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _machine() -> str:
    return (
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _print(figure: Figure, rates: list[float]) -> None:
    status = "ok" if figure.ok else f"FAILED: {figure.problem}"
    spread = f" (runs: {', '.join(f'{r:,.0f}' for r in rates)})" if len(rates) > 1 else ""
    print(
        f"{figure.database:<10} {figure.count:>7,} notifications, {figure.workers} workers × "
        f"{figure.threads} threads, batch {figure.batch}: {figure.seconds:6.2f} s, "
        f"{figure.per_second:>6,.0f}/s{spread} [{status}]\n"
        f"{'':<10} CPU per notification: workers {figure.worker_cpu_us} µs, sinks "
        f"{figure.sink_cpu_us} µs, PostgreSQL {figure.db_cpu_us} µs; cores used "
        f"{figure.cores_used:.2f}; load average before {figure.load_before:.1f}"
    )


if __name__ == "__main__":
    main()
