"""Benchmark an amendment of many accepted cases over a large run, against the base run.

Usage::

    python benchmarks/bench_amend.py --users 1000000 --cases 10000 [--database postgresql] [--json]

Method:

1. A synthetic crash of ``--users`` users (``recompense synth``, seed 7) is written once
   into ``benchmarks/data/amend-N/`` (git-ignored) and run by the engine (DuckDB) with the
   Together policy and a $6-a-user budget (as ``make demo``): the **base run**, timed.
2. A fresh migrated database (a new PostgreSQL schema via ``search_path``, or a new SQLite
   file): two officers approve the base run and ``distribute`` issues its vouchers, timed
   — the base distribution.
3. ``--cases`` accepted decisions are written as the cases package writes them (a case in
   state ``accepted`` and its ``case_decisions`` row): 40% corrected losses of paid users
   (×1.5: increases), 10% corrected losses of paid users (÷3: decreases, nothing paid),
   20% corrected net assets of users refused only for the loss ratio (they become
   eligible), 30% claims of $10–$500 (verified delayed transfers).
4. Timed: ``amend_run`` (previous run + decisions → the new run folder), then the two
   approvals and ``distribute`` of the top-ups, then ``reconcile`` of the amendment
   (every check must pass, else exit 1).

Printed: seconds per step, and the ratios amendment folder ÷ base run and top-up
distribution ÷ base distribution. Figures, not assertions: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import create_engine, insert, text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROGRAM = ROOT / "programs" / "together-2025-10.toml"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
APPROVERS = ("ops:bench-approver-1", "ops:bench-approver-2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument(
        "--payees",
        type=int,
        default=0,
        help="instead of running the engine on --users, write a synthetic base run folder "
        "of this many eligible users (plus a fifth as many refused for the ratio), paid by "
        "the real allocation solver: the amendment then rewrites a cumulative list this long",
    )
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.users, args.cases, args.database, args.pg_url, args.payees)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)
    if not figures["reconciled"]:
        sys.exit(1)


def run(users: int, cases: int, database: str, pg_url: str, payees: int = 0) -> dict[str, Any]:
    from recompense.amend import amend_run
    from recompense.data.synth import generate
    from recompense.distribution.approvals import approve
    from recompense.distribution.distribute import distribute
    from recompense.distribution.reconcile import reconcile
    from recompense.ledger.db import upgrade
    from recompense.runs import execute_run

    folder = HERE / "data" / f"amend-{users}"
    data = folder / "data"
    if not data.exists() and not payees:
        generate(users, 7, data)
    with (
        tempfile.TemporaryDirectory(prefix="bench-amend-") as tmp,
        database_url(database, pg_url, Path(tmp)) as url,
    ):
        base, a1 = Path(tmp) / "base", Path(tmp) / "a1"
        figures: dict[str, Any] = {"users": users, "cases": cases, "database": database}
        t0 = time.perf_counter()
        if payees:
            synthetic_base(base, payees)
            figures["users"] = payees + payees // 5
        else:
            execute_run(PROGRAM, data, base, budget_usd=Decimal(users * 6), run_by="ops:bench")
        figures["base_run_s"] = time.perf_counter() - t0
        figures["base_kind"] = "synthetic folder" if payees else "engine run"
        upgrade(url)
        for approver in APPROVERS:
            approve(base, url, approver)
        t0 = time.perf_counter()
        result = distribute(base, url, actor="ops:bench")
        figures["base_distribute_s"] = time.perf_counter() - t0
        figures["base_vouchers"] = result.total
        figures["decisions"] = write_decisions(url, base, cases)
        t0 = time.perf_counter()
        amended = amend_run(base, url, a1, run_by="ops:bench")
        figures["amend_s"] = time.perf_counter() - t0
        summary = (amended.manifest or {})["amendment"]
        for approver in APPROVERS:
            approve(a1, url, approver)
        t0 = time.perf_counter()
        topups = distribute(a1, url, actor="ops:bench")
        figures["topups_distribute_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        checks = reconcile(a1, url)
        figures["reconcile_s"] = time.perf_counter() - t0
        figures["reconciled"] = all(c.passed for c in checks)
        figures["failed_checks"] = [c.name for c in checks if not c.passed]
        figures |= {
            "topups": topups.total,
            "topup_cents": summary["topup_cents"],
            "decreases": summary["decreases"],
            "amend_vs_base_run": figures["amend_s"] / figures["base_run_s"],
            "topups_vs_base_distribute": figures["topups_distribute_s"]
            / figures["base_distribute_s"],
        }
    return figures


class database_url:
    """A fresh migrated-to-be database: a new PostgreSQL schema, or a new SQLite file."""

    def __init__(self, kind: str, pg_url: str, tmp: Path) -> None:
        self.kind, self.pg_url, self.tmp = kind, pg_url, tmp
        self.schema = f"bench_amend_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp / 'ledger.db'}"
        with create_engine(self.pg_url).begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {self.schema}"))
        return f"{self.pg_url}?options=-csearch_path%3D{self.schema}"

    def __exit__(self, *exc: object) -> None:
        if self.kind == "postgresql":
            with create_engine(self.pg_url).begin() as conn:
                conn.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))


def synthetic_base(out: Path, payees: int) -> None:
    """A base run folder of ``payees`` eligible users (and a fifth as many refused for the
    loss ratio), written with the run folder's own writers: Together-formula weights on
    lognormal losses, paid by the real allocation solver ($250 a payee on average)."""
    import numpy as np
    import pyarrow as pa

    from recompense.allocation import allocate
    from recompense.engine import RULES
    from recompense.policy import load_policy
    from recompense.runs.artifacts import (
        ALLOCATIONS,
        ELIGIBILITY,
        HOURLY,
        MANIFEST,
        RECIPIENTS,
        allocations_table,
        eligibility_table,
        recipients_table,
        sha256_file,
        write_json,
        write_parquet,
    )
    from recompense.runs.execute import policy_parameters

    policy = load_policy(PROGRAM)
    rng = np.random.default_rng(7)
    n = payees + payees // 5
    user_id = np.arange(1, n + 1, dtype=np.int64)
    loss = np.maximum(5_000, rng.lognormal(11, 1.4, n)).astype(np.int64)
    refused = np.zeros(n, bool)
    refused[rng.choice(n, n - payees, replace=False)] = True
    net = np.where(refused, loss * 5, (loss * rng.uniform(1.0, 3.0, n)).astype(np.int64))
    ratio = loss / net
    capped = np.minimum(ratio, 1.0)
    weight = np.sqrt(loss / 100) * (0.5 + 0.5 * capped)
    users = pa.table(
        {
            "user_id": user_id,
            "loss_cents": loss,
            "net_assets_cents": net,
            "loss_ratio": ratio,
            "incident_loss_cents": np.zeros(n, np.int64),
            "eligible": ~refused,
            "fills": np.full(n, 3, np.int64),
            "loss_ratio_capped": capped,
            "user_type": np.full(n, "individual"),
            "vip_tier": np.zeros(n, np.int64),
            "account_age_days": np.full(n, 400, np.int64),
            "weight": np.where(refused, np.nan, weight),
            "email": [f"u{u}@example.com" for u in user_id],
            "locale": np.full(n, "en"),
            RULES[0].column: np.ones(n, bool),
            RULES[1].column: ~refused,
            RULES[2].column: np.ones(n, bool),
        }
    )
    eligible = users.filter(users["eligible"])
    budget = payees * 25_000
    allocation = allocate(
        eligible["user_id"].to_numpy(),
        eligible["weight"].to_numpy(),
        eligible["loss_cents"].to_numpy(),
        budget_cents=budget,
        min_payout_cents=policy.min_payout_cents,
        max_payout_cents=policy.max_payout_cents,
    )
    out.mkdir(parents=True)
    write_parquet(eligibility_table(users), out / ELIGIBILITY)
    write_parquet(allocations_table(eligible, allocation), out / ALLOCATIONS)
    write_parquet(recipients_table(eligible), out / RECIPIENTS)
    hourly = pa.table(
        {
            "hour": pa.array([], pa.timestamp("us", tz="UTC")),
            "fills": pa.array([], pa.int64()),
            "users": pa.array([], pa.int64()),
            "loss_cents": pa.array([], pa.int64()),
        }
    )
    write_parquet(hourly, out / HOURLY)
    manifest = {
        "format": "recompense-run/1",
        "program": {
            "id": policy.program.id,
            "name": policy.program.name,
            "currency": policy.program.currency,
            "announced_at": policy.program.announced_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "policy": {
            "path": str(PROGRAM),
            "sha256": sha256_file(PROGRAM),
            "budget_usd": str(Decimal(budget) / 100),
            "parameters": policy_parameters(policy),
        },
        "lambda_cents_per_weight": allocation.lam,
        "counts": {"liquidated": n, "eligible": payees},
        "budget_cents": budget,
        "allocated_cents": allocation.allocated_cents,
        "unallocated_cents": allocation.unallocated_cents,
        "run_by": "ops:bench",
        "artifacts": {
            name: sha256_file(out / name) for name in (ELIGIBILITY, ALLOCATIONS, HOURLY, RECIPIENTS)
        },
    }
    write_json(out / MANIFEST, manifest)


def write_decisions(url: str, base: Path, count: int) -> dict[str, int]:
    """``count`` accepted decisions on the base run's users (see the module docstring)."""
    from recompense.cases.schema import case_decisions, cases
    from recompense.ledger.db import connect

    rng = random.Random(7)
    allocations = pq.read_table(base / "allocations.parquet").to_pylist()
    eligibility = pq.read_table(
        base / "eligibility.parquet", columns=["user_id", "loss_usd", "reasons"]
    ).to_pylist()
    ratio_only = [r for r in eligibility if r["reasons"] == ["RATIO_BELOW_MINIMUM"]]
    loss = {r["user_id"]: int(r["loss_usd"] * 100) for r in eligibility}
    paid = rng.sample(allocations, min(len(allocations), int(count * 0.8)))
    plan = {"increase": int(count * 0.4), "decrease": int(count * 0.1)}
    plan["eligible"] = min(len(ratio_only), int(count * 0.2))
    plan["claim"] = count - sum(plan.values())
    now = datetime(2026, 12, 1, tzinfo=UTC)
    case_rows, decision_rows = [], []

    def add(user: int, kind: str, **values: Any) -> None:
        n = len(case_rows)
        at = now + timedelta(seconds=n)
        case_id = str(uuid.uuid4())
        category = "claim_transfer" if kind == "claim" else "appeal_loss"
        case_rows.append(
            dict(id=case_id, program_id="together-2025-10", user_id=user, category=category,
                 state="accepted", summary_enc="-", locale="en", opened_at=at, updated_at=at,
                 due_at=at + timedelta(hours=72), decided_at=at)
        )  # fmt: skip
        fields = dict.fromkeys(
            ("loss_cents", "net_assets_cents", "incident_loss_cents", "not_compensated",
             "claim_cents")
        ) | values  # fmt: skip
        decision_rows.append(
            dict(id=str(uuid.uuid4()), case_id=case_id, program_id="together-2025-10",
                 user_id=user, kind=kind, proposed_by="ops:bench", proposed_at=at,
                 accepted_at=at, **fields)
        )  # fmt: skip

    picks = iter(paid)
    for _ in range(plan["increase"]):
        user = next(picks)["user_id"]
        add(user, "correction", loss_cents=loss[user] * 3 // 2)
    for _ in range(plan["decrease"]):
        user = next(picks)["user_id"]
        add(user, "correction", loss_cents=max(5_000, loss[user] // 3))
    for row in rng.sample(ratio_only, plan["eligible"]):
        add(row["user_id"], "correction", net_assets_cents=loss[row["user_id"]])
    for _ in range(plan["claim"]):
        add(next(picks)["user_id"], "claim", claim_cents=rng.randint(1_000, 50_000))
    with connect(url).begin() as conn:
        conn.execute(insert(cases), case_rows)
        conn.execute(insert(case_decisions), decision_rows)
    return plan


def report(f: dict[str, Any]) -> None:
    print(
        f"Amendment of {f['cases']:,} accepted cases over a {f['users']:,}-user run "
        f"({f['base_vouchers']:,} vouchers), {f['database']}:"
    )
    print(f"  decisions: {f['decisions']}")
    print(f"  base run ({f['base_kind']})  {f['base_run_s']:8.2f} s")
    print(f"  base distribution               {f['base_distribute_s']:8.2f} s")
    print(
        f"  amend (new run folder)          {f['amend_s']:8.2f} s   "
        f"{f['amend_vs_base_run']:.2f}× the base run"
    )
    print(
        f"  distribute {f['topups']:,} top-ups        {f['topups_distribute_s']:8.2f} s   "
        f"{f['topups_vs_base_distribute']:.2f}× the base distribution"
    )
    print(f"  reconcile the amendment         {f['reconcile_s']:8.2f} s   ", end="")
    print("all checks pass" if f["reconciled"] else f"FAILED: {f['failed_checks']}")
    print(f"  top-ups ${f['topup_cents'] / 100:,.2f}; {f['decreases']:,} decreases paid nothing")


if __name__ == "__main__":
    main()
