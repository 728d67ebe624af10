"""The corrected users through the engine's own rules and weight formula (Ibis, DuckDB).

An accepted appeal changes a user's inputs — their loss, net assets, incident loss, or
the "already compensated" flag — and the amendment must judge them exactly as the base
run would have: the same Ibis expressions (:func:`recompense.engine.features.
with_formula_inputs`, :func:`recompense.engine.eligibility.apply_rules`, the policy's
weight formula compiled by :func:`recompense.policy.formula.compile_expr`) over a small
table of the corrected users' features, on DuckDB. Only the users' features change; the
policy, the prices and everyone else stay as the base run computed them.
"""

from __future__ import annotations

import math
from typing import Any

import ibis
import pyarrow as pa

from recompense.amend.errors import AmendmentError
from recompense.engine import RULES
from recompense.engine.eligibility import apply_rules
from recompense.engine.features import with_formula_inputs
from recompense.policy import Policy
from recompense.policy.formula import compile_expr

FEATURES_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("fills", pa.int64()),
        ("loss_cents", pa.int64()),
        ("net_assets_cents", pa.int64()),
        ("incident_loss_cents", pa.int64()),
        ("user_type", pa.string()),
        ("vip_tier", pa.int64()),
        ("account_age_days", pa.int64()),
        ("already_compensated", pa.bool_()),
    ]
)
OUTPUT = (
    "user_id",
    "fills",
    "loss_cents",
    "net_assets_cents",
    "incident_loss_cents",
    "loss_ratio",
    "loss_ratio_capped",
    "user_type",
    "vip_tier",
    "account_age_days",
    *(rule.column for rule in RULES),
    "eligible",
    "weight",
)


def recompute(features: pa.Table, policy: Policy) -> pa.Table:
    """Rules and weight for ``features`` (:data:`FEATURES_SCHEMA`), sorted by user id.

    Raises :class:`AmendmentError` when an eligible user's weight is undefined (a
    formula input the correction could not supply, e.g. the VIP tier of a user the base
    run never saw) or negative — the engine refuses the same in a base run.
    """
    if features.num_rows == 0:
        return pa.table({name: pa.array([], pa.null()) for name in OUTPUT})
    con = ibis.duckdb.connect()
    try:
        table = ibis.memtable(features.cast(FEATURES_SCHEMA))
        verdicts = apply_rules(with_formula_inputs(table), policy)
        names = {name: verdicts[name] for name in policy.formula.names}
        weight = compile_expr(policy.formula, names)
        out = verdicts.mutate(
            weight=ibis.ifelse(verdicts.eligible, weight, ibis.null("float64"))
        ).select(*OUTPUT)
        result: pa.Table = con.to_pyarrow(out.order_by("user_id"))
    finally:
        con.disconnect()
    _check_weights(result, policy)
    return result


def _check_weights(result: pa.Table, policy: Policy) -> None:
    rows: list[dict[str, Any]] = result.select(["user_id", "eligible", "weight"]).to_pylist()
    for row in rows:
        weight = row["weight"]
        if row["eligible"] and (weight is None or not math.isfinite(weight) or weight < 0):
            raise AmendmentError(
                f"user {row['user_id']}: the corrected inputs give the weight formula "
                f"{policy.payout.weight!r} no valid value (got {weight!r}); a user the base "
                "run never saw has no user type, VIP tier or account age — correct a user "
                "the base run knows, or decide the case as a claim"
            )
