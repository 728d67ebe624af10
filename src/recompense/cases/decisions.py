"""Accepted decisions as the amendment run reads them, and their one-time application.

The contract between cases and amendments: :func:`accepted_unapplied` lists the
decisions an amendment of ``program_id`` must apply (accepted, not yet applied, oldest
first); :func:`mark_applied` sets ``applied_in`` on exactly those, inside the transaction
that registers the amendment in the ledger — so a decision is paid by one amendment, and
an amendment whose decisions changed meanwhile (one applied by another amendment) is
refused before any money moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from recompense.cases.schema import case_decisions
from recompense.errors import ConflictError


@dataclass(frozen=True, slots=True)
class AcceptedDecision:
    """One accepted decision: a correction of the user's inputs, or a claim (cents)."""

    id: str
    case_id: str
    user_id: int
    kind: str  # correction | claim
    loss_cents: int | None
    net_assets_cents: int | None
    incident_loss_cents: int | None
    not_compensated: bool | None
    claim_cents: int | None
    accepted_at: datetime


def accepted_unapplied(conn: Connection, program_id: str) -> list[AcceptedDecision]:
    """Accepted, not yet applied decisions of a base programme, in acceptance order."""
    d = case_decisions.c
    rows = conn.execute(
        select(
            d.id,
            d.case_id,
            d.user_id,
            d.kind,
            d.loss_cents,
            d.net_assets_cents,
            d.incident_loss_cents,
            d.not_compensated,
            d.claim_cents,
            d.accepted_at,
        )
        .where(
            d.program_id == program_id,
            d.accepted_at.is_not(None),
            d.withdrawn_at.is_(None),
            d.applied_in.is_(None),
        )
        .order_by(d.accepted_at, d.id)
    )
    return [
        AcceptedDecision(
            id=str(r.id),
            case_id=str(r.case_id),
            user_id=int(r.user_id),
            kind=str(r.kind),
            loss_cents=_int(r.loss_cents),
            net_assets_cents=_int(r.net_assets_cents),
            incident_loss_cents=_int(r.incident_loss_cents),
            not_compensated=None if r.not_compensated is None else bool(r.not_compensated),
            claim_cents=_int(r.claim_cents),
            accepted_at=r.accepted_at,
        )
        for r in rows
    ]


def mark_applied(
    conn: Connection, decision_ids: Sequence[str], amendment_id: str, now: datetime
) -> None:
    """Record that ``amendment_id`` pays these decisions; refuse if any is not waiting.

    Idempotent for the same amendment (a resumed registration finds them applied by it).
    """
    d = case_decisions.c
    ids = sorted(set(decision_ids))
    if not ids:
        return
    done = conn.execute(
        select(d.id, d.applied_in, d.accepted_at, d.withdrawn_at).where(d.id.in_(ids))
    ).fetchall()
    found = {str(r.id): r for r in done}
    for decision in ids:
        row = found.get(decision)
        if row is None or row.accepted_at is None or row.withdrawn_at is not None:
            raise ConflictError(f"case decision {decision} is not an accepted decision")
        if row.applied_in not in (None, amendment_id):
            raise ConflictError(
                f"case decision {decision} was already paid by amendment {row.applied_in}; "
                "build a new amendment from the latest run"
            )
    conn.execute(
        update(case_decisions)
        .where(d.id.in_(ids), d.applied_in.is_(None))
        .values(applied_in=amendment_id, applied_at=now)
    )


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
