"""One user's result, as numbers the pages and the API put into words.

The same story as :func:`recompense.runs.explain.explain` (which the tests use as the
oracle), read from the in-memory :class:`~recompense.web.runindex.RunIndex` instead
of the Parquet files so that a lookup takes microseconds; or, for "Check with your own
exports", from a :class:`~recompense.selfcheck.SelfCheck` (:func:`from_selfcheck`), so
that its rules are put into the same words. Pass or fail comes from
the engine's own reason codes, never re-decided here; the numbers beside them (the
minimum loss, the loss needed for the ratio) restate the exact comparisons the engine
made, and :mod:`recompense.web.i18n` turns them into sentences in the user's language.

A user excluded as already compensated is told by whom and when: from the run's
``ledger_exclusions.parquet`` (``recompense run --db``: the programme and the first
issue time of its vouchers, a UTC instant), read once per run and checked against the
manifest; excluded by a ``prior_compensation`` file instead, the run folder keeps no
date, so the programme is named without one when the policy lists only one.

A full-payment programme's run (``program.kind = "full"``) tells another story, each
collateral liquidation event priced: :func:`story` hands it to
:func:`recompense.web.story_full.full_story`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recompense.runs.artifacts import sha256_file
from recompense.runs.errors import RunFolderError
from recompense.runs.execute import LEDGER_EXCLUSIONS
from recompense.runs.reasons import ALREADY_COMPENSATED, NO_COUNTED_LIQUIDATION, REASON_CODES
from recompense.web.runindex import FullEligibility, RunIndex

if TYPE_CHECKING:
    from recompense.selfcheck import SelfCheck
    from recompense.web.story_full import FullStory


@dataclass(frozen=True, slots=True)
class Criterion:
    code: str  # the engine's reason code when this criterion fails
    passed: bool


@dataclass(frozen=True, slots=True)
class Payout:
    amount_cents: int
    bound: str  # floor | share | cap
    weight: float
    floor_cents: int
    cap_cents: int
    share_cents: int  # λ × weight, rounded: what the budget share alone would give
    cap_is_own_loss: bool  # the cap is the user's loss, not the programme's maximum
    lambda_cents_per_weight: float


@dataclass(frozen=True, slots=True)
class Paid:
    """A programme that already compensated the user, and when (None: not known)."""

    program_id: str
    paid_at: datetime | None  # UTC: the first issue time of its vouchers


@dataclass(frozen=True, slots=True)
class Story:
    kind: ClassVar[str] = "shared"  # a budget shared by weight (FullStory: "full")

    user_id: int
    program_id: str
    currency: str
    liquidated: bool
    eligible: bool
    reasons: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    loss_cents: int | None
    net_assets_cents: int | None
    incident_loss_cents: int | None
    fills: int | None
    loss_share_of_net: float | None  # loss / net assets; None when net assets ≤ 0
    min_loss_cents: int
    min_loss_ratio: str  # exact, as in the policy ("0.30")
    needed_loss_cents: int | None  # ⌈net assets × min ratio⌉; None when net assets ≤ 0
    excluding_programs: tuple[str, ...]
    payout: Payout | None
    compensated_by: tuple[Paid, ...] = ()  # when ALREADY_COMPENSATED: by whom, when


def story(index: RunIndex, user_id: int) -> Story | FullStory:
    """The user's story in the programme's run, of the run's kind."""
    e = index.eligibility
    if isinstance(e, FullEligibility):
        from recompense.web.story_full import full_story  # it imports this module

        return full_story(index, user_id)
    params = index.params
    row = index.eligibility_row(user_id)
    base = {
        "user_id": user_id,
        "program_id": index.program_id,
        "currency": str(index.manifest["program"].get("currency", "USD")),
        "min_loss_cents": int(params["min_loss_cents"]),
        "min_loss_ratio": str(params["min_loss_ratio"]),
        "excluding_programs": tuple(params["excluding_programs"]),
    }
    if row is None:
        return Story(
            **base,  # type: ignore[arg-type]
            liquidated=False,
            eligible=False,
            reasons=(NO_COUNTED_LIQUIDATION,),
            criteria=(Criterion(NO_COUNTED_LIQUIDATION, False),),
            loss_cents=None,
            net_assets_cents=None,
            incident_loss_cents=None,
            fills=None,
            loss_share_of_net=None,
            needed_loss_cents=None,
            payout=None,
        )
    bits = int(e.reason_bits[row])
    loss, net = int(e.loss_cents[row]), int(e.net_assets_cents[row])
    ratio = Fraction(Decimal(str(params["min_loss_ratio"])))
    reasons = tuple(code for k, code in enumerate(REASON_CODES) if bits >> k & 1)
    return Story(
        **base,  # type: ignore[arg-type]
        liquidated=True,
        eligible=bool(e.eligible[row]),
        reasons=reasons,
        criteria=tuple(Criterion(code, not bits >> k & 1) for k, code in enumerate(REASON_CODES)),
        loss_cents=loss,
        net_assets_cents=net,
        incident_loss_cents=int(e.incident_loss_cents[row]),
        fills=int(e.fills[row]),
        loss_share_of_net=loss / net if net > 0 else None,
        needed_loss_cents=_ceil(Fraction(net) * ratio) if net > 0 else None,
        payout=_payout(index, user_id) if e.eligible[row] else None,
        compensated_by=_compensated_by(index, user_id) if ALREADY_COMPENSATED in reasons else (),
    )


def from_selfcheck(check: SelfCheck, params: Mapping[str, Any], currency: str) -> Story:
    """A self-check as a story: pass or fail from its own checks, the numbers beside them
    restated from the programme's ``params`` (``policy_parameters``), the payout the one
    it priced at the published run's λ (None without a run, or when not eligible)."""
    counted = check.liquidated
    loss, net = check.loss_cents, check.net_assets_cents
    ratio = Fraction(Decimal(str(params["min_loss_ratio"])))
    return Story(
        user_id=check.user_id,
        program_id=check.program_id,
        currency=currency,
        liquidated=counted,
        eligible=check.eligible,
        reasons=check.reasons,
        criteria=tuple(Criterion(c.code, c.passed) for c in check.checks),
        loss_cents=loss if counted else None,
        net_assets_cents=net if counted else None,
        incident_loss_cents=check.incident_loss_cents if counted else None,
        fills=len(check.fills) if counted else None,
        loss_share_of_net=loss / net if counted and net > 0 else None,
        min_loss_cents=int(params["min_loss_cents"]),
        min_loss_ratio=str(params["min_loss_ratio"]),
        needed_loss_cents=_ceil(Fraction(net) * ratio) if counted and net > 0 else None,
        excluding_programs=tuple(params["excluding_programs"]),
        payout=_selfcheck_payout(check),
    )


def _selfcheck_payout(check: SelfCheck) -> Payout | None:
    p = check.payout
    if p is None or not check.eligible:
        return None
    return Payout(
        amount_cents=p.amount_cents,
        bound=p.bound,
        weight=p.weight,
        floor_cents=p.floor_cents,
        cap_cents=p.cap_cents,
        share_cents=round(p.share_cents) if math.isfinite(p.share_cents) else p.cap_cents,
        cap_is_own_loss=p.limit == "own_loss",
        lambda_cents_per_weight=p.lambda_cents_per_weight,
    )


def _payout(index: RunIndex, user_id: int) -> Payout | None:
    row = index.allocation_row(user_id)
    if row is None:  # pragma: no cover - a run folder always allocates its eligible users
        return None
    a = index.allocations
    lam = float(index.manifest["lambda_cents_per_weight"])
    weight = float(a.weight[row])
    cap = int(a.cap_cents[row])
    return Payout(
        amount_cents=int(a.amount_cents[row]),
        bound=a.bounds[int(a.bound_codes[row])],
        weight=weight,
        floor_cents=int(a.floor_cents[row]),
        cap_cents=cap,
        share_cents=round(lam * weight),
        cap_is_own_loss=cap != int(index.params["max_payout_cents"]),
        lambda_cents_per_weight=lam,
    )


def _compensated_by(index: RunIndex, user_id: int) -> tuple[Paid, ...]:
    """The ledger's record of who paid the user; else the only excluding programme."""
    digest = index.manifest.get("artifacts", {}).get(LEDGER_EXCLUSIONS)
    if digest is not None:
        paid = _ledger_exclusions(index.run, str(digest))
        start = int(np.searchsorted(paid.user_ids, user_id, side="left"))
        end = int(np.searchsorted(paid.user_ids, user_id, side="right"))
        if end > start:
            return tuple(paid.at(row) for row in range(start, end))
    listed = tuple(index.params["excluding_programs"])
    return (Paid(listed[0], None),) if len(listed) == 1 else ()


@dataclass(frozen=True, slots=True)
class _LedgerExclusions:
    """``ledger_exclusions.parquet`` as arrays sorted by user id (≈ 17 bytes a row)."""

    user_ids: npt.NDArray[np.int64]
    program_codes: npt.NDArray[np.int32]  # into ``programs``
    programs: tuple[str, ...]
    paid_at_us: npt.NDArray[np.int64]  # microseconds since the epoch, UTC

    def at(self, row: int) -> Paid:
        moment = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(self.paid_at_us[row]))
        return Paid(self.programs[int(self.program_codes[row])], moment)


@lru_cache(maxsize=8)
def _ledger_exclusions(run: Path, digest: str) -> _LedgerExclusions:
    """Read once per run (and per file hash): the page's lookups are binary searches."""
    path = run / LEDGER_EXCLUSIONS
    if not path.is_file() or sha256_file(path) != digest:
        raise RunFolderError(f"{path}: missing, or its SHA-256 differs from the manifest")
    try:
        table = pq.read_table(path).sort_by([("user_id", "ascending"), ("paid_at", "ascending")])
    except (OSError, pa.ArrowException) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from exc
    codes = pc.dictionary_encode(table["program_id"].combine_chunks())
    micros = table["paid_at"].combine_chunks().cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return _LedgerExclusions(
        user_ids=np.asarray(table["user_id"].to_numpy(), dtype=np.int64),
        program_codes=np.asarray(codes.indices.to_numpy(zero_copy_only=False), dtype=np.int32),
        programs=tuple(str(v) for v in codes.dictionary.to_pylist()),
        paid_at_us=np.asarray(micros.to_numpy(zero_copy_only=False), dtype=np.int64),
    )


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)
