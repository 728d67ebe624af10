"""Four-eyes sign-off: distribute refuses a run without two officers' approvals of it as it
is now; every way to get an approval wrong is refused, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from builders import APPROVERS, approve_twice
from recompense.distribution.approvals import (
    REQUIRED_APPROVALS,
    approvals_of,
    approve,
    check_approver,
    known_runs,
    review,
)
from recompense.distribution.distribute import distribute
from recompense.ledger.db import connect
from recompense.ledger.errors import (
    ApprovalConflict,
    ApproverForbidden,
    UnapprovedRunError,
)
from recompense.ledger.schema import programs, run_approvals, vouchers
from recompense.runs import RunFolderError, run_fingerprint
from recompense.runs.artifacts import MANIFEST

T0 = datetime(2025, 10, 14, 16, 0, tzinfo=UTC)


def copy_run(source, dest, **manifest_changes):
    """A copy of a run folder; manifest changes make it another run (a new fingerprint)."""
    shutil.copytree(source, dest)
    if manifest_changes:
        manifest = json.loads((dest / MANIFEST).read_text())
        manifest.update(manifest_changes)
        (dest / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return dest


def nothing_issued(url):
    with connect(url).connect() as conn:
        issued = conn.execute(select(func.count()).select_from(vouchers)).scalar_one()
        registered = conn.execute(select(func.count()).select_from(programs)).scalar_one()
    return issued == 0 and registered == 0


def test_required_approvals_is_two():
    assert REQUIRED_APPROVALS == 2


def test_an_unapproved_run_is_refused_naming_what_it_needs(small_run, ledger_url):
    with pytest.raises(UnapprovedRunError, match=r"has 0 of the 2 approvals.*\(none\)"):
        distribute(small_run, ledger_url)
    assert nothing_issued(ledger_url)


def test_one_approval_is_not_enough(small_run, ledger_url):
    approve(small_run, ledger_url, "ops:alice", now=T0)
    with pytest.raises(
        UnapprovedRunError,
        match=r"has 1 of the 2 approvals distribution needs \(ops:alice at 2025-10-14 16:00 UTC\)",
    ):
        distribute(small_run, ledger_url)
    assert nothing_issued(ledger_url)


def test_two_approvals_let_it_distribute(small_run, ledger_url):
    approve(small_run, ledger_url, "ops:alice")
    approve(small_run, ledger_url, "ops:bob")
    result = distribute(small_run, ledger_url, batch_size=200)
    assert result.issued_now == result.total > 0


def test_a_changed_folder_needs_new_approvals(small_run, ledger_url, tmp_path):
    """Approved, then edited (the manifest's budget line): a new fingerprint, no approvals."""
    run = copy_run(small_run, tmp_path / "run")
    approve_twice(run, ledger_url)
    approved = run_fingerprint(run)
    manifest = json.loads((run / MANIFEST).read_text())
    manifest["budget_cents"] += 1
    (run / MANIFEST).write_text(json.dumps(manifest, indent=2))
    assert run_fingerprint(run) != approved
    with pytest.raises(UnapprovedRunError, match=r"has 0 of the 2.*another run \(" + approved[:12]):
        distribute(run, ledger_url)
    assert nothing_issued(ledger_url)


def test_a_changed_artifact_is_refused_before_any_approval(small_run, ledger_url, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    with (run / "report.html").open("a") as f:
        f.write("<!-- edited -->")
    with pytest.raises(RunFolderError, match=r"report\.html: missing, or its SHA-256 differs"):
        approve(run, ledger_url, "ops:alice")
    assert list_approvals(ledger_url) == []


def test_nobody_approves_their_own_run(small_run, ledger_url, tmp_path):
    run = copy_run(small_run, tmp_path / "run", run_by="ops:carol")
    for same in ("ops:carol", "ops:Carol", "ops: carol "):
        with pytest.raises(ApproverForbidden, match="made by ops:carol; nobody approves their own"):
            approve(run, ledger_url, same)
    cli = copy_run(small_run, tmp_path / "cli", run_by="cli:carol@host-1")
    with pytest.raises(ApproverForbidden, match="nobody approves their own run"):
        approve(cli, ledger_url, "ops:carol")
    assert list_approvals(ledger_url) == []


def test_the_same_approver_cannot_approve_twice(small_run, ledger_url):
    approve(small_run, ledger_url, "ops:alice")
    for again in ("ops:alice", "ops:ALICE"):
        with pytest.raises(ApprovalConflict, match="already approved run"):
            approve(small_run, ledger_url, again)
    with pytest.raises(UnapprovedRunError, match="has 1 of the 2"):
        distribute(small_run, ledger_url)


def test_the_database_keeps_one_approval_per_approver(small_run, ledger_url):
    """Two racing calls by one approver both pass the check: the unique key stops one."""
    approve(small_run, ledger_url, "ops:alice")
    row = {
        "program_id": "together-2025-10",
        "fingerprint": run_fingerprint(small_run),
        "approver": "ops:alice",
        "approved_at": T0,
        "run_path": str(small_run),
    }
    with pytest.raises(DBAPIError, match=r"(?i)unique"), connect(ledger_url).begin() as conn:
        conn.execute(run_approvals.insert().values(**row))


@pytest.mark.parametrize("who", ["auditor:eve", "credit_committee:cc1", "cli:alice@host", "user:7"])
def test_only_ops_officers_approve(small_run, ledger_url, who):
    with pytest.raises(ApproverForbidden, match="only ops officers approve runs"):
        approve(small_run, ledger_url, who)
    with pytest.raises(ApproverForbidden):
        check_approver(small_run, ledger_url, who)


def test_a_folder_that_is_not_a_run_is_refused(ledger_url, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="not a run folder"):
        approve(tmp_path / "empty", ledger_url, "ops:alice")


def test_a_distributed_run_takes_no_more_approvals(small_run, ledger_url):
    approve_twice(small_run, ledger_url)
    distribute(small_run, ledger_url, batch_size=500)
    with pytest.raises(ApprovalConflict, match="already distributed"):
        approve(small_run, ledger_url, "ops:dave")


def test_an_approval_of_what_was_reviewed_only(small_run, ledger_url):
    with pytest.raises(ApprovalConflict, match="changed since it was reviewed"):
        approve(small_run, ledger_url, "ops:alice", fingerprint="0" * 64)
    approve(small_run, ledger_url, "ops:alice", fingerprint=run_fingerprint(small_run))


def test_approvals_are_append_only(small_run, ledger_url):
    approve(small_run, ledger_url, "ops:alice")
    engine = connect(ledger_url)
    for statement in (
        "UPDATE run_approvals SET approver = 'ops:mallory'",
        "DELETE FROM run_approvals",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert [a.approver for a in list_approvals(ledger_url)] == ["ops:alice"]


def test_the_review_compares_with_the_last_approved_run_then_the_distributed_one(
    small_run, other_run, ledger_url, tmp_path
):
    first = review(small_run, ledger_url)
    assert first.baseline is None
    assert first.diff is None
    assert first.needed == 2
    approve(other_run, ledger_url, "ops:alice", now=T0)
    approve(small_run, ledger_url, "ops:alice", now=T0 + timedelta(minutes=1))
    approve(small_run, ledger_url, "ops:bob", now=T0 + timedelta(minutes=2))
    # other_run's review: the latest approved run of the programme is small_run
    seen = review(other_run, ledger_url, top=3)
    assert seen.baseline is not None
    assert seen.baseline.why == "approved"
    assert seen.baseline.fingerprint == run_fingerprint(small_run)
    assert seen.diff is not None
    assert seen.diff.net_cents == -1_000_000
    assert [a.approver for a in seen.approvals] == ["ops:alice"]
    assert seen.needed == 1
    distribute(small_run, ledger_url, batch_size=500)
    after = review(other_run, ledger_url)
    assert after.baseline is not None
    assert after.baseline.why == "distributed"
    assert review(small_run, ledger_url).distributed
    # a folder that no longer holds the approved run is no baseline
    moved = copy_run(other_run, tmp_path / "third", budget_cents=1)
    assert review(moved, ledger_url).baseline.fingerprint == run_fingerprint(small_run)


def test_the_console_lists_runs_awaiting_approval_first(small_run, other_run, ledger_url, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    copy_run(small_run, folder / "a")
    (folder / "not-a-run").mkdir()
    approve_twice(other_run, ledger_url)
    states = known_runs(ledger_url, folder)
    assert [(s.path.name, s.state, s.approvals) for s in states] == [
        ("a", "awaiting", 0),
        (other_run.name, "approved", 2),
    ]
    assert known_runs(ledger_url, None)[0].fingerprint == run_fingerprint(other_run)


def list_approvals(url):
    with connect(url).connect() as conn:
        fingerprints = conn.execute(select(run_approvals.c.fingerprint).distinct()).scalars().all()
        return [a for f in fingerprints for a in approvals_of(conn, f)]


def test_the_builders_approvers_are_two_people():
    assert len({a.split(":")[1] for a in APPROVERS}) == REQUIRED_APPROVALS
