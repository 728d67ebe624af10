"""The reason codes a run folder publishes: part of the run-folder contract.

``eligibility.parquet`` gives every liquidated user the codes of the rules they failed
(its ``reasons`` column, in :data:`REASON_CODES` order; empty when eligible). The codes
are stable and shown to users: the web service, the what-if simulator, the report,
amendments and cases read them from here, and the engine, which decides them, imports
them from here too — so nothing downstream imports the engine to learn what a code is.

A code is never renamed or reused for another rule: a published run, and the decisions
and proofs built on it, would change meaning. A new rule gets a new code.
"""

from __future__ import annotations

from typing import Final

LOSS_BELOW_MINIMUM: Final = "LOSS_BELOW_MINIMUM"
RATIO_BELOW_MINIMUM: Final = "RATIO_BELOW_MINIMUM"
ALREADY_COMPENSATED: Final = "ALREADY_COMPENSATED"

# The rules' order: the engine checks them in this order and publishes failures in it.
REASON_CODES: Final[tuple[str, ...]] = (
    LOSS_BELOW_MINIMUM,
    RATIO_BELOW_MINIMUM,
    ALREADY_COMPENSATED,
)

# Code → the rule it stands for, in one line (the engine's Rule.describe).
RULES_BY_CODE: Final[dict[str, str]] = {
    LOSS_BELOW_MINIMUM: "loss ≥ minimum loss",
    RATIO_BELOW_MINIMUM: "loss ≥ minimum ratio × net assets",
    ALREADY_COMPENSATED: "not already compensated",
}

# Code → the boolean column of the engine's per-user table that says the user passes the
# rule: what the run writes the ``reasons`` column from (runs.artifacts.eligibility_table).
PASSES_COLUMNS: Final[dict[str, str]] = {
    LOSS_BELOW_MINIMUM: "passes_min_loss",
    RATIO_BELOW_MINIMUM: "passes_min_ratio",
    ALREADY_COMPENSATED: "passes_not_compensated",
}

# Not in eligibility.parquet: the answer for a user the run has no row for (no
# forced-liquidation fill counted in the window), given by explain and the web.
NO_COUNTED_LIQUIDATION: Final = "NO_COUNTED_LIQUIDATION"

# Full-payment programmes (``program.kind = "full"``): the one reason a user with a counted
# collateral liquidation event is not paid — every such event was sold at or above the
# asset's adjusted reference price, so the rule pays 0.
NO_LOSS_AT_REFERENCE: Final = "NO_LOSS_AT_REFERENCE"
FULL_REASON_CODES: Final[tuple[str, ...]] = (NO_LOSS_AT_REFERENCE,)
# Not in a full run's eligibility.parquet: no counted collateral liquidation event.
NO_COUNTED_COLLATERAL_EVENT: Final = "NO_COUNTED_COLLATERAL_EVENT"
