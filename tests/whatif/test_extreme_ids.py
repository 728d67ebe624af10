"""Any int64 user id works in the what-if: a run whose paid users have extreme ids.

The run folder is the session's ``small_run`` cut down to a few paid users whose ids
are replaced (in order) by extreme int64 values, with the manifest's hashes updated:
a real run folder as far as :func:`recompense.whatif.load` can tell.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recompense.runs.artifacts import ALLOCATIONS, ELIGIBILITY, sha256_file
from recompense.whatif import Changes, load, payouts, simulate

LOWEST, HIGHEST = -(2**63), 2**63 - 1


@pytest.mark.parametrize(
    "ids",
    [[-5, HIGHEST], [LOWEST, HIGHEST], [LOWEST, -5, 0, HIGHEST]],
    ids=["-5,max", "min,max", "min,-5,0,max"],
)
def test_a_run_with_extreme_user_ids_is_simulated(small_run, tmp_path, ids):
    population = load(_run_paying(small_run, tmp_path / "run", ids))
    assert population.user_id.tolist() == ids
    for changes in (Changes(), Changes(weight="loss_usd", cap_at_loss=False)):
        paid = payouts(population, changes)
        assert population.user_id[paid.index].tolist() == ids
        # A handful of users and a $150,000 budget: everyone is paid their cap.
        cap = paid.allocation.cap_cents
        assert np.array_equal(paid.allocation.amount_cents, cap)
        assert cap.min() > 0
    outcome = simulate(population, Changes(max_payout_usd="100"))
    after = payouts(population, Changes(max_payout_usd="100")).per_user()
    moved = population.user_id[after != population.published_amount_cents]
    movers = outcome.movement.top_losers + outcome.movement.top_gainers
    assert sorted(m.user_id for m in movers) == sorted(moved.tolist())


def _run_paying(small_run, run, ids):
    """``small_run`` cut to its first ``len(ids)`` paid users, renamed to ``ids`` (sorted)."""
    shutil.copytree(small_run, run)
    paid = pq.read_table(run / ALLOCATIONS)
    kept = pa.array(paid["user_id"].to_pylist()[: len(ids)], pa.int64())
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    for name in (ELIGIBILITY, ALLOCATIONS):
        table = pq.read_table(run / name)
        table = table.filter(pc.is_in(table["user_id"], kept)).sort_by("user_id")
        column = table.schema.get_field_index("user_id")
        renamed = pa.array(ids, table.schema.field("user_id").type)
        pq.write_table(table.set_column(column, table.schema.field(column), renamed), run / name)
        manifest["artifacts"][name] = sha256_file(run / name)
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run
