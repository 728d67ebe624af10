"""The published run, read once into numpy arrays for fast what-ifs.

Everything comes from the run folder alone (the contract downstream code relies on):
``eligibility.parquet`` gives every liquidated user's features and the reason codes
(``ALREADY_COMPENSATED`` among them), ``allocations.parquet`` the published weights
and payouts, ``manifest.json`` the parameters the run used. Both Parquet files are
checked against the SHA-256 in the manifest. Money is integer cents: the
``decimal(20, 2)`` columns are read from their unscaled integers, never via floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recompense.runs.artifacts import ALLOCATIONS, ELIGIBILITY, sha256_file
from recompense.runs.errors import RunFolderError
from recompense.runs.folder import read_manifest, run_fingerprint
from recompense.runs.reasons import ALREADY_COMPENSATED
from recompense.whatif.changes import Settings

_ELIGIBILITY_COLUMNS = (
    "user_id",
    "loss_usd",
    "net_assets_usd",
    "incident_loss_usd",
    "eligible",
    "reasons",
    "loss_ratio_capped",
    "vip_tier",
    "account_age_days",
)


@dataclass(frozen=True, slots=True, eq=False)
class Population:
    """Every liquidated user of a published run, column-wise, sorted by ``user_id``.

    Arrays are read-only and aligned (one entry per user). ``features`` holds the
    weight formula's inputs as float64, exactly as the engine computes them.
    Published values are 0 / NaN for users the run did not pay.
    """

    run: Path
    fingerprint: str  # SHA-256 of the manifest: names the published run
    program_id: str
    published: Settings
    published_lambda: float
    user_id: np.ndarray  # int64
    loss_cents: np.ndarray  # int64
    net_assets_cents: np.ndarray  # int64
    compensated: np.ndarray  # bool: paid by an excluding programme
    features: Mapping[str, np.ndarray]  # float64 formula inputs
    published_eligible: np.ndarray  # bool
    published_weight: np.ndarray  # float64, NaN where not eligible
    published_amount_cents: np.ndarray  # int64, 0 where not eligible
    published_paid_sorted: np.ndarray  # int64, the published payouts in ascending order

    @property
    def size(self) -> int:
        return len(self.user_id)


def load(run: Path) -> Population:
    """Read ``run`` once; raise :class:`RunFolderError` if it is not a complete run.

    Reads only; meant to be cached by the caller (keyed by :attr:`Population.fingerprint`).
    """
    manifest = read_manifest(run)
    fingerprint = run_fingerprint(run)
    users = _read(run, ELIGIBILITY, _ELIGIBILITY_COLUMNS, manifest)
    paid = _read(run, ALLOCATIONS, ("user_id", "weight", "amount_cents"), manifest)
    user_id = _ints(users["user_id"])
    if not bool(np.all(user_id[1:] > user_id[:-1])):  # np.diff overflows on extreme ids
        raise RunFolderError(f"{run / ELIGIBILITY}: user_id is not strictly increasing")
    loss = _cents(users["loss_usd"])
    weight, amount = _published(run, user_id, paid)
    eligible = _bools(users["eligible"])
    if not np.array_equal(eligible, ~np.isnan(weight)):
        raise RunFolderError(f"{run}: {ALLOCATIONS} does not list exactly the eligible users")
    population = Population(
        run=run,
        fingerprint=fingerprint,
        program_id=str(manifest["program"]["id"]),
        published=published_settings(manifest),
        published_lambda=float(manifest["lambda_cents_per_weight"]),
        user_id=user_id,
        loss_cents=loss,
        net_assets_cents=_cents(users["net_assets_usd"]),
        compensated=_has_reason(users["reasons"], ALREADY_COMPENSATED),
        features=_features(users, loss),
        published_eligible=eligible,
        published_weight=weight,
        published_amount_cents=amount,
        published_paid_sorted=np.sort(amount[eligible]),
    )
    for array in (
        user_id,
        loss,
        population.net_assets_cents,
        population.compensated,
        eligible,
        weight,
        amount,
        population.published_paid_sorted,
        *population.features.values(),
    ):
        array.setflags(write=False)
    return population


def published_settings(manifest: Mapping[str, Any]) -> Settings:
    """The parameters a run used, from its manifest."""
    try:
        params = manifest["policy"]["parameters"]
        return Settings(
            min_loss_cents=int(params["min_loss_cents"]),
            min_ratio=Decimal(params["min_loss_ratio"]),
            min_payout_cents=int(params["min_payout_cents"]),
            max_payout_cents=int(params["max_payout_cents"]),
            cap_at_loss=bool(params["cap_at_loss"]),
            budget_cents=int(manifest["budget_cents"]),
            weight=str(params["weight"]),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise RunFolderError(f"manifest: missing or invalid policy parameter: {exc}") from exc


def _read(run: Path, name: str, columns: tuple[str, ...], manifest: Mapping[str, Any]) -> pa.Table:
    path = run / name
    if not path.is_file() or sha256_file(path) != manifest.get("artifacts", {}).get(name):
        raise RunFolderError(f"{path}: missing, or its SHA-256 differs from the manifest")
    try:
        table = pq.read_table(path, columns=list(columns))
    except (OSError, pa.ArrowException) as exc:
        raise RunFolderError(f"{path}: cannot read the columns {list(columns)}: {exc}") from exc
    return table.combine_chunks()


def _published(run: Path, user_id: np.ndarray, paid: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Published weight (NaN if unpaid) and amount (0 if unpaid), aligned to ``user_id``."""
    paid_ids = _ints(paid["user_id"])
    at = np.searchsorted(user_id, paid_ids)
    inside = at < len(user_id)
    if not inside.all() or not np.array_equal(user_id[at], paid_ids):
        raise RunFolderError(f"{run / ALLOCATIONS}: pays users missing from {ELIGIBILITY}")
    weight = np.full(len(user_id), np.nan)
    weight[at] = paid["weight"].to_numpy()
    amount = np.zeros(len(user_id), dtype=np.int64)
    amount[at] = _ints(paid["amount_cents"])
    return weight, amount


def _features(users: pa.Table, loss_cents: np.ndarray) -> dict[str, np.ndarray]:
    """The formula's inputs, computed as :func:`engine.features.with_formula_inputs` does."""
    return {
        "loss_usd": loss_cents.astype(np.float64) / 100,
        "net_assets_usd": _cents(users["net_assets_usd"]).astype(np.float64) / 100,
        "incident_loss_usd": _cents(users["incident_loss_usd"]).astype(np.float64) / 100,
        "loss_ratio_capped": _floats(users["loss_ratio_capped"]),
        "vip_tier": _ints(users["vip_tier"]).astype(np.float64),
        "account_age_days": _ints(users["account_age_days"]).astype(np.float64),
    }


def _cents(column: pa.ChunkedArray) -> np.ndarray:
    """decimal128(·, 2) → int64 cents, exactly: the unscaled integer *is* the cents."""
    array = _chunk(column)
    if not pa.types.is_decimal(array.type) or array.type.scale != 2:
        raise RunFolderError(f"expected a decimal column with 2 decimals, got {array.type}")
    words = np.frombuffer(array.buffers()[1], dtype="<i8")[2 * array.offset :]
    low, high = words[0 : 2 * len(array) : 2], words[1 : 2 * len(array) : 2]
    if not np.array_equal(high, low >> 63):
        raise RunFolderError("an amount does not fit in 64-bit cents")
    values = low.astype(np.int64)
    if array.null_count:
        values[~_valid(array)] = 0
    return values


def _ints(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(_chunk(column).fill_null(0).to_numpy(zero_copy_only=False), np.int64)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(_chunk(column).to_numpy(zero_copy_only=False), np.float64)


def _bools(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(_chunk(column).fill_null(False).to_numpy(zero_copy_only=False), bool)


def _has_reason(reasons: pa.ChunkedArray, code: str) -> np.ndarray:
    """Per user: does the reason list contain ``code``? (no Python loop over users)."""
    array = _chunk(reasons)
    hits = np.zeros(len(array), dtype=bool)
    values = pc.list_flatten(array)
    parents = pc.list_parent_indices(array).to_numpy()
    matched = pc.equal(values, code).fill_null(False).to_numpy(zero_copy_only=False)
    hits[parents[matched]] = True
    return hits


def _valid(array: pa.Array) -> np.ndarray:
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), bool)


def _chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
