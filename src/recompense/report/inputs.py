"""What the report is built from: one :class:`ReportInput`, checked before rendering.

The report reads the run folder's artifacts as the engine wrote them and never
recomputes a rule; it only aggregates. Money is integer cents everywhere except the
per-user USD columns of ``eligibility`` (floats that are exact to the cent), which the
report rounds to cents once, for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from recompense.errors import RecompenseError


class ReportError(RecompenseError):
    """A :class:`ReportInput` the report can't read (a missing column, a wrong type).

    This is a programming error of the caller (the run folder was written by the
    engine), so it is terminal: nothing is written.
    """


@dataclass(frozen=True, slots=True)
class ReportInput:
    """Everything ``report.html`` shows, in the run folder's own units.

    ``eligibility`` has one row per user considered: ``user_id`` int64, ``loss_usd``,
    ``net_assets_usd``, ``loss_ratio`` (null when net assets ≤ 0),
    ``incident_loss_usd`` float64, ``eligible`` bool and ``reasons`` list<string>.
    ``allocations`` has one row per eligible user: ``user_id`` int64, ``weight``
    float64, ``amount_cents`` and ``cap_cents`` int64, ``bound`` string (``floor``,
    ``cap`` or ``share``). ``hourly`` has one row per UTC hour of the crash: ``hour``
    timestamp (UTC), ``fills``, ``users`` and ``loss_cents`` int64.

    ``incidents`` is optional: ``(label, start, end)`` spans (aware UTC datetimes,
    half-open) that the hourly chart shades; without them it marks the peak hour.
    """

    program_id: str
    program_name: str
    currency: str
    budget_cents: int
    allocated_cents: int
    unallocated_cents: int
    min_payout_cents: int
    max_payout_cents: int
    generated_at: str
    allocations_sha256: str
    funnel: tuple[tuple[str, int], ...]
    eligibility: pa.Table
    allocations: pa.Table
    hourly: pa.Table
    incidents: tuple[tuple[str, datetime, datetime], ...] = ()


ELIGIBILITY_COLUMNS = (
    "user_id",
    "loss_usd",
    "net_assets_usd",
    "loss_ratio",
    "eligible",
    "reasons",
)
ALLOCATION_COLUMNS = ("user_id", "amount_cents", "cap_cents", "bound")
HOURLY_COLUMNS = ("hour", "fills", "users", "loss_cents")


def check_input(data: ReportInput) -> None:
    """Refuse a :class:`ReportInput` that lacks a column the report reads.

    Only the columns the report uses are required (``weight`` and
    ``incident_loss_usd`` may be absent), so older run folders still render.
    """
    for name, table, columns in (
        ("eligibility", data.eligibility, ELIGIBILITY_COLUMNS),
        ("allocations", data.allocations, ALLOCATION_COLUMNS),
        ("hourly", data.hourly, HOURLY_COLUMNS),
    ):
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ReportError(f"report: table {name!r} lacks column(s) {', '.join(missing)}")
    for name, table, column in (
        ("allocations", data.allocations, "user_id"),
        ("allocations", data.allocations, "amount_cents"),
        ("allocations", data.allocations, "cap_cents"),
        ("eligibility", data.eligibility, "user_id"),
    ):
        _check_integer_column(name, table, column)
    if data.allocations.num_rows and (pc.min(data.allocations["amount_cents"]).as_py() < 0):
        raise ReportError("report: allocations.amount_cents has a negative payout")
    hour_type = data.hourly.schema.field("hour").type
    if not pa.types.is_timestamp(hour_type):
        raise ReportError(f"report: hourly.hour must be a UTC timestamp, got {hour_type}")
    if data.min_payout_cents > data.max_payout_cents:
        raise ReportError(
            f"report: min payout {data.min_payout_cents} > max payout {data.max_payout_cents}"
        )


def _check_integer_column(name: str, table: pa.Table, column: str) -> None:
    """Ids and cents must be integers without nulls: a float or a gap would be misread."""
    field_type = table.schema.field(column).type
    if not pa.types.is_integer(field_type):
        raise ReportError(f"report: {name}.{column} must be an integer column, got {field_type}")
    nulls = table.column(column).null_count
    if nulls:
        raise ReportError(f"report: {name}.{column} has {nulls} null value(s)")
