"""What the sign-off and the audit trail add to one ``distribute()`` call, timed alone.

Usage::

    python benchmarks/bench_audit.py RUN_DIR [--calls 500] [--pg-url URL] [--json]

``distribute()`` gains a constant per call (not per voucher): the read of the run's
approvals and the event ``run.distribute`` in the transaction that registers the
programme, and the event ``distribution.complete`` in the one that completes it. At a
million vouchers that is far below what ``bench_distribute.py`` resolves on a shared
machine, so it is timed here by itself, on a fresh migrated database per backend (SQLite
in a temporary folder; PostgreSQL in a new schema, dropped afterwards):

- *baseline*: two transactions that each insert one row (as distribute's registering and
  completing transactions each write, so both commit to disk);
- *with*: the same two transactions plus the approval check in the first and one audit
  event in each, as ``distribute()`` now does.

``--calls`` pairs alternate; the medians and their difference are printed, in ms. The
run folder is only read (its fingerprint; two officers approve it in the fresh database
first): any run folder will do, e.g. ``bench_distribute.py``'s synthetic one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main() -> None:
    args = _parse()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = measure(args.run, f"sqlite:///{folder}/ledger.db", args.calls)
    with _pg_schema(args.pg_url) as url:
        results["postgresql"] = measure(args.run, url, args.calls)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for database, figures in results.items():
        print(
            f"{database:10}  two writing transactions {figures['baseline_ms']:.2f} ms, "
            f"with the check and two events {figures['with_ms']:.2f} ms: "
            f"+{figures['added_ms']:.2f} ms per distribute() call"
        )


def measure(run: Path, url: str, calls: int) -> dict[str, float]:
    from recompense import audit
    from recompense.distribution.approvals import approve, require_approvals
    from recompense.ledger.db import connect, upgrade
    from recompense.runs import read_manifest, run_fingerprint

    upgrade(url)
    for officer in ("ops:bench-approver-1", "ops:bench-approver-2"):
        approve(run, url, officer)
    engine = connect(url)
    fingerprint = run_fingerprint(run)
    program = str(read_manifest(run)["program"]["id"])
    base, added = [], []
    for i in range(calls):
        started = time.perf_counter()
        for _ in range(2):
            with engine.begin() as conn:
                _write(conn)
        base.append(time.perf_counter() - started)
        started = time.perf_counter()
        with engine.begin() as conn:
            _write(conn)
            approvals = require_approvals(conn, program, fingerprint, run)
            audit.record(
                conn,
                actor="ops:bench",
                action="run.distribute",
                subject=f"run:{fingerprint}",
                details={"call": i, "approvers": [a.approver for a in approvals]},
            )
        with engine.begin() as conn:
            _write(conn)
            audit.record(
                conn,
                actor="ops:bench",
                action="distribution.complete",
                subject=f"program:{program}",
                details={"call": i},
            )
        added.append(time.perf_counter() - started)
    engine.dispose()
    baseline, with_audit = statistics.median(base) * 1e3, statistics.median(added) * 1e3
    return {"baseline_ms": baseline, "with_ms": with_audit, "added_ms": with_audit - baseline}


def _write(conn: Any) -> None:
    """One row, as each of distribute's two transactions writes anyway."""
    from recompense.web.queries import web_accesses

    row = {"subject": "bench", "role": "ops", "user_id": 1, "action": "bench", "target": ""}
    conn.execute(web_accesses.insert().values(at=datetime.now(UTC), **row))


@contextmanager
def _pg_schema(base: str) -> Iterator[str]:
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="example: python benchmarks/bench_audit.py benchmarks/data/run-1000000-seed-7",
    )
    parser.add_argument("run", type=Path, help="a run folder (only read)")
    parser.add_argument("--calls", type=int, default=500, help="timed pairs (default 500)")
    parser.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL server (default {PG_URL})")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser.parse_args()


if __name__ == "__main__":
    main()
