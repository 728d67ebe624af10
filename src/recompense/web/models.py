"""The JSON API's response shapes (pydantic): the OpenAPI schema is generated from them.

Money is integer cents (``*_cents``) in the programme's currency; times are ISO 8601 in
UTC. Every route declares its response model, so the schema describes every answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error answer: RFC 9457 problem details (``application/problem+json``), in
    the caller's language; ``detail`` never echoes the request (:mod:`..problems`)."""

    type: str = Field(description='"about:blank": the status says what kind of problem')
    title: str = Field(description="the status in words")
    status: int
    detail: str = Field(description="what happened and what to do; a field, never its value")
    field: str | None = Field(
        None, description="the request's key at fault, when one is (e.g. `min_ratio`)"
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no token, or a token that does not verify"},
    403: {"model": ErrorOut, "description": "the caller's role may not use this, or no CSRF token"},
    404: {"model": ErrorOut, "description": "not found (also: someone else's resource)"},
    422: {"model": ErrorOut, "description": "a parameter or field that cannot be used"},
}
# Users' cases: a state that does not allow the action, and a service without the cases'
# encryption keys (``RECOMPENSE_CASES_KEYS``), which answers every cases route with 503.
CASES_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: {"model": ErrorOut, "description": "a request body that cannot be parsed"},
    409: {"model": ErrorOut, "description": "the case's state does not allow this"},
    503: {"model": ErrorOut, "description": "cases are not configured on this service"},
}


class PrincipalOut(BaseModel):
    subject: str
    role: str
    user_id: int | None
    locale: str = Field(description="the locale the pages use for this caller (en or es)")


class ProgrammeOut(BaseModel):
    id: str
    name: str
    currency: str
    run_fingerprint: str = Field(description="SHA-256 of the run's manifest.json")


class CriterionOut(BaseModel):
    code: str = Field(description="the engine's reason code when this criterion fails")
    passed: bool
    detail: str = Field(description="the criterion in plain words, with its numbers")


class PayoutOut(BaseModel):
    amount_cents: int
    bound: str = Field(
        description="what set the amount: floor, share or cap (a shared programme); full or "
        "ceiling (a full-payment programme)"
    )
    weight: float = Field(
        description="the allocation's weight; a full programme's: the loss in USD"
    )
    floor_cents: int
    cap_cents: int
    share_cents: int | None = Field(
        description="λ × weight rounded: the budget share alone (null: a full-payment programme)"
    )
    cap_is_own_loss: bool
    detail: str


class CollateralEventOut(BaseModel):
    """A counted collateral liquidation event of a full-payment programme (events.parquet)."""

    event_id: int
    account_id: int
    product: str
    asset: str
    ts: datetime = Field(description="when the collateral was sold (UTC)")
    quantity: str = Field(description="the quantity sold, exact (a decimal string)")
    liquidation_price: str = Field(description="the sale price in USD, exact")
    reference_usd: str = Field(description="the asset's adjusted reference price in USD, exact")
    loss_cents: int = Field(
        description="what the event pays: quantity × (reference − sale price), to the cent; "
        "0 when sold at or above the reference price"
    )
    detail: str = Field(description="the event in one sentence, in the caller's language")


class EligibilityOut(BaseModel):
    user_id: int
    program_id: str
    kind: str = Field(
        default="shared",
        description="shared: a budget shared by weight; full: each loss paid in full "
        "(the fields of the other kind are null)",
    )
    currency: str
    locale: str
    liquidated: bool
    eligible: bool
    reasons: list[str]
    loss_cents: int | None
    net_assets_cents: int | None
    incident_loss_cents: int | None
    fills: int | None
    loss_share_of_net: float | None
    min_loss_cents: int | None
    min_loss_ratio: str | None
    needed_loss_cents: int | None
    criteria: list[CriterionOut]
    payout: PayoutOut | None
    events: list[CollateralEventOut] | None = Field(
        default=None,
        description="a full-payment programme's counted events of the user, oldest first",
    )
    reference_at: datetime | None = Field(
        default=None,
        description="a full-payment programme: when the reference prices were taken (UTC)",
    )
    ceiling_cents: int | None = Field(
        default=None, description="a full-payment programme's most per user (null: no ceiling)"
    )
    summary: str | None = Field(
        default=None,
        description="a full-payment programme: the sum paid in full or capped, or why nothing "
        "is paid, in the caller's language",
    )


class VoucherOut(BaseModel):
    id: str
    program_id: str
    user_id: int
    amount_cents: int
    currency: str
    status: str = Field(description="issued, redeemed, expired or revoked")
    issued_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    seconds_left: int = Field(description="until expiry; 0 once expired or closed")


class CreditOut(BaseModel):
    entry_id: str
    kind: str
    program_id: str
    voucher_id: str | None
    amount_cents: int
    currency: str
    at: datetime


class VouchersOut(BaseModel):
    user_id: int
    vouchers: list[VoucherOut]
    credits: list[CreditOut] = Field(description="what was credited to the reward wallet")


class RedemptionOut(BaseModel):
    voucher_id: str
    user_id: int
    amount_cents: int
    currency: str
    redeemed_at: datetime
    entry_id: str
    already: bool = Field(description="true when an earlier request had redeemed it")


class SumStep(BaseModel):
    side: str
    hash: str
    sum: int


class SumPath(BaseModel):
    leaf_index: int
    path: list[SumStep]


class StandardPath(BaseModel):
    value: list[str]
    tree_index: int
    proof: list[str]


class ProofOut(BaseModel):
    """One user's proof bundle, as ``recompense proof`` prints it (docs/proofs.md)."""

    format: str
    program_id: str
    manifest_sha256: str
    user_id: int
    salt: str
    user_hash: str
    amount_cents: int
    sum_tree: SumPath
    standard_tree: StandardPath
    amendment: dict[str, Any] | None = Field(
        None,
        description="from an amendment run: previous_cents, topup_cents, change and the "
        "user's proof against the previous commitment (docs/proofs.md)",
    )


class Commitment(BaseModel):
    """The published ``commitment.json``, as is (docs/proofs.md lists its keys), with its
    ``signature`` (Ed25519, by the programme's publication key) when it is signed."""

    model_config = {"extra": "allow"}
    format: str
    program_id: str
    manifest_sha256: str
    users: int
    total_cents: int
    sum_tree: dict[str, Any]
    standard_tree: dict[str, Any]


class FunnelStage(BaseModel):
    stage: str
    users: int


class HistogramBin(BaseModel):
    from_cents: int
    to_cents: int
    counts: dict[str, int] = Field(description="users in the bin, by bound")


class PayoutSummary(BaseModel):
    count: int
    total_cents: int
    mean_cents: int
    median_cents: int
    min_cents: int
    max_cents: int
    gini: float
    top_1pct_share: float
    top_10pct_share: float
    bottom_50pct_share: float


class PromiseOut(BaseModel):
    deadline: datetime
    done_at: datetime | None
    state: str = Field(description="kept, missed or open")
    within_hours: int | None = Field(
        default=None, description="the promise: within this many hours of the announcement"
    )


class ClosureBucket(BaseModel):
    start: datetime
    redeemed: int
    redeemed_cents: int
    clawed_back: int = Field(description="vouchers expired or revoked: back to the fund")
    clawed_back_cents: int


class AmendmentOut(BaseModel):
    program_id: str
    sequence: int
    vouchers_total: int
    vouchers_issued: int
    amount_total_cents: int
    amount_issued_cents: int
    completed_at: datetime | None


class DashboardOut(BaseModel):
    program_id: str
    name: str
    kind: str = Field(default="shared", description="shared (a budget shared by weight) or full")
    currency: str
    budget_cents: int
    allocated_cents: int
    unallocated_cents: int
    eligible: int
    by_bound: dict[str, int] = Field(
        default_factory=dict,
        description="eligible users by what set their amount (full / ceiling for a "
        "full-payment programme)",
    )
    funnel: list[FunnelStage]
    payouts: PayoutSummary
    histogram: list[HistogramBin]
    lorenz: list[tuple[float, float]]
    vouchers_total: int
    vouchers_issued: int
    amount_issued_cents: int
    vouchers_by_state: dict[str, int]
    amount_by_state_cents: dict[str, int]
    start: PromiseOut
    complete: PromiseOut
    notifications: dict[str, int] = Field(
        description="sent, retrying (pending after a failed attempt), pending, sending, failed"
    )
    closures: list[ClosureBucket]
    amendments: list[AmendmentOut] = Field(
        default_factory=list,
        description="the programme's amendment runs (docs/amendments.md), in sequence",
    )
    programme_total_cents: int = Field(
        0, description="to issue over the base run and every amendment"
    )
    programme_issued_cents: int = Field(
        0, description="issued over the base run and every amendment"
    )
    reserve_cents: int = Field(0, description="the amendment reserve, as funded")
    reserve_left_cents: int = Field(0, description="what is left of the amendment reserve")


class NoticeOut(BaseModel):
    id: str
    program_id: str
    voucher_id: str
    channel: str
    status: str
    attempts: int
    locale: str
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime


class AccessOut(BaseModel):
    at: datetime
    subject: str
    role: str
    action: str
    target: str


class AuditOut(BaseModel):
    user_id: int
    vouchers: list[VoucherOut]
    entries: list[CreditOut] = Field(description="every journal line naming their vouchers")
    credits: list[CreditOut]
    notifications: list[NoticeOut]
    accesses: list[AccessOut]
