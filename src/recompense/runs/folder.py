"""Reading a finished run folder: the contract every downstream package relies on.

Downstream code (ledger, proofs, web) reads runs only through these functions, never the
engine's internals. A run is identified by its **fingerprint**: the SHA-256 of its
``manifest.json``, which itself holds the SHA-256 of every input and artifact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recompense.runs.artifacts import (
    ALLOCATIONS,
    ALLOCATIONS_SCHEMA,
    AMOUNTS,
    AMOUNTS_SCHEMA,
    MANIFEST,
    RECIPIENTS,
    RECIPIENTS_SCHEMA,
    sha256_file,
)
from recompense.runs.errors import RunFolderError


def read_manifest(run: Path) -> dict[str, Any]:
    path = run / MANIFEST
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunFolderError(f"{run}: not a run folder (no {MANIFEST})") from exc
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read manifest: {exc}") from exc
    return data


def run_fingerprint(run: Path) -> str:
    """SHA-256 of the run's manifest: names this exact run everywhere downstream."""
    read_manifest(run)  # a clear error when the folder is not a run
    return sha256_file(run / MANIFEST)


def check_artifacts(run: Path) -> dict[str, Any]:
    """Every artifact the manifest lists is there with its SHA-256; returns the manifest.

    What an approver signs is the manifest's hash, so the files must be the ones it names.
    """
    manifest = read_manifest(run)
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, dict) or not artifacts:
        raise RunFolderError(f"{run / MANIFEST}: lists no artifacts; not a complete run")
    for name, digest in sorted(artifacts.items()):
        path = run / str(name)
        if Path(str(name)).name != name or not path.is_file() or sha256_file(path) != digest:
            raise RunFolderError(f"{path}: missing, or its SHA-256 differs from the manifest")
    return manifest


def is_amendment(manifest: dict[str, Any]) -> bool:
    """Whether the run is an amendment of a programme (``recompense amend``)."""
    return isinstance(manifest.get("amendment"), dict)


def ledger_program_id(manifest: dict[str, Any]) -> str:
    """The id the run's vouchers are issued under: the programme's, or for an amendment
    ``<programme>~a<sequence>`` (its own row in the ledger, naming its base)."""
    if is_amendment(manifest):
        return str(manifest["amendment"]["ledger_program_id"])
    return str(manifest["program"]["id"])


def amendment_id(program_id: str, sequence: int) -> str:
    return f"{program_id}~a{sequence}"


def read_amounts(run: Path) -> pa.Table:
    """``amounts.parquet`` of an amendment run: per touched user, what changed."""
    return _read_checked(run, AMOUNTS, AMOUNTS_SCHEMA)


def read_payable(run: Path) -> tuple[list[int], list[int]]:
    """(user ids ascending, cents) that distributing this run issues vouchers for.

    A base run pays its allocations; an amendment pays its top-ups (> 0) only — the
    difference between each user's new cumulative amount and what was already issued.
    """
    if is_amendment(read_manifest(run)):
        amounts = read_amounts(run)
        rows = [
            (int(u), int(c))
            for u, c in zip(
                amounts["user_id"].to_pylist(), amounts["topup_cents"].to_pylist(), strict=True
            )
            if c > 0
        ]
        rows.sort()
        return [u for u, _ in rows], [c for _, c in rows]
    allocations = read_allocations(run)
    return allocations["user_id"].to_pylist(), allocations["amount_cents"].to_pylist()


def read_recipients(run: Path) -> pa.Table:
    """``recipients.parquet``: user_id, email, locale of eligible users (checked by hash)."""
    return _read_checked(run, RECIPIENTS, RECIPIENTS_SCHEMA)


def read_allocations(run: Path) -> pa.Table:
    """``allocations.parquet``, checked against its published schema and the manifest."""
    return _read_checked(run, ALLOCATIONS, ALLOCATIONS_SCHEMA)


def _read_checked(run: Path, name: str, schema: pa.Schema) -> pa.Table:
    path = run / name
    manifest = read_manifest(run)
    if not path.is_file() or sha256_file(path) != manifest.get("artifacts", {}).get(name):
        raise RunFolderError(f"{path}: missing, or its SHA-256 differs from the manifest")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from exc
    if table.schema.remove_metadata() != schema:
        raise RunFolderError(f"{path}: unexpected columns {table.schema.names}")
    return table
