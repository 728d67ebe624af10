"""Commitments across amendments: the link each one names, the walk back, what changed.

An amendment run (``recompense amend``) is a run folder whose ``allocations.parquet``
holds every user's **cumulative** amount and whose manifest has an ``amendment``
section (its ``sequence``, the base's and the previous run's fingerprints, the previous
run's folder). Its commitment is an ordinary one over the cumulative amounts, plus two
members that chain it to the commitment it amends (``verify.py`` specifies them)::

    "previous": {"commitment_sha256": chain_sha256(previous commitment),
                 "manifest_sha256": <previous run>, "sequence": n - 1},
    "amendment": {"sequence": n, "base_manifest_sha256": <base run>}

``chain_sha256`` hashes the previous commitment's canonical JSON without its signature,
so signing a published commitment later leaves the link intact. A base run's commitment
has neither member and is byte for byte what it was before amendments existed.

- :func:`chain_members`: the two members, from the previous run's published commitment;
  the previous run must be committed first (:class:`CommitError`, exit code 2);
- :func:`walk`: the committed runs from the base to a run, by ``previous_run``;
- :func:`check_chain`: every link and, with the programme's public key, every signature;
- :func:`read_changes`: ``amounts.parquet``, what each amendment did to each user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recompense.proofs.errors import CommitError, ProofError
from recompense.proofs.signature import PublicKey, SignatureCheck, check_signature
from recompense.proofs.store import COMMITMENT
from recompense.proofs.verify import Verdict, chain_sha256, verify_chain
from recompense.runs import read_manifest, run_fingerprint
from recompense.runs.artifacts import sha256_file

AMOUNTS = "amounts.parquet"
MAX_CHAIN = 10_000  # links walked before a loop of previous_run paths is assumed
_HEX32 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Amendment:
    """A run's ``amendment`` section, as far as proofs need it."""

    sequence: int  # 1, 2, … along the chain
    previous_run: Path
    previous_fingerprint: str  # SHA-256 of the previous run's manifest.json
    base_fingerprint: str  # SHA-256 of the base run's manifest.json


@dataclass(frozen=True, slots=True)
class Link:
    """One committed run of a chain."""

    sequence: int  # 0: the base
    run: Path
    commitment: dict[str, Any]
    created_at: str | None  # the manifest's created_at (UTC, ISO 8601), if it has one


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The links (base first), the verdict on them, and each link's signature check."""

    links: tuple[Link, ...]
    verdict: Verdict
    signatures: tuple[SignatureCheck, ...]
    key_given: bool

    @property
    def signed(self) -> bool:
        """Valid signatures everywhere with a key; without one, none that is invalid."""
        if self.key_given:
            return all(check.ok for check in self.signatures)
        return all(check.status != "invalid" for check in self.signatures)

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.signed

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **{k: v for k, v in self.verdict.as_dict().items() if k != "ok"},
            "links": [
                {
                    "sequence": link.sequence,
                    "run": str(link.run),
                    "manifest_sha256": link.commitment.get("manifest_sha256"),
                    "chain_sha256": chain_sha256(link.commitment),
                    "sum_root": link.commitment.get("sum_tree", {}).get("root"),
                    "total_cents": link.commitment.get("total_cents"),
                    "created_at": link.created_at,
                    "signature": check.as_dict(),
                }
                for link, check in zip(self.links, self.signatures, strict=True)
            ],
        }


def amendment_of(run: Path, manifest: dict[str, Any]) -> Amendment | None:
    """The manifest's ``amendment`` section, checked; None for a base run."""
    section = manifest.get("amendment")
    if section is None:
        return None
    where = f"{run / 'manifest.json'}: amendment"
    if not isinstance(section, dict):
        raise ProofError(f"{where} is not an object")
    sequence = section.get("sequence")
    if type(sequence) is not int or sequence < 1:
        raise ProofError(f"{where}.sequence is {sequence!r}, expected an integer ≥ 1")
    previous = section.get("previous_run")
    if not isinstance(previous, str) or not previous:
        raise ProofError(f"{where}.previous_run is {previous!r}, expected a folder")
    fingerprints: list[str] = []
    for name in ("previous_fingerprint", "base_fingerprint"):
        value = section.get(name)
        if not isinstance(value, str) or not _HEX32.fullmatch(value):
            raise ProofError(f"{where}.{name} is {value!r}, expected 64 lowercase hex digits")
        fingerprints.append(value)
    previous_run = Path(previous) if Path(previous).is_absolute() else run / previous
    return Amendment(sequence, previous_run, fingerprints[0], fingerprints[1])


def chain_members(run: Path, amendment: Amendment) -> dict[str, Any]:
    """``previous`` and ``amendment`` for the run's commitment, from the previous run's
    published commitment, after checking that it is the run the manifest names."""
    from recompense.proofs.commit import read_commitment

    previous = amendment.previous_run
    if not (previous / COMMITMENT).is_file():
        raise CommitError(
            f"{run} amends {previous}, which is not committed yet: commit it first "
            f"(recompense commit --run {previous}), then this run"
        )
    published = read_commitment(previous)
    fingerprint = run_fingerprint(previous)
    if amendment.previous_fingerprint not in (fingerprint, published.get("manifest_sha256")):
        raise CommitError(
            f"{run}: its manifest amends run {amendment.previous_fingerprint}, but "
            f"{previous} is run {fingerprint}"
        )
    before = published.get("amendment")
    sequence = before.get("sequence") if isinstance(before, dict) else 0
    base = before.get("base_manifest_sha256") if isinstance(before, dict) else fingerprint
    if sequence != amendment.sequence - 1:
        raise CommitError(
            f"{run}: amendment {amendment.sequence} must follow amendment "
            f"{amendment.sequence - 1}, but {previous}'s commitment is sequence {sequence!r}"
        )
    if base != amendment.base_fingerprint:
        raise CommitError(
            f"{run}: its base run is {amendment.base_fingerprint}, but {previous}'s chain "
            f"starts at {base}"
        )
    return {
        "previous": {
            "commitment_sha256": chain_sha256(published),
            "manifest_sha256": published["manifest_sha256"],
            "sequence": amendment.sequence - 1,
        },
        "amendment": {"sequence": amendment.sequence, "base_manifest_sha256": base},
    }


def walk(run: Path) -> list[Link]:
    """The committed runs from the base to ``run``, following each ``previous_run``."""
    from recompense.proofs.commit import read_commitment

    links: list[Link] = []
    seen: set[Path] = set()
    current: Path | None = run
    while current is not None:
        resolved = current.resolve()
        if resolved in seen or len(links) >= MAX_CHAIN:
            raise ProofError(f"{current}: the previous_run folders form a loop")
        seen.add(resolved)
        manifest = read_manifest(current)
        amendment = amendment_of(current, manifest)
        sequence = 0 if amendment is None else amendment.sequence
        created = manifest.get("created_at")
        when = created if isinstance(created, str) else None
        links.append(Link(sequence, current, read_commitment(current), when))
        current = None if amendment is None else amendment.previous_run
    return links[::-1]


def check_chain(run: Path, public_key: PublicKey | None = None) -> ChainReport:
    """Walk from ``run`` to its base and check every link (and signature)."""
    links = walk(run)
    verdict = verify_chain([link.commitment for link in links])
    signatures = tuple(check_signature(link.commitment, public_key) for link in links)
    return ChainReport(tuple(links), verdict, signatures, public_key is not None)


@dataclass(frozen=True, slots=True)
class Change:
    """One user's row of ``amounts.parquet``."""

    previous_cents: int
    topup_cents: int
    change: str


def read_changes(run: Path, manifest: dict[str, Any]) -> dict[int, Change]:
    """``amounts.parquet`` by user (checked against the manifest's SHA-256 when listed)."""
    path = run / AMOUNTS
    listed = manifest.get("artifacts", {}).get(AMOUNTS)
    if not path.is_file():
        if listed is not None:
            raise ProofError(f"{path}: missing, but the manifest lists it")
        return {}
    if listed is not None and sha256_file(path) != listed:
        raise ProofError(f"{path}: its SHA-256 differs from the manifest")
    columns = ["user_id", "previous_cents", "topup_cents", "change"]
    try:
        table = pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise ProofError(f"{path}: cannot read {columns}: {exc}") from exc
    rows = zip(*(table[name].to_pylist() for name in columns), strict=True)
    return {int(u): Change(int(p), int(t), str(c)) for u, p, t, c in rows}


@dataclass(frozen=True, slots=True)
class Step:
    """One commitment of a chain as one user sees it (the verify page's rows)."""

    sequence: int  # 0: the base
    created_at: str | None
    sum_root: str
    amount_cents: int | None  # the user's cumulative amount there; None: no payout yet
    topup_cents: int  # what this commitment added for the user (0 for the base)
    change: str  # "base", or amounts.parquet's change (increase, claim, new, …)


def user_history(links: list[Link], bundle: dict[str, Any]) -> list[Step]:
    """The user's amount at each link (base first), from their bundle's nested proofs."""
    amounts: dict[int, tuple[int, int, str]] = {}
    current: dict[str, Any] | None = bundle
    sequence = len(links) - 1
    while current is not None and sequence >= 0:
        change = current.get("amendment")
        if sequence == 0 or not isinstance(change, dict):
            amounts[sequence] = (int(current["amount_cents"]), 0, "base")
            break
        amounts[sequence] = (int(current["amount_cents"]), change["topup_cents"], change["change"])
        current, sequence = change.get("previous_proof"), sequence - 1
    steps = []
    for link in links:
        amount, topup, change = amounts.get(link.sequence, (None, 0, "none"))
        root = str(link.commitment.get("sum_tree", {}).get("root", ""))
        steps.append(Step(link.sequence, link.created_at, root, amount, topup, change))
    return steps
