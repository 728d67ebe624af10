"""The compensation engine: eligibility and features as Ibis expressions.

Backend-neutral (DuckDB by default, PySpark at scale): every rule is an Ibis
expression; nothing here is DuckDB-specific SQL text.

- :mod:`~recompense.engine.prices`: forward-filled price grid (staleness limit);
- :mod:`~recompense.engine.features`: per-user loss, net assets, ratio, exact cents;
- :mod:`~recompense.engine.eligibility`: the rules and their reason codes;
- :mod:`~recompense.engine.pipeline`: the stages, from dataset to per-user table;
- :mod:`~recompense.engine.backends`: connecting to DuckDB (memory limit, temp dir).
"""

from recompense.engine.backends import connect
from recompense.engine.eligibility import RULES, Rule
from recompense.engine.errors import PriceMissingError
from recompense.engine.pipeline import EngineResult, evaluate

__all__ = ["RULES", "EngineResult", "PriceMissingError", "Rule", "connect", "evaluate"]
