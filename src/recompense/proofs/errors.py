"""Errors of the proofs package.

::

    InputError
    └── ProofError              a commitment or proof that cannot be made as asked
        ├── CommitError         the run cannot be committed (no payouts, a duplicate user,
        │                       an amount out of range, a commitment for another manifest)
        ├── CommitmentKeyError  no key, a malformed key, or not the key of this commitment
        ├── PublicationKeyError a publication (signing) key or public key that cannot be
        │                       made, read or used
        └── UnknownUserError    the user has no payout in this run

A proof that does not verify is not an error: :func:`recompense.proofs.verify.verify`
returns a verdict naming the step that failed.
"""

from __future__ import annotations

from recompense.errors import InputError


class ProofError(InputError):
    """A commitment or a proof that cannot be made as asked."""


class CommitError(ProofError):
    """The run cannot be committed, or is committed already to something else."""


class CommitmentKeyError(ProofError):
    """The secret programme key is missing, malformed or not the one of this commitment."""


class PublicationKeyError(ProofError):
    """The Ed25519 publication key pair cannot be written, read, or used as asked."""


class UnknownUserError(ProofError):
    """The user is not among the run's payouts."""
