"""Accepted case decisions for amendment tests, and an independent payout reference.

``accept`` writes what the cases package writes when an officer's decision is final (a
case in state ``accepted`` and its ``case_decisions`` row with ``accepted_at``): the
amendment reads nothing else. The end-to-end tests go through the cases service itself.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recompense.cases.schema import case_decisions, cases
from recompense.ledger.db import connect

_CLOCK = itertools.count()
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def accept(
    url: str,
    program_id: str,
    user_id: int,
    *,
    claim_cents: int | None = None,
    locale: str = "en",
    **correction: Any,
) -> str:
    """One accepted decision (a claim if ``claim_cents``, else a correction)."""
    now = T0 + timedelta(seconds=next(_CLOCK))
    case_id, decision_id = str(uuid.uuid4()), str(uuid.uuid4())
    kind = "claim" if claim_cents is not None else "correction"
    category = "claim_transfer" if kind == "claim" else "appeal_loss"
    with connect(url).begin() as conn:
        conn.execute(
            cases.insert().values(
                id=case_id,
                program_id=program_id,
                user_id=user_id,
                category=category,
                state="accepted",
                summary_enc="-",
                locale=locale,
                opened_at=now,
                updated_at=now,
                due_at=now + timedelta(hours=72),
                decided_at=now,
            )
        )
        conn.execute(
            case_decisions.insert().values(
                id=decision_id,
                case_id=case_id,
                program_id=program_id,
                user_id=user_id,
                kind=kind,
                claim_cents=claim_cents,
                proposed_by="ops:maker",
                proposed_at=now,
                accepted_at=now,
                **correction,
            )
        )
    return decision_id


def eligibility_rows(run: Path) -> dict[int, dict[str, Any]]:
    table = pq.read_table(run / "eligibility.parquet")
    return {int(r["user_id"]): r for r in table.to_pylist()}


def cents(usd: Decimal) -> int:
    return int(usd * 100)


def together_weight(loss: int, net: int, incident: int) -> Fraction | None:
    """The Together formula, by hand (no engine code): None where undefined."""
    import math

    if loss <= 0:
        return None
    ratio = min(Fraction(loss, net), 1) if net > 0 else Fraction(1)
    share = min(Fraction(incident, loss), 1)
    return Fraction(math.sqrt(loss / 100)) * (Fraction(1, 2) + ratio / 2) * (1 + share / 2)
