"""Input data: the contract, readers, validation and the synthetic crash.

- :mod:`~recompense.data.contract`: tables, columns, keys (mirrors ``docs/data.md``);
- :mod:`~recompense.data.readers`: open a dataset folder on an Ibis backend;
- :mod:`~recompense.data.validation`: contract checks, reported as data;
- :mod:`~recompense.data.synth`: a deterministic crash calibrated to 2025-10-10.
"""

from recompense.data.errors import DataError
from recompense.data.readers import Dataset, normalized, open_dataset
from recompense.data.validation import Problem, validate

__all__ = ["DataError", "Dataset", "Problem", "normalized", "open_dataset", "validate"]
