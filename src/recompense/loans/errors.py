"""Errors of the loan fund.

::

    RecompenseError
    ├── InputError                   exit code 2
    │   ├── LoanPolicyError          a loan policy file that does not validate
    │   ├── LoanKeyError             encryption keys missing or malformed (settings/env)
    │   └── LoanError                a request the desk refuses (amount, term, limits)
    │       ├── LoanNotFound         no such application *for this actor* (404: ids can't
    │       │                        be probed; also when it exists but is not theirs)
    │       ├── LoanForbidden        the actor may see it but not do this (403)
    │       ├── TransitionError      not allowed from the current state (409)
    │       └── FundExhausted        the approval would take the fund past its cap (409)
    └── LoanIntegrityError           a ciphertext that does not authenticate (tampering or a
                                     key that is not the one it was written with): never input

Database errors are translated at the boundary with ``raise … from exc``.

A refusal a web user can meet also carries a stable ``code`` and its ``values`` (ids,
amounts in ``*_cents``, role, action and state codes): the message is for the CLI and
the logs, while the web shows the code's sentence in the reader's language
(:func:`recompense.web.i18n.error_message`), without the CLI's flag names.
"""

from __future__ import annotations

from recompense.errors import InputError, RecompenseError


class LoanPolicyError(InputError):
    """A loan policy file that does not validate."""


class LoanKeyError(InputError):
    """The encryption keys are missing or malformed."""


class LoanError(InputError):
    """A loan request that cannot be honoured (bad amount, term, limit, identity)."""

    http_status = 422

    def __init__(self, message: str, *, code: str | None = None, **values: object) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


class LoanNotFound(LoanError):
    """No such application for this actor (also when it exists but they may not see it)."""

    http_status = 404


class LoanForbidden(LoanError):
    """The actor may see the application but may not perform this action."""

    http_status = 403


class TransitionError(LoanError):
    """The action is not allowed from the application's current state."""

    http_status = 409


class FundExhausted(LoanError):
    """Approving would commit more than the fund's cap."""

    http_status = 409


class LoanIntegrityError(RecompenseError):
    """A stored ciphertext failed authentication (tampered, or the wrong key)."""
