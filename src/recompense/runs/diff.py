"""What changed between two runs of a programme: users, money and the largest changes.

An approver signs a run; when the programme has a previous run (the one distributed, or
the last one approved), they sign *the difference* as much as the run. :func:`diff_runs`
compares the two ``allocations.parquet`` files (each checked against its manifest's
SHA-256) user by user:

- **added**: paid in the new run, not in the old; **removed**: the reverse;
- **changed**: paid in both, a different amount; **unchanged**: the same amount;
- money: both totals, the net change, what added users get and removed users lose, the
  sum of increases and of decreases among changed users, and the money *moved* — the sum
  of every user's absolute change (|new − old|, 0 for a user in neither);
- the ``top`` largest changes by absolute amount (ties by user id), each with its kind.

Integer cents throughout (numpy ``int64``; sums of at most 10^7 users of at most 10^11
cents stay far below 2^63). Vectorised: a merge of the two sorted id columns, so a
million users on each side take well under a second, most of it reading Parquet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from recompense.runs.folder import read_allocations, read_manifest

DEFAULT_TOP = 10
ChangeKind = Literal["added", "removed", "changed"]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class UserChange:
    user_id: int
    kind: ChangeKind
    old_cents: int  # 0 when added
    new_cents: int  # 0 when removed

    @property
    def delta_cents(self) -> int:
        return self.new_cents - self.old_cents


@dataclass(frozen=True, slots=True)
class StageChange:
    stage: str
    old_users: int | None  # None: the stage is not in that run's funnel
    new_users: int | None


@dataclass(frozen=True, slots=True)
class RunDiff:
    old_users: int
    new_users: int
    added: int
    removed: int
    changed: int
    unchanged: int
    increased: int  # changed users paid more
    decreased: int  # changed users paid less
    old_total_cents: int
    new_total_cents: int
    added_cents: int  # what the added users are paid
    removed_cents: int  # what the removed users were paid
    increase_cents: int  # Σ (new − old) over increased users
    decrease_cents: int  # Σ (old − new) over decreased users, positive
    moved_cents: int  # Σ |new − old| over every user
    old_budget_cents: int | None
    new_budget_cents: int | None
    funnel: tuple[StageChange, ...]
    largest: tuple[UserChange, ...]

    @property
    def net_cents(self) -> int:
        return self.new_total_cents - self.old_total_cents

    def as_dict(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields["net_cents"] = self.net_cents
        fields["funnel"] = [
            {"stage": s.stage, "old_users": s.old_users, "new_users": s.new_users}
            for s in self.funnel
        ]
        fields["largest"] = [
            {
                "user_id": c.user_id,
                "kind": c.kind,
                "old_cents": c.old_cents,
                "new_cents": c.new_cents,
                "delta_cents": c.delta_cents,
            }
            for c in self.largest
        ]
        return fields


def diff_runs(old: Path, new: Path, *, top: int = DEFAULT_TOP) -> RunDiff:
    """Compare run ``new`` with run ``old`` (both checked against their manifests)."""
    old_ids, old_cents = _payouts(old)
    new_ids, new_cents = _payouts(new)
    old_manifest, new_manifest = read_manifest(old), read_manifest(new)
    return diff_payouts(
        old_ids,
        old_cents,
        new_ids,
        new_cents,
        top=top,
        budgets=(old_manifest.get("budget_cents"), new_manifest.get("budget_cents")),
        funnel=_funnel(old_manifest, new_manifest),
    )


def diff_payouts(
    old_ids: Ints,
    old_cents: Ints,
    new_ids: Ints,
    new_cents: Ints,
    *,
    top: int = DEFAULT_TOP,
    budgets: tuple[int | None, int | None] = (None, None),
    funnel: tuple[StageChange, ...] = (),
) -> RunDiff:
    """The diff of two payout lists, each sorted by user id with unique ids."""
    at = np.searchsorted(old_ids, new_ids)
    clipped = np.minimum(at, max(len(old_ids) - 1, 0))
    in_old = (at < len(old_ids)) & (old_ids[clipped] == new_ids) if len(old_ids) else at < 0
    kept_new = np.flatnonzero(in_old)  # positions in new of users also in old
    kept_old = at[in_old]
    removed_mask = np.ones(len(old_ids), dtype=bool)
    removed_mask[kept_old] = False
    delta = new_cents[kept_new] - old_cents[kept_old]
    added_at, removed_at = np.flatnonzero(~in_old), np.flatnonzero(removed_mask)
    up, down = delta > 0, delta < 0
    added_cents = int(new_cents[added_at].sum())
    removed_cents = int(old_cents[removed_at].sum())
    increase, decrease = int(delta[up].sum()), int(-delta[down].sum())
    return RunDiff(
        old_users=len(old_ids),
        new_users=len(new_ids),
        added=len(added_at),
        removed=len(removed_at),
        changed=int(up.sum() + down.sum()),
        unchanged=int((delta == 0).sum()),
        increased=int(up.sum()),
        decreased=int(down.sum()),
        old_total_cents=int(old_cents.sum()),
        new_total_cents=int(new_cents.sum()),
        added_cents=added_cents,
        removed_cents=removed_cents,
        increase_cents=increase,
        decrease_cents=decrease,
        moved_cents=added_cents + removed_cents + increase + decrease,
        old_budget_cents=budgets[0],
        new_budget_cents=budgets[1],
        funnel=funnel,
        largest=_largest(
            top,
            ids=(new_ids[added_at], old_ids[removed_at], new_ids[kept_new]),
            old=(np.zeros(len(added_at), np.int64), old_cents[removed_at], old_cents[kept_old]),
            new=(new_cents[added_at], np.zeros(len(removed_at), np.int64), new_cents[kept_new]),
        ),
    )


def _payouts(run: Path) -> tuple[Ints, Ints]:
    """User ids and amounts of a run, sorted by user id."""
    table = read_allocations(run)
    ids = np.asarray(table["user_id"].to_numpy(), dtype=np.int64)
    cents = np.asarray(table["amount_cents"].to_numpy(), dtype=np.int64)
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids, cents = ids[order], cents[order]
    return ids, cents


def _largest(
    top: int,
    *,
    ids: tuple[Ints, Ints, Ints],
    old: tuple[Ints, Ints, Ints],
    new: tuple[Ints, Ints, Ints],
) -> tuple[UserChange, ...]:
    """The ``top`` changes with the largest |new − old| (ties: the smaller user id first)."""
    all_ids, all_old, all_new = np.concatenate(ids), np.concatenate(old), np.concatenate(new)
    size = np.abs(all_new - all_old)
    moved = np.flatnonzero(size > 0)
    if top <= 0 or len(moved) == 0:
        return ()
    if len(moved) > top:  # keep every row tied with the top-th largest, then order exactly
        threshold = np.partition(size[moved], len(moved) - top)[len(moved) - top]
        moved = moved[size[moved] >= threshold]
    order = moved[np.lexsort((all_ids[moved], -size[moved]))][:top]
    kinds = np.concatenate(
        [np.full(len(ids[0]), 0), np.full(len(ids[1]), 1), np.full(len(ids[2]), 2)]
    )
    names: tuple[ChangeKind, ...] = ("added", "removed", "changed")
    return tuple(
        UserChange(int(all_ids[i]), names[int(kinds[i])], int(all_old[i]), int(all_new[i]))
        for i in order
    )


def _funnel(old: dict[str, Any], new: dict[str, Any]) -> tuple[StageChange, ...]:
    """Each stage of either run's funnel, with both counts (in the new run's order)."""
    before = {s["stage"]: int(s["users"]) for s in old.get("funnel", [])}
    after = {s["stage"]: int(s["users"]) for s in new.get("funnel", [])}
    stages = list(after) + [s for s in before if s not in after]
    return tuple(StageChange(s, before.get(s), after.get(s)) for s in stages)
