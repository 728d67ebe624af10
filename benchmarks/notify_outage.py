"""Outages of the mail relay and the push gateway, end to end with real worker processes.

    .venv/bin/python benchmarks/notify_outage.py --scenario mail-60s
    .venv/bin/python benchmarks/notify_outage.py --scenario mail-10min --json
    .venv/bin/python benchmarks/notify_outage.py --scenario both-60s --db sqlite

Method:

- a fresh ledger (PostgreSQL by default: a new schema on
  ``RECOMPENSE_BENCH_POSTGRES_URL``, dropped after; or SQLite in a temporary folder) with
  ``--users`` users' notifications (one push and one email each) pending;
- the sinks of the tests (``tests/notify/notify_support.py``: aiosmtpd and a threading
  HTTP push gateway) run in this process on loopback; ``--outage-at`` seconds after the
  workers start, the scenario's sinks go ``down()`` — connections refused, open sessions
  cut — for ``--outage`` seconds (the scenario's default), then come back ``up()``;
- ``--workers`` processes ``recompense notify --until-done --json`` drain the outbox,
  paced with ``--rate`` sends per second each so the outage hits mid-drain; retries use
  a 1 s backoff base and a 30 s cap with 8 attempts (``RECOMPENSE_NOTIFY_BACKOFF_BASE``,
  ``_CAP``, ``_MAX_ATTEMPTS``: a team in a hurry to get vouchers out), and the channel
  breaker probes after 1 s, doubling up to 30 s (``RECOMPENSE_NOTIFY_PROBE_BASE``,
  ``_CAP``; a worker without a breaker ignores them);
- when every worker has exited (or ``--outage + --grace`` seconds have passed, when they
  are stopped with SIGTERM), the figures are read from the ledger and the sinks.

Figures: rows delivered (``sent``), given up (``failed`` with ``gave-up:`` or
``abandoned:``), rejected, still pending; claims (what the workers report claiming, or
the sum of ``attempts`` for a worker that does not report it) and attempts counted (sum
of ``attempts``) against rows; SMTP transactions (MAIL FROM) and sessions (EHLO) and
push requests that reached a server; probes (SMTP NOOP); duplicates: idempotency keys
received more than once. Nothing is asserted: this is a measurement (the assertions are
in ``tests/notify/test_notify_outage.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "notify"))
sys.path.insert(0, str(ROOT / "benchmarks"))

SCENARIOS = {  # name: (channels taken down, default outage seconds)
    "mail-60s": (("email",), 60.0),
    "mail-10min": (("email",), 600.0),
    "both-60s": (("email", "push"), 60.0),
}


@dataclass(frozen=True)
class Figures:
    scenario: str
    database: str
    rows: int
    workers: int
    outage_seconds: float
    seconds: float
    delivered: int
    given_up: int
    rejected: int
    pending_left: int
    claims: int
    attempts_counted: int
    smtp_transactions: int
    smtp_sessions: int
    smtp_probes: int
    push_requests: int
    duplicates: int
    duplicate_keys: int
    missing: int
    worker_exit_codes: tuple[int, ...]


def main() -> None:
    args = _arguments()
    from bench_notify import _ledger

    with _ledger(args.db) as url:
        figures = run(url, args)
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
    else:
        _print(figures)


def run(url: str, args: argparse.Namespace) -> Figures:
    from notify_support import HttpSink, SmtpSink, insert_rows, outbox_rows

    channels, default_outage = SCENARIOS[args.scenario]
    outage = args.outage if args.outage is not None else default_outage
    insert_rows(url, outbox_rows(range(1, args.users + 1)))
    rows = 2 * args.users
    with SmtpSink() as smtp, HttpSink() as gateway:
        sinks = {"email": smtp, "push": gateway}
        env = {
            **os.environ,
            "RECOMPENSE_SMTP_PORT": str(smtp.port),
            "RECOMPENSE_PUSH_URL": gateway.url,
            "RECOMPENSE_NOTIFY_RATE": str(args.rate),
            "RECOMPENSE_NOTIFY_BACKOFF_BASE": "1",
            "RECOMPENSE_NOTIFY_BACKOFF_CAP": "30",
            "RECOMPENSE_NOTIFY_MAX_ATTEMPTS": "8",
            "RECOMPENSE_NOTIFY_PROBE_BASE": "1",
            "RECOMPENSE_NOTIFY_PROBE_CAP": "30",
            "RECOMPENSE_NOTIFY_POLL_SECONDS": "0.5",
            "RECOMPENSE_SMTP_TIMEOUT": "10",
            "RECOMPENSE_PUSH_TIMEOUT": "10",
        }
        started = time.monotonic()
        workers = [_worker(url, env, index) for index in range(args.workers)]
        done = threading.Event()
        timeline = threading.Thread(
            target=_outage,
            args=([sinks[c] for c in channels], started, args.outage_at, outage, done, url),
            daemon=True,
        )
        timeline.start()
        results, codes = _wait(workers, started + args.outage_at + outage + args.grace)
        seconds = time.monotonic() - started
        done.set()
        timeline.join()
        for sink in sinks.values():
            sink.up()
        received = smtp.keys() + gateway.keys()
        probes = smtp.noops
        transactions, sessions, requests = smtp.transactions, smtp.sessions, len(gateway.pushes)
    return _figures(
        args, url, outage, rows, seconds, results, codes, received,
        (transactions, sessions, probes, requests),
    )  # fmt: skip


def _worker(url: str, env: dict[str, str], index: int) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "recompense.cli", "notify", "--db", url, "--until-done",
        "--json", "--worker-id", f"outage-{index}",
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _outage(
    sinks: list[Any], started: float, at: float, seconds: float, done: threading.Event, url: str
) -> None:
    """Take ``sinks`` down at ``at``, back up at ``at + seconds``; print the backlog."""
    went_down = came_up = False
    while not done.wait(1.0):
        elapsed = time.monotonic() - started
        if not went_down and elapsed >= at:
            for sink in sinks:
                sink.down()
            went_down = True
            _say(f"{elapsed:7.1f} s  outage starts")
        if went_down and not came_up and elapsed >= at + seconds:
            for sink in sinks:
                sink.up()
            came_up = True
            _say(f"{elapsed:7.1f} s  outage ends")
        if int(elapsed) % 10 == 0:
            _say(f"{elapsed:7.1f} s  {_statuses(url)}")


def _wait(
    workers: list[subprocess.Popen[str]], deadline: float
) -> tuple[list[dict[str, Any]], tuple[int, ...]]:
    results, codes = [], []
    for process in workers:
        try:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=120)
        codes.append(process.returncode)
        try:
            results.append(json.loads(out))
        except json.JSONDecodeError:
            _say(f"worker exited {process.returncode}: {err.strip()[-2000:]}")
    return results, tuple(codes)


def _figures(
    args: argparse.Namespace,
    url: str,
    outage: float,
    rows: int,
    seconds: float,
    results: list[dict[str, Any]],
    codes: tuple[int, ...],
    received: Counter[str],
    reached: tuple[int, int, int, int],
) -> Figures:
    from notify_support import table

    stored = table(url)
    failed = [r["last_error"] or "" for r in stored.values() if r["status"] == "failed"]
    attempts = sum(int(r["attempts"]) for r in stored.values())
    claims = sum(int(r.get("claimed", 0)) for r in results) or attempts
    transactions, sessions, probes, requests = reached
    return Figures(
        scenario=args.scenario,
        database=args.db,
        rows=rows,
        workers=args.workers,
        outage_seconds=outage,
        seconds=round(seconds, 1),
        delivered=sum(1 for r in stored.values() if r["status"] == "sent"),
        given_up=sum(1 for e in failed if e.startswith(("gave-up:", "abandoned:"))),
        rejected=sum(1 for e in failed if e.startswith("rejected:")),
        pending_left=sum(1 for r in stored.values() if r["status"] in ("pending", "sending")),
        claims=claims,
        attempts_counted=attempts,
        smtp_transactions=transactions,
        smtp_sessions=sessions,
        smtp_probes=probes,
        push_requests=requests,
        duplicates=sum(n - 1 for n in received.values() if n > 1),
        duplicate_keys=sum(1 for n in received.values() if n > 1),
        missing=len(set(stored) - set(received)),
        worker_exit_codes=codes,
    )


def _statuses(url: str) -> str:
    from notify_support import table

    tally = Counter(r["status"] for r in table(url).values())
    return " ".join(
        f"{status} {tally[status]:,}" for status in ("pending", "sending", "sent", "failed")
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="mail-60s")
    parser.add_argument("--outage", type=float, help="seconds (default: the scenario's)")
    parser.add_argument("--outage-at", type=float, default=10.0, help="seconds after start")
    parser.add_argument("--grace", type=float, default=300.0, help="seconds after the outage")
    parser.add_argument("--users", type=int, default=10_000, help="two rows per user")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0, help="sends/s per worker")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def _print(f: Figures) -> None:
    print(
        f"{f.scenario} on {f.database}: {f.rows:,} rows, {f.workers} workers, outage "
        f"{f.outage_seconds:g} s, {f.seconds:g} s in all (worker exits {f.worker_exit_codes})\n"
        f"  delivered {f.delivered:,} · given up {f.given_up:,} · rejected {f.rejected:,} · "
        f"left pending {f.pending_left:,}\n"
        f"  claims {f.claims:,} for {f.rows:,} rows ({f.claims / f.rows:.2f} per row); "
        f"attempts counted {f.attempts_counted:,}\n"
        f"  reached a server: SMTP transactions {f.smtp_transactions:,} (sessions "
        f"{f.smtp_sessions:,}, probes {f.smtp_probes:,}), push requests {f.push_requests:,}\n"
        f"  duplicates {f.duplicates:,} ({f.duplicate_keys:,} keys, each under its own "
        f"idempotency key); missing {f.missing:,}"
    )


if __name__ == "__main__":
    main()
