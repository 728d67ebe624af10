"""Amendment run folders for the proofs tests, written by hand as ``recompense amend`` does.

An amendment folder is a copy of the previous run (without its commitment, key or
trees) whose ``allocations.parquet`` holds the cumulative amounts, plus ``amounts.parquet``
and the manifest's ``amendment`` section, with the artifacts' SHA-256 refreshed
(``/tmp/helpers/amendment_format.md``; the lead's ``recompense.amend`` writes the same).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recompense.runs import read_allocations, read_manifest, run_fingerprint
from recompense.runs.artifacts import ALLOCATIONS, ALLOCATIONS_SCHEMA, sha256_file, write_parquet

AMOUNTS = "amounts.parquet"
AMOUNTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("previous_cents", pa.int64()),
        ("entitled_cents", pa.int64()),
        ("claims_cents", pa.int64()),
        ("cumulative_cents", pa.int64()),
        ("topup_cents", pa.int64()),
        ("change", pa.string()),
    ]
)
LEFT_BEHIND = ("commitment.json", "commitment.key", "proofs", AMOUNTS)


def amend(previous: Path, out: Path, cumulative: Mapping[int, int]) -> Path:
    """An amendment of ``previous``: each user in ``cumulative`` gets that cumulative
    amount (never below their previous one; a new user is added)."""
    shutil.copytree(previous, out, ignore=shutil.ignore_patterns(*LEFT_BEHIND))
    before = _amounts(read_allocations(previous))
    after = dict(before)
    after.update(cumulative)
    rows = sorted(after.items())
    write_parquet(_allocations(read_allocations(previous), rows), out / ALLOCATIONS)
    write_parquet(_changes(previous, before, cumulative), out / AMOUNTS)
    manifest = read_manifest(previous)
    base = manifest.get("amendment", {}).get("base_fingerprint") or run_fingerprint(previous)
    sequence = manifest.get("amendment", {}).get("sequence", 0) + 1
    manifest["allocated_cents"] = sum(amount for _, amount in rows)
    manifest["amendment"] = {
        "sequence": sequence,
        "ledger_program_id": f"{manifest['program']['id']}~a{sequence}",
        "base_fingerprint": base,
        "previous_fingerprint": run_fingerprint(previous),
        "previous_run": str(previous.resolve()),
        "decisions": [],
        "topup_cents": sum(amount - before.get(u, 0) for u, amount in cumulative.items()),
        "topups": sum(1 for u, amount in cumulative.items() if amount > before.get(u, 0)),
    }
    artifacts = manifest.setdefault("artifacts", {})
    artifacts[ALLOCATIONS] = sha256_file(out / ALLOCATIONS)
    artifacts[AMOUNTS] = sha256_file(out / AMOUNTS)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _amounts(table: pa.Table) -> dict[int, int]:
    return dict(zip(table["user_id"].to_pylist(), table["amount_cents"].to_pylist(), strict=True))


def _allocations(previous: pa.Table, rows: list[tuple[int, int]]) -> pa.Table:
    """The previous rows with their new amounts; a new user copies the first row's terms."""
    by_user = {row["user_id"]: row for row in previous.to_pylist()}
    template = previous.slice(0, 1).to_pylist()[0]
    out = [{**by_user.get(u, template), "user_id": u, "amount_cents": a} for u, a in rows]
    return pa.Table.from_pylist(out, schema=ALLOCATIONS_SCHEMA)


def _changes(previous: Path, before: dict[int, int], cumulative: Mapping[int, int]) -> pa.Table:
    """This amendment's rows, and the earlier amendments' rows carried."""
    rows: dict[int, dict[str, object]] = {}
    if (previous / AMOUNTS).is_file():
        for row in pq.read_table(previous / AMOUNTS).to_pylist():
            amount = row["cumulative_cents"]
            rows[row["user_id"]] = {
                **row,
                "previous_cents": amount,
                "topup_cents": 0,
                "change": "carried",
            }
    for user_id, amount in cumulative.items():
        old = before.get(user_id, 0)
        change = "new" if user_id not in before else "increase" if amount > old else "unchanged"
        rows[user_id] = {
            "user_id": user_id,
            "previous_cents": old,
            "entitled_cents": amount,
            "claims_cents": 0,
            "cumulative_cents": amount,
            "topup_cents": amount - old,
            "change": change,
        }
    ordered = [rows[u] for u in sorted(rows)]
    return pa.Table.from_pylist(ordered, schema=AMOUNTS_SCHEMA)
