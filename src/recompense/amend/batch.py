"""A full-payment programme's next batch: the rule on newer data, paying only differences.

Binance paid its de-peg compensation in two batches. Here a batch after the first is an
amendment of the programme (:mod:`recompense.amend.run`: its own ledger id
``<programme>~a<n>``, the chain check, two approvals, exactly-once top-ups), built not
from case decisions but from the programme's rule run again on a newer dataset
(``recompense amend --run PREVIOUS --data NEWER``): events found later, accounts added.

Per user, in integer cents:

- ``entitled``: the user's payout on the newer data (0 if they have no paid event there);
- ``awarded = max(previous awarded, entitled)``: a decrease (an event that vanished, a
  price that was corrected down) is recorded, never clawed back;
- ``claims``: accepted claims (cases about liquidations outside the window, reviewed one
  by one) — summed over the chain; a correction decision has no meaning here and is
  refused;
- ``target = awarded + claims``; ``top-up = target − previous cumulative``.

The top-ups come from what is left of the programme's budget (``program.budget_usd`` minus
what earlier batches paid), or, without a budget, from ``amendments.reserve_usd``: a batch
that needs more is refused, never scaled — the programme pays in full or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from recompense.amend.compute import (
    Plan,
    Previous,
    Reserve,
    _corrections,
    _fit_reserve,
    _replace_rows,
    _rows_of,
)
from recompense.amend.errors import AmendmentError, ReserveExceededError
from recompense.cases.decisions import AcceptedDecision
from recompense.money import format_usd
from recompense.runs.artifacts import ALLOCATIONS_SCHEMA, AMOUNTS_SCHEMA, RECIPIENTS_SCHEMA
from recompense.runs.full import FullTables


def batch_limit(manifest: dict[str, Any]) -> str:
    """The policy key later batches are paid from (see :func:`batch_reserve`)."""
    if manifest["policy"].get("budget_usd") is not None:
        return "program.budget_usd"
    return "amendments.reserve_usd"


def batch_reserve(manifest: dict[str, Any], base_allocated_cents: int) -> Reserve:
    """What later batches may pay in all: the budget left after the first batch, or the
    policy's reserve when the programme has no budget. Refused when short, never scaled."""
    budget = manifest["policy"].get("budget_usd")
    if budget is not None:
        return Reserve(int(manifest["budget_cents"]) - base_allocated_cents, "refuse")
    settings = manifest["policy"]["parameters"].get("amendments") or {}
    return Reserve(int(settings.get("reserve_cents", 0)), "refuse")


def plan_batch(
    previous: Previous,
    new: FullTables,
    decisions: Sequence[AcceptedDecision],
    reserve: Reserve,
    *,
    limit: str = "program.budget_usd",
) -> Plan:
    """The next batch of a full programme; see the module docstring. ``limit`` names the
    policy key the reserve comes from (``program.budget_usd`` or ``amendments.reserve_usd``)."""
    corrections = [d for d in decisions if d.kind != "claim"]
    if corrections:
        raise AmendmentError(
            f"{len(corrections)} accepted correction decision(s) (e.g. case "
            f"{corrections[0].case_id}) for a full-payment programme: its amounts come from "
            "the events, not from corrected losses; decide them as claims, or reject them"
        )
    claims: dict[int, int] = {}
    for d in decisions:
        claims[d.user_id] = claims.get(d.user_id, 0) + int(d.claim_cents or 0)
    entitled = dict(
        zip(
            new.allocations["user_id"].to_pylist(),
            new.allocations["amount_cents"].to_pylist(),
            strict=True,
        )
    )
    prev_amounts = _rows_of(previous.amounts, None) if previous.amounts is not None else {}
    prev_alloc = _rows_of(previous.allocations, None)
    users = sorted(set(entitled) | set(prev_alloc) | set(prev_amounts) | set(claims))
    rows: list[dict[str, Any]] = []
    for user in users:
        before = prev_amounts.get(user)
        alloc = prev_alloc.get(user)
        cumulative = (
            before["cumulative_cents"] if before else (alloc["amount_cents"] if alloc else 0)
        )
        awarded_before = before["awarded_cents"] if before else cumulative
        entitled_before = (
            int(before["entitled_cents"])
            if before
            else (int(alloc["amount_cents"]) if alloc else 0)
        )
        claims_before = before["claims_cents"] if before else 0
        now_entitled = int(entitled.get(user, 0))
        if before is None and now_entitled == entitled_before and user not in claims:
            continue  # untouched: not listed (amounts.parquet lists touched users only)
        awarded = max(awarded_before, now_entitled)
        total_claims = claims_before + claims.get(user, 0)
        rows.append(
            {
                "user_id": user,
                "previous_cents": cumulative,
                "entitled_cents": now_entitled,
                "awarded_cents": awarded,
                "claims_cents": total_claims,
                "target_cents": awarded + total_claims,
                "want_cents": awarded + total_claims - cumulative,
                "change": _change(now_entitled, entitled_before, cumulative, user in claims),
            }
        )
    used_before = previous.allocated_cents - previous.base_allocated_cents
    try:
        topups, _ = _fit_reserve(rows, reserve, used_before)
    except ReserveExceededError:
        wanted = sum(int(r["target_cents"]) - int(r["previous_cents"]) for r in rows)
        raise ReserveExceededError(
            f"this batch pays {format_usd(wanted)} of top-ups, but only "
            f"{format_usd(max(reserve.cents - used_before, 0))} of what {limit} leaves for "
            f"later batches is left ({format_usd(used_before)} paid by earlier batches after "
            "the first); nothing was written: a full-payment programme pays in full or not "
            f"at all — review the data, then raise {limit}"
        ) from None
    for row, topup in zip(rows, topups, strict=True):
        row["topup_cents"] = topup
        row["cumulative_cents"] = int(row["previous_cents"]) + topup
    amounts = pa.Table.from_pylist(rows, schema=AMOUNTS_SCHEMA)
    allocations = _allocations(previous.allocations, rows, new.allocations)
    recipients = _recipients(previous.recipients, new.recipients, rows)
    summary = {
        "reserve_cents": reserve.cents,
        "reserve_used_before_cents": used_before,
        "topup_cents": sum(topups),
        "topups": sum(1 for t in topups if t > 0),
        "decreases": sum(1 for r in rows if r["change"] == "decrease"),
        "claims_cents": sum(claims.values()),
        "corrected_users": 0,
        "scaled": False,
    }
    return Plan(allocations, new.eligibility, recipients, amounts, _corrections(decisions), summary)


def _change(entitled: int, entitled_before: int, previous: int, claimed: bool) -> str:
    if entitled > entitled_before:
        return "new" if previous == 0 else "increase"
    if entitled < entitled_before:
        return "decrease"
    return "claim" if claimed else "carried"


def _allocations(previous: pa.Table, rows: list[dict[str, Any]], new: pa.Table) -> pa.Table:
    """The cumulative payout list: touched users' rows replaced (their cumulative cents;
    the newer run's weight and bound where it pays them, else the previous row's)."""
    fresh = _rows_of(new, {int(r["user_id"]) for r in rows})
    before = _rows_of(previous, {int(r["user_id"]) for r in rows})
    out = []
    for row in rows:
        user, cents = int(row["user_id"]), int(row["cumulative_cents"])
        if cents <= 0:
            continue
        shape = fresh.get(user) or before.get(user)
        if shape is None:  # paid for claims only
            shape = {"weight": 0.0, "floor_cents": 0, "cap_cents": 0, "bound": "claim"}
        out.append(
            {
                "user_id": user,
                "amount_cents": cents,
                **{k: shape[k] for k in ("weight", "floor_cents", "cap_cents", "bound")},
            }
        )
    return _replace_rows(
        previous, pa.Table.from_pylist(out, schema=ALLOCATIONS_SCHEMA), ALLOCATIONS_SCHEMA
    )


def _recipients(previous: pa.Table, new: pa.Table, rows: list[dict[str, Any]]) -> pa.Table:
    """Everyone paid so far: the newer data's contact details where it has the user."""
    paid = pa.array(
        sorted(int(r["user_id"]) for r in rows if r["cumulative_cents"] > 0), pa.int64()
    )
    added = new.filter(pc.is_in(new["user_id"], value_set=paid))
    return _replace_rows(previous, added.cast(RECIPIENTS_SCHEMA), RECIPIENTS_SCHEMA)
