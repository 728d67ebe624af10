"""The root of recompense's exception tree.

::

    RecompenseError
    ├── InputError            bad input from the operator: exit code 2, nothing written
    │   ├── policy.PolicyError        a programme file that does not validate
    │   ├── policy.FormulaError       a weight formula that does not parse or names unknowns
    │   ├── data.DataError            a dataset that breaks the contract
    │   ├── engine.PriceMissingError  no price within the staleness limit
    │   ├── engine.AmountRangeError   a USD value outside the contract's range
    │   ├── allocation.AllocationError  a budget that cannot be honoured
    │   └── runs.RunFolderError       a run folder that exists, or is not a run folder
    └── (packages add their own internal errors under RecompenseError)

Every message names the file, key, column or value at fault so an operator can fix it
without reading code.
"""

from __future__ import annotations


class RecompenseError(Exception):
    """Base class of every error recompense raises on purpose."""


class InputError(RecompenseError):
    """The operator's input is wrong; the command exits with code 2 and writes nothing."""

    exit_code = 2
