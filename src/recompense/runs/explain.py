"""One user's story, told from the run folder alone (no access to the inputs).

Used by ``recompense explain`` and later by the web service's "Am I eligible?" page.
Every number shown is exact: money comes from the decimal/cents columns, and the
ratio test is restated as the exact comparison the engine made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recompense.engine.eligibility import (
    ALREADY_COMPENSATED,
    LOSS_BELOW_MINIMUM,
    RATIO_BELOW_MINIMUM,
)
from recompense.money import format_usd
from recompense.runs.artifacts import ALLOCATIONS, ELIGIBILITY
from recompense.runs.errors import RunFolderError
from recompense.runs.folder import read_manifest

NO_COUNTED_LIQUIDATION = "NO_COUNTED_LIQUIDATION"


@dataclass(frozen=True, slots=True)
class Check:
    code: str  # the reason code given when this check fails
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    user_id: int
    program_id: str
    eligible: bool
    reasons: tuple[str, ...]
    features: dict[str, Any]
    checks: tuple[Check, ...]
    weight: float | None = None
    amount_cents: int | None = None
    bound: str | None = None
    bound_detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain(run: Path, user_id: int) -> Explanation:
    manifest = read_manifest(run)
    params = manifest["policy"]["parameters"]
    program_id = manifest["program"]["id"]
    row = _row(run / ELIGIBILITY, user_id)
    if row is None:
        check = Check(
            NO_COUNTED_LIQUIDATION, False, "no forced-liquidation fill counted in the window"
        )
        return Explanation(user_id, program_id, False, (NO_COUNTED_LIQUIDATION,), {}, (check,))
    features = {
        key: (str(value) if isinstance(value, Decimal) else value)
        for key, value in row.items()
        if key not in ("user_id", "eligible", "reasons")
    }
    checks = _checks(row, params)
    explanation = Explanation(
        user_id, program_id, bool(row["eligible"]), tuple(row["reasons"]), features, checks
    )
    if not row["eligible"]:
        return explanation
    alloc = _row(run / ALLOCATIONS, user_id)
    if alloc is None:  # pragma: no cover - a run folder always allocates its eligible users
        raise RunFolderError(f"{run}: eligible user {user_id} missing from {ALLOCATIONS}")
    detail = _bound_detail(alloc, manifest, params)
    return replace(
        explanation,
        weight=alloc["weight"],
        amount_cents=alloc["amount_cents"],
        bound=alloc["bound"],
        bound_detail=detail,
    )


def _row(path: Path, user_id: int) -> dict[str, Any] | None:
    try:
        table = pq.read_table(path, filters=[("user_id", "=", user_id)])
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from exc
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows[0] if rows else None


def _checks(row: dict[str, Any], params: dict[str, Any]) -> tuple[Check, ...]:
    loss = _cents(row["loss_usd"])
    net = _cents(row["net_assets_usd"])
    min_loss = params["min_loss_cents"]
    ratio = Fraction(Decimal(params["min_loss_ratio"]))
    reasons = set(row["reasons"])
    loss_ok = LOSS_BELOW_MINIMUM not in reasons
    relation = "≥" if loss_ok else "<"
    loss_check = Check(
        LOSS_BELOW_MINIMUM,
        loss_ok,
        f"loss {format_usd(loss)} {relation} minimum {format_usd(min_loss)}",
    )
    ratio_ok = RATIO_BELOW_MINIMUM not in reasons
    pct = f"{float(ratio) * 100:g}%"
    if net <= 0:
        detail = f"net assets {format_usd(net)} ≤ 0 at the snapshot: the whole account was lost"
    else:
        share = f"{loss / net * 100:.2f}%"
        needed = Fraction(net) * ratio
        detail = (
            f"loss {format_usd(loss)} is {share} of net assets {format_usd(net)} "
            f"({'≥' if ratio_ok else '<'} {pct}; needed {format_usd(_ceil(needed))})"
        )
    comp_ok = ALREADY_COMPENSATED not in reasons
    programs = ", ".join(params["excluding_programs"]) or "none"
    comp_detail = (
        f"not paid by an excluding programme ({programs})"
        if comp_ok
        else f"already compensated by an excluding programme ({programs})"
    )
    return (
        loss_check,
        Check(RATIO_BELOW_MINIMUM, ratio_ok, detail),
        Check(ALREADY_COMPENSATED, comp_ok, comp_detail),
    )


def _bound_detail(alloc: dict[str, Any], manifest: dict[str, Any], params: dict[str, Any]) -> str:
    amount, cap, floor = alloc["amount_cents"], alloc["cap_cents"], alloc["floor_cents"]
    lam = manifest["lambda_cents_per_weight"]
    share = lam * alloc["weight"]
    max_payout = params["max_payout_cents"]
    if alloc["bound"] == "cap":
        limit = (
            "the maximum payout"
            if cap == max_payout
            else "your own loss (nobody is paid more than they lost)"
        )
        if lam == 0:
            return (
                f"everyone eligible was paid their cap; yours is {format_usd(cap)}, set by {limit}"
            )
        return (
            f"your share {format_usd(round(share))} reached the cap {format_usd(cap)}, "
            f"set by {limit}"
        )
    if alloc["bound"] == "floor":
        return (
            f"your share {format_usd(round(share))} was below the minimum payout, "
            f"so you get {format_usd(floor)}"
        )
    return (
        f"your share of the budget: λ × weight = {lam:.6g} × {alloc['weight']:.6g} "
        f"≈ {format_usd(round(share))}, paid as {format_usd(amount)} after rounding to the cent"
    )


def _cents(value: Decimal) -> int:
    return int(value * 100)


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)
