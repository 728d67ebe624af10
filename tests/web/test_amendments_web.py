"""The web service after an amendment: the console's programme totals, the user's top-up.

A claim decided through the cases desk is amended, approved, distributed and committed;
the service then shows the programme with its latest run (the amendment), the console
lists the amendment with the programme's totals and the reserve, and the user sees their
top-up voucher and a proof of their cumulative amount.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from test_pages import signed_in

from builders import approve_twice
from recompense.amend import amend_run
from recompense.cases import service as cases
from recompense.cases.desk import open_desk
from recompense.distribution.distribute import distribute
from recompense.loans.crypto import Keyring
from recompense.proofs import commit_run
from recompense.runs import read_manifest

PROGRAM = "together-2025-10"


def test_the_console_and_the_user_see_the_amendment(served, tmp_path):
    desk = open_desk(served.url, keyring=Keyring({"k1": os.urandom(32)}, "k1", "X"))
    window = read_manifest(served.run)["policy"]["parameters"]["window"]
    during = datetime.fromisoformat(window[0]).astimezone(UTC).replace(hour=21, minute=40)
    case = cases.open_case(
        desk, f"user:{served.owner}", PROGRAM, "claim_earn",
        "My Earn redemption arrived after my position was liquidated.",
        stated_cents=4_321, occurred_at=during,
    )  # fmt: skip
    assert cases.accept(desk, "ops:alice", case, cases.Claim(4_321), "ok") == "accepted"
    out = tmp_path / "a1"
    amend_run(served.run, served.url, out, run_by="ops:dave")
    approve_twice(out, served.url)
    distribute(out, served.url)
    commit_run(out, workers=1, environ={})

    client = signed_in(served, "ops")
    board = client.get("/ops/programs/together-2025-10")
    assert board.status_code == 200
    assert 'data-testid="amendments"' in board.text
    assert 'data-sequence="1" data-issued-cents="4321"' in board.text
    api = client.get(
        "/api/programs/together-2025-10/dashboard", headers=served.bearer("ops")
    ).json()
    assert [a["program_id"] for a in api["amendments"]] == ["together-2025-10~a1"]
    assert api["programme_issued_cents"] == read_manifest(out)["allocated_cents"]
    assert api["reserve_left_cents"] == api["reserve_cents"] - 4_321

    user = served.bearer("user", served.owner)
    mine = client.get(f"/api/users/{served.owner}/vouchers", headers=user).json()
    programmes = sorted(v["program_id"] for v in mine["vouchers"])
    assert programmes == [PROGRAM, "together-2025-10~a1"]
    proof = client.get(f"/api/programs/{PROGRAM}/users/{served.owner}/proof", headers=user)
    assert proof.status_code == 200, proof.text
    body = proof.json()
    assert body["amendment"]["topup_cents"] == 4_321
    assert body["amount_cents"] == body["amendment"]["previous_cents"] + 4_321
    hub = signed_in(served, "user", served.owner).get("/hub", headers={"Accept": "text/html"})
    assert 'data-program-id="together-2025-10~a1">Together Initiative' in hub.text
    assert "USDC token vouchers, amendment 1</td>" in hub.text
    spanish = signed_in(served, "user", served.owner, locale="es")
    page = spanish.get("/hub", headers={"Accept": "text/html", "Accept-Language": "es"})
    assert "USDC token vouchers, enmienda 1</td>" in page.text
