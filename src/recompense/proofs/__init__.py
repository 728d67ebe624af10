"""Verifiable payouts: one public commitment to a run's payout list, a proof per user.

- :mod:`~recompense.proofs.verify`: the specification of every hashed byte and the
  verifier, standard library + ``eth-hash`` only, so anyone can audit and run it alone;
- :mod:`~recompense.proofs.signature`: what the programme's Ed25519 signature of
  ``commitment.json`` covers, and its check; standard library + ``cryptography`` only,
  to be copied and run alone like ``verify.py``;
- :mod:`~recompense.proofs.commit`: ``commit_run`` (run folder → ``commitment.json``,
  signed with the publication key if one is given, and the private tree store),
  ``proof_bundle`` (one user's bundle, on demand) and ``Prover`` (many bundles from a
  run opened once);
- :mod:`~recompense.proofs.publication`: the programme's publication key pair (``keys
  new``), loading it, signing a commitment;
- :mod:`~recompense.proofs.trees`: both trees, built level by level on every core
  (Merkle sum tree; OpenZeppelin ``StandardMerkleTree``, ``standard-v1``);
- :mod:`~recompense.proofs.store`: the files on disk, atomic writes, fast lookups;
- :mod:`~recompense.proofs.keys`: the secret programme key and per-user salts (not the
  publication key: that one signs, this one salts);
- :mod:`~recompense.proofs.hashing`: SHA-256, HMAC and Keccak-256 over many rows at once;
- :mod:`~recompense.proofs.errors`: the exception tree.

See ``docs/proofs.md`` for users and auditors.
"""

from typing import TYPE_CHECKING

from recompense.proofs.errors import (
    CommitError,
    CommitmentKeyError,
    NotCommittedError,
    ProofError,
    PublicationKeyError,
    UnknownUserError,
)
from recompense.proofs.signature import PublicKey, SignatureCheck, check_signature
from recompense.proofs.verify import Verdict, verify_proof

if TYPE_CHECKING:
    from recompense.proofs.commit import (
        Committed,
        Prover,
        commit_run,
        proof_bundle,
        read_commitment,
    )

# Hashing workers are spawned processes that import this package: the commit API, which
# reads run folders (and so imports Arrow and Ibis, 0.4 s), is loaded on first use only.
_LAZY = {"Committed", "Prover", "commit_run", "proof_bundle", "read_commitment"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from recompense.proofs import commit

        return getattr(commit, name)
    raise AttributeError(f"module 'recompense.proofs' has no attribute {name!r}")


__all__ = [
    "CommitError",
    "CommitmentKeyError",
    "Committed",
    "NotCommittedError",
    "ProofError",
    "Prover",
    "PublicKey",
    "PublicationKeyError",
    "SignatureCheck",
    "UnknownUserError",
    "Verdict",
    "check_signature",
    "commit_run",
    "proof_bundle",
    "read_commitment",
    "verify_proof",
]
