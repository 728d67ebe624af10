"""Errors of the what-if simulator.

::

    InputError
    └── ChangeError   a what-if change that is invalid (names the field and the value)

The web layer answers a :class:`ChangeError` with 422 and shows ``field`` next to the
form input; the CLI prints the message and exits with code 2.
"""

from __future__ import annotations

from typing import Any

from recompense.errors import InputError


class ChangeError(InputError):
    """A change the simulator refuses; ``field`` and ``value`` say which and why."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"what-if {field}: {problem} (got {value!r})")
