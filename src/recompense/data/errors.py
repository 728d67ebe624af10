"""Errors of the data package and the translation of backend exceptions.

::

    InputError
    └── DataError     the dataset breaks the contract (names file, column, values)
"""

from __future__ import annotations

from functools import cache

from recompense.errors import InputError


class DataError(InputError):
    """A dataset that breaks the contract; the message names file, column and values."""


@cache
def backend_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a backend raises when a file is corrupt or unreadable.

    Translated at the boundary into :class:`DataError` (``raise ... from exc``).
    """
    errors: list[type[BaseException]] = [OSError]
    try:
        import duckdb

        errors.append(duckdb.Error)
    except ImportError:  # pragma: no cover - duckdb is a dependency
        pass
    try:
        from pyspark.errors import PySparkException

        errors.append(PySparkException)
    except ImportError:
        pass
    try:
        import pyarrow as pa

        errors.append(pa.ArrowException)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


@cache
def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """Backend exceptions meaning "not enough memory": never a data problem."""
    import duckdb

    return (duckdb.OutOfMemoryException, MemoryError)
