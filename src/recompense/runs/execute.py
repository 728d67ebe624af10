"""Execute a programme run and write its immutable run folder.

The run folder is the contract with everything downstream (ledger, proofs, web)::

    eligibility.parquet   one row per user with a counted fill: features, verdicts, reasons
    allocations.parquet   one row per eligible user: weight, amount_cents, bounds
    hourly.parquet        losses by hour of the crash (for reports and dashboards)
    recipients.parquet    eligible users' email and locale, for notifications only
    ledger_exclusions.parquet  with ``--db`` only: users the ledger shows paid by a
                          programme in ``excluding_programs`` (an input, read before the
                          engine starts; :mod:`recompense.ledger.paid`)
    manifest.json         hashes of inputs, policy and artifacts; λ; counts; money; timings
    report.html           the self-contained report for the programme owner

Written atomically: everything goes to a hidden temporary sibling folder, made before the
engine starts (an ``--out`` that cannot be written fails at once), synced and renamed
into place at the end; on any failure the temporary folder (and any parent folder the run
made) is removed, so an output folder either holds a complete run or does not exist. A
full, read-only or failing disk is a :class:`~recompense.errors.StorageError` naming
``--out`` (exit code 3); any other failure to write there, a
:class:`~recompense.runs.errors.RunFolderError` (exit code 2).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recompense import __version__
from recompense.allocation import Allocation, allocate
from recompense.atomic import (
    discard,
    disk_error,
    make_folders,
    remove_made,
    remove_stale_temps,
    sync_folder,
    sync_tree,
    temp_sibling,
)
from recompense.data import Dataset, open_dataset
from recompense.engine import RULES, connect, evaluate
from recompense.policy import Policy, load_programme
from recompense.policy.full import FullPolicy
from recompense.runs.artifacts import (
    ALLOCATIONS,
    ELIGIBILITY,
    HOURLY,
    MANIFEST,
    RECIPIENTS,
    REPORT,
    allocations_table,
    eligibility_table,
    recipients_table,
    sha256_file,
    write_json,
    write_parquet,
)
from recompense.runs.errors import RunFolderError
from recompense.runs.full import (
    EVENTS,
    KIND_FULL,
    REFERENCES,
    FullTables,
    delivery_parameters,
    full_counts,
    full_funnel,
    full_parameters,
    full_tables,
    report_eligibility,
)

if TYPE_CHECKING:
    from recompense.ledger.paid import LedgerPaid

StageCallback = Callable[[str], None]
LEDGER_EXCLUSIONS = "ledger_exclusions.parquet"


@dataclass(frozen=True, slots=True)
class RunSummary:
    out: Path
    manifest: dict[str, Any]

    @property
    def report(self) -> Path:
        return self.out / REPORT


def execute_run(
    program: Path,
    data: Path,
    out: Path,
    *,
    budget_usd: Decimal | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    naive_timestamps_are_utc: bool = False,
    on_stage: StageCallback | None = None,
    run_by: str | None = None,
    db: str | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run ``program`` on ``data`` and write the run folder ``out`` atomically.

    ``run_by`` (``role:name``; default: who runs this process,
    :func:`recompense.audit.cli_actor`) goes into the manifest: the one who ran it may
    not approve it (:mod:`recompense.distribution.approvals`).

    ``db`` (a ledger URL): users the ledger shows paid by a programme in
    ``excluding_programs`` are excluded too, and kept as ``ledger_exclusions.parquet``;
    a listed programme the ledger does not know goes to ``on_warning`` and the manifest.
    """
    from recompense.audit import cli_actor

    runner = cli_actor(run_by)
    started = time.perf_counter()
    try:
        taken = out.exists()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise RunFolderError(f"{out}: cannot use as --out: {exc.strerror}") from exc
    if taken:
        raise RunFolderError(
            f"{out}: already exists; run folders are immutable, choose a new --out"
        )
    policy = load_programme(program)
    if budget_usd is not None:
        policy = policy.with_budget(budget_usd)
    paid = None
    if isinstance(policy, FullPolicy):
        if db is not None and on_warning is not None:
            on_warning("a full-payment programme excludes nobody: --db is not read")
    elif db is not None:
        paid = _read_ledger(db, policy, on_warning)
    backend = connect(engine, spark_master=spark_master)
    dataset = open_dataset(backend, data, naive_timestamps_are_utc=naive_timestamps_are_utc)
    # Made before the engine starts: an --out that cannot be written (read-only, a file in
    # the way) fails in a second, not after the whole computation.
    tmp, made = _start_folder(out)
    try:
        computed: _Computed | ComputedFull
        if isinstance(policy, FullPolicy):
            computed = compute_full(backend, dataset, policy, data, on_stage)
        else:
            computed = _compute(backend, dataset, policy, data, on_stage, paid)
        _stage(on_stage, "write")
        t0 = time.perf_counter()
        try:
            if isinstance(computed, ComputedFull):
                assert isinstance(policy, FullPolicy)
                manifest = _write_full_folder(tmp, policy, program, computed, engine)
            else:
                assert isinstance(policy, Policy)
                manifest = _write_folder(tmp, policy, program, computed, engine)
            if paid is not None:
                _record_ledger(tmp, manifest, paid)
            timings = dict(computed.timings, write=round(time.perf_counter() - t0, 4))
            manifest["timings_s"] = timings | {"total": round(time.perf_counter() - started, 4)}
            manifest["run_by"] = runner
            write_json(tmp / MANIFEST, manifest)
            sync_tree(tmp)
            os.rename(tmp, out)
        except OSError as exc:
            raise _write_error(exc, out, renaming=True) from exc
        sync_folder(out.parent)
    except BaseException:
        discard(tmp)
        remove_made(made)
        raise
    return RunSummary(out, manifest)


@dataclass(frozen=True, slots=True)
class _Computed:
    users: pa.Table
    eligible: pa.Table
    allocation: Allocation
    hourly: pa.Table
    input_hashes: dict[str, list[dict[str, Any]]]
    timings: dict[str, float]


def _compute(
    backend: Any,
    dataset: Dataset,
    policy: Policy,
    data: Path,
    on_stage: StageCallback | None,
    paid: LedgerPaid | None = None,
) -> _Computed:
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Hash inputs while the engine works: hashlib releases the GIL.
        input_hashes = pool.submit(_hash_inputs, dataset.files, data)
        from_ledger = paid.table if paid is not None else None
        result = evaluate(backend, dataset, policy, on_stage=on_stage, paid=from_ledger)
        _stage(on_stage, "allocate")
        t0 = time.perf_counter()
        users = result.users
        eligible = users.filter(users["eligible"])
        allocation = allocate(
            eligible["user_id"].to_numpy(),
            eligible["weight"].to_numpy(zero_copy_only=False),
            eligible["loss_cents"].to_numpy(),
            budget_cents=policy.budget_cents,
            min_payout_cents=policy.min_payout_cents,
            max_payout_cents=policy.max_payout_cents,
            cap_at_loss=policy.payout.cap_at_loss,
        )
        timings = dict(result.timings, allocate=round(time.perf_counter() - t0, 4))
        hashes = input_hashes.result()
    return _Computed(users, eligible, allocation, result.hourly, hashes, timings)


@dataclass(frozen=True, slots=True)
class ComputedFull:
    tables: FullTables
    input_hashes: dict[str, list[dict[str, Any]]]
    timings: dict[str, float]


def compute_full(
    backend: Any,
    dataset: Dataset,
    policy: FullPolicy,
    data: Path,
    on_stage: StageCallback | None,
) -> ComputedFull:
    from recompense.engine.collateral import evaluate_full

    with ThreadPoolExecutor(max_workers=1) as pool:
        input_hashes = pool.submit(_hash_inputs, dataset.files, data)
        result = evaluate_full(backend, dataset, policy, on_stage=on_stage)
        _stage(on_stage, "allocate")
        t0 = time.perf_counter()
        tables = full_tables(result.users, result.events, result.references, result.hourly, policy)
        timings = dict(result.timings, allocate=round(time.perf_counter() - t0, 4))
        hashes = input_hashes.result()
    return ComputedFull(tables, hashes, timings)


def _write_full_folder(
    tmp: Path, policy: FullPolicy, program: Path, computed: ComputedFull, engine: str
) -> dict[str, Any]:
    """A full programme's folder (:mod:`recompense.runs.full`) and its manifest."""
    from recompense.report import ReportInput, write_report

    t = computed.tables
    files = {
        ELIGIBILITY: t.eligibility,
        ALLOCATIONS: t.allocations,
        HOURLY: t.hourly,
        RECIPIENTS: t.recipients,
        EVENTS: t.events,
        REFERENCES: t.references,
    }
    for name, table in files.items():
        write_parquet(table, tmp / name)
    funnel = full_funnel(t)
    budget = policy.program.budget_usd
    manifest: dict[str, Any] = {
        **_manifest_head(
            policy,
            program,
            engine,
            budget_usd=None if budget is None else str(budget),
            parameters=full_parameters(policy),
            kind=KIND_FULL,
        ),
        "inputs": computed.input_hashes,
        "lambda_cents_per_weight": None,  # nothing is shared: each user is paid their loss
        "counts": full_counts(t),
        "funnel": [{"stage": label, "users": count} for label, count in funnel],
        "budget_cents": t.budget_cents,
        "allocated_cents": t.allocated_cents,
        "unallocated_cents": t.budget_cents - t.allocated_cents,
    }
    manifest["artifacts"] = {name: sha256_file(tmp / name) for name in files}
    amounts = t.allocations["amount_cents"].to_numpy()
    report = ReportInput(
        program_id=policy.program.id,
        program_name=policy.program.name,
        currency=policy.program.currency,
        budget_cents=t.budget_cents,
        allocated_cents=t.allocated_cents,
        unallocated_cents=t.budget_cents - t.allocated_cents,
        min_payout_cents=int(amounts.min()) if len(amounts) else 0,
        max_payout_cents=int(amounts.max()) if len(amounts) else 0,
        generated_at=manifest["created_at"],
        allocations_sha256=manifest["artifacts"][ALLOCATIONS],
        funnel=tuple(funnel),
        eligibility=report_eligibility(t.eligibility),
        allocations=t.allocations,
        hourly=t.hourly,
        incidents=(("window", policy.window.start, policy.window.end),),
    )
    write_report(report, tmp / REPORT)
    manifest["artifacts"][REPORT] = sha256_file(tmp / REPORT)
    return manifest


def _read_ledger(db: str, policy: Policy, on_warning: Callable[[str], None] | None) -> LedgerPaid:
    """Who the ledger shows paid by the excluding programmes; warn of unknown ones."""
    from recompense.ledger.paid import paid_by

    paid = paid_by(db, policy.eligibility.excluding_programs)
    for program_id in paid.missing:
        if on_warning is not None:
            on_warning(
                f"excluding programme {program_id!r} is not in the ledger {paid.db}: nobody "
                "is excluded for it from the books (only by prior_compensation rows)"
            )
    return paid


def _record_ledger(tmp: Path, manifest: dict[str, Any], paid: LedgerPaid) -> None:
    """Keep what the ledger said as an input of the run: the file, hashed, and its source."""
    path = tmp / LEDGER_EXCLUSIONS
    write_parquet(paid.table, path)
    digest = sha256_file(path)
    manifest["inputs"][LEDGER_EXCLUSIONS.removesuffix(".parquet")] = [
        {
            "path": LEDGER_EXCLUSIONS,
            "bytes": path.stat().st_size,
            "sha256": digest,
            "source": "ledger",
            "db": paid.db,
            "read_at": _iso(paid.read_at),
            "programs": list(paid.programs),
            "missing_programs": list(paid.missing),
            "rows": paid.table.num_rows,
        }
    ]
    manifest["artifacts"][LEDGER_EXCLUSIONS] = digest


def _start_folder(out: Path) -> tuple[Path, list[Path]]:
    """The empty hidden folder the run is written in, and the parents made for it."""
    made: list[Path] = []
    tmp = temp_sibling(out)
    try:
        made = make_folders(out.parent)
        remove_stale_temps(out)
        discard(tmp)
        tmp.mkdir()
    except OSError as exc:
        remove_made(made)
        raise _write_error(exc, out) from exc
    return tmp, made


def _write_error(exc: OSError, out: Path, *, renaming: bool = False) -> Exception:
    """A full or read-only disk (exit 3), else the operator's --out (exit 2)."""
    if renaming and (isinstance(exc, FileExistsError) or exc.errno == errno.ENOTEMPTY):
        return RunFolderError(f"{out}: appeared while the run was computed; left untouched")
    return disk_error(exc, out) or RunFolderError(
        f"--out {out}: cannot write the run folder: {exc.strerror or exc}"
    )


def _write_folder(
    tmp: Path, policy: Policy, program: Path, computed: _Computed, engine: str
) -> dict[str, Any]:
    from recompense.report import ReportInput, write_report

    users, eligible, allocation, hourly = (
        computed.users,
        computed.eligible,
        computed.allocation,
        computed.hourly,
    )
    input_hashes = computed.input_hashes
    eligibility = eligibility_table(users)
    allocations = allocations_table(eligible, allocation)
    write_parquet(eligibility, tmp / ELIGIBILITY)
    write_parquet(allocations, tmp / ALLOCATIONS)
    write_parquet(hourly, tmp / HOURLY)
    write_parquet(recipients_table(eligible), tmp / RECIPIENTS)
    funnel = funnel_counts(users)
    manifest = _manifest(policy, program, allocation, funnel, input_hashes, engine, users)
    manifest["artifacts"] = {
        name: sha256_file(tmp / name) for name in (ELIGIBILITY, ALLOCATIONS, HOURLY, RECIPIENTS)
    }
    report = ReportInput(
        program_id=policy.program.id,
        program_name=policy.program.name,
        currency=policy.program.currency,
        budget_cents=allocation.budget_cents,
        allocated_cents=allocation.allocated_cents,
        unallocated_cents=allocation.unallocated_cents,
        min_payout_cents=policy.min_payout_cents,
        max_payout_cents=policy.max_payout_cents,
        generated_at=manifest["created_at"],
        allocations_sha256=manifest["artifacts"][ALLOCATIONS],
        funnel=tuple((label, count) for label, count in funnel),
        eligibility=eligibility,
        allocations=allocations,
        hourly=hourly,
        incidents=tuple((i.id, i.start, i.end) for i in policy.incidents),
    )
    write_report(report, tmp / REPORT)
    manifest["artifacts"][REPORT] = sha256_file(tmp / REPORT)
    return manifest


FUNNEL_LABELS = (
    "Liquidated in the window",
    "Loss ≥ minimum",
    "Loss ≥ minimum share of net assets",
    "Not already compensated",
)


def funnel_counts(users: pa.Table) -> list[tuple[str, int]]:
    """Users left after each rule, applied in order (the report's funnel)."""
    remaining = pa.array(np.ones(users.num_rows, dtype=bool))
    stages = [(FUNNEL_LABELS[0], users.num_rows)]
    for label, rule in zip(FUNNEL_LABELS[1:], RULES, strict=True):
        remaining = pc.and_(remaining, users[rule.column])
        stages.append((label, int(pc.sum(remaining.cast(pa.int64())).as_py() or 0)))
    stages.append(("Eligible", int(pc.sum(users["eligible"].cast(pa.int64())).as_py() or 0)))
    return stages


def _manifest(
    policy: Policy,
    program: Path,
    allocation: Allocation,
    funnel: list[tuple[str, int]],
    input_hashes: dict[str, list[dict[str, Any]]],
    engine: str,
    users: pa.Table,
) -> dict[str, Any]:
    bounds, counts = np.unique(allocation.bound, return_counts=True)
    rejected = {
        rule.code: int(pc.sum(pc.invert(users[rule.column]).cast(pa.int64())).as_py() or 0)
        for rule in RULES
    }
    return {
        **_manifest_head(
            policy,
            program,
            engine,
            budget_usd=str(policy.program.budget_usd),
            parameters=policy_parameters(policy),
        ),
        "inputs": input_hashes,
        "lambda_cents_per_weight": allocation.lam,
        "counts": {
            "liquidated": users.num_rows,
            "eligible": funnel[-1][1],
            "rejected_by_reason": rejected,
            "by_bound": {str(b): int(c) for b, c in zip(bounds, counts, strict=True)},
        },
        "funnel": [{"stage": label, "users": count} for label, count in funnel],
        "budget_cents": allocation.budget_cents,
        "allocated_cents": allocation.allocated_cents,
        "unallocated_cents": allocation.unallocated_cents,
    }


def _manifest_head(
    policy: Policy | FullPolicy,
    program: Path,
    engine: str,
    *,
    budget_usd: str | None,
    parameters: dict[str, Any],
    kind: str | None = None,
) -> dict[str, Any]:
    """The first keys of every run's manifest: format, programme, versions, policy.

    ``kind`` is written only for a full-payment programme: a shared run's manifest stays
    as it was before there were two kinds."""
    p = policy.program
    identity = {"id": p.id, **({"kind": kind} if kind else {})}
    return {
        "format": "recompense-run/1",
        "program": identity
        | {"name": p.name, "currency": p.currency, "announced_at": _iso(p.announced_at)},
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code_version": __version__,
        "engine": _engine_versions(engine),
        "policy": {
            "path": str(program),
            "sha256": sha256_file(program),
            "budget_usd": budget_usd,
            "parameters": parameters,
        },
    }


def _engine_versions(engine: str) -> dict[str, str]:
    import duckdb
    import ibis

    versions = {"name": engine, "ibis": ibis.__version__}
    if engine == "spark":
        import pyspark

        versions["pyspark"] = pyspark.__version__
    else:
        versions["duckdb"] = duckdb.__version__
    return versions


def policy_parameters(policy: Policy) -> dict[str, Any]:
    return {
        "window": [_iso(policy.window.start), _iso(policy.window.end)],
        "snapshot_at": _iso(policy.program.snapshot_at),
        "products": list(policy.eligibility.products),
        "min_loss_cents": policy.min_loss_cents,
        "min_loss_ratio": str(policy.eligibility.min_loss_ratio),
        "excluding_programs": list(policy.eligibility.excluding_programs),
        "min_payout_cents": policy.min_payout_cents,
        "max_payout_cents": policy.max_payout_cents,
        "cap_at_loss": policy.payout.cap_at_loss,
        "weight": policy.payout.weight,
        "staleness_minutes": policy.prices.staleness_minutes,
        **delivery_parameters(policy),
        "incidents": [
            {"id": i.id, "start": _iso(i.start), "end": _iso(i.end)} for i in policy.incidents
        ],
    }


def _hash_inputs(files: Any, root: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [
            {"path": str(p.relative_to(root)), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
            for p in paths
        ]
        for name, paths in sorted(files.items())
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stage(callback: StageCallback | None, name: str) -> None:
    if callback:
        callback(name)
