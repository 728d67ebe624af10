"""Errors of the proofs package.

::

    InputError
    └── ProofError              a commitment or proof that cannot be made as asked
        ├── CommitError         the run cannot be committed (no payouts, a duplicate user,
        │                       an amount out of range, a commitment for another manifest,
        │                       an output path in the way)
        ├── CommitmentKeyError  no key, a malformed key, or not the key of this commitment
        ├── PublicationKeyError a publication (signing) key or public key that cannot be
        │                       made, read or used
        ├── NotCommittedError   the run has no commitment.json yet     (also NotFoundError)
        └── UnknownUserError    the user has no payout in this run     (also NotFoundError)

A disk that cannot take a commit's output (full, read-only, failing) is not a
``CommitError`` but a :class:`~recompense.errors.StorageError` (exit code 3), by
:func:`recompense.atomic.disk_error`; only a path the operator can fix is exit code 2.
The web answers the two not-found errors 404 and any other proof error as the server's
failure (:func:`recompense.web.service.served`): the run folder is not the caller's.

A proof that does not verify is not an error: :func:`recompense.proofs.verify.verify`
returns a verdict naming the step that failed.
"""

from __future__ import annotations

from recompense.errors import InputError, NotFoundError


class ProofError(InputError):
    """A commitment or a proof that cannot be made as asked."""


class CommitError(ProofError):
    """The run cannot be committed, or is committed already to something else."""


class CommitmentKeyError(ProofError):
    """The secret programme key is missing, malformed or not the one of this commitment."""


class PublicationKeyError(ProofError):
    """The Ed25519 publication key pair cannot be written, read, or used as asked."""


class NotCommittedError(ProofError, NotFoundError):
    """The run has no published commitment yet (``recompense commit`` makes it)."""


class UnknownUserError(ProofError, NotFoundError):
    """The user is not among the run's payouts (the message names only the user id)."""

    shown = True
