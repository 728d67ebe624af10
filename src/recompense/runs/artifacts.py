"""The shapes of the run folder's files, and deterministic writers for them.

Money columns are exact: ``*_cents`` are int64 and ``*_usd`` are ``decimal128(20, 2)``
built from integer cents, never floats. Parquet is written with fixed settings and no
pandas metadata, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recompense.allocation import Allocation
from recompense.runs.reasons import PASSES_COLUMNS, REASON_CODES

ELIGIBILITY = "eligibility.parquet"
ALLOCATIONS = "allocations.parquet"
HOURLY = "hourly.parquet"
RECIPIENTS = "recipients.parquet"
MANIFEST = "manifest.json"
REPORT = "report.html"
# Amendment runs only (recompense.amend): what changed for whom, and why.
AMOUNTS = "amounts.parquet"
CORRECTIONS = "corrections.parquet"

USD = pa.decimal128(20, 2)

ELIGIBILITY_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("loss_usd", USD),
        ("net_assets_usd", USD),
        ("loss_ratio", pa.float64()),
        ("incident_loss_usd", USD),
        ("eligible", pa.bool_()),
        ("reasons", pa.list_(pa.string())),
        ("fills", pa.int64()),
        ("loss_ratio_capped", pa.float64()),
        ("user_type", pa.string()),
        ("vip_tier", pa.int64()),
        ("account_age_days", pa.int64()),
    ]
)
# Contact details of eligible users, for notifications only: kept apart from the
# allocations so the payout list (and anything derived from it) carries no personal data.
RECIPIENTS_SCHEMA = pa.schema(
    [("user_id", pa.int64()), ("email", pa.string()), ("locale", pa.string())]
)
ALLOCATIONS_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("weight", pa.float64()),
        ("amount_cents", pa.int64()),
        ("floor_cents", pa.int64()),
        ("cap_cents", pa.int64()),
        ("bound", pa.string()),
    ]
)
# One row per user an amendment of the chain has touched. Cumulative money, in cents:
# ``awarded`` (the programme's rule, never decreasing), ``claims`` (accepted claims so
# far), ``target = awarded + claims`` (what the user is owed), ``cumulative`` (what has
# been issued to them once this amendment is distributed; below ``target`` only when a
# short reserve was scaled), ``topup = cumulative - previous`` (what this amendment pays).
AMOUNTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("previous_cents", pa.int64()),
        ("entitled_cents", pa.int64()),
        ("awarded_cents", pa.int64()),
        ("claims_cents", pa.int64()),
        ("target_cents", pa.int64()),
        ("cumulative_cents", pa.int64()),
        ("topup_cents", pa.int64()),
        ("change", pa.string()),  # new | increase | decrease | unchanged | claim | carried
    ]
)
# The applied decisions' corrected inputs (NULL: not corrected), one row per decision.
CORRECTIONS_SCHEMA = pa.schema(
    [
        ("decision_id", pa.string()),
        ("case_id", pa.string()),
        ("user_id", pa.int64()),
        ("kind", pa.string()),
        ("loss_cents", pa.int64()),
        ("net_assets_cents", pa.int64()),
        ("incident_loss_cents", pa.int64()),
        ("not_compensated", pa.bool_()),
        ("claim_cents", pa.int64()),
        ("accepted_at", pa.timestamp("us", tz="UTC")),
    ]
)


def eligibility_table(users: pa.Table) -> pa.Table:
    """The engine's per-user table in the published shape, with reason codes."""
    return pa.table(
        {
            "user_id": users["user_id"],
            "loss_usd": cents_to_usd(users["loss_cents"]),
            "net_assets_usd": cents_to_usd(users["net_assets_cents"]),
            "loss_ratio": users["loss_ratio"],
            "incident_loss_usd": cents_to_usd(users["incident_loss_cents"]),
            "eligible": users["eligible"],
            "reasons": reasons(users),
            "fills": users["fills"],
            "loss_ratio_capped": users["loss_ratio_capped"],
            "user_type": users["user_type"],
            "vip_tier": users["vip_tier"],
            "account_age_days": users["account_age_days"],
        },
        schema=ELIGIBILITY_SCHEMA,
    )


def allocations_table(eligible: pa.Table, allocation: Allocation) -> pa.Table:
    return pa.table(
        {
            "user_id": eligible["user_id"],
            "weight": eligible["weight"],
            "amount_cents": pa.array(allocation.amount_cents, pa.int64()),
            "floor_cents": pa.array(allocation.floor_cents, pa.int64()),
            "cap_cents": pa.array(allocation.cap_cents, pa.int64()),
            "bound": pa.array(allocation.bound, pa.string()),
        },
        schema=ALLOCATIONS_SCHEMA,
    )


def recipients_table(eligible: pa.Table) -> pa.Table:
    return pa.table(
        {name: eligible[name] for name in RECIPIENTS_SCHEMA.names}, schema=RECIPIENTS_SCHEMA
    )


def reasons(users: pa.Table) -> pa.Array:
    """Reason codes of the failed rules per user, in rule order (empty when eligible)."""
    failed = [pc.invert(users[PASSES_COLUMNS[code]].combine_chunks()) for code in REASON_CODES]
    codes = list(REASON_CODES)
    n = users.num_rows
    # Build list offsets and values column-wise: no Python loop over users.
    mask = (
        np.column_stack([f.to_numpy(zero_copy_only=False) for f in failed])
        if n
        else np.zeros((0, len(codes)), bool)
    )
    counts = mask.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = np.array(codes, dtype=object)[np.nonzero(mask)[1]] if n else np.array([], dtype=object)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.string()))


def cents_to_usd(cents: Any) -> pa.Array:
    """int64 cents → decimal128(20, 2) USD, exactly (no float on the way).

    A decimal128 value is its unscaled integer in 16 little-endian bytes, and the
    unscaled integer of an amount at scale 2 *is* its number of cents: the buffer is
    built directly (low word = cents, high word = sign extension).
    """
    array = cents.combine_chunks() if isinstance(cents, pa.ChunkedArray) else cents
    values = array.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    words = np.empty((len(values), 2), dtype="<i8")
    words[:, 0] = values
    words[:, 1] = values >> 63
    validity = array.buffers()[0] if array.null_count else None
    return pa.Array.from_buffers(
        USD, len(values), [validity, pa.py_buffer(words.tobytes())], array.null_count
    )


def write_parquet(table: pa.Table, path: Path) -> None:
    """Deterministic bytes: one chunk per column (page boundaries follow Arrow chunks, and
    engines chunk differently — Spark by partition), fixed settings, no metadata."""
    pq.write_table(
        table.combine_chunks().replace_schema_metadata(None),
        path,
        compression="zstd",
        row_group_size=1 << 20,
        use_dictionary=True,
        write_statistics=True,
    )


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
