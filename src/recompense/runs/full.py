"""A full-payment programme's run (``program.kind = "full"``): its tables and manifest.

:func:`recompense.runs.execute.execute_run` writes the folder (atomically, the same way
for both kinds); this module computes what goes in it. The folder holds what a shared
run holds — ``allocations.parquet`` (what distribution pays and the proofs commit to),
``recipients.parquet``, ``hourly.parquet``, ``manifest.json``, ``report.html`` — with
``eligibility.parquet`` in the full kind's own shape (:data:`FULL_ELIGIBILITY_SCHEMA`), and
two more files:

``events.parquet``      every counted collateral liquidation event: who, which product
                        and asset, when, quantity, liquidation price, the adjusted
                        reference price and the cents it pays (the per-event explanation);
``references.parquet``  each asset's reference price: the market price, the redemption
                        rate and the underlying's price (the data), the weight and floor
                        (the policy), and the adjusted price the events were paid at.

``allocations.parquet`` keeps the shared shape: ``amount_cents`` the user's sum (capped by
the ceiling), ``weight`` their loss in USD (a full programme pays one cent per cent lost),
``floor_cents`` 0, ``cap_cents`` the ceiling (or the loss), ``bound`` ``full`` or
``ceiling``.

Over budget: the run is refused (:class:`BudgetExceededError`, exit 2), nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recompense.errors import InputError
from recompense.money import format_usd
from recompense.policy.full import FullPolicy
from recompense.policy.model import MAX_AMOUNT_USD, Policy
from recompense.runs.artifacts import (
    ALLOCATIONS_SCHEMA,
    RECIPIENTS_SCHEMA,
    USD,
    cents_to_usd,
)
from recompense.runs.reasons import NO_LOSS_AT_REFERENCE

EVENTS = "events.parquet"
REFERENCES = "references.parquet"
KIND_FULL = "full"

FULL_ELIGIBILITY_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("events", pa.int64()),
        ("loss_usd", USD),  # the sum of the user's events
        ("amount_usd", USD),  # what they are paid: the sum, capped by the ceiling
        ("eligible", pa.bool_()),
        ("reasons", pa.list_(pa.string())),
        ("user_type", pa.string()),
        ("vip_tier", pa.int64()),
    ]
)
EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("user_id", pa.int64()),
        ("account_id", pa.int64()),
        ("product", pa.string()),
        ("asset", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("quantity", pa.decimal128(38, 12)),
        ("liquidation_price", pa.decimal128(38, 12)),
        ("reference_usd", pa.decimal128(38, 12)),
        ("loss_cents", pa.int64()),
    ]
)
FUNNEL_LABELS = (
    "Collateral liquidated in the window",
    "Sold below the reference price",
)


LARGEST_TOTAL_CENTS = int(MAX_AMOUNT_USD) * 100  # a programme's largest budget, in cents


class BudgetExceededError(InputError):
    """A full-payment run whose payouts exceed ``program.budget_usd``: refused, not scaled."""


@dataclass(frozen=True, slots=True)
class FullTables:
    eligibility: pa.Table
    allocations: pa.Table
    recipients: pa.Table
    events: pa.Table
    references: pa.Table
    hourly: pa.Table
    allocated_cents: int
    budget_cents: int


def full_tables(
    users: pa.Table, events: pa.Table, references: pa.Table, hourly: pa.Table, policy: FullPolicy
) -> FullTables:
    """The run folder's tables from the engine's; refuses a run above the budget."""
    eligible = users.filter(users["eligible"])
    # Summed as decimal(38, 0): int64 sums wrap silently, and each user may hold up to
    # 10^14 cents, so a large adversarial dataset could pass the budget check wrapped.
    allocated = int(pc.sum(eligible["amount_cents"].cast(pa.decimal128(38, 0))).as_py() or 0)
    budget = policy.budget_cents
    if budget is None and allocated > LARGEST_TOTAL_CENTS:
        raise BudgetExceededError(
            f"the computed payouts total {format_usd(allocated)} for {eligible.num_rows:,} "
            f"user(s), beyond what any programme may pay ({format_usd(LARGEST_TOTAL_CENTS)}, "
            "the largest program.budget_usd); nothing was written — an amount in the wrong "
            "unit?"
        )
    if budget is not None and allocated > budget:
        raise BudgetExceededError(
            f"the computed payouts total {format_usd(allocated)} for {eligible.num_rows:,} "
            f"user(s), above program.budget_usd {format_usd(budget)}; nothing was written "
            '(payout.when_over_budget = "refuse": a full-payment programme pays every loss '
            "in full or not at all — review the data, then raise the budget)"
        )
    no_loss = pc.invert(users["eligible"])
    reasons = pa.array(
        [[NO_LOSS_AT_REFERENCE] if flag else [] for flag in no_loss.to_pylist()],
        pa.list_(pa.string()),
    )
    eligibility = pa.table(
        {
            "user_id": users["user_id"],
            "events": users["events"],
            "loss_usd": cents_to_usd(users["loss_cents"]),
            "amount_usd": cents_to_usd(users["amount_cents"]),
            "eligible": users["eligible"],
            "reasons": reasons,
            "user_type": users["user_type"],
            "vip_tier": users["vip_tier"],
        },
        schema=FULL_ELIGIBILITY_SCHEMA,
    )
    loss = eligible["loss_cents"].to_numpy(zero_copy_only=False).astype(np.int64)
    ceiling = policy.ceiling_cents
    cap = loss if ceiling is None else np.minimum(loss, ceiling)
    allocations = pa.table(
        {
            "user_id": eligible["user_id"],
            "weight": pa.array(loss.astype(np.float64) / 100, pa.float64()),
            "amount_cents": eligible["amount_cents"],
            "floor_cents": pa.array(np.zeros(len(loss), np.int64)),
            "cap_cents": pa.array(cap, pa.int64()),
            "bound": eligible["bound"],
        },
        schema=ALLOCATIONS_SCHEMA,
    )
    recipients = pa.table(
        {name: eligible[name] for name in RECIPIENTS_SCHEMA.names}, schema=RECIPIENTS_SCHEMA
    )
    return FullTables(
        eligibility=eligibility,
        allocations=allocations,
        recipients=recipients,
        events=events.select(list(EVENTS_SCHEMA.names)).cast(EVENTS_SCHEMA),
        references=references,
        hourly=hourly,
        allocated_cents=allocated,
        budget_cents=allocated if budget is None else budget,
    )


def full_funnel(tables: FullTables) -> list[tuple[str, int]]:
    users = tables.eligibility
    paid = int(pc.sum(users["eligible"].cast(pa.int64())).as_py() or 0)
    return [(FUNNEL_LABELS[0], users.num_rows), (FUNNEL_LABELS[1], paid), ("Eligible", paid)]


def full_counts(tables: FullTables) -> dict[str, Any]:
    users = tables.eligibility
    paid = int(pc.sum(users["eligible"].cast(pa.int64())).as_py() or 0)
    bounds, counts = np.unique(
        np.array(tables.allocations["bound"].to_pylist(), dtype=object), return_counts=True
    )
    return {
        "liquidated": users.num_rows,
        "eligible": paid,
        "events": tables.events.num_rows,
        "rejected_by_reason": {NO_LOSS_AT_REFERENCE: users.num_rows - paid},
        "by_bound": {str(b): int(c) for b, c in zip(bounds, counts, strict=True)},
    }


def full_parameters(policy: FullPolicy) -> dict[str, Any]:
    """The manifest's ``policy.parameters`` of a full programme (enough to rebuild it)."""
    collateral = policy.collateral
    return {
        "kind": KIND_FULL,
        "window": [_iso(policy.window.start), _iso(policy.window.end)],
        "products": list(collateral.products),
        "assets": list(collateral.assets),
        "reference_at": _iso(collateral.reference_at),
        "adjustments": [
            {
                "asset": a.asset,
                "redemption_weight": str(a.redemption_weight),
                "floor_usd": None if a.floor_usd is None else str(a.floor_usd),
            }
            for a in collateral.adjustments
        ],
        "ceiling_cents": policy.ceiling_cents,
        "when_over_budget": policy.payout.when_over_budget,
        # A full programme excludes nobody; the key is kept so readers need not ask.
        "excluding_programs": [],
        **delivery_parameters(policy),
    }


def delivery_parameters(policy: Policy | FullPolicy) -> dict[str, Any]:
    """What both kinds record of their ``distribution``, ``cases`` and ``amendments``
    tables in the manifest: what distribution, the cases desk and amendments read."""
    return {
        "distribution": policy.distribution.model_dump(),
        "cases": {
            "decision_target_hours": policy.cases.decision_target_hours,
            "four_eyes_above_cents": policy.four_eyes_above_cents,
        },
        "amendments": {
            "reserve_cents": policy.reserve_cents,
            "when_short": policy.amendments.when_short,
        },
    }


def full_policy_data(manifest: dict[str, Any]) -> dict[str, Any]:
    """A full programme's policy file as data, rebuilt from its run's manifest."""
    from recompense.money import cents_to_decimal

    program, params = manifest["program"], manifest["policy"]["parameters"]
    budget = manifest["policy"].get("budget_usd")
    data: dict[str, Any] = {
        "program": {
            "id": program["id"],
            "kind": KIND_FULL,
            "name": program["name"],
            "currency": program["currency"],
            "announced_at": program["announced_at"],
        },
        "window": {"start": params["window"][0], "end": params["window"][1]},
        "collateral": {
            "products": params["products"],
            "assets": params["assets"],
            "reference_at": params["reference_at"],
            "adjustments": [
                {k: v for k, v in a.items() if v is not None} for a in params["adjustments"]
            ],
        },
        "payout": {"when_over_budget": params["when_over_budget"]},
        "distribution": params["distribution"],
        "cases": {
            "decision_target_hours": params["cases"]["decision_target_hours"],
            "four_eyes_above_usd": str(cents_to_decimal(params["cases"]["four_eyes_above_cents"])),
        },
        "amendments": {
            "reserve_usd": str(cents_to_decimal(params["amendments"]["reserve_cents"])),
            "when_short": params["amendments"]["when_short"],
        },
    }
    if budget is not None:
        data["program"]["budget_usd"] = budget
    if params.get("ceiling_cents") is not None:
        data["payout"]["ceiling_usd"] = str(cents_to_decimal(params["ceiling_cents"]))
    return data


def is_full(manifest: dict[str, Any]) -> bool:
    """Whether a run is of a full-payment programme."""
    return bool(manifest.get("program", {}).get("kind") == KIND_FULL)


def report_eligibility(eligibility: pa.Table) -> pa.Table:
    """The report's view of a full run's users (it has no net assets or ratio)."""
    n = eligibility.num_rows
    return pa.table(
        {
            "user_id": eligibility["user_id"],
            "loss_usd": eligibility["loss_usd"],
            "net_assets_usd": pa.nulls(n, USD),
            "loss_ratio": pa.nulls(n, pa.float64()),
            "eligible": eligibility["eligible"],
            "reasons": eligibility["reasons"],
        }
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "EVENTS",
    "EVENTS_SCHEMA",
    "FULL_ELIGIBILITY_SCHEMA",
    "REFERENCES",
    "BudgetExceededError",
    "FullTables",
    "delivery_parameters",
    "full_counts",
    "full_funnel",
    "full_parameters",
    "full_policy_data",
    "full_tables",
    "is_full",
]
