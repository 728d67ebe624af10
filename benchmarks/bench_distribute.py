"""Benchmark voucher distribution into PostgreSQL and SQLite against two reference points.

Usage::

    python benchmarks/bench_distribute.py --count 1000000 [--repeats 3] [--json]
    python benchmarks/bench_distribute.py --count 100000 --databases sqlite --orm-sample 2000

Method:

1. A *synthetic run folder* of ``--count`` eligible users is written once per size and
   seed into ``--data-dir/run-N-seed-S/`` (git-ignored) with the run folder's own writers:
   ``allocations.parquet`` (amounts between $4 and $6,000 summing exactly to the budget,
   $250 a user on average), ``recipients.parquet`` (an email for ~99% of users, locales
   en/es) and a ``manifest.json`` holding only the keys ``distribute()`` and
   ``reconcile()`` read, with the SHA-256 of both Parquet files. Running the engine on a
   million eligible users is impractical here; the distributor only reads the folder.
2. Every measurement runs in a fresh subprocess against a fresh, migrated database (a new
   PostgreSQL schema ``bench_*`` reached through ``search_path``, dropped afterwards; a
   new SQLite file in a temporary directory), so caches, pools and peak memory are its own.
   Both databases run with the project's settings (``recompense.ledger.db.connect``:
   SQLite in WAL mode with ``synchronous=FULL``; PostgreSQL as configured, ``fsync`` on).
3. Methods, all writing the same voucher rows (ids, amounts, timestamps) into the
   migrated ``vouchers`` table with all its constraints and indexes:

   - ``distribute B=…``: ``recompense.distribution.distribute.distribute(run, url,
     batch_size=B)`` end to end, reading the folder included (two officers approve the
     run before the clock starts; the approval check and the audit events are timed):
     vouchers, one journal entry per batch (two postings; the vouchers are the
     liability's subsidiary ledger), and the outbox (a push notification per voucher,
     plus an email for users with an address), committed per batch. ``reconcile(run,
     url)`` then runs on the fresh tables, without an ``ANALYZE`` (its checks are
     set-based), and every check must pass, or the script exits 1;
   - ``COPY`` (PostgreSQL): one ``COPY vouchers (…) FROM STDIN`` of the voucher rows only,
     psycopg ``cursor.copy`` + ``write_row``, one transaction — the practical limit;
   - ``executemany`` (SQLite): one plain ``INSERT`` ``executemany`` of the voucher rows in
     one transaction — SQLite's practical limit;
   - ``ORM row by row``: a SQLAlchemy ORM class mapped over ``vouchers``, one
     ``session.add()`` and ``session.commit()`` per voucher. Only ``--orm-sample`` rows
     are written; the time for ``--count`` is *extrapolated* linearly and marked so.

   The reference rows (uuid5 voucher ids and all) are built before the clock starts;
   that preparation time is reported apart. ``distribute`` pays for its own.
4. Per measurement: seconds (median over ``--repeats``), vouchers/s, the ratio of its
   time to the reference's time for the same count (``× ref``), the CPU seconds of the
   client process and of the PostgreSQL backend (read from ``/proc``: robust to other
   processes competing for the cores, unlike wall time), the 1-minute load average at
   the end, and the peak resident memory of its process (``ru_maxrss``). Targets
   (≥ 30,000 vouchers/s on PostgreSQL, within 3× of COPY) are reported as met or
   missed, never enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ANNOUNCED_AT = "2025-10-14T15:17:00Z"
DISTRIBUTION = {"start_within_hours": 24, "complete_within_hours": 96, "voucher_validity_days": 14}
FLOOR_CENTS, CAP_CENTS, MEAN_CENTS = 400, 600_000, 25_000
TARGET_RATE = 30_000
TARGET_RATIO = 3.0
DATABASES = ("postgresql", "sqlite")
REFERENCE = {"postgresql": "COPY", "sqlite": "executemany"}
ORM = "ORM row by row"


@dataclass(frozen=True, slots=True)
class Spec:
    """One measurement, passed to its worker subprocess as JSON."""

    database: str
    method: str  # "distribute" | "reference" | "orm"
    rows: int
    run: str
    pg_url: str
    batch_size: int = 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.worker:
        print(json.dumps(measure(Spec(**json.loads(args.worker)))))
        return 0
    started = time.perf_counter()
    run = ensure_run(args.count, args.seed, args.data_dir)
    specs = plan(args, run)
    results: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for spec in specs:
            _log(f"[{repeat + 1}/{args.repeats}] {spec.database} {_label(spec)} …")
            result = _in_subprocess(spec)
            _log(f"    {result['seconds']:.2f} s, peak {result['peak_rss_mib']:.0f} MiB")
            results.append(result)
    report = summarise(args, run, results, time.perf_counter() - started)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0 if all(r["reconcile_ok"] for r in results if r["method"] == "distribute") else 1


def plan(args: argparse.Namespace, run: Path) -> list[Spec]:
    specs = []
    for database in args.databases:
        for batch in args.batch_sizes:
            specs.append(Spec(database, "distribute", args.count, str(run), args.pg_url, batch))
        specs.append(Spec(database, "reference", args.count, str(run), args.pg_url))
        if args.orm_sample:
            sample = min(args.orm_sample, args.count)
            specs.append(Spec(database, "orm", sample, str(run), args.pg_url))
    return specs


# --- the synthetic run folder -----------------------------------------------------------


def ensure_run(count: int, seed: int, data_dir: Path) -> Path:
    """The cached synthetic run folder for ``count`` users, written atomically once."""
    from recompense.runs.artifacts import MANIFEST

    out = data_dir / f"run-{count}-seed-{seed}"
    if (out / MANIFEST).is_file():
        return out
    _log(f"writing the synthetic run folder {out} …")
    tmp = data_dir / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_run(tmp, count, seed)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_run(folder: Path, count: int, seed: int) -> None:
    from recompense.runs.artifacts import (
        ALLOCATIONS,
        ALLOCATIONS_SCHEMA,
        MANIFEST,
        RECIPIENTS,
        RECIPIENTS_SCHEMA,
        sha256_file,
        write_json,
        write_parquet,
    )

    rng = np.random.default_rng(seed)
    user_ids = np.arange(1, count + 1, dtype=np.int64)
    weight = rng.lognormal(mean=0.0, sigma=1.5, size=count)
    budget = count * MEAN_CENTS
    amount, bound = allocate(weight, budget)
    allocations = pa.table(
        {
            "user_id": user_ids,
            "weight": weight,
            "amount_cents": amount,
            "floor_cents": np.full(count, FLOOR_CENTS, np.int64),
            "cap_cents": np.full(count, CAP_CENTS, np.int64),
            "bound": bound,
        },
        schema=ALLOCATIONS_SCHEMA,
    )
    has_email = rng.random(count) < 0.99  # ~1% of users have no address
    emails = [
        f"user{u}@example.com" if e else None for u, e in zip(user_ids, has_email, strict=True)
    ]
    locales = np.where(rng.random(count) < 0.7, "en", "es")
    recipients = pa.table(
        {"user_id": user_ids, "email": emails, "locale": locales}, schema=RECIPIENTS_SCHEMA
    )
    write_parquet(allocations, folder / ALLOCATIONS)
    write_parquet(recipients, folder / RECIPIENTS)
    manifest = {
        "program": {
            "id": f"bench-distribute-{count}",
            "name": f"Benchmark: {count:,} vouchers",
            "currency": "USDC",
            "announced_at": ANNOUNCED_AT,
        },
        "policy": {"parameters": {"distribution": DISTRIBUTION}},
        "counts": {"eligible": count},
        "allocated_cents": int(amount.sum()),
        "artifacts": {name: sha256_file(folder / name) for name in (ALLOCATIONS, RECIPIENTS)},
    }
    write_json(folder / MANIFEST, manifest)


def allocate(weight: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer cents ∝ weight, clipped to [floor, cap], summing to ``budget`` exactly.

    λ is found by bisection; the cents lost to flooring go one each to the largest
    unclipped shares. A stand-in for the real solver, good enough to give realistic data.
    """
    lo, hi = 0.0, CAP_CENTS / weight.min()
    for _ in range(200):
        lam = (lo + hi) / 2
        if np.clip(np.floor(lam * weight), FLOOR_CENTS, CAP_CENTS).sum() > budget:
            hi = lam
        else:
            lo = lam
    amount = np.clip(np.floor(lo * weight), FLOOR_CENTS, CAP_CENTS).astype(np.int64)
    share = np.flatnonzero((amount > FLOOR_CENTS) & (amount < CAP_CENTS - 1))
    missing = budget - int(amount.sum())
    if not 0 <= missing <= len(share):
        raise ValueError(f"cannot place {missing} cents: budget out of reach")
    amount[share[np.argsort(-weight[share], kind="stable")[:missing]]] += 1
    bound = np.where(amount <= FLOOR_CENTS, "floor", np.where(amount >= CAP_CENTS, "cap", "share"))
    return amount, bound


# --- one measurement (in its own process) ----------------------------------------------


def measure(spec: Spec) -> dict[str, Any]:
    with _database(spec) as url:
        run = Path(spec.run)
        result: dict[str, Any] = {"database": spec.database, "method": spec.method}
        if spec.method == "distribute":
            result |= _distribute(run, url, spec.batch_size)
        elif spec.method == "reference":
            result |= _reference(run, url, spec.rows)
        else:
            result |= _orm(run, url, spec.rows)
    result |= {
        "batch_size": spec.batch_size or None,
        "rows": spec.rows,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return result


class Meter:
    """Wall seconds, client CPU and database-server CPU of one timed block.

    The machine may be shared: CPU seconds, unlike wall seconds, barely move when other
    processes compete for the cores. The server's CPU is read from ``/proc`` for every
    PostgreSQL backend the block uses (a local server only); SQLite runs in-process, so
    its work is client CPU.
    """

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self._base: dict[int, float] = {}
        event.listen(engine, "checkout", lambda dbapi, _record, _proxy: self.track(dbapi))

    def track(self, dbapi_connection: Any) -> None:
        pid = getattr(getattr(dbapi_connection, "info", None), "backend_pid", None)
        if pid and pid not in self._base:
            self._base[pid] = _process_cpu(pid)

    def __enter__(self) -> Meter:
        self._base.clear()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.figures = {
            "seconds": time.perf_counter() - self._wall,
            "client_cpu_s": time.process_time() - self._cpu,
            "server_cpu_s": sum(_process_cpu(p) - b for p, b in self._base.items()),
            "load_1min": os.getloadavg()[0],
        }


def _distribute(run: Path, url: str, batch_size: int) -> dict[str, Any]:
    from recompense.distribution.approvals import approve
    from recompense.distribution.distribute import distribute
    from recompense.distribution.reconcile import reconcile
    from recompense.gil import short_switch_interval
    from recompense.ledger.db import connect

    for officer in ("ops:bench-approver-1", "ops:bench-approver-2"):  # before the clock
        approve(run, url, officer)
    # The interval `recompense distribute` sets at its entry point (the library does not).
    with short_switch_interval(), Meter(connect(url)) as meter:  # approvals check, audit too
        outcome = distribute(run, url, batch_size=batch_size, actor="ops:bench")
    analyze_s = 0.0  # reconcile runs on the fresh tables, without statistics
    t0 = time.perf_counter()
    checks = reconcile(run, url)
    return meter.figures | {
        "issued": outcome.issued_now,
        "rows_written": _row_counts(url),
        "analyze_s": analyze_s,
        "reconcile_s": time.perf_counter() - t0,
        "reconcile_ok": all(c.passed for c in checks),
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks],
    }


def _reference(run: Path, url: str, count: int) -> dict[str, Any]:
    """One COPY (PostgreSQL) or one executemany (SQLite) of the voucher rows, one commit.

    The rows name one issue entry, opened (its two postings) in the same transaction
    before them and closed after them, as the schema requires (migration 0004): two rows
    around a million, so the reference is still the voucher rows alone.
    """
    from recompense.distribution.distribute import VOUCHER_COLUMNS
    from recompense.ledger.db import connect

    engine = connect(url)
    t0 = time.perf_counter()
    rows = _voucher_rows(run, count)
    if engine.dialect.name == "sqlite":
        rows = [_sqlite_row(r) for r in rows]
    prepare_s = time.perf_counter() - t0
    fund, liability = _register(engine, run)
    entry, total = rows[0][-1], sum(r[3] for r in rows)
    names = ", ".join(VOUCHER_COLUMNS)
    meter = Meter(engine)
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        conn.rollback()  # the driver's own transaction from here on
        with meter:
            meter.track(driver)
            if engine.dialect.name == "postgresql":
                statement = f"COPY vouchers ({names}) FROM STDIN"
                with driver.transaction(), driver.cursor() as cursor:
                    _open_entry(cursor, "%s", entry, fund, liability, total)
                    with cursor.copy(statement) as copy:
                        for row in rows:
                            copy.write_row(row)
                    _close_entry(cursor, "%s", entry, run)
            else:
                marks = ", ".join("?" * len(rows[0]))
                cursor = driver.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                _open_entry(cursor, "?", entry, fund, liability, total)
                cursor.executemany(f"INSERT INTO vouchers ({names}) VALUES ({marks})", rows)
                _close_entry(cursor, "?", entry, run)
                cursor.execute("COMMIT")
    return meter.figures | {"prepare_s": prepare_s}


def _open_entry(cursor: Any, mark: str, entry: str, fund: int, liability: int, total: int) -> None:
    for account, cents in ((fund, -total), (liability, total)):
        cursor.execute(
            "INSERT INTO postings (entry_id, account_id, currency, amount_cents) "
            f"VALUES ({mark}, {mark}, 'USDC', {mark})",
            (entry, account, cents),
        )


def _close_entry(cursor: Any, mark: str, entry: str, run: Path) -> None:
    cursor.execute(
        "INSERT INTO journal_entries (id, program_id, kind, idempotency_key, memo, created_at) "
        f"VALUES ({mark}, {mark}, 'issue', {mark}, '', {mark})",
        (entry, _program_id(run), f"issue:reference:{entry}", _sqlite_row((datetime.now(UTC),))[0]),
    )


def _program_id(run: Path) -> str:
    from recompense.runs import read_manifest

    return str(read_manifest(run)["program"]["id"])


def _orm(run: Path, url: str, sample: int) -> dict[str, Any]:
    """The naive way: one ORM object, one ``add`` and one ``commit`` per voucher.

    Each voucher is its own issue entry (two postings before it, the entry row after it,
    as the schema requires since migration 0004), written through the same session.
    """
    from sqlalchemy.orm import Session, registry

    from recompense.distribution.distribute import VOUCHER_COLUMNS
    from recompense.ledger.db import connect
    from recompense.ledger.journal import Posting, close_entry, open_entry
    from recompense.ledger.schema import vouchers

    class Voucher:
        def __init__(self, **values: Any) -> None:
            for key, value in values.items():
                setattr(self, key, value)

    registry().map_imperatively(Voucher, vouchers)
    engine = connect(url)
    rows = _voucher_rows(run, sample)
    fund, liability = _register(engine, run)
    with Meter(engine) as meter, Session(engine) as session:
        for row in rows:
            values = dict(zip(VOUCHER_COLUMNS, row, strict=True))
            cents, conn = values["amount_cents"], session.connection()
            lines = [Posting(fund, -cents, "USDC"), Posting(liability, cents, "USDC")]
            values["issue_entry_id"] = entry = open_entry(conn, lines)
            session.add(Voucher(**values))
            session.flush()
            key = f"issue:orm:{values['user_id']}"
            close_entry(conn, entry, program_id=values["program_id"], kind="issue",
                        idempotency_key=key, now=values["issued_at"])  # fmt: skip
            session.commit()
    return meter.figures


def _voucher_rows(run: Path, count: int) -> list[tuple[Any, ...]]:
    """The vouchers ``distribute`` would write, in the order of ``VOUCHER_COLUMNS``."""
    from recompense.distribution.distribute import voucher_id
    from recompense.runs import read_allocations, read_manifest

    manifest = read_manifest(run)
    program, currency = manifest["program"]["id"], manifest["program"]["currency"]
    allocations = read_allocations(run).slice(0, count)
    now = datetime.now(UTC)
    expires = now + timedelta(days=DISTRIBUTION["voucher_validity_days"])
    entry = str(uuid.uuid4())
    users, cents = allocations["user_id"].to_pylist(), allocations["amount_cents"].to_pylist()
    return [
        (voucher_id(program, u), program, u, c, currency, "issued", now, expires, entry)
        for u, c in zip(users, cents, strict=True)
    ]


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)


def _register(engine: Any, run: Path) -> tuple[int, int]:
    """The programme row the vouchers' foreign key needs (what ``distribute`` writes first),
    and the programme's fund and liability accounts (their ids)."""
    from recompense.ledger.journal import ensure_account, fund_code, liability_code
    from recompense.ledger.schema import programs
    from recompense.runs import read_manifest, run_fingerprint

    manifest = read_manifest(run)
    program, now = manifest["program"]["id"], datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            programs.insert().values(
                id=program,
                name=manifest["program"]["name"],
                currency=manifest["program"]["currency"],
                run_fingerprint=run_fingerprint(run),
                run_path=str(run),
                announced_at=datetime.fromisoformat(ANNOUNCED_AT),
                vouchers_total=manifest["counts"]["eligible"],
                amount_total_cents=manifest["allocated_cents"],
                created_at=now,
                **DISTRIBUTION,
            )
        )
        fund = ensure_account(conn, fund_code(program), "fund", "USDC", now, program_id=program)
        liability = ensure_account(
            conn, liability_code(program), "liability", "USDC", now, program_id=program
        )
    return fund, liability


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a local process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _row_counts(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from recompense.ledger.db import connect
    from recompense.ledger.schema import journal_entries, notifications, postings, vouchers

    with connect(url).connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (vouchers, postings, journal_entries, notifications)
        }


@contextlib.contextmanager
def _database(spec: Spec) -> Iterator[str]:
    """A fresh migrated database for one measurement: its URL; removed afterwards."""
    from recompense.ledger.db import connect, upgrade

    if spec.database == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="bench-distribute-"))
        url = f"sqlite:///{folder / 'ledger.db'}"
    else:
        schema = f"bench_{os.getpid()}_{int(time.time())}"
        _admin(spec.pg_url, f"CREATE SCHEMA {schema}")
        url = f"{spec.pg_url}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        connect(url).dispose()
        if spec.database == "sqlite":
            shutil.rmtree(folder, ignore_errors=True)
        else:
            _admin(spec.pg_url, f"DROP SCHEMA {schema} CASCADE")


def _admin(pg_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(statement)


def _in_subprocess(spec: Spec) -> dict[str, Any]:
    worker = [sys.executable, __file__, "--worker", json.dumps(asdict(spec))]
    done = subprocess.run(worker, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"worker failed ({done.returncode}): {spec}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


# --- summary ----------------------------------------------------------------------------


def summarise(
    args: argparse.Namespace, run: Path, results: list[dict[str, Any]], wall: float
) -> dict[str, Any]:
    rows = []
    for database in args.databases:
        mine = [r for r in results if r["database"] == database]
        reference = _median(mine, "reference", "seconds")
        for method, batch in dict.fromkeys((r["method"], r["batch_size"]) for r in mine):
            group = [r for r in mine if r["method"] == method and r["batch_size"] == batch]
            rows.append(_row(database, method, batch, group, args.count, reference))
    return {
        "count": args.count,
        "repeats": args.repeats,
        "run": str(run),
        "machine": _machine(args.pg_url),
        "table": rows,
        "targets": _verdicts(rows),
        "checks": _checks(results),
        "peak_rss_mib_orchestrator": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_s": round(wall, 1),
        "runs": results,
    }


def _row(
    database: str,
    method: str,
    batch: int | None,
    group: list[dict[str, Any]],
    count: int,
    reference: float,
) -> dict[str, Any]:
    """Medians over the repeats, scaled to ``count`` (extrapolated for the ORM sample)."""
    scale = count / group[0]["rows"]
    seconds = _median(group, method, "seconds") * scale
    row = {
        "database": database,
        "method": {"reference": REFERENCE[database], "orm": ORM}.get(
            method, f"distribute B={batch}"
        ),
        "rows": group[0]["rows"],
        "seconds": round(seconds, 2),
        "extrapolated": scale != 1,
        "vouchers_per_s": round(count / seconds),
        "x_reference": round(seconds / reference, 2),
        "client_cpu_s": round(_median(group, method, "client_cpu_s") * scale, 1),
        "server_cpu_s": round(_median(group, method, "server_cpu_s") * scale, 1),
        "min_s": round(min(r["seconds"] for r in group) * scale, 2),
        "max_s": round(max(r["seconds"] for r in group) * scale, 2),
        "max_load_1min": round(max(r["load_1min"] for r in group), 1),
        "peak_rss_mib": round(max(r["peak_rss_mib"] for r in group)),
    }
    if method == "distribute":
        row["analyze_s"] = round(_median(group, method, "analyze_s"), 2)
        row["reconcile_s"] = round(_median(group, method, "reconcile_s"), 2)
        row["rows_written"] = group[0]["rows_written"]
    if method == "reference":
        row["prepare_s"] = round(_median(group, method, "prepare_s"), 2)
    return row


def _median(group: list[dict[str, Any]], method: str, key: str) -> float:
    return float(statistics.median(r[key] for r in group if r["method"] == method))


def _verdicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "method": row["method"],
            "rate_met": row["vouchers_per_s"] >= TARGET_RATE,
            "ratio_met": row["x_reference"] <= TARGET_RATIO,
        }
        for row in rows
        if row["database"] == "postgresql" and row["method"].startswith("distribute")
    ]


def _checks(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reconcile checks of the first distribute run per database."""
    firsts: dict[str, dict[str, Any]] = {}
    for r in results:
        if r["method"] == "distribute":
            firsts.setdefault(r["database"], r)
    return [{"database": db, "checks": r["checks"]} for db, r in firsts.items()]


def render(report: dict[str, Any]) -> str:
    machine = report["machine"]
    head: tuple[str, ...] = ("database", "method", "rows", "seconds", "vouchers/s", "× ref")
    head += ("CPU client + server s", "load", "peak MiB")
    lines = [
        f"{report['count']:,} vouchers, median of {report['repeats']} "
        f"({machine['cpus']} CPUs, Python {machine['python']}, {machine['postgresql']}, "
        f"SQLite {machine['sqlite']}, SQLAlchemy {machine['sqlalchemy']}, "
        f"psycopg {machine['psycopg']})",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in report["table"]:
        extrapolated = " (extrapolated)" if row["extrapolated"] else ""
        cells = (
            row["database"],
            row["method"],
            f"{row['rows']:,}",
            f"{row['seconds']:.1f}{extrapolated}",
            f"{row['vouchers_per_s']:,}",
            f"{row['x_reference']:.2f}",
            f"{row['client_cpu_s']:.1f} + {row['server_cpu_s']:.1f}",
            f"{row['max_load_1min']:.1f}",
            f"{row['peak_rss_mib']:,}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *_notes(report)]
    return "\n".join(lines)


def _notes(report: dict[str, Any]) -> list[str]:
    lines = [
        "× ref: time over the reference's (COPY on PostgreSQL, executemany on SQLite). "
        "CPU: this process + the PostgreSQL backend (SQLite runs in-process). "
        "load: 1-minute load average at the end (the most over the repeats)."
    ]
    for row in report["table"]:
        label = f"{row['database']} {row['method']}"
        if "reconcile_s" in row:
            written = ", ".join(f"{k} {v:,}" for k, v in row["rows_written"].items())
            lines.append(f"{label}: wrote {written}; reconcile {row['reconcile_s']:.1f} s")
        if "prepare_s" in row:
            lines.append(f"{label}: rows built in {row['prepare_s']:.1f} s before the clock")
    for item in report["checks"]:
        lines.append(f"reconcile on {item['database']} (first run):")
        lines += [
            f"  {'ok  ' if c['passed'] else 'FAIL'} {c['name']}: {c['detail']}"
            for c in item["checks"]
        ]
    for verdict in report["targets"]:
        rate = "met" if verdict["rate_met"] else "MISSED"
        ratio = "met" if verdict["ratio_met"] else "MISSED"
        lines.append(
            f"target, PostgreSQL {verdict['method']}: ≥ {TARGET_RATE:,} vouchers/s {rate}; "
            f"within {TARGET_RATIO:g}× of COPY {ratio}"
        )
    lines.append(
        f"peak RSS of this (orchestrating) process {report['peak_rss_mib_orchestrator']:.0f} MiB; "
        f"whole benchmark {report['wall_s']:.0f} s"
    )
    return lines


def _machine(pg_url: str) -> dict[str, Any]:
    import sqlite3

    import psycopg

    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        server = conn.execute("SHOW server_version").fetchone()
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                "('shared_buffers', 'max_wal_size', 'fsync', 'synchronous_commit', 'autovacuum')"
            ).fetchall()
        )
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": f"PostgreSQL {server[0] if server else '?'}",
        "postgresql_settings": settings,
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": metadata.version("sqlalchemy"),
        "psycopg": metadata.version("psycopg"),
        "platform": platform.platform(),
    }


def _label(spec: Spec) -> str:
    if spec.method == "distribute":
        return f"distribute B={spec.batch_size} ({spec.rows:,})"
    return f"{spec.method} ({spec.rows:,})"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="example: python benchmarks/bench_distribute.py --count 1000000 --repeats 3",
    )
    parser.add_argument("--count", type=int, default=1_000_000, help="vouchers (default 1M)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per method (median)")
    parser.add_argument(
        "--batch-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[20_000],
        help="distribute batch sizes, comma-separated (default 20000)",
    )
    parser.add_argument(
        "--databases",
        type=lambda s: [x for x in s.split(",") if x],
        default=list(DATABASES),
        help="postgresql,sqlite (default both)",
    )
    parser.add_argument(
        "--orm-sample",
        type=int,
        default=10_000,
        help="rows written row by row by the ORM, extrapolated to --count (0: skip)",
    )
    parser.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL server (default {PG_URL})")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.databases) - set(DATABASES)
    if unknown:
        parser.error(f"--databases: unknown {sorted(unknown)}; choose from {DATABASES}")
    return args


if __name__ == "__main__":
    sys.exit(main())
