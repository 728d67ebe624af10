"""Errors of the engine.

::

    InputError
    └── PriceMissingError   a fill or balance has no price within the staleness limit
"""

from __future__ import annotations

from recompense.errors import InputError


class PriceMissingError(InputError):
    """No price for an asset at a minute, nor within the staleness limit before it."""
