"""One user's story, told from the run folder alone (no access to the inputs).

Used by ``recompense explain`` and later by the web service's "Am I eligible?" page.
Every number shown is exact: money comes from the decimal/cents columns, and the
ratio test is restated as the exact comparison the engine made. The story must never
contradict itself: a share or a ratio is printed with as many digits as it takes not
to look equal to the bound it was compared with, and the bound named is the one that
decided (λ·w below the floor, above the cap, or in between), not guessed from the
rounded amount.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recompense.allocation import BOUND_CAP, BOUND_FLOOR, BOUND_SHARE
from recompense.errors import InputError
from recompense.money import format_usd
from recompense.runs.artifacts import ALLOCATIONS, ELIGIBILITY
from recompense.runs.errors import RunFolderError
from recompense.runs.folder import read_manifest
from recompense.runs.reasons import (
    ALREADY_COMPENSATED,
    LOSS_BELOW_MINIMUM,
    NO_COUNTED_LIQUIDATION,
    RATIO_BELOW_MINIMUM,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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
    bound: str | None = None  # what decided the amount: floor | share | cap
    limit: str | None = None  # the limit that bound: min_payout | max_payout | own_loss
    share_cents: float | None = None  # λ × weight as the allocation computed it
    bound_detail: str = ""
    # Full-payment runs: the user's counted collateral liquidation events (as JSON values).
    events: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain(run: Path, user_id: int) -> Explanation:
    """The story of ``user_id`` in ``run``; an id outside int64 is the operator's mistake."""
    if not INT64_MIN <= user_id <= INT64_MAX:
        raise InputError(f"user id {user_id}: user ids are 64-bit integers (|id| < 2^63)")
    manifest = read_manifest(run)
    if manifest.get("program", {}).get("kind") == "full":
        from recompense.runs.explain_full import explain_full

        story: Explanation = explain_full(run, manifest, user_id)
        return story
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
    checks = rule_checks(row, params)
    explanation = Explanation(
        user_id, program_id, bool(row["eligible"]), tuple(row["reasons"]), features, checks
    )
    if not row["eligible"]:
        return explanation
    alloc = _row(run / ALLOCATIONS, user_id)
    if alloc is None:  # pragma: no cover - a run folder always allocates its eligible users
        raise RunFolderError(f"{run}: eligible user {user_id} missing from {ALLOCATIONS}")
    lam = float(manifest["lambda_cents_per_weight"])
    share = lam * float(alloc["weight"])  # the one float64 product the allocation clipped
    bound, limit = decide_bound(alloc, params, lam=lam, share=share)
    return replace(
        explanation,
        weight=alloc["weight"],
        amount_cents=alloc["amount_cents"],
        bound=bound,
        limit=limit,
        share_cents=share,
        bound_detail=_bound_detail(alloc, params, bound, limit, lam=lam, share=share),
    )


def decide_bound(
    alloc: dict[str, Any], params: dict[str, Any], *, lam: float, share: float
) -> tuple[str, str | None]:
    """What decided the payout, from the numbers (not from the rounded amount).

    The allocation pays clamp(λ·w, floor, cap) and then rounds to cents, so an amount
    equal to the floor does not mean the floor decided: only λ·w < floor does (exactly,
    as fractions). ``floor`` is min(min payout, cap), so a floor below the minimum payout
    is the user's own loss. λ = 0 means the budget covered every cap.
    """
    floor, cap = int(alloc["floor_cents"]), int(alloc["cap_cents"])
    own_or_max = "max_payout" if cap == int(params["max_payout_cents"]) else "own_loss"
    if (lam == 0 and alloc["weight"] > 0) or not math.isfinite(share):
        return BOUND_CAP, own_or_max
    exact = Fraction(share)
    if exact < floor:
        if floor == int(params["min_payout_cents"]):
            return BOUND_FLOOR, "min_payout"
        return BOUND_CAP, "own_loss"
    if exact > cap:
        return BOUND_CAP, own_or_max
    return BOUND_SHARE, None


def _row(path: Path, user_id: int) -> dict[str, Any] | None:
    try:
        table = pq.read_table(path, filters=[("user_id", "=", user_id)])
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from exc
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows[0] if rows else None


def rule_checks(row: dict[str, Any], params: dict[str, Any]) -> tuple[Check, ...]:
    loss = _cents(row["loss_usd"])
    min_loss = params["min_loss_cents"]
    reasons = set(row["reasons"])
    loss_ok = LOSS_BELOW_MINIMUM not in reasons
    relation = "≥" if loss_ok else "<"
    loss_check = Check(
        LOSS_BELOW_MINIMUM,
        loss_ok,
        f"loss {format_usd(loss)} {relation} minimum {format_usd(min_loss)}",
    )
    ratio_ok = RATIO_BELOW_MINIMUM not in reasons
    ratio_check = Check(
        RATIO_BELOW_MINIMUM,
        ratio_ok,
        _ratio_detail(loss, _cents(row["net_assets_usd"]), params["min_loss_ratio"], ratio_ok),
    )
    comp_ok = ALREADY_COMPENSATED not in reasons
    programs = ", ".join(params["excluding_programs"]) or "none"
    comp_detail = (
        f"not paid by an excluding programme ({programs})"
        if comp_ok
        else f"already compensated by an excluding programme ({programs})"
    )
    return loss_check, ratio_check, Check(ALREADY_COMPENSATED, comp_ok, comp_detail)


def _ratio_detail(loss: int, net: int, min_ratio: str, passed: bool) -> str:
    """The ratio test restated exactly: the share is printed with as many digits as it
    takes not to look equal to the minimum (rounding is monotone, so the printed share
    is on the same side of the minimum as the exact one)."""
    if net <= 0:
        return f"net assets {format_usd(net)} ≤ 0 at the snapshot: the whole account was lost"
    minimum = Decimal(min_ratio) * 100
    share = Fraction(loss * 100, net)
    shown = _fixed(share, _places_apart(share, Fraction(minimum), 2))
    needed = _ceil(Fraction(net) * Fraction(Decimal(min_ratio)))
    side = "at least" if passed else "below"
    return (
        f"loss {format_usd(loss)} is {shown}% of net assets {format_usd(net)}, "
        f"{side} the minimum {minimum.normalize():f}% (needed {format_usd(needed)})"
    )


def _bound_detail(
    alloc: dict[str, Any],
    params: dict[str, Any],
    bound: str,
    limit: str | None,
    *,
    lam: float,
    share: float,
) -> str:
    amount, cap, floor = alloc["amount_cents"], alloc["cap_cents"], alloc["floor_cents"]
    minimum = int(params["min_payout_cents"])
    cap_words = "the maximum payout" if limit == "max_payout" else "your own loss"
    if lam == 0 and alloc["weight"] > 0:
        return (
            f"the budget covered every eligible user's cap; yours is {format_usd(cap)}, "
            f"set by {cap_words}"
        )
    if not math.isfinite(share):  # pragma: no cover - weights span at most ~10^290
        return f"your share of the budget is beyond the cap {format_usd(cap)}, set by {cap_words}"
    exact = Fraction(share)
    said = f"your share of the budget, λ × weight = {_usd_apart(exact, floor, cap, amount)}"
    if bound == BOUND_FLOOR:
        return (
            f"{said}, is below the minimum payout {format_usd(floor)}, so you are paid the minimum"
        )
    if bound == BOUND_CAP and exact < floor:
        return (
            f"{said}, is below the minimum payout {format_usd(minimum)}, but nobody is paid "
            f"more than they lost: you get your loss, {format_usd(cap)}"
        )
    if bound == BOUND_CAP:
        return f"{said}, is above the cap {format_usd(cap)}, set by {cap_words}{_WHY[limit]}"
    return (
        f"{said} ({lam:.6g} × {alloc['weight']:.6g}), is within the minimum "
        f"{format_usd(floor)} and the cap {format_usd(cap)}: paid as {format_usd(amount)} "
        "after rounding to the cent (the leftover cents go to the largest remainders)"
    )


_WHY = {"own_loss": " (nobody is paid more than they lost)", "max_payout": "", None: ""}


def _usd_apart(cents: Fraction, *bounds: int) -> str:
    """``cents`` as dollars, with enough decimals not to look equal to any of ``bounds``."""
    places = max(_places_apart(cents / 100, Fraction(b, 100), 2) for b in bounds)
    dollars = _fixed(cents / 100, places)
    whole, _, decimals = dollars.partition(".")
    return f"${int(whole):,}.{decimals}"


def _places_apart(value: Fraction, other: Fraction, places: int, most: int = 30) -> int:
    """The fewest decimal places (at least ``places``) at which ``value`` and ``other``
    print differently; ``places`` when they are equal."""
    if value == other:
        return places
    while places < most and round(value, places) == round(other, places):
        places += 1
    return places


def _fixed(value: Fraction, places: int) -> str:
    """``value`` rounded (half-even) to ``places`` decimals, printed exactly."""
    scaled = round(value * 10**places)
    sign, digits = ("-" if scaled < 0 else ""), str(abs(scaled)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"


def _cents(value: Decimal) -> int:
    return int(value * 100)


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)
