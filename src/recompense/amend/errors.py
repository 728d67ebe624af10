"""Errors of amendment runs::

InputError
└── AmendmentError         the amendment cannot be built as asked (exit code 2)
    └── ReserveExceededError  the accepted increases exceed what is left of the
                              reserve and the policy says "refuse"
"""

from __future__ import annotations

from recompense.errors import InputError


class AmendmentError(InputError):
    """The amendment cannot be built from this run and these decisions."""


class ReserveExceededError(AmendmentError):
    """The reserve cannot cover the accepted increases (``when_short = "refuse"``)."""
