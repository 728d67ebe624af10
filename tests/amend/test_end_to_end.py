"""The programme's second half end to end, through the cases desk, on SQLite and PostgreSQL.

Users open cases; officers decide them (one officer at or below the four-eyes amount,
two above it); ``amend`` pays the accepted ones as differences; two officers approve the
amendment; ``distribute`` issues the top-ups and their notifications; ``reconcile``
proves base + amendment against the cumulative amounts.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from amend_support import cents, eligibility_rows
from sqlalchemy import select

from builders import approve_twice
from recompense.amend import amend_run
from recompense.cases import service
from recompense.cases.desk import open_desk
from recompense.distribution.distribute import distribute
from recompense.distribution.reconcile import reconcile
from recompense.ledger.db import connect
from recompense.ledger.schema import notifications, vouchers
from recompense.loans.crypto import Keyring
from recompense.runs import read_allocations, read_amounts, read_manifest

BASE = "together-2025-10"


def test_cases_decided_under_four_eyes_are_paid_once_as_differences(
    small_run, ledger_url, tmp_path
):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=200)
    desk = open_desk(ledger_url, keyring=Keyring({"k1": os.urandom(32)}, "k1", "X"))
    rows = eligibility_rows(small_run)
    refused = next(
        u
        for u, r in sorted(rows.items())
        if r["reasons"] == ["RATIO_BELOW_MINIMUM"] and cents(r["loss_usd"]) > 20_000
    )
    paid = read_allocations(small_run).to_pylist()
    claimant = paid[0]["user_id"]
    params = read_manifest(small_run)["policy"]["parameters"]
    during = datetime.fromisoformat(params["window"][0]).astimezone(UTC).replace(hour=21)

    # A user refused for the ratio appeals (net assets overstated), in Spanish.
    appeal = service.open_case(
        desk, f"user:{refused}", BASE, "appeal_net_assets",
        "Mis activos netos eran menores: tenía un préstamo.", locale="es",
        stated_cents=cents(rows[refused]["loss_usd"]),
    )  # fmt: skip
    # A paid user claims a delayed transfer above the four-eyes amount ($1,000).
    claim = service.open_case(
        desk, f"user:{claimant}", BASE, "claim_transfer",
        "My transfer to futures was stuck from 21:10 to 22:30.",
        stated_cents=150_000, occurred_at=during,
    )  # fmt: skip
    service.request_info(desk, "ops:alice", claim, "Please attach the transfer record.")
    service.respond(desk, f"user:{claimant}", claim, "Transfer id 778812, attached.")
    net = cents(rows[refused]["loss_usd"])  # the corrected net assets: loss / net = 100%
    assert (
        service.accept(
            desk, "ops:alice", appeal, service.Correction(net_assets_cents=net), "bank letter"
        )
        == "proposed"  # it can pay up to the $6,000 max: above $1,000, two officers
    )
    assert service.approve(desk, "ops:bob", appeal, "checked") == "accepted"
    assert (
        service.accept(desk, "ops:alice", claim, service.Claim(150_000), "record matches")
        == "proposed"
    )
    assert service.approve(desk, "ops:carol", claim, "checked") == "accepted"

    out = tmp_path / "a1"
    amended = amend_run(small_run, ledger_url, out, run_by="ops:dave")
    assert amended.decisions == 2
    approve_twice(out, ledger_url)
    distribute(out, ledger_url, batch_size=50)
    distribute(out, ledger_url, batch_size=50)  # twice: still once

    amounts = {r["user_id"]: r for r in read_amounts(out).to_pylist()}
    assert amounts[refused]["change"] == "new"
    assert amounts[claimant]["topup_cents"] == 150_000
    with connect(ledger_url).connect() as conn:
        query = select(vouchers.c.user_id, vouchers.c.amount_cents).where(
            vouchers.c.program_id == "together-2025-10~a1"
        )
        topups = {int(u): int(a) for u, a in conn.execute(query)}
        payloads = [
            json.loads(p)
            for (p,) in conn.execute(
                select(notifications.c.payload).where(
                    notifications.c.program_id == "together-2025-10~a1",
                    notifications.c.channel == "push",
                )
            )
        ]
    assert topups == {refused: amounts[refused]["topup_cents"], claimant: 150_000}
    assert sorted(p["user_id"] for p in payloads) == sorted(topups)
    failed = [c for c in reconcile(out, ledger_url) if not c.passed]
    assert not failed, failed
    detail = service.case_detail(desk, f"user:{refused}", appeal)
    assert detail.case.state == "accepted"
    assert [d.applied_in for d in detail.decisions] == ["together-2025-10~a1"]  # paid by it
    assert amend_run(out, ledger_url, tmp_path / "again").out is None  # nothing left to pay
