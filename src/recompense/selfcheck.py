"""A trader's self-check: what the programme's rules say about them, from their own exports.

The exports are imported exactly as ``recompense import binance`` does (in memory), the
engine runs the programme's rules on that one user (the same code as ``recompense run``),
and the story is told as ``explain`` tells it: counted fills, loss, net assets, ratio,
each rule with its numbers. With a published run, the payout the programme's formula
gives this weight at the run's λ (clamp(λ·w, floor, cap), as the allocation computes
it; the run then rounds down to the cent and hands the leftover cents to the largest
remainders, so a published amount may be one cent above), and — if the user is in that
run — whether the run agrees.

The fill table is recomputed here fill by fill (price × (fee − PnL), rounded once to
micro-dollars, half away from zero, summed, rounded to cents) and must equal the
engine's loss to the cent; a difference is a bug and raises.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recompense.allocation import BOUND_CAP, BOUND_FLOOR, payout_bounds
from recompense.errors import InputError, RecompenseError
from recompense.imports.binance import ImportOptions, Upload, for_policy, import_binance
from recompense.imports.binance import dataset as imported
from recompense.imports.binance.derive import Fill
from recompense.runs.explain import Check, decide_bound, rule_checks

MICROS = Decimal(10) ** 6


@dataclass(frozen=True, slots=True)
class CountedFill:
    fill_id: int  # the REALIZED_PNL row's transaction id (negative: synthetic, no PnL row)
    ts: str  # ISO UTC
    symbol: str
    product: str
    margin_asset: str
    realized_pnl: str
    clearance_fee: str
    price_usd: str
    price_minute: str
    loss_micros: int  # (fee − PnL) × price in micro-dollars; negative is a gain
    source: str  # file:line of the trade


@dataclass(frozen=True, slots=True)
class RunPayout:
    run: str
    lambda_cents_per_weight: float
    weight: float
    floor_cents: int
    cap_cents: int
    share_cents: float  # λ × weight
    amount_cents: int  # clamp(λ·w, floor, cap) rounded down to the cent
    bound: str
    limit: str | None
    in_run: bool
    run_amount_cents: int | None
    run_loss_cents: int | None
    run_net_assets_cents: int | None
    matches: bool | None  # None when the user is not in the run
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SelfCheck:
    user_id: int
    program_id: str
    liquidated: bool  # at least one counted fill
    eligible: bool
    reasons: tuple[str, ...]
    loss_cents: int
    net_assets_cents: int
    loss_ratio: float | None
    incident_loss_cents: int
    net_assets_source: str
    checks: tuple[Check, ...]
    fills: tuple[CountedFill, ...]
    timeline: tuple[tuple[str, int], ...]  # (minute ISO, cumulative loss in cents)
    warnings: tuple[str, ...]
    weight: float | None
    payout: RunPayout | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def selfcheck(
    program: Path,
    sources: Sequence[Path | Upload],
    *,
    options: ImportOptions | None = None,
    run: Path | None = None,
) -> SelfCheck:
    """Check one user's exports against ``program`` (and a published ``run``)."""
    from recompense.data import open_dataset
    from recompense.engine import connect
    from recompense.engine.pipeline import evaluate
    from recompense.policy import load_policy
    from recompense.runs.artifacts import eligibility_table
    from recompense.runs.execute import policy_parameters

    policy = load_policy(program)
    options = for_policy(options or ImportOptions(), policy)
    result = import_binance(sources, None, options=options)
    if len(result.derived) != 1:
        ids = ", ".join(str(d.user_id) for d in result.derived)
        raise InputError(f"a self-check is for one user; these exports hold {ids}")
    derived = result.derived[0]
    with tempfile.TemporaryDirectory(prefix="recompense-selfcheck-") as tmp:
        folder = Path(tmp) / "data"
        imported.write(folder, result.tables, result.report)
        backend = connect()
        users = evaluate(backend, open_dataset(backend, folder), policy).users
    params = policy_parameters(policy)
    fills = _counted(derived.fills, result, options, policy.eligibility.products)
    rows = eligibility_table(users).to_pylist()
    loss = _loss_cents(fills)
    none = Check(
        "NO_COUNTED_LIQUIDATION", False, "no forced-liquidation fill counted in the window"
    )
    check = SelfCheck(
        user_id=derived.user_id,
        program_id=policy.program.id,
        liquidated=False,
        eligible=False,
        reasons=("NO_COUNTED_LIQUIDATION",),
        loss_cents=0,
        net_assets_cents=0,
        loss_ratio=None,
        incident_loss_cents=0,
        net_assets_source=derived.net_assets_source,
        checks=(none,),
        fills=tuple(fills),
        timeline=_timeline(fills),
        warnings=tuple(derived.warnings),
        weight=None,
        payout=None,
    )
    if not rows:
        return check
    row, engine_row = rows[0], users.to_pylist()[0]
    if engine_row["loss_cents"] != loss:
        raise RecompenseError(  # pragma: no cover - the two computations must agree
            f"self-check: fills sum to {loss} cents but the engine says "
            f"{engine_row['loss_cents']}; please report this"
        )
    check = replace(
        check,
        liquidated=True,
        eligible=bool(row["eligible"]),
        reasons=tuple(row["reasons"]),
        loss_cents=engine_row["loss_cents"],
        net_assets_cents=engine_row["net_assets_cents"],
        loss_ratio=row["loss_ratio"],
        incident_loss_cents=engine_row["incident_loss_cents"],
        checks=rule_checks(row, params),
        weight=engine_row["weight"] if row["eligible"] else None,
    )
    if run is not None:
        check = replace(check, payout=_run_payout(run, program, check))
    return check


def _counted(
    fills: Sequence[Fill], result: Any, options: ImportOptions, products: Sequence[str]
) -> list[CountedFill]:
    start, end = options.window
    staleness = timedelta(minutes=options.staleness_minutes)
    counted = []
    for f in sorted(fills, key=lambda f: (f.ts, f.fill_id)):
        if f.kind != "liquidation" or not start <= f.ts < end or f.product not in products:
            continue
        found = result.prices.lookup(f.margin_asset, f.ts, staleness)
        if found is None:  # pragma: no cover - the importer refused it already
            raise InputError(f"no price for {f.margin_asset} at {f.ts}")
        minute, price = found
        micros = ((f.clearance_fee - f.realized_pnl) * price * MICROS).quantize(
            Decimal(1), ROUND_HALF_UP
        )
        counted.append(
            CountedFill(
                f.fill_id,
                f.ts.isoformat(), f.symbol, f.product, f.margin_asset, str(f.realized_pnl),
                str(f.clearance_fee), str(price), minute.isoformat(), int(micros),
                f"{Path(f.trade.where.file).name}:{f.trade.where.line}",
            )
        )  # fmt: skip
    return counted


def _loss_cents(fills: Sequence[CountedFill]) -> int:
    micros = sum(f.loss_micros for f in fills)
    cents = (Decimal(micros) / 10**4).quantize(Decimal(1), ROUND_HALF_UP)
    return max(0, int(cents))


def _timeline(fills: Sequence[CountedFill]) -> tuple[tuple[str, int], ...]:
    """Cumulative loss by minute (cents, each minute's micro-dollars rounded once)."""
    by_minute: dict[str, int] = {}
    for f in fills:
        minute = datetime.fromisoformat(f.ts).replace(second=0).isoformat()
        by_minute[minute] = by_minute.get(minute, 0) + f.loss_micros
    total, out = 0, []
    for minute in sorted(by_minute):
        total += by_minute[minute]
        out.append((minute, int((Decimal(total) / 10**4).quantize(Decimal(1), ROUND_HALF_UP))))
    return tuple(out)


def _run_payout(run: Path, program: Path, check: SelfCheck) -> RunPayout:
    from recompense.runs.artifacts import ALLOCATIONS, ELIGIBILITY
    from recompense.runs.folder import read_manifest

    manifest = read_manifest(run)
    notes: list[str] = []
    if manifest["program"]["id"] != check.program_id:
        raise InputError(
            f"--run {run} is programme {manifest['program']['id']!r}, not {check.program_id!r}"
        )
    policy_sha = hashlib.sha256(program.read_bytes()).hexdigest()
    if manifest["policy"].get("sha256") not in (None, policy_sha):
        notes.append("the run was made with a different policy file than the one given")
    lam = float(manifest["lambda_cents_per_weight"])
    run_params = manifest["policy"]["parameters"]
    weight = check.weight or 0.0
    floors, caps = payout_bounds(
        check.loss_cents,
        min_payout_cents=int(run_params["min_payout_cents"]),
        max_payout_cents=int(run_params["max_payout_cents"]),
        cap_at_loss=bool(run_params.get("cap_at_loss", True)),
    )
    floor, cap = int(floors[0]), int(caps[0])
    share = lam * weight
    bound, limit = decide_bound(
        {"floor_cents": floor, "cap_cents": cap, "weight": weight}, run_params, lam=lam, share=share
    )
    amount = {BOUND_FLOOR: floor, BOUND_CAP: cap}.get(bound) or math.floor(Fraction(share))
    eligible = check.eligible
    if not eligible:
        amount = 0
    elig = _run_row(run / ELIGIBILITY, check.user_id)
    alloc = _run_row(run / ALLOCATIONS, check.user_id)
    run_amount = None if alloc is None else int(alloc["amount_cents"])
    matches: bool | None = None
    if elig is not None:
        same_numbers = (
            _cents(elig["loss_usd"]) == check.loss_cents
            and _cents(elig["net_assets_usd"]) == check.net_assets_cents
        )
        if not same_numbers:
            notes.append("the run's loss or net assets differ from your exports'")
        matches = same_numbers and (
            (run_amount is None and not eligible)
            or (run_amount is not None and 0 <= run_amount - amount <= 1)
        )
    return RunPayout(
        run=str(run), lambda_cents_per_weight=lam, weight=weight, floor_cents=floor,
        cap_cents=cap, share_cents=share, amount_cents=amount, bound=bound, limit=limit,
        in_run=elig is not None, run_amount_cents=run_amount,
        run_loss_cents=None if elig is None else _cents(elig["loss_usd"]),
        run_net_assets_cents=None if elig is None else _cents(elig["net_assets_usd"]),
        matches=matches, notes=tuple(notes),
    )  # fmt: skip


def _run_row(path: Path, user_id: int) -> dict[str, Any] | None:
    from recompense.runs.errors import RunFolderError

    try:
        rows: list[dict[str, Any]] = pq.read_table(
            path, filters=[("user_id", "=", user_id)]
        ).to_pylist()
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from exc
    return rows[0] if rows else None


def _cents(value: Decimal) -> int:
    return int(value * 100)
