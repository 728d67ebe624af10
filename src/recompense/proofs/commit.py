"""Commit a run's payout list, and give one user the proof of their payout.

:func:`commit_run` reads the run folder through its contract (manifest, fingerprint,
allocations), builds both trees and writes ``commitment.json`` (public) and the private
tree store (:mod:`recompense.proofs.store`). It is deterministic: the same run and key
give the same bytes. On a run that is committed already it changes nothing: it checks
that the commitment belongs to this manifest and key (restoring a missing store if the
rebuilt commitment is identical), and refuses a commitment made for another manifest.
A commit that fails — a full or read-only disk is a
:class:`~recompense.errors.StorageError`, exit code 3 — leaves no ``commitment.json`` and
no ``proofs/``; only the ``commitment.key`` it generated, complete, stays, and the next
commit uses it, so running it again gives the same roots.

With a publication key (:mod:`recompense.proofs.publication`) the commitment is signed:
``signature`` is its last member. An unsigned commitment that is published already can
be signed later (its content is unchanged; the signature is added), and a signed one is
never signed again with another key. The private store is bound to the commitment's
content, the signature left out, so signing it does not orphan the store.

:func:`proof_bundle` derives one user's bundle from the store in milliseconds, and
checks it with the published verifier before handing it out.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recompense.atomic import discard
from recompense.proofs.amendments import Amendment, amendment_of, chain_members, read_changes
from recompense.proofs.errors import (
    CommitError,
    CommitmentKeyError,
    NotCommittedError,
    ProofError,
    UnknownUserError,
)
from recompense.proofs.keys import Key, inherit_key, resolve_key, salt
from recompense.proofs.signature import SIGNATURE, check_signature
from recompense.proofs.store import (
    COMMITMENT,
    STORE,
    STORE_FORMAT,
    Store,
    atomic_folder,
    open_store,
    publish,
    replace,
    write_store,
)
from recompense.proofs.trees import Int64s, Trees, build_trees, pool
from recompense.proofs.verify import (
    COMMITMENT_FORMAT,
    LEAF_ENCODING,
    PROOF_FORMAT,
    UNITS_PER_CENT,
    sum_leaf,
    user_hash,
    verify_chain_proof,
    verify_proof,
)
from recompense.runs import read_allocations, read_manifest, run_fingerprint

if TYPE_CHECKING:
    from recompense.proofs.publication import SigningKey

ENCODINGS = {
    "salt": "HMAC-SHA256(programme key, utf8(program_id) || 0x00 || int64be(user_id)), "
    "given only to that user",
    "user_hash": "SHA-256(salt || int64be(user_id))",
}
SUM_TREE_ENCODINGS = {
    "hash": "SHA-256",
    "order": "leaves by ascending user_hash",
    "leaf": "SHA-256(0x00 || user_hash || uint128be(amount_cents)), sum = amount_cents",
    "node": "SHA-256(0x01 || left.hash || uint128be(left.sum) || right.hash || "
    "uint128be(right.sum)), sum = left.sum + right.sum",
    "padding": "a level with an odd number of nodes, other than the root, ends with "
    "(SHA-256(0x02), 0)",
}


@dataclass(frozen=True, slots=True)
class Committed:
    path: Path  # commitment.json
    commitment: dict[str, Any]
    created: bool  # False: the run was committed already (see signed_now)
    key_source: str
    timings_s: dict[str, float]
    signed_now: bool = False  # this call added the signature to a published commitment


def commit_run(
    run: Path,
    *,
    workers: int | None = None,
    environ: Mapping[str, str] | None = None,
    signing_key: SigningKey | None = None,
) -> Committed:
    """Commit the run's payouts; ``workers``: processes for hashing (default: all cores);
    ``signing_key``: the programme's publication key, to sign the commitment with."""
    started = time.perf_counter()
    fingerprint = run_fingerprint(run)
    manifest = read_manifest(run)
    existing = _read_existing(run, fingerprint)
    amendment = amendment_of(run, manifest)
    if amendment is not None and existing is None:
        inherit_key(run, amendment.previous_run, environ)
    key = resolve_key(run, create=existing is None, environ=environ)
    if existing is not None and _store_matches(run, existing, key):
        signed, changed = _sign_published(run, existing, signing_key)
        return Committed(run / COMMITMENT, signed, False, key.source, {}, changed)
    chain = {} if amendment is None else chain_members(run, amendment)
    user_ids, amounts, total = _payouts(run, manifest)
    loaded = time.perf_counter()
    with pool(workers, len(user_ids)) as hashing:
        trees = build_trees(key.secret, manifest["program"]["id"], user_ids, amounts, hashing)
    built = time.perf_counter()
    commitment = _commitment(manifest, fingerprint, trees, total, chain)
    if existing is None and signing_key is not None:
        commitment = _sign(commitment, signing_key)
    _write(run, trees, user_ids, commitment, existing, key)
    changed = False
    if existing is not None:
        commitment, changed = _sign_published(run, existing, signing_key)
    timings = {
        "read": loaded - started,
        "build": built - loaded,
        "write": time.perf_counter() - built,
        "total": time.perf_counter() - started,
    }
    rounded = {stage: round(seconds, 4) for stage, seconds in timings.items()}
    return Committed(run / COMMITMENT, commitment, existing is None, key.source, rounded, changed)


def proof_bundle(
    run: Path, user_id: int, *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One user's bundle: salt, amount and both paths, checked with the verifier."""
    return Prover(run, environ=environ).bundle(user_id)


class Prover:
    """A committed run opened once, to derive many users' bundles (a notifier's loop)."""

    def __init__(self, run: Path, *, environ: Mapping[str, str] | None = None) -> None:
        self.run = run
        self.commitment = read_commitment(run)
        self._store = _open_matching_store(run, self.commitment)
        self._key = resolve_key(run, create=False, environ=environ)
        self._environ = environ
        manifest = read_manifest(run)
        self.amendment: Amendment | None = amendment_of(run, manifest)
        self._changes = read_changes(run, manifest) if self.amendment is not None else {}
        self._previous: Prover | None = None

    @property
    def previous(self) -> Prover | None:
        """The prover of the run this one amends (opened on first use); None for a base."""
        if self.amendment is not None and self._previous is None:
            self._previous = Prover(self.amendment.previous_run, environ=self._environ)
        return self._previous

    def chain(self) -> list[dict[str, Any]]:
        """The published commitments from the base to this run's (base first)."""
        previous = self.previous
        return [self.commitment] if previous is None else [*previous.chain(), self.commitment]

    def bundle(self, user_id: int) -> dict[str, Any]:
        store, program_id = self._store, self.commitment["program_id"]
        index = store.index_of(user_id)
        leaf, tree_index = int(store.sum_index[index]), int(store.standard_index[index])
        amount = int(store.sum_sums[leaf])
        user_salt = salt(self._key.secret, program_id, user_id)
        hashed = user_hash(user_salt, user_id)
        if sum_leaf(hashed, amount) != store.sum_hashes[leaf].tobytes():
            raise CommitmentKeyError(
                f"the key from {self._key.source} is not the one "
                f"{self.run / COMMITMENT} was made with"
            )
        bundle = {
            "format": PROOF_FORMAT,
            "program_id": program_id,
            "manifest_sha256": self.commitment["manifest_sha256"],
            "user_id": user_id,
            "salt": user_salt.hex(),
            "user_hash": hashed.hex(),
            "amount_cents": amount,
            "sum_tree": {"leaf_index": leaf, "path": store.sum_path(leaf)},
            "standard_tree": {
                "value": ["0x" + hashed.hex(), str(amount * UNITS_PER_CENT)],
                "tree_index": tree_index,
                "proof": store.standard_proof(tree_index),
            },
        }
        previous = self.previous
        if self.amendment is not None and previous is not None:
            bundle["amendment"] = self._change(self.amendment.sequence, previous, user_id, amount)
            verdict = verify_chain_proof(self.chain(), bundle)
        else:
            verdict = verify_proof(self.commitment, bundle)
        if not verdict.ok:
            raise ProofError(
                f"{self.run / STORE}: the stored trees do not prove user {user_id}: "
                f"{verdict.failure}"
            )
        return bundle

    def _change(
        self, sequence: int, previous_prover: Prover, user_id: int, amount: int
    ) -> dict[str, Any]:
        """What this amendment changed for the user, with their proof one link back."""
        try:
            earlier: dict[str, Any] | None = previous_prover.bundle(user_id)
        except UnknownUserError:
            earlier = None
        previous = 0 if earlier is None else int(earlier["amount_cents"])
        row = self._changes.get(user_id)
        if row is not None and (row.previous_cents, row.topup_cents) != (
            previous,
            amount - previous,
        ):
            raise ProofError(
                f"{self.run / 'amounts.parquet'}: user {user_id} had {row.previous_cents} "
                f"cents before and a top-up of {row.topup_cents}, but the commitments say "
                f"{previous} and {amount - previous}"
            )
        if amount < previous:
            raise ProofError(
                f"{self.run}: user {user_id}'s cumulative amount {amount} is below the "
                f"{previous} of the run it amends; cumulative amounts never go down"
            )
        return {
            "sequence": sequence,
            "previous_cents": previous,
            "topup_cents": amount - previous,
            "change": "unchanged" if row is None else row.change,
            "previous_proof": earlier,
            "proves": "previous_proof proves previous_cents against the previous commitment "
            "(null: no payout before); topup_cents = amount_cents - previous_cents; "
            "change is informative",
        }


def read_commitment(run: Path) -> dict[str, Any]:
    path = run / COMMITMENT
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        read_manifest(run)  # a clear error when the folder is not a run at all
        raise NotCommittedError(
            f"{run}: not committed yet (no {COMMITMENT}); run: recompense commit --run {run}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ProofError(f"{path}: cannot read: {exc}") from exc
    if data.get("format") != COMMITMENT_FORMAT:
        raise ProofError(f"{path}: unknown format {data.get('format')!r}")
    return data


def _read_existing(run: Path, fingerprint: str) -> dict[str, Any] | None:
    if not (run / COMMITMENT).exists():
        return None
    existing = read_commitment(run)
    if existing.get("manifest_sha256") != fingerprint:
        raise CommitError(
            f"{run / COMMITMENT}: made for manifest {existing.get('manifest_sha256')}, but "
            f"the run's manifest is {fingerprint}; a published commitment is never replaced"
        )
    return existing


def _store_matches(run: Path, commitment: dict[str, Any], key: Key) -> bool:
    """Whether the store is complete and this commitment's; raises if the key is not."""
    try:
        store = _open_matching_store(run, commitment)
    except ProofError:
        return False  # rebuilt and compared by the caller
    first, leaf = int(store.user_ids[0]), int(store.sum_index[0])
    expected = user_hash(salt(key.secret, commitment["program_id"], first), first)
    if sum_leaf(expected, int(store.sum_sums[leaf])) != store.sum_hashes[leaf].tobytes():
        raise CommitmentKeyError(
            f"{run / COMMITMENT} was made with another key than the one from {key.source}"
        )
    return True


def _open_matching_store(run: Path, commitment: dict[str, Any]) -> Store:
    store = open_store(run)
    if store.meta.get("commitment_sha256") != content_sha256(commitment):
        raise ProofError(f"{run / STORE}: does not belong to {run / COMMITMENT}")
    return store


def content_sha256(commitment: dict[str, Any]) -> str:
    """SHA-256 of the commitment as ``commit`` writes it unsigned: what binds the store to
    it (a commitment written before signatures existed hashes to its file's bytes)."""
    return hashlib.sha256(_text(_unsigned(commitment)).encode("utf-8")).hexdigest()


def _unsigned(commitment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in commitment.items() if k != SIGNATURE}


def _text(commitment: dict[str, Any]) -> str:
    return json.dumps(commitment, indent=2) + "\n"


def _sign(commitment: dict[str, Any], signing_key: SigningKey) -> dict[str, Any]:
    from recompense.proofs.publication import sign_commitment

    return sign_commitment(commitment, signing_key)


def _sign_published(
    run: Path, published: dict[str, Any], signing_key: SigningKey | None
) -> tuple[dict[str, Any], bool]:
    """Sign a published, unsigned commitment (True), or check the signature it has.

    Only ``signature`` is added: the content, and so the roots users were given, stays
    as it is. A commitment signed already is never signed again with another key.
    """
    if signing_key is None:
        return published, False
    path = run / COMMITMENT
    signature = published.get(SIGNATURE)
    if signature is None:
        signed = _sign(published, signing_key)
        replace(path, _text(signed))
        return signed, True
    check = check_signature(published, signing_key.public)
    if check.ok:
        return published, False
    if check.key_id is not None and check.key_id != signing_key.key_id:
        raise CommitError(
            f"{path}: signed already with key {check.key_id}; a signed commitment is never "
            f"signed again with another key (this one is {signing_key.key_id})"
        )
    raise CommitError(
        f"{path}: its signature does not verify with {signing_key.source}: {check.detail}"
    )


def _payouts(run: Path, manifest: dict[str, Any]) -> tuple[Int64s, Int64s, int]:
    """User ids (ascending), their amounts, and the exact total, checked with the manifest."""
    table = read_allocations(run)
    user_ids = table["user_id"].to_numpy().astype(np.int64)
    amounts = table["amount_cents"].to_numpy().astype(np.int64)
    order = np.argsort(user_ids, kind="stable")
    user_ids, amounts = user_ids[order], amounts[order]
    allocated = manifest.get("allocated_cents")
    total = int(sum(amounts.tolist()))
    if total != allocated:
        raise CommitError(
            f"{run}: allocations add up to {total:,} cents but the manifest's "
            f"allocated_cents is {allocated!r}"
        )
    return user_ids, amounts, total


def _write(
    run: Path,
    trees: Trees,
    user_ids: Int64s,
    commitment: dict[str, Any],
    existing: dict[str, Any] | None,
    key: Key,
) -> None:
    """The store, then ``commitment.json`` (or, if published already, the store alone)."""
    if existing is not None and _unsigned(existing) != _unsigned(commitment):
        raise CommitmentKeyError(
            f"{run / COMMITMENT}: rebuilding this run with the key from {key.source} gives "
            "other roots than the published ones: it is not the key they were made with"
        )
    shutil.rmtree(run / STORE, ignore_errors=True)  # an interrupted commit's, never published
    with atomic_folder(run / STORE) as tmp:
        write_store(tmp, trees, user_ids, _meta(commitment, trees))
    if existing is None:
        try:
            publish(run / COMMITMENT, _text(commitment))
        except BaseException:
            if not (run / COMMITMENT).exists():  # else another commit published it first
                discard(run / STORE)  # the trees of a commitment that was never published
            raise


def _commitment(
    manifest: dict[str, Any],
    fingerprint: str,
    trees: Trees,
    total: int,
    chain: dict[str, Any],
) -> dict[str, Any]:
    """The public commitment; ``chain``: an amendment's ``previous`` and ``amendment``
    members (:func:`~recompense.proofs.amendments.chain_members`), empty for a base run."""
    sum_root, root_sum = trees.sum_tree.root
    if root_sum != total:
        raise RuntimeError(f"bug: the sum tree's root sum {root_sum} ≠ the total {total}")
    return {
        "format": COMMITMENT_FORMAT,
        "program_id": manifest["program"]["id"],
        "currency": manifest["program"].get("currency"),
        "manifest_sha256": fingerprint,
        "users": len(trees.user_hashes),
        "total_cents": total,
        **ENCODINGS,
        "sum_tree": {
            "root": sum_root.hex(),
            "depth": trees.sum_tree.depth,
            **SUM_TREE_ENCODINGS,
        },
        "standard_tree": {
            "format": "standard-v1",
            "root": "0x" + trees.standard.root.hex(),
            "leaf_encoding": list(LEAF_ENCODING),
            "value": "[0x || user_hash, amount_cents * 10^4]: USDC base units (6 decimals)",
            "total_units": str(total * UNITS_PER_CENT),
        },
        **chain,
        "verify": "recompense verify --commitment commitment.json --proof proof.json "
        "(or: python verify.py commitment.json proof.json, docs/proofs.md)",
    }


def _meta(commitment: dict[str, Any], trees: Trees) -> dict[str, Any]:
    return {
        "format": STORE_FORMAT,
        "program_id": commitment["program_id"],
        "manifest_sha256": commitment["manifest_sha256"],
        "commitment_sha256": content_sha256(commitment),
        "users": commitment["users"],
        "sum_tree_offsets": list(trees.sum_tree.offsets),
    }
