"""The operations console: programme dashboard, user search and the audit trail.

Operations and auditors see any user's page as the user sees it (without the Redeem
buttons), plus the audit trail: the journal lines naming the user's vouchers, their
notifications, redemptions, and every staff access to their data (each staff view of a
user's data is itself recorded).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from recompense.web import pages, queries
from recompense.web.charts import closures_chart
from recompense.web.dashboard import LedgerFigures, RunFigures, ledger_figures, run_figures
from recompense.web.i18n import Translator
from recompense.web.models import (
    ERRORS,
    AccessOut,
    AmendmentOut,
    AuditOut,
    ClosureBucket,
    DashboardOut,
    FunnelStage,
    HistogramBin,
    NoticeOut,
    PayoutSummary,
    PromiseOut,
)
from recompense.web.routes.common import MAX_ID, ProgramId, Staff, UserId, note_access, service
from recompense.web.routes.vouchers import credit_out, hub_context, voucher_out

router = APIRouter(responses=ERRORS)


@router.get("/ops", response_class=HTMLResponse)
def ops_home(request: Request, principal: Staff) -> HTMLResponse:
    svc = service(request)
    return pages.render(
        request, "ops_home.html", principal, programmes=svc.programmes(), kinds=svc.kinds()
    )


@router.get("/ops/programs/{program_id}", response_class=HTMLResponse)
def dashboard_page(request: Request, program_id: ProgramId, principal: Staff) -> HTMLResponse:
    run, ledger = _figures(request, program_id)
    return pages.render(
        request,
        "dashboard.html",
        principal,
        programme=service(request).programme(program_id),
        kind=service(request).index(program_id).kind,
        run=run,
        ledger=ledger,
        data=dashboard_out(request, program_id, run, ledger),
        closures_svg=closures_chart(
            ledger.closures, Translator(pages.locale_for(request, principal))
        ),
    )


@router.get("/api/programs/{program_id}/dashboard")
def dashboard_api(request: Request, program_id: ProgramId, _: Staff) -> DashboardOut:
    run, ledger = _figures(request, program_id)
    return dashboard_out(request, program_id, run, ledger)


@router.get("/ops/users", response_class=HTMLResponse)
def user_page(
    request: Request,
    principal: Staff,
    user_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Search by id: the user's hub as they see it, then their audit trail."""
    if user_id is None:
        return pages.render(request, "ops_user.html", principal, user_id=None)
    note_access(request, principal, user_id, "user page")
    return pages.render(
        request,
        "ops_user.html",
        principal,
        **hub_context(request, user_id),
        audit=audit_out(request, user_id),
        owner=False,
        flash=None,
        failed=None,
    )


@router.get("/api/users/{user_id}/audit")
def audit_api(request: Request, user_id: UserId, principal: Staff) -> AuditOut:
    note_access(request, principal, user_id, "audit trail")
    return audit_out(request, user_id)


def audit_out(request: Request, user_id: int) -> AuditOut:
    engine = service(request).engine
    found = queries.user_vouchers(engine, user_id)
    return AuditOut(
        user_id=user_id,
        vouchers=[voucher_out(v) for v in found],
        entries=[credit_out(c) for c in queries.voucher_entries(engine, found)],
        credits=[
            credit_out(c) for c in queries.credits(engine, user_id, {v.currency for v in found})
        ],
        notifications=[
            NoticeOut(**{k: getattr(n, k) for k in NoticeOut.model_fields})
            for n in queries.user_notifications(engine, user_id)
        ],
        accesses=[
            AccessOut(at=a.at, subject=a.subject, role=a.role, action=a.action, target=a.target)
            for a in queries.accesses(engine, user_id)
        ],
    )


def dashboard_out(
    request: Request, program_id: str, run: RunFigures, ledger: LedgerFigures
) -> DashboardOut:
    index = service(request).index(program_id)
    manifest = index.manifest
    hours = index.params.get("distribution") or {}
    p, s, h = run.payouts, ledger.status, run.histogram
    bins = [
        HistogramBin(
            from_cents=round(float(h.edges[i])),
            to_cents=round(float(h.edges[i + 1])),
            counts={bound: int(c[i]) for bound, c in h.counts.items()},
        )
        for i in range(len(h.edges) - 1)
    ]
    return DashboardOut(
        program_id=program_id,
        name=s.name,
        kind=index.kind,
        currency=s.currency,
        budget_cents=int(manifest["budget_cents"]),
        allocated_cents=int(manifest["allocated_cents"]),
        unallocated_cents=int(manifest["unallocated_cents"]),
        eligible=int(manifest["counts"]["eligible"]),
        by_bound={str(k): int(v) for k, v in manifest["counts"].get("by_bound", {}).items()},
        funnel=[FunnelStage(stage=stage, users=users) for stage, users in run.funnel],
        payouts=PayoutSummary(
            **{k: getattr(p, k) for k in PayoutSummary.model_fields if k != "total_cents"},
            total_cents=p.total_cents,
        ),
        histogram=bins,
        lorenz=[(float(x), float(y)) for x, y in zip(p.lorenz_x, p.lorenz_y, strict=True)],
        vouchers_total=s.vouchers_total,
        vouchers_issued=s.issued,
        amount_issued_cents=s.amount_issued_cents,
        vouchers_by_state=s.by_state,
        amount_by_state_cents=s.amount_by_state_cents,
        start=PromiseOut(
            deadline=s.start.deadline,
            done_at=s.start.done_at,
            state=s.start.state,
            within_hours=hours.get("start_within_hours"),
        ),
        complete=PromiseOut(
            deadline=s.complete.deadline,
            done_at=s.complete.done_at,
            state=s.complete.state,
            within_hours=hours.get("complete_within_hours"),
        ),
        notifications=ledger.notifications,
        closures=[
            ClosureBucket(
                start=c.start,
                redeemed=c.redeemed,
                redeemed_cents=c.redeemed_cents,
                clawed_back=c.clawed_back,
                clawed_back_cents=c.clawed_back_cents,
            )
            for c in ledger.closures
        ],
        amendments=[
            AmendmentOut(
                program_id=a.program_id,
                sequence=a.sequence,
                vouchers_total=a.vouchers_total,
                vouchers_issued=a.issued,
                amount_total_cents=a.amount_total_cents,
                amount_issued_cents=a.amount_issued_cents,
                completed_at=a.completed_at,
            )
            for a in s.amendments
        ],
        programme_total_cents=s.programme_total_cents,
        programme_issued_cents=s.programme_issued_cents,
        reserve_cents=s.reserve_cents,
        reserve_left_cents=s.reserve_left_cents,
    )


def _figures(request: Request, program_id: str) -> tuple[RunFigures, LedgerFigures]:
    svc = service(request)
    index = svc.index(program_id)
    key = ("figures", program_id, index.fingerprint)
    run = svc.cache.get(key)
    if run is None:
        run = svc.cache[key] = run_figures(index)
    return run, ledger_figures(svc.engine, svc.settings.db_url, program_id)
