"""A distributed programme's run folder, loaded once into arrays sorted by user id.

The service answers "am I eligible?" for any of millions of users in microseconds: at
start (or first use) it reads the run's eligibility, allocations and recipients
Parquet files through the run folder contract (checked against the manifest and the
fingerprint the ledger recorded), keeps each column as a numpy array sorted by user
id, and finds a user with one binary search (``searchsorted``). About 60 bytes per
liquidated user: 1M users take ~60 MB.

Money columns stay exact: ``decimal128(20, 2)`` values are read as their unscaled
integers, which *are* the cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recompense.runs import read_allocations, read_manifest, read_recipients, run_fingerprint
from recompense.runs.artifacts import ELIGIBILITY, sha256_file
from recompense.runs.errors import RunFolderError
from recompense.runs.reasons import REASON_CODES

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Codes = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Eligibility:
    """One row per liquidated user, sorted by ``user_ids``; reasons as bits of REASON_CODES."""

    user_ids: Ints
    loss_cents: Ints
    net_assets_cents: Ints
    incident_loss_cents: Ints
    fills: Ints
    eligible: npt.NDArray[np.bool_]
    reason_bits: Codes


@dataclass(frozen=True, slots=True)
class Allocations:
    """One row per eligible user, sorted by ``user_ids``; ``bound`` as codes into ``bounds``."""

    user_ids: Ints
    amount_cents: Ints
    floor_cents: Ints
    cap_cents: Ints
    weight: Floats
    bound_codes: Codes
    bounds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunIndex:
    run: Path
    fingerprint: str
    manifest: dict[str, Any]
    eligibility: Eligibility
    allocations: Allocations
    recipient_ids: Ints
    recipient_locales: tuple[str, ...]  # parallel to recipient_ids

    @property
    def program_id(self) -> str:
        return str(self.manifest["program"]["id"])

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.manifest["policy"]["parameters"]
        return params

    def eligibility_row(self, user_id: int) -> int | None:
        return _find(self.eligibility.user_ids, user_id)

    def allocation_row(self, user_id: int) -> int | None:
        return _find(self.allocations.user_ids, user_id)

    def locale_of(self, user_id: int) -> str | None:
        row = _find(self.recipient_ids, user_id)
        return None if row is None else self.recipient_locales[row]


def load_run(run: Path, expected_fingerprint: str) -> RunIndex:
    """Read the run folder the ledger names; refuse it if it is not the distributed run."""
    fingerprint = run_fingerprint(run)
    if fingerprint != expected_fingerprint:
        raise RunFolderError(
            f"{run}: manifest SHA-256 {fingerprint[:12]}… is not the distributed run "
            f"{expected_fingerprint[:12]}… recorded in the ledger"
        )
    manifest = read_manifest(run)
    recipients = read_recipients(run).sort_by("user_id")
    return RunIndex(
        run=run,
        fingerprint=fingerprint,
        manifest=manifest,
        eligibility=_eligibility(run, manifest),
        allocations=_allocations(read_allocations(run)),
        recipient_ids=_ints(recipients["user_id"]),
        recipient_locales=tuple(str(v) for v in recipients["locale"].to_pylist()),
    )


def decimal_cents(column: pa.ChunkedArray | pa.Array) -> Ints:
    """``decimal128(p, 2)`` → int64 cents exactly: the unscaled integer is the cents."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_decimal128(array.type) or array.type.scale != 2:
        raise RunFolderError(f"expected decimal128 with 2 decimals, got {array.type}")
    array = array.fill_null(pa.scalar(0, array.type)) if array.null_count else array
    words = np.frombuffer(array.buffers()[1], dtype="<i8")
    start = 2 * array.offset
    return words[start : start + 2 * len(array) : 2].astype(np.int64)


def _eligibility(run: Path, manifest: dict[str, Any]) -> Eligibility:
    path = run / ELIGIBILITY
    if sha256_file(path) != manifest.get("artifacts", {}).get(ELIGIBILITY):
        raise RunFolderError(f"{path}: missing, or its SHA-256 differs from the manifest")
    try:
        table = pq.read_table(path).sort_by("user_id")
    except (OSError, pa.ArrowException) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from exc
    return Eligibility(
        user_ids=_ints(table["user_id"]),
        loss_cents=decimal_cents(table["loss_usd"]),
        net_assets_cents=decimal_cents(table["net_assets_usd"]),
        incident_loss_cents=decimal_cents(table["incident_loss_usd"]),
        fills=_ints(table["fills"]),
        eligible=np.asarray(table["eligible"].to_numpy(), dtype=np.bool_),
        reason_bits=_reason_bits(table["reasons"].combine_chunks()),
    )


def _allocations(table: pa.Table) -> Allocations:
    table = table.sort_by("user_id")
    encoded = pc.dictionary_encode(table["bound"].combine_chunks())
    bounds = tuple(str(v) for v in encoded.dictionary.to_pylist())
    return Allocations(
        user_ids=_ints(table["user_id"]),
        amount_cents=_ints(table["amount_cents"]),
        floor_cents=_ints(table["floor_cents"]),
        cap_cents=_ints(table["cap_cents"]),
        weight=np.asarray(table["weight"].to_numpy(), dtype=np.float64),
        bound_codes=np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.uint8),
        bounds=bounds,
    )


def _reason_bits(reasons: pa.ListArray) -> Codes:
    """Each user's failed rules as bits (bit k = REASON_CODES[k]), without a Python loop."""
    bits = np.zeros(len(reasons), dtype=np.uint8)
    parents = np.asarray(pc.list_parent_indices(reasons).to_numpy(), dtype=np.int64)
    values = pc.list_flatten(reasons)
    for k, code in enumerate(REASON_CODES):
        hit = np.asarray(pc.equal(values, code).to_numpy(zero_copy_only=False), dtype=np.bool_)
        np.bitwise_or.at(bits, parents[hit], np.uint8(1 << k))
    return bits


def _ints(column: pa.ChunkedArray) -> Ints:
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _find(sorted_ids: Ints, user_id: int) -> int | None:
    position = int(np.searchsorted(sorted_ids, user_id))
    if position < len(sorted_ids) and int(sorted_ids[position]) == user_id:
        return position
    return None
