"""One user's result in a full-payment programme, as numbers the pages put into words.

The same story as :func:`recompense.runs.explain_full.explain_full` (which the tests use
as the oracle), read from the in-memory :class:`~recompense.web.runindex.RunIndex`
instead of the Parquet files: each counted collateral liquidation event with its exact
quantity, sale price and reference price and the cents it pays (``events.parquet``),
their sum, and what the programme pays — the sum in full, or the ceiling
(``allocations.parquet``). :mod:`recompense.web.i18n_full` says it in the reader's
language; :func:`recompense.web.story.story` hands a full-payment run's user here.

The criteria are explain's checks: one per event (``NO_LOSS_AT_REFERENCE``, passed when
the event was sold below its reference price), or ``NO_COUNTED_COLLATERAL_EVENT`` alone
for a user with no counted event (the run has no row for them).

After a later batch (an amendment run, ``recompense amend --data``), the head run's
``allocations.parquet`` holds what the user is paid over every batch and accepted claim,
while its eligibility and events are the newer data's: the payout shown is the former,
so a decrease recorded (never clawed back) or a claim paid still shows what was paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from recompense.runs.errors import RunFolderError
from recompense.runs.explain_full import Event
from recompense.runs.reasons import FULL_REASON_CODES, NO_COUNTED_COLLATERAL_EVENT
from recompense.web.runindex import FullEligibility, RunIndex
from recompense.web.story import Criterion


@dataclass(frozen=True, slots=True)
class FullPayout:
    amount_cents: int  # what the programme pays the user in all (every batch, claims)
    bound: str  # full | ceiling (claim: a later batch paying accepted claims only)
    weight: float  # the user's loss in USD (a full programme pays a cent per cent lost)
    cap_cents: int  # the ceiling, or the user's loss when it is below the ceiling


@dataclass(frozen=True, slots=True)
class FullStory:
    kind: ClassVar[str] = "full"

    user_id: int
    program_id: str
    currency: str
    liquidated: bool  # the run counted at least one collateral liquidation event of theirs
    eligible: bool  # the engine's verdict on the run's data
    reasons: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    events: tuple[Event, ...]  # oldest first
    loss_cents: int | None  # the sum of the events' cents; None without a counted event
    events_cents: int | None  # what the events pay: the sum, capped by the ceiling
    reference_at: datetime  # UTC: when the reference prices were taken
    window: tuple[datetime, datetime]  # UTC, half-open: [start, end)
    assets: tuple[str, ...]
    products: tuple[str, ...]
    ceiling_cents: int | None  # at most this per user; None: no ceiling
    payout: FullPayout | None  # None: the programme pays them nothing


def full_story(index: RunIndex, user_id: int) -> FullStory:
    """``user_id``'s story in the full-payment run ``index``; see the module docstring."""
    e = index.eligibility
    if not isinstance(e, FullEligibility) or index.events is None:
        raise RunFolderError(f"{index.run}: not a full-payment programme's run")
    params = index.params
    base: dict[str, Any] = {
        "user_id": user_id,
        "program_id": index.program_id,
        "currency": str(index.manifest["program"].get("currency", "USD")),
        "reference_at": _utc(params["reference_at"]),
        "window": (_utc(params["window"][0]), _utc(params["window"][1])),
        "assets": tuple(str(a) for a in params["assets"]),
        "products": tuple(str(p) for p in params["products"]),
        "ceiling_cents": None
        if params.get("ceiling_cents") is None
        else int(params["ceiling_cents"]),
        "payout": _payout(index, user_id),
    }
    row = index.eligibility_row(user_id)
    if row is None:
        return FullStory(
            **base,
            liquidated=False,
            eligible=False,
            reasons=(NO_COUNTED_COLLATERAL_EVENT,),
            criteria=(Criterion(NO_COUNTED_COLLATERAL_EVENT, False),),
            events=(),
            loss_cents=None,
            events_cents=None,
        )
    bits = int(e.reason_bits[row])
    events = tuple(_event(r) for r in index.events.of(user_id))
    return FullStory(
        **base,
        liquidated=True,
        eligible=bool(e.eligible[row]),
        reasons=tuple(code for k, code in enumerate(FULL_REASON_CODES) if bits >> k & 1),
        criteria=tuple(Criterion(FULL_REASON_CODES[0], ev.loss_cents > 0) for ev in events),
        events=events,
        loss_cents=int(e.loss_cents[row]),
        events_cents=int(e.amount_cents[row]),
    )


def _payout(index: RunIndex, user_id: int) -> FullPayout | None:
    row = index.allocation_row(user_id)
    if row is None:
        return None
    a = index.allocations
    return FullPayout(
        amount_cents=int(a.amount_cents[row]),
        bound=a.bounds[int(a.bound_codes[row])],
        weight=float(a.weight[row]),
        cap_cents=int(a.cap_cents[row]),
    )


def _event(row: dict[str, Any]) -> Event:
    return Event(
        event_id=int(row["event_id"]),
        account_id=int(row["account_id"]),
        product=str(row["product"]),
        asset=str(row["asset"]),
        ts=row["ts"],
        quantity=row["quantity"],
        liquidation_price=row["liquidation_price"],
        reference_usd=row["reference_usd"],
        loss_cents=int(row["loss_cents"]),
    )


def _utc(text: str) -> datetime:
    """An ISO 8601 instant of the manifest (``2025-10-11T00:00:00Z``), as UTC."""
    return datetime.fromisoformat(text).astimezone(UTC)
