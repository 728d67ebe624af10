"""The diff an approver signs: two runs of the synthetic crash, and small exact tables."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recompense.runs import RunFolderError, read_allocations
from recompense.runs.artifacts import ALLOCATIONS, ALLOCATIONS_SCHEMA, MANIFEST, sha256_file
from recompense.runs.diff import diff_payouts, diff_runs


def payouts(run):
    table = read_allocations(run)
    return dict(zip(table["user_id"].to_pylist(), table["amount_cents"].to_pylist(), strict=True))


def test_a_changed_budget_moves_money_between_the_same_users(small_run, other_run):
    """small_run has a $150,000 budget, other_run $140,000, on the same dataset."""
    old, new = payouts(small_run), payouts(other_run)
    diff = diff_runs(small_run, other_run, top=5)
    added = new.keys() - old.keys()
    removed = old.keys() - new.keys()
    both = old.keys() & new.keys()
    deltas = {u: new[u] - old[u] for u in both}
    assert (diff.old_users, diff.new_users) == (len(old), len(new))
    assert (diff.added, diff.removed) == (len(added), len(removed))
    assert diff.changed == sum(d != 0 for d in deltas.values()) > 0
    assert diff.unchanged == sum(d == 0 for d in deltas.values())
    assert diff.increased == sum(d > 0 for d in deltas.values())
    assert diff.decreased == sum(d < 0 for d in deltas.values())
    assert (diff.old_total_cents, diff.new_total_cents) == (15_000_000, 14_000_000)
    assert diff.net_cents == -1_000_000
    assert (diff.old_budget_cents, diff.new_budget_cents) == (15_000_000, 14_000_000)
    assert diff.added_cents == sum(new[u] for u in added)
    assert diff.removed_cents == sum(old[u] for u in removed)
    assert diff.increase_cents == sum(d for d in deltas.values() if d > 0)
    assert diff.decrease_cents == -sum(d for d in deltas.values() if d < 0)
    every = {u: new.get(u, 0) - old.get(u, 0) for u in old.keys() | new.keys()}
    assert diff.moved_cents == sum(abs(d) for d in every.values())
    assert diff.net_cents == sum(every.values())  # what moves in and out adds up
    expected = sorted((u for u in every if every[u]), key=lambda u: (-abs(every[u]), u))[:5]
    assert [c.user_id for c in diff.largest] == expected
    assert all(c.delta_cents == every[c.user_id] for c in diff.largest)
    assert all(s.old_users == s.new_users for s in diff.funnel)  # same rules, same users


def test_a_run_against_itself_changes_nothing(small_run):
    diff = diff_runs(small_run, small_run)
    assert diff.unchanged == diff.old_users == diff.new_users
    assert diff.added == diff.removed == diff.changed == diff.moved_cents == diff.net_cents == 0
    assert diff.largest == ()


def test_added_removed_and_changed_users_with_ties_in_order():
    old_ids, old_cents = np.array([1, 2, 3, 5], np.int64), np.array([100, 200, 300, 500], np.int64)
    new_ids, new_cents = np.array([2, 3, 4, 6], np.int64), np.array([200, 700, 400, 100], np.int64)
    diff = diff_payouts(old_ids, old_cents, new_ids, new_cents, top=10)
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (2, 2, 1, 1)
    assert (diff.added_cents, diff.removed_cents) == (500, 600)
    assert (diff.increase_cents, diff.decrease_cents, diff.increased, diff.decreased) == (
        400,
        0,
        1,
        0,
    )
    assert diff.moved_cents == 500 + 600 + 400
    assert diff.net_cents == 1400 - 1100
    # |Δ|: user 5 −500, users 3 and 4 +400 (tied: the smaller id first), 6 +100, 1 −100
    assert [(c.user_id, c.kind, c.delta_cents) for c in diff.largest] == [
        (5, "removed", -500),
        (3, "changed", 400),
        (4, "added", 400),
        (1, "removed", -100),
        (6, "added", 100),
    ]
    assert [
        c.user_id for c in diff_payouts(old_ids, old_cents, new_ids, new_cents, top=2).largest
    ] == [5, 3]


@pytest.mark.parametrize(("old", "new"), [([], [1, 2]), ([1, 2], []), ([], [])])
def test_empty_sides(old, new):
    ids = (np.array(old, np.int64), np.array(new, np.int64))
    diff = diff_payouts(ids[0], ids[0] * 10, ids[1], ids[1] * 10)
    assert (diff.added, diff.removed) == (len(new), len(old))
    assert diff.moved_cents == 10 * (sum(old) + sum(new))


def test_unsorted_allocations_are_compared_by_user(tmp_path, small_run):
    """A run folder written by other tooling may not be sorted: the diff sorts it."""
    shuffled = tmp_path / "shuffled"
    shutil.copytree(small_run, shuffled)
    table = pq.read_table(small_run / ALLOCATIONS)
    order = np.random.default_rng(1).permutation(table.num_rows)
    pq.write_table(table.take(pa.array(order)).cast(ALLOCATIONS_SCHEMA), shuffled / ALLOCATIONS)
    manifest = json.loads((shuffled / MANIFEST).read_text())
    manifest["artifacts"][ALLOCATIONS] = sha256_file(shuffled / ALLOCATIONS)
    (shuffled / MANIFEST).write_text(json.dumps(manifest))
    diff = diff_runs(small_run, shuffled)
    assert diff.changed == diff.added == diff.removed == 0
    assert diff.unchanged == table.num_rows


def test_a_run_whose_allocations_do_not_match_its_manifest_is_refused(tmp_path, small_run):
    damaged = tmp_path / "damaged"
    shutil.copytree(small_run, damaged)
    table = pq.read_table(damaged / ALLOCATIONS)
    pq.write_table(table.slice(1), damaged / ALLOCATIONS)
    with pytest.raises(RunFolderError, match="SHA-256 differs"):
        diff_runs(small_run, damaged)


def test_a_million_users_a_side_is_fast():
    import time

    rng = np.random.default_rng(7)
    old_ids = np.sort(rng.choice(3_000_000, 1_000_000, replace=False)).astype(np.int64)
    new_ids = np.sort(rng.choice(3_000_000, 1_000_000, replace=False)).astype(np.int64)
    old_cents = rng.integers(400, 600_000, len(old_ids)).astype(np.int64)
    new_cents = rng.integers(400, 600_000, len(new_ids)).astype(np.int64)
    started = time.perf_counter()
    diff = diff_payouts(old_ids, old_cents, new_ids, new_cents, top=20)
    assert time.perf_counter() - started < 2.0  # typically ~0.15 s
    assert diff.added + diff.changed + diff.unchanged == 1_000_000
    assert diff.removed + diff.changed + diff.unchanged == 1_000_000
    assert len(diff.largest) == 20
