"""The programme policy file and the weight formula.

- :mod:`recompense.policy.model`: the TOML schema (Pydantic), ``load_policy``;
- :mod:`recompense.policy.full`: the full-payment kind (``program.kind = "full"``);
- :mod:`recompense.policy.formula`: the safe weight-formula language.
"""

from recompense.policy.formula import FEATURES, Formula, FormulaError, parse
from recompense.policy.model import (
    Policy,
    PolicyError,
    load_policy,
    load_programme,
    validate_policy,
    validate_programme,
)

__all__ = [
    "FEATURES",
    "Formula",
    "FormulaError",
    "Policy",
    "PolicyError",
    "load_policy",
    "load_programme",
    "parse",
    "validate_policy",
    "validate_programme",
]
