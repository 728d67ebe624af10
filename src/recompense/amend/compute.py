"""What an amendment pays: cumulative amounts from the previous run and the decisions.

Pure: tables and decisions in, tables out; nothing here reads or writes files or the
ledger (:mod:`recompense.amend.run` does). Money is integer cents throughout.

Per user the amendment touches (corrected, claiming, or carried from an earlier
amendment of the chain):

- ``entitled``: the programme's rule on the corrected inputs — recomputed by the engine's
  own rules (:mod:`.recompute`) and paid at the base run's price per weight (λ, rounded
  half up once; :func:`recompense.allocation.amounts_at`). A user whose verdict, weight,
  floor and cap come out exactly as before keeps their previous cents.
- ``awarded = max(previous awarded, entitled)``: a decrease is recorded (``change =
  "decrease"``) and never clawed back from a voucher already issued.
- ``claims``: accepted claims for verified losses, summed over the chain.
- ``target = awarded + claims``; the top-up is ``target − previous cumulative`` (≥ 0).

The top-ups are paid from the amendment reserve (the policy's ``amendments``): what is
left of it is the reserve minus everything earlier amendments paid. If the top-ups exceed
it, ``refuse`` raises :class:`~.errors.ReserveExceededError`; ``scale`` pays every
top-up the same share — floored to the cent, the remaining cents one each to the
largest remainders (ties: smaller user id) — so they sum to exactly what is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recompense.allocation import amounts_at, payout_bounds
from recompense.amend.errors import ReserveExceededError
from recompense.amend.recompute import FEATURES_SCHEMA, recompute
from recompense.cases.decisions import AcceptedDecision
from recompense.money import format_usd
from recompense.policy import Policy
from recompense.runs.artifacts import (
    ALLOCATIONS_SCHEMA,
    AMOUNTS_SCHEMA,
    CORRECTIONS_SCHEMA,
    ELIGIBILITY_SCHEMA,
    RECIPIENTS_SCHEMA,
    eligibility_table,
)
from recompense.runs.reasons import ALREADY_COMPENSATED

CLAIM_BOUND = "claim"  # allocations.bound of a user paid only for claims


@dataclass(frozen=True, slots=True)
class Previous:
    """The run being amended (the base run, or the chain's latest amendment)."""

    allocations: pa.Table
    eligibility: pa.Table
    recipients: pa.Table
    amounts: pa.Table | None  # None for a base run
    allocated_cents: int  # Σ cumulative amounts of the previous run
    base_allocated_cents: int  # what the base run allocated from the main budget
    lam: float  # the base run's cents per unit of weight


@dataclass(frozen=True, slots=True)
class Reserve:
    cents: int
    when_short: str  # refuse | scale


@dataclass(frozen=True, slots=True)
class Plan:
    """The amendment's tables (run-folder shapes) and its figures."""

    allocations: pa.Table
    eligibility: pa.Table
    recipients: pa.Table
    amounts: pa.Table
    corrections: pa.Table
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Merged:
    """A user's decisions in acceptance order: the last value of each field wins."""

    loss_cents: int | None = None
    net_assets_cents: int | None = None
    incident_loss_cents: int | None = None
    not_compensated: bool | None = None
    corrected: bool = False
    claims_cents: int = 0


def plan_amendment(
    previous: Previous,
    decisions: Sequence[AcceptedDecision],
    policy: Policy,
    reserve: Reserve,
    locales: Mapping[int, str] | None = None,
) -> Plan:
    """The amendment of ``previous`` by ``decisions``; see the module docstring."""
    merged = _merge(decisions)
    corrected = sorted(u for u, m in merged.items() if m.corrected)
    prev_alloc = _rows_of(previous.allocations, set(merged) | _users(previous.amounts))
    prev_amounts = _rows_of(previous.amounts, None) if previous.amounts is not None else {}
    prev_elig = _rows_of(previous.eligibility, set(corrected))
    judged = _judge(corrected, merged, prev_elig, prev_alloc, prev_amounts, previous, policy)
    rows = _amount_rows(merged, judged, prev_alloc, prev_amounts)
    used_before = previous.allocated_cents - previous.base_allocated_cents
    topups, scaled = _fit_reserve(rows, reserve, used_before)
    for row, topup in zip(rows, topups, strict=True):
        row["topup_cents"] = topup
        row["cumulative_cents"] = row["previous_cents"] + topup
    amounts = pa.Table.from_pylist(rows, schema=AMOUNTS_SCHEMA)
    allocations = _allocations(previous.allocations, rows, judged, prev_alloc)
    eligibility = _replace_rows(
        previous.eligibility,
        eligibility_table(judged["table"]) if corrected else None,
        ELIGIBILITY_SCHEMA,
    )
    recipients = _recipients(previous.recipients, rows, locales or {})
    paid = sum(topups)
    summary = {
        "reserve_cents": reserve.cents,
        "reserve_used_before_cents": used_before,
        "topup_cents": paid,
        "topups": sum(1 for t in topups if t > 0),
        "decreases": sum(1 for r in rows if r["change"] == "decrease"),
        "claims_cents": sum(m.claims_cents for m in merged.values()),
        "corrected_users": len(corrected),
        "scaled": scaled,
    }
    return Plan(allocations, eligibility, recipients, amounts, _corrections(decisions), summary)


def _merge(decisions: Sequence[AcceptedDecision]) -> dict[int, _Merged]:
    merged: dict[int, _Merged] = {}
    for d in sorted(decisions, key=lambda d: (d.accepted_at, d.id)):
        m = merged.setdefault(d.user_id, _Merged())
        if d.kind == "claim":
            m.claims_cents += int(d.claim_cents or 0)
            continue
        m.corrected = True
        for name in ("loss_cents", "net_assets_cents", "incident_loss_cents", "not_compensated"):
            value = getattr(d, name)
            if value is not None:
                setattr(m, name, value)
    return merged


def _judge(
    corrected: list[int],
    merged: Mapping[int, _Merged],
    prev_elig: Mapping[int, dict[str, Any]],
    prev_alloc: Mapping[int, dict[str, Any]],
    prev_amounts: Mapping[int, dict[str, Any]],
    previous: Previous,
    policy: Policy,
) -> dict[str, Any]:
    """The corrected users through the engine: verdict, weight, bounds and cents."""
    features = pa.Table.from_pylist(
        [_features(u, merged[u], prev_elig.get(u)) for u in corrected], schema=FEATURES_SCHEMA
    )
    table = recompute(features, policy)
    if not corrected:
        return {"table": table, "by_user": {}}
    users = table["user_id"].to_pylist()
    eligible = table["eligible"].to_pylist()
    weight = np.array([w or 0.0 for w in table["weight"].to_pylist()], dtype=np.float64)
    loss = np.array(table["loss_cents"].to_pylist(), dtype=np.int64)
    floor, cap = payout_bounds(
        loss,
        min_payout_cents=policy.min_payout_cents,
        max_payout_cents=policy.max_payout_cents,
        cap_at_loss=policy.payout.cap_at_loss,
    )
    cents, bound = amounts_at(
        previous.lam, weight, floor, cap, min_payout_cents=policy.min_payout_cents
    )
    by_user: dict[int, dict[str, Any]] = {}
    for i, user in enumerate(users):
        before = prev_alloc.get(user)
        entitled = int(cents[i]) if eligible[i] else 0
        same = (
            before is not None
            and eligible[i]
            and before["weight"] == float(weight[i])
            and before["floor_cents"] == int(floor[i])
            and before["cap_cents"] == int(cap[i])
        )
        if same:  # nothing the rule looks at changed: the base run's own cents stand
            entitled = _previous_entitled(user, prev_alloc, prev_amounts)
        by_user[user] = {
            "eligible": bool(eligible[i]),
            "weight": float(weight[i]),
            "floor_cents": int(floor[i]),
            "cap_cents": int(cap[i]),
            "bound": str(bound[i]),
            "entitled_cents": entitled,
        }
    return {"table": table, "by_user": by_user}


def _features(user: int, m: _Merged, row: dict[str, Any] | None) -> dict[str, Any]:
    """The user's engine features: the previous run's, with the corrections applied."""
    if row is None:  # the base run never saw this user liquidated
        base: dict[str, Any] = {
            "user_id": user,
            "fills": 0,
            "loss_cents": 0,
            "net_assets_cents": 0,
            "incident_loss_cents": 0,
            "user_type": None,
            "vip_tier": None,
            "account_age_days": None,
            "already_compensated": False,
        }
    else:
        base = {
            "user_id": user,
            "fills": row["fills"],
            "loss_cents": _cents(row["loss_usd"]),
            "net_assets_cents": _cents(row["net_assets_usd"]),
            "incident_loss_cents": _cents(row["incident_loss_usd"]),
            "user_type": row["user_type"],
            "vip_tier": row["vip_tier"],
            "account_age_days": row["account_age_days"],
            "already_compensated": ALREADY_COMPENSATED in (row["reasons"] or ()),
        }
    for name in ("loss_cents", "net_assets_cents", "incident_loss_cents"):
        value = getattr(m, name)
        if value is not None:
            base[name] = value
    if m.not_compensated is not None:
        base["already_compensated"] = not m.not_compensated
    # As the engine does: the incident loss is part of the loss, never more than it.
    base["incident_loss_cents"] = min(base["incident_loss_cents"], base["loss_cents"])
    return base


def _amount_rows(
    merged: Mapping[int, _Merged],
    judged: Mapping[str, Any],
    prev_alloc: Mapping[int, dict[str, Any]],
    prev_amounts: Mapping[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for user in sorted(set(merged) | set(prev_amounts)):
        before = prev_amounts.get(user)
        alloc = prev_alloc.get(user)
        previous = before["cumulative_cents"] if before else (alloc["amount_cents"] if alloc else 0)
        awarded_before = before["awarded_cents"] if before else previous
        claims_before = before["claims_cents"] if before else 0
        entitled_before = _previous_entitled(user, prev_alloc, prev_amounts)
        m = merged.get(user)
        verdict = judged["by_user"].get(user)
        entitled = verdict["entitled_cents"] if verdict else entitled_before
        awarded = max(awarded_before, entitled)
        claims = claims_before + (m.claims_cents if m else 0)
        target = awarded + claims
        rows.append(
            {
                "user_id": user,
                "previous_cents": previous,
                "entitled_cents": entitled,
                "awarded_cents": awarded,
                "claims_cents": claims,
                "target_cents": target,
                "want_cents": target - previous,
                "change": _change(m, verdict, entitled, entitled_before, previous),
            }
        )
    return rows


def _change(
    m: _Merged | None,
    verdict: Mapping[str, Any] | None,
    entitled: int,
    entitled_before: int,
    previous: int,
) -> str:
    if m is None:
        return "carried"
    if verdict is None:
        return "claim"
    if entitled > entitled_before:
        return "new" if previous == 0 else "increase"
    if entitled < entitled_before:
        return "decrease"
    return "claim" if m.claims_cents else "unchanged"


def _previous_entitled(
    user: int, prev_alloc: Mapping[int, dict[str, Any]], prev_amounts: Mapping[int, dict[str, Any]]
) -> int:
    if user in prev_amounts:
        return int(prev_amounts[user]["entitled_cents"])
    alloc = prev_alloc.get(user)
    return int(alloc["amount_cents"]) if alloc else 0


def _fit_reserve(
    rows: list[dict[str, Any]], reserve: Reserve, used_before: int
) -> tuple[list[int], bool]:
    """Each row's top-up: what it wants, or — the reserve being short — its share."""
    wants = [int(r.pop("want_cents")) for r in rows]
    if any(w < 0 for w in wants):  # cumulative never exceeds target: a broken chain
        raise AssertionError("a user's cumulative amount exceeds their target")
    left = reserve.cents - used_before
    total = sum(wants)
    if total <= left:
        return wants, False
    if reserve.when_short != "scale":
        raise ReserveExceededError(
            f"the accepted decisions need {format_usd(total)} of top-ups for "
            f"{sum(1 for w in wants if w):,} user(s), but only {format_usd(max(left, 0))} "
            f"of the {format_usd(reserve.cents)} amendment reserve is left "
            f"({format_usd(used_before)} paid by earlier amendments); nothing was written. "
            'Raise amendments.reserve_usd, decide fewer cases, or set when_short = "scale"'
        )
    return _scaled(wants, [int(r["user_id"]) for r in rows], max(left, 0)), True


def _scaled(wants: list[int], users: list[int], left: int) -> list[int]:
    """``wants`` scaled to sum to ``left`` exactly: floors, then largest remainders."""
    total = sum(wants)
    shares = [w * left // total for w in wants]
    remainders = [w * left % total for w in wants]
    order = sorted(range(len(wants)), key=lambda i: (-remainders[i], users[i]))
    for i in order[: left - sum(shares)]:
        shares[i] += 1
    return shares


def _allocations(
    previous: pa.Table,
    rows: list[dict[str, Any]],
    judged: Mapping[str, Any],
    prev_alloc: Mapping[int, dict[str, Any]],
) -> pa.Table:
    """The cumulative payout list: the previous one with the touched users' rows replaced."""
    new_rows = []
    for row in rows:
        user = row["user_id"]
        if row["cumulative_cents"] <= 0:
            continue
        verdict = judged["by_user"].get(user)
        before = prev_alloc.get(user)
        if verdict is not None and verdict["eligible"]:
            shape = {k: verdict[k] for k in ("weight", "floor_cents", "cap_cents", "bound")}
        elif before is not None:
            shape = {k: before[k] for k in ("weight", "floor_cents", "cap_cents", "bound")}
        else:
            shape = {"weight": 0.0, "floor_cents": 0, "cap_cents": 0, "bound": CLAIM_BOUND}
        new_rows.append({"user_id": user, "amount_cents": row["cumulative_cents"], **shape})
    replacement = pa.Table.from_pylist(new_rows, schema=ALLOCATIONS_SCHEMA)
    return _replace_rows(previous, replacement, ALLOCATIONS_SCHEMA)


def _replace_rows(previous: pa.Table, rows: pa.Table | None, schema: pa.Schema) -> pa.Table:
    """``previous`` with the rows of the same users replaced by ``rows``, by user id."""
    if rows is None or rows.num_rows == 0:
        return previous
    keep = pc.invert(pc.is_in(previous["user_id"], value_set=rows["user_id"]))
    merged = pa.concat_tables([previous.filter(keep).cast(schema), rows.cast(schema)])
    return merged.sort_by("user_id")


def _recipients(
    previous: pa.Table, rows: list[dict[str, Any]], locales: Mapping[int, str]
) -> pa.Table:
    """Users paid for the first time get a recipients row: no e-mail known, their case's
    language (their app notification needs none; an e-mail goes where one is known)."""
    known = set(previous["user_id"].to_pylist())
    new = [
        {"user_id": r["user_id"], "email": None, "locale": locales.get(r["user_id"], "en")}
        for r in rows
        if r["cumulative_cents"] > 0 and r["user_id"] not in known
    ]
    if not new:
        return previous
    added = pa.Table.from_pylist(new, schema=RECIPIENTS_SCHEMA)
    return pa.concat_tables([previous.cast(RECIPIENTS_SCHEMA), added]).sort_by("user_id")


def _corrections(decisions: Sequence[AcceptedDecision]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "decision_id": d.id,
                "case_id": d.case_id,
                "user_id": d.user_id,
                "kind": d.kind,
                "loss_cents": d.loss_cents,
                "net_assets_cents": d.net_assets_cents,
                "incident_loss_cents": d.incident_loss_cents,
                "not_compensated": d.not_compensated,
                "claim_cents": d.claim_cents,
                "accepted_at": d.accepted_at,
            }
            for d in sorted(decisions, key=lambda d: (d.accepted_at, d.id))
        ],
        schema=CORRECTIONS_SCHEMA,
    )


def _rows_of(table: pa.Table | None, users: set[int] | None) -> dict[int, dict[str, Any]]:
    """Rows of ``table`` by user id (only ``users``' rows, unless None)."""
    if table is None:
        return {}
    if users is not None:
        table = table.filter(
            pc.is_in(table["user_id"], value_set=pa.array(sorted(users), pa.int64()))
        )
    return {int(r["user_id"]): r for r in table.to_pylist()}


def _users(table: pa.Table | None) -> set[int]:
    return set() if table is None else {int(u) for u in table["user_id"].to_pylist()}


def _cents(usd: Decimal | None) -> int:
    return 0 if usd is None else int(usd.scaleb(2))
