"""Build an amendment run folder: the previous run + every accepted decision not yet paid.

``recompense amend --run PREVIOUS --db URL --out NEW`` reads the previous run of the
programme's chain (the base run, or the latest amendment — it must be the one the ledger
distributed last), the accepted case decisions that no amendment has paid yet
(:func:`recompense.cases.decisions.accepted_unapplied`), recomputes the corrected users
with the engine's rules (:mod:`.compute`) and writes a new immutable run folder, like
``recompense run`` does (hidden sibling, fsynced, renamed; nothing on failure):

    allocations.parquet   the cumulative payout list (proofs commit to it)
    amounts.parquet       per touched user: previous, entitled, awarded, claims, target,
                          cumulative, top-up, change
    corrections.parquet   the applied decisions' corrected inputs
    eligibility.parquet   the previous one, corrected users' rows replaced
    recipients.parquet    the previous one, first-time payees added
    hourly.parquet        the previous one
    manifest.json         as a base run's, plus ``amendment``: sequence, ledger id, base
                          and previous fingerprints, the decisions, the reserve figures

Nothing is paid here: ``approve`` (two officers) and ``distribute`` pay the top-ups, and
the transaction that registers the amendment in the ledger marks its decisions applied.
No accepted decision waiting: no folder, and the result says so (a re-run is a no-op).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, or_, select

from recompense import __version__
from recompense.amend.compute import Plan, Previous, Reserve, plan_amendment
from recompense.amend.errors import AmendmentError
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
from recompense.cases.decisions import AcceptedDecision, accepted_unapplied
from recompense.cases.schema import cases
from recompense.ledger.db import connect, require_schema, shown
from recompense.ledger.schema import programs
from recompense.runs.artifacts import (
    ALLOCATIONS,
    AMOUNTS,
    CORRECTIONS,
    ELIGIBILITY,
    HOURLY,
    MANIFEST,
    RECIPIENTS,
    sha256_file,
    write_json,
    write_parquet,
)
from recompense.runs.errors import RunFolderError
from recompense.runs.folder import (
    amendment_id,
    check_artifacts,
    is_amendment,
    read_allocations,
    read_amounts,
    read_recipients,
    run_fingerprint,
)
from recompense.runs.full import is_full
from recompense.runs.policy import policy_of_run

FOLDER_FILES = (ELIGIBILITY, ALLOCATIONS, HOURLY, RECIPIENTS, AMOUNTS, CORRECTIONS)


@dataclass(frozen=True, slots=True)
class Amended:
    """What ``amend`` did: ``out`` is None when no accepted decision was waiting."""

    out: Path | None
    manifest: dict[str, Any] | None
    decisions: int


def amend_run(
    previous: Path,
    url: str,
    out: Path,
    *,
    run_by: str | None = None,
    data: Path | None = None,
    engine_name: str = "duckdb",
    naive_timestamps_are_utc: bool = False,
) -> Amended:
    """Amend ``previous`` with the decisions waiting in the ledger at ``url``; see above.

    A full-payment programme's next batch (``data``: the newer dataset) is built by
    :mod:`recompense.amend.batch` instead: the rule again on ``data``, plus any claims.
    """
    from recompense.audit import cli_actor

    started = time.perf_counter()
    _refuse_existing(out)
    manifest = check_artifacts(previous)
    full = is_full(manifest)
    if full and data is None:
        raise AmendmentError(
            f"--run {previous}: a full-payment programme's next batch is its rule run again "
            "on newer data: pass --data NEWER_DATASET"
        )
    if data is not None and not full:
        raise AmendmentError(
            f"--data {data}: only a full-payment programme's batch reads a dataset; a shared "
            "programme is amended by case decisions alone"
        )
    fingerprint = run_fingerprint(previous)
    program_id = str(manifest["program"]["id"])
    engine = connect(url)
    require_schema(engine)
    sequence = _check_head(engine, program_id, fingerprint, previous) + 1
    with engine.connect() as conn:
        decisions = accepted_unapplied(conn, program_id)
        locales = _locales(conn, decisions)
    if full:
        assert data is not None
        return _next_batch(
            previous,
            manifest,
            fingerprint,
            sequence,
            decisions,
            data,
            out,
            started,
            cli_actor(run_by),
            engine_name=engine_name,
            naive_timestamps_are_utc=naive_timestamps_are_utc,
        )
    if not decisions:
        return Amended(None, None, 0)
    plan = plan_amendment(
        _previous(previous, manifest),
        decisions,
        policy_of_run(previous),
        _reserve(manifest),
        locales,
    )
    new_manifest = _manifest(manifest, previous, fingerprint, sequence, decisions, plan)
    new_manifest["run_by"] = cli_actor(run_by)
    _write_folder(out, previous, plan, new_manifest, started)
    return Amended(out, new_manifest, len(decisions))


def _next_batch(
    previous: Path,
    manifest: dict[str, Any],
    fingerprint: str,
    sequence: int,
    decisions: list[AcceptedDecision],
    data: Path,
    out: Path,
    started: float,
    run_by: str,
    *,
    engine_name: str,
    naive_timestamps_are_utc: bool,
) -> Amended:
    """A full programme's next batch: the rule on ``data`` (:mod:`recompense.amend.batch`)."""
    from recompense.amend.batch import batch_limit, batch_reserve, plan_batch
    from recompense.data import open_dataset
    from recompense.engine import connect as connect_engine
    from recompense.runs.execute import compute_full
    from recompense.runs.full import EVENTS, REFERENCES, full_counts, full_funnel
    from recompense.runs.policy import full_policy_of_run

    policy = full_policy_of_run(previous)
    backend = connect_engine(engine_name)
    dataset = open_dataset(backend, data, naive_timestamps_are_utc=naive_timestamps_are_utc)
    computed = compute_full(backend, dataset, policy, data, None)
    prev = _previous(previous, manifest)
    reserve = batch_reserve(manifest, prev.base_allocated_cents)
    plan = plan_batch(prev, computed.tables, decisions, reserve, limit=batch_limit(manifest))
    if not plan.summary["topups"] and not plan.summary["decreases"] and not decisions:
        return Amended(None, None, 0)  # the newer data changes nobody's amount: no batch
    new_manifest = _manifest(manifest, previous, fingerprint, sequence, decisions, plan)
    counts = full_counts(computed.tables)
    counts["eligible"] = plan.allocations.num_rows
    new_manifest["counts"] = counts
    new_manifest["funnel"] = [
        {"stage": label, "users": n} for label, n in full_funnel(computed.tables)
    ]
    new_manifest["inputs"] = computed.input_hashes
    if manifest["policy"].get("budget_usd") is not None:  # the budget is all batches' limit
        new_manifest["unallocated_cents"] = (
            int(manifest["budget_cents"]) - new_manifest["allocated_cents"]
        )
    new_manifest["policy"]["parameters"]["amendments"]["reserve_cents"] = reserve.cents
    new_manifest["amendment"]["data"] = str(data.resolve())
    new_manifest["run_by"] = run_by
    extra = {
        HOURLY: computed.tables.hourly,
        EVENTS: computed.tables.events,
        REFERENCES: computed.tables.references,
    }
    _write_folder(out, previous, plan, new_manifest, started, extra)
    return Amended(out, new_manifest, len(decisions))


def _refuse_existing(out: Path) -> None:
    try:
        taken = out.exists()
    except OSError as exc:
        raise RunFolderError(f"{out}: cannot use as --out: {exc.strerror}") from exc
    if taken:
        raise RunFolderError(
            f"{out}: already exists; run folders are immutable, choose a new --out"
        )


def _check_head(engine: Engine, program_id: str, fingerprint: str, previous: Path) -> int:
    """The sequence of ``previous`` in the ledger's chain; it must be the chain's head."""
    p = programs.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.id, p.run_fingerprint, p.run_path, p.amendment_seq).where(
                or_(p.id == program_id, p.base_program_id == program_id)
            )
        ).fetchall()
    if not rows:
        raise AmendmentError(
            f"programme {program_id} has not been distributed in {shown(engine)}; "
            "amendments pay differences to what was issued: distribute the base run first"
        )
    head = max(rows, key=lambda r: r.amendment_seq or 0)
    if head.run_fingerprint != fingerprint:
        where = f"amendment {head.amendment_seq}" if head.amendment_seq else "the base run"
        raise AmendmentError(
            f"--run {previous}: is not the latest distributed run of {program_id}; that is "
            f"{where} ({head.run_path}, {head.run_fingerprint[:12]}…): amend from it "
            "(an amendment that was built but not distributed must be distributed first, "
            "or discarded)"
        )
    return int(head.amendment_seq or 0)


def _locales(conn: Any, decisions: list[AcceptedDecision]) -> dict[int, str]:
    ids = sorted({d.case_id for d in decisions})
    if not ids:
        return {}
    rows = conn.execute(select(cases.c.user_id, cases.c.locale).where(cases.c.id.in_(ids)))
    return {int(user): str(locale) for user, locale in rows}


def _previous(run: Path, manifest: dict[str, Any]) -> Previous:
    import pyarrow.parquet as pq

    amendment = manifest.get("amendment") if is_amendment(manifest) else None
    return Previous(
        allocations=read_allocations(run),
        eligibility=pq.read_table(run / ELIGIBILITY),  # hash checked by check_artifacts
        recipients=read_recipients(run),
        amounts=read_amounts(run) if amendment else None,
        allocated_cents=int(manifest["allocated_cents"]),
        base_allocated_cents=int(
            amendment["base_allocated_cents"] if amendment else manifest["allocated_cents"]
        ),
        lam=float(manifest["lambda_cents_per_weight"] or 0),  # None: a full programme
    )


def _reserve(manifest: dict[str, Any]) -> Reserve:
    settings = manifest["policy"]["parameters"].get("amendments")
    if not settings:  # a run made before amendments existed: no reserve was set aside
        return Reserve(0, "refuse")
    return Reserve(int(settings["reserve_cents"]), str(settings["when_short"]))


def _manifest(
    previous: dict[str, Any],
    run: Path,
    fingerprint: str,
    sequence: int,
    decisions: list[AcceptedDecision],
    plan: Plan,
) -> dict[str, Any]:
    base = previous.get("amendment") or {}
    counts = dict(previous["counts"])
    counts["eligible"] = plan.allocations.num_rows
    manifest = {
        key: value
        for key, value in previous.items()
        if key not in ("artifacts", "timings_s", "run_by", "amendment")
    }
    manifest |= {
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code_version": __version__,
        "counts": counts,
        "allocated_cents": int(pa.compute.sum(plan.allocations["amount_cents"]).as_py() or 0),
        "amendment": {
            "sequence": sequence,
            "ledger_program_id": amendment_id(str(previous["program"]["id"]), sequence),
            "base_fingerprint": base.get("base_fingerprint", fingerprint),
            "base_allocated_cents": int(
                base.get("base_allocated_cents", previous["allocated_cents"])
            ),
            "previous_fingerprint": fingerprint,
            "previous_run": str(run.resolve()),
            "decisions": [
                {"id": d.id, "case_id": d.case_id, "user_id": d.user_id, "kind": d.kind}
                for d in sorted(decisions, key=lambda d: (d.accepted_at, d.id))
            ],
            **plan.summary,
        },
    }
    return manifest


def _write_folder(
    out: Path,
    previous: Path,
    plan: Plan,
    manifest: dict[str, Any],
    started: float,
    extra: dict[str, pa.Table] | None = None,
) -> None:
    """The folder, atomically; ``extra`` tables are written too (and ``hourly.parquet``
    from them when given, else copied from ``previous``)."""
    extra = extra or {}
    made: list[Path] = []
    tmp = temp_sibling(out)
    try:
        try:
            made = make_folders(out.parent)
            remove_stale_temps(out)
            discard(tmp)
            tmp.mkdir()
            write_parquet(plan.eligibility, tmp / ELIGIBILITY)
            write_parquet(plan.allocations, tmp / ALLOCATIONS)
            if HOURLY not in extra:
                shutil.copyfile(previous / HOURLY, tmp / HOURLY)
            write_parquet(plan.recipients, tmp / RECIPIENTS)
            write_parquet(plan.amounts, tmp / AMOUNTS)
            write_parquet(plan.corrections, tmp / CORRECTIONS)
            for name, table in extra.items():
                write_parquet(table, tmp / name)
            names = (*FOLDER_FILES, *(n for n in extra if n not in FOLDER_FILES))
            manifest["artifacts"] = {name: sha256_file(tmp / name) for name in names}
            manifest["timings_s"] = {"total": round(time.perf_counter() - started, 4)}
            write_json(tmp / MANIFEST, manifest)
            sync_tree(tmp)
            os.rename(tmp, out)
        except OSError as exc:
            raise disk_error(exc, out) or RunFolderError(
                f"--out {out}: cannot write the amendment folder: {exc.strerror or exc}"
            ) from exc
        sync_folder(out.parent)
    except BaseException:
        discard(tmp)
        remove_made(made)
        raise
