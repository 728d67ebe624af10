"""The eligibility rules: small named predicates over per-user features, in cents.

Each rule returns the Ibis boolean "passes" for every user; a user who fails gets the
rule's stable reason code (shown to users, used by the web service and reports). All
comparisons are on integer cents and exact fractions, so the boundaries are exact:
a loss of exactly $50.00 passes, and so does a loss of exactly 30% of net assets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recompense.policy import Policy

LOSS_BELOW_MINIMUM = "LOSS_BELOW_MINIMUM"
RATIO_BELOW_MINIMUM = "RATIO_BELOW_MINIMUM"
ALREADY_COMPENSATED = "ALREADY_COMPENSATED"


@dataclass(frozen=True, slots=True)
class Rule:
    code: str  # the reason given when the rule fails
    column: str  # name of the "passes" column in the features table
    describe: str
    passes: Callable[[Any, Policy], Any]


def loss_at_least_minimum(f: Any, policy: Policy) -> Any:
    """Total liquidation loss ≥ the minimum (inclusive), in cents."""
    return f.loss_cents >= policy.min_loss_cents


def loss_ratio_at_least_minimum(f: Any, policy: Policy) -> Any:
    """loss ≥ ratio × net assets, compared exactly: loss·q ≥ net·p for ratio = p/q.

    Users whose net assets at the snapshot are ≤ 0 pass: they lost everything they had.
    """
    ratio = policy.min_ratio
    return (f.net_assets_cents <= 0) | (
        f.loss_cents * ratio.denominator >= f.net_assets_cents * ratio.numerator
    )


def not_already_compensated(f: Any, policy: Policy) -> Any:
    """Not paid by a programme listed in ``eligibility.excluding_programs``."""
    return ~f.already_compensated


RULES: tuple[Rule, ...] = (
    Rule(LOSS_BELOW_MINIMUM, "passes_min_loss", "loss ≥ minimum loss", loss_at_least_minimum),
    Rule(
        RATIO_BELOW_MINIMUM,
        "passes_min_ratio",
        "loss ≥ minimum ratio × net assets",
        loss_ratio_at_least_minimum,
    ),
    Rule(
        ALREADY_COMPENSATED,
        "passes_not_compensated",
        "not already compensated",
        not_already_compensated,
    ),
)


def apply_rules(features: Any, policy: Policy) -> Any:
    """Add one ``passes_*`` column per rule and ``eligible`` (all rules pass)."""
    passes = {rule.column: rule.passes(features, policy) for rule in RULES}
    with_passes = features.mutate(**passes)
    eligible = with_passes[RULES[0].column]
    for rule in RULES[1:]:
        eligible = eligible & with_passes[rule.column]
    return with_passes.mutate(eligible=eligible)
