"""Errors of the engine.

::

    InputError
    ├── PriceMissingError     a fill or balance has no price within the staleness limit
    └── AmountRangeError      a USD value outside the contract's range (names rows)
    UnavailableError
    └── EngineResourceError   the backend ran out of memory or disk (terminal for this run)
"""

from __future__ import annotations

from recompense.errors import InputError, UnavailableError


class PriceMissingError(InputError):
    """No price for an asset at a minute, nor within the staleness limit before it."""


class AmountRangeError(InputError):
    """A fill's or balance row's USD value, or a user's total, is outside ±$10¹²."""


class EngineResourceError(UnavailableError):
    """The engine ran out of memory or spill space; the message says which setting to raise."""


def out_of_memory(backend_name: str, exc: BaseException) -> EngineResourceError:
    """The error for a backend that ran out of memory: which settings to raise."""
    return EngineResourceError(
        f"the {backend_name} engine ran out of memory: {str(exc).splitlines()[0]}. "
        "Raise RECOMPENSE_DUCKDB_MEMORY_LIMIT or point RECOMPENSE_DUCKDB_TEMP_DIR at a "
        "disk with room to spill (Spark: raise spark.driver/executor memory)."
    )
