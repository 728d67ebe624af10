"""Errors of the run folder.

::

    InputError
    └── RunFolderError   the output exists already, or a folder is not a complete run
"""

from __future__ import annotations

from recompense.errors import InputError


class RunFolderError(InputError):
    """A run folder that exists already (runs are immutable) or is not a run."""
