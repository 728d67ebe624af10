"""Errors of the Binance importer.

::

    InputError
    └── ExportError     an export that cannot be read or does not add up: names the
                        file, line and column (or the ids) at fault; exit code 2
"""

from __future__ import annotations

from recompense.errors import InputError


class ExportError(InputError):
    """A Binance export that is malformed or inconsistent; nothing is written."""
