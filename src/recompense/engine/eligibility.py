"""The eligibility rules: small named predicates over per-user features, in cents.

Each rule returns the Ibis boolean "passes" for every user; a user who fails gets the
rule's stable reason code (shown to users). The codes, their order and what each rule
says are part of the run-folder contract (:mod:`recompense.runs.reasons`): downstream
packages read them there, never here. All
comparisons are on integer cents and exact fractions, so the boundaries are exact:
a loss of exactly $50.00 passes, and so does a loss of exactly 30% of net assets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from recompense.engine.exact import floor_div
from recompense.policy import Policy
from recompense.runs.reasons import (
    ALREADY_COMPENSATED,
    LOSS_BELOW_MINIMUM,
    PASSES_COLUMNS,
    RATIO_BELOW_MINIMUM,
    RULES_BY_CODE,
)


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
    """loss ≥ ratio × net assets, exactly: loss ≥ ⌈net·p/q⌉ for ratio = p/q (lowest terms).

    Users whose net assets at the snapshot are ≤ 0 pass: they lost everything they had.
    Since the loss is whole cents, this is the same as loss·q ≥ net·p — but that product
    overflows int64 (net up to 10^14 cents times p up to 10^7 is 10^21), so the needed
    loss is built from small pieces instead: see :func:`needed_loss_cents`.
    """
    return (f.net_assets_cents <= 0) | (
        f.loss_cents >= needed_loss_cents(f.net_assets_cents, policy.min_ratio)
    )


def needed_loss_cents(net_cents: Any, ratio: Fraction) -> Any:
    """⌈net·p/q⌉ in int64 without overflow, for an int64 expression ``net_cents``.

    With net = a·q + b (a = ⌊net/q⌋, 0 ≤ b < q): net·p/q = a·p + b·p/q, and since a·p is
    an integer, ⌈net·p/q⌉ = a·p + ⌈b·p/q⌉. The policy bounds the ratio to 0…10 with at
    most 6 decimal places, so q ≤ 10^6 and p ≤ 10·q ≤ 10^7; the data contract bounds
    |net| below 10^14 cents. Then every intermediate stays far below 2^63 ≈ 9.2·10^18:
    |a·q| ≤ |net| + q, |a·p| ≤ 10·|net| + p < 1.1·10^15, and b·p + q < 10^13 + 10^6;
    ``floor_div`` is exact here because its float64 operand stays below 2^53.
    """
    p, q = ratio.numerator, ratio.denominator
    whole = floor_div(net_cents, q)
    rest = net_cents - whole * q
    return whole * p + floor_div(rest * p + (q - 1), q)


def not_already_compensated(f: Any, policy: Policy) -> Any:
    """Not paid by a programme listed in ``eligibility.excluding_programs``."""
    return ~f.already_compensated


# In the contract's order (REASON_CODES): failures are published in this order.
RULES: tuple[Rule, ...] = (
    Rule(
        LOSS_BELOW_MINIMUM,
        PASSES_COLUMNS[LOSS_BELOW_MINIMUM],
        RULES_BY_CODE[LOSS_BELOW_MINIMUM],
        loss_at_least_minimum,
    ),
    Rule(
        RATIO_BELOW_MINIMUM,
        PASSES_COLUMNS[RATIO_BELOW_MINIMUM],
        RULES_BY_CODE[RATIO_BELOW_MINIMUM],
        loss_ratio_at_least_minimum,
    ),
    Rule(
        ALREADY_COMPENSATED,
        PASSES_COLUMNS[ALREADY_COMPENSATED],
        RULES_BY_CODE[ALREADY_COMPENSATED],
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
