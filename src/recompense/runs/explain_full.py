"""One user's story in a full-payment run: each counted event, priced, and the sum.

``explain`` and the web's eligibility page tell it from ``events.parquet`` (every counted
collateral liquidation event with its reference price and cents) and
``allocations.parquet``: "your WBETH collateral was sold at $430.00 at 21:40 UTC; the
reference price at 00:00 UTC was $3,812.50323; 0.52 WBETH → $1,758.90". Prices and
quantities are printed exactly as held (no rounding); cents are the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recompense.money import format_price, format_quantity, format_usd
from recompense.runs.errors import RunFolderError
from recompense.runs.reasons import NO_COUNTED_COLLATERAL_EVENT, NO_LOSS_AT_REFERENCE


@dataclass(frozen=True, slots=True)
class Event:
    """One counted event, as the user is told about it."""

    event_id: int
    account_id: int
    product: str
    asset: str
    ts: datetime
    quantity: Decimal
    liquidation_price: Decimal
    reference_usd: Decimal
    loss_cents: int

    def sentence(self, reference_at: datetime) -> str:
        """The event in one English sentence (the web has it in every language)."""
        shortfall = self.reference_usd > self.liquidation_price
        outcome = (
            f"{format_quantity(self.quantity)} {self.asset} → {format_usd(self.loss_cents)}"
            if shortfall
            else f"sold at or above it: {format_usd(0)}"
        )
        return (
            f"your {self.asset} collateral ({self.product}, account {self.account_id}) was "
            f"sold at {format_price(self.liquidation_price)} at {clock(self.ts)}; the "
            f"reference price at {clock(reference_at)} was {format_price(self.reference_usd)}; "
            f"{outcome}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "account_id": self.account_id,
            "product": self.product,
            "asset": self.asset,
            "ts": self.ts.isoformat(),
            "quantity": str(self.quantity.normalize()),
            "liquidation_price": str(self.liquidation_price.normalize()),
            "reference_usd": str(self.reference_usd.normalize()),
            "loss_cents": self.loss_cents,
        }


def user_events(run: Path, user_id: int) -> list[Event]:
    """The user's counted events in ``run`` (a full-payment run), by time."""
    from recompense.runs.full import EVENTS

    path = run / EVENTS
    try:
        table = pq.read_table(path, filters=[("user_id", "=", user_id)])
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from exc
    rows = sorted(table.to_pylist(), key=lambda r: (r["ts"], r["event_id"]))
    return [
        Event(
            event_id=int(r["event_id"]),
            account_id=int(r["account_id"]),
            product=str(r["product"]),
            asset=str(r["asset"]),
            ts=r["ts"].astimezone(UTC),
            quantity=r["quantity"],
            liquidation_price=r["liquidation_price"],
            reference_usd=r["reference_usd"],
            loss_cents=int(r["loss_cents"]),
        )
        for r in rows
    ]


def clock(ts: datetime) -> str:
    """``21:40 UTC``, with seconds (and microseconds) only when the time has them."""
    ts = ts.astimezone(UTC)
    if ts.microsecond:
        return f"{ts:%H:%M:%S}.{ts.microsecond:06d} UTC"
    return f"{ts:%H:%M:%S} UTC" if ts.second else f"{ts:%H:%M} UTC"


def explain_full(run: Path, manifest: dict[str, Any], user_id: int) -> Any:
    """The :class:`~recompense.runs.explain.Explanation` of a full-payment run's user."""
    from recompense.runs.artifacts import ALLOCATIONS, ELIGIBILITY
    from recompense.runs.explain import Check, Explanation, _row

    params = manifest["policy"]["parameters"]
    program_id = str(manifest["program"]["id"])
    reference_at = datetime.fromisoformat(params["reference_at"])
    row = _row(run / ELIGIBILITY, user_id)
    if row is None:
        start, end = params["window"]
        detail = (
            f"no liquidation of {', '.join(params['assets'])} collateral counted in "
            f"{start} – {end} (half-open; products {', '.join(params['products'])}); "
            "liquidations outside the window are reviewed one by one: open a case"
        )
        check = Check(NO_COUNTED_COLLATERAL_EVENT, False, detail)
        return Explanation(user_id, program_id, False, (NO_COUNTED_COLLATERAL_EVENT,), {}, (check,))
    events = user_events(run, user_id)
    checks = tuple(
        Check(NO_LOSS_AT_REFERENCE, e.loss_cents > 0, e.sentence(reference_at)) for e in events
    )
    loss = int(row["loss_usd"] * 100)
    features = {
        "events": int(row["events"]),
        "loss_usd": str(row["loss_usd"]),
        "amount_usd": str(row["amount_usd"]),
    }
    explanation = Explanation(
        user_id,
        program_id,
        bool(row["eligible"]),
        tuple(row["reasons"]),
        features,
        checks,
        events=tuple(e.as_dict() for e in events),
    )
    if not row["eligible"]:
        return explanation
    alloc = _row(run / ALLOCATIONS, user_id)
    if alloc is None:  # pragma: no cover - a run folder always allocates its eligible users
        raise RunFolderError(f"{run}: eligible user {user_id} missing from {ALLOCATIONS}")
    amount = int(alloc["amount_cents"])
    ceiling = params.get("ceiling_cents")
    if alloc["bound"] == "ceiling":
        detail = (
            f"your events sum to {format_usd(loss)}, above the programme's ceiling "
            f"{format_usd(int(ceiling))} per user: you are paid the ceiling"
        )
    else:
        detail = f"your events sum to {format_usd(loss)}, paid in full"
    return replace(
        explanation,
        weight=float(alloc["weight"]),
        amount_cents=amount,
        bound=str(alloc["bound"]),
        limit="ceiling" if alloc["bound"] == "ceiling" else None,
        bound_detail=detail,
    )
