"""Building both trees over millions of users, level by level, on every core.

The byte encodings are those of :mod:`recompense.proofs.verify` (the specification);
here they are laid out for whole levels at once with numpy and hashed by
:mod:`recompense.proofs.hashing`. Work is cut into chunks that a :class:`Pool` runs
in worker processes (or inline, for small trees); chunks are independent, so the bytes
do not depend on the number of workers.

Layouts (what :mod:`recompense.proofs.store` saves):

- sum tree: every level from the leaves (level 0: users in ascending order of their
  salted user hash, so tree neighbours are unrelated users) to the root, each padded to
  an even length with ``(PAD_HASH, 0)`` except the root level, concatenated:
  ``hashes (nodes, 32)``, ``sums (nodes,)``, the level ``offsets``, and ``leaf_index[k]``,
  user ``k``'s leaf;
- standard tree: OpenZeppelin's array, root at 0, children of ``i`` at ``2i+1`` and
  ``2i+2``, the leaves sorted ascending by hash and stored from the end backwards;
  ``tree_index[k]`` is where user ``k``'s leaf lies.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from recompense.proofs.errors import CommitError
from recompense.proofs.hashing import (
    Rows,
    hmac_sha256_rows,
    keccak256_rows,
    sha256_rows,
)
from recompense.proofs.verify import LEAF_PREFIX, NODE_PREFIX, PAD_HASH, UNITS_PER_CENT

Int64s = npt.NDArray[np.int64]
UInt64s = npt.NDArray[np.uint64]
T = TypeVar("T")

CHUNK = 1 << 16  # rows per task: big enough to amortise pickling, small enough to balance
INLINE_BELOW = 1 << 17  # smaller jobs are not worth a process pool
# amount_cents × 10^4 must fit the uint64 used to lay out uint256 amounts.
MAX_AMOUNT_CENTS = (2**64 - 1) // UNITS_PER_CENT


@dataclass(frozen=True, slots=True)
class SumTree:
    hashes: Rows
    sums: UInt64s
    offsets: tuple[int, ...]  # start of each level in hashes/sums; offsets[-1] is the root
    leaf_index: Int64s  # user k (in id order) is leaf leaf_index[k]

    @property
    def root(self) -> tuple[bytes, int]:
        return self.hashes[-1].tobytes(), int(self.sums[-1])

    @property
    def depth(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True, slots=True)
class StandardTree:
    tree: Rows
    tree_index: Int64s

    @property
    def root(self) -> bytes:
        return bytes(self.tree[0].tobytes())


@dataclass(frozen=True, slots=True)
class Trees:
    user_hashes: Rows
    sum_tree: SumTree
    standard: StandardTree


class Pool:
    """Runs chunk functions in worker processes, or inline when ``workers`` is 1."""

    def __init__(self, executor: Executor | None) -> None:
        self._executor = executor

    def map(self, func: Callable[..., T], jobs: Sequence[tuple[Any, ...]]) -> list[T]:
        if self._executor is None or len(jobs) < 2:
            return [func(*job) for job in jobs]
        return list(self._executor.map(func, *zip(*jobs, strict=True)))


@contextmanager
def pool(workers: int | None, size: int) -> Iterator[Pool]:
    """A pool of ``workers`` processes (default: the usable cores), none for small sizes.

    Workers are spawned, never forked: the caller may hold threads (Arrow, DuckDB).
    """
    count = workers if workers is not None else _usable_cores()
    if count <= 1 or size < INLINE_BELOW:
        yield Pool(None)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as executor:
        yield Pool(executor)


def build_trees(
    key: bytes, program_id: str, user_ids: Int64s, amount_cents: Int64s, workers: Pool
) -> Trees:
    """Both trees for users sorted by id (unique) and their non-negative amounts."""
    _check_users(user_ids, amount_cents)
    prefix = program_id.encode("utf-8") + b"\x00"
    jobs = [(key, prefix, user_ids[i:j], amount_cents[i:j]) for i, j in _chunks(0, len(user_ids))]
    parts = workers.map(leaf_chunk, jobs)
    user_hashes, sum_leaves, standard_leaves = (np.concatenate(c) for c in zip(*parts, strict=True))
    del parts  # each array is copied into its tree below: keep one copy alive at a time
    sums = amount_cents.astype(np.uint64)
    sum_tree = build_sum_tree(user_hashes, sum_leaves, sums, workers)
    del sum_leaves
    return Trees(user_hashes, sum_tree, build_standard_tree(standard_leaves, workers))


def leaf_chunk(
    key: bytes, prefix: bytes, user_ids: Int64s, amount_cents: Int64s
) -> tuple[Rows, Rows, Rows]:
    """Salts, user hashes and the leaves of both trees for one chunk of users."""
    ids = _big_endian(user_ids.astype(">i8"), 8)
    salts = hmac_sha256_rows(key, _columns(_constant(prefix, len(ids)), ids))
    hashes = sha256_rows(_columns(salts, ids))
    amounts = _big_endian(amount_cents.astype(">u8"), 16)
    sum_leaves = sha256_rows(_columns(_constant(LEAF_PREFIX, len(ids)), hashes, amounts))
    units = _big_endian((amount_cents.astype(np.uint64) * UNITS_PER_CENT).astype(">u8"), 32)
    return hashes, sum_leaves, keccak256_rows(_columns(hashes, units), twice=True)


def sum_tree_offsets(leaves: int) -> tuple[int, ...]:
    """Where each level starts; levels below the root are padded to an even length."""
    offsets, size = [0], leaves
    while size > 1:
        padded = size + size % 2
        offsets.append(offsets[-1] + padded)
        size = padded // 2
    return tuple(offsets)


def build_sum_tree(user_hashes: Rows, leaves: Rows, sums: UInt64s, workers: Pool) -> SumTree:
    """The sum tree over the users' leaves (given in user order), ordered by user hash."""
    order = _ascending(user_hashes)
    leaf_index = np.empty(len(order), dtype=np.int64)
    leaf_index[order] = np.arange(len(order), dtype=np.int64)
    offsets = sum_tree_offsets(len(leaves))
    hashes = np.empty((offsets[-1] + 1, 32), dtype=np.uint8)
    all_sums = np.empty(offsets[-1] + 1, dtype=np.uint64)
    hashes.view(np.uint64)[: len(leaves)] = np.take(_words(leaves), order, axis=0)
    all_sums[: len(leaves)] = sums[order]
    size = len(leaves)
    for start, stop in itertools.pairwise(offsets):
        if size % 2:
            hashes[start + size], all_sums[start + size] = np.frombuffer(PAD_HASH, np.uint8), 0
        jobs = [(hashes[i:j], all_sums[i:j]) for i, j in _chunks(start, stop)]
        position = stop
        for parents, parent_sums in workers.map(sum_parents, jobs):
            hashes[position : position + len(parents)] = parents
            all_sums[position : position + len(parents)] = parent_sums
            position += len(parents)
        size = (stop - start) // 2
    return SumTree(hashes, all_sums, offsets, leaf_index)


def sum_parents(children: Rows, sums: UInt64s) -> tuple[Rows, UInt64s]:
    """``(SHA-256(0x01 ‖ L ‖ uint128be(ΣL) ‖ R ‖ uint128be(ΣR)), ΣL + ΣR)`` per pair."""
    sums16 = _big_endian(sums.astype(">u8"), 16)
    left, right = slice(0, None, 2), slice(1, None, 2)
    tag = _constant(NODE_PREFIX, len(children) // 2)
    message = _columns(tag, children[left], sums16[left], children[right], sums16[right])
    return sha256_rows(message), sums[left] + sums[right]


def build_standard_tree(leaves: Rows, workers: Pool) -> StandardTree:
    """OpenZeppelin's ``makeMerkleTree`` over the leaves sorted ascending (``sortLeaves``)."""
    count = len(leaves)
    if count == 0:
        raise CommitError("a standard tree needs at least one value")
    order = _ascending(leaves)
    tree = np.empty((2 * count - 1, 32), dtype=np.uint8)
    tree.view(np.uint64)[count - 1 :] = np.take(_words(leaves), order[::-1], axis=0)
    tree_index = np.empty(count, dtype=np.int64)
    tree_index[order] = 2 * count - 2 - np.arange(count, dtype=np.int64)
    for depth in range((count - 1).bit_length() - 1, -1, -1):  # internal nodes: 0..count-2
        low, high = 2**depth - 1, min(2 ** (depth + 1) - 1, count - 1)
        jobs = [(tree[i:j],) for i, j in _chunks(2 * low + 1, 2 * high + 1)]
        position = low
        for parents in workers.map(standard_parents, jobs):
            tree[position : position + len(parents)] = parents
            position += len(parents)
    return StandardTree(tree, tree_index)


def standard_tree_of(
    values: Sequence[tuple[bytes, int]], workers: Pool | None = None
) -> StandardTree:
    """OpenZeppelin's ``StandardMerkleTree.of(values, ["bytes32", "uint256"])``."""
    for value, amount in values:
        if len(value) != 32 or not 0 <= amount < 2**256:
            raise ValueError(f"({value.hex()}, {amount}) is not a (bytes32, uint256) value")
    encoded = b"".join(value + amount.to_bytes(32, "big") for value, amount in values)
    rows = np.frombuffer(encoded, dtype=np.uint8).reshape(len(values), 64)
    return build_standard_tree(keccak256_rows(rows, twice=True), workers or Pool(None))


def standard_parents(children: Rows) -> Rows:
    """``keccak256(min(a, b) ‖ max(a, b))`` per pair, bytes compared as big-endian numbers."""
    a, b = children[0::2], children[1::2]
    differs = a != b
    first = differs.argmax(axis=1)
    rows = np.arange(len(a))
    swap = (a[rows, first] > b[rows, first])[:, None]
    return keccak256_rows(_columns(np.where(swap, b, a), np.where(swap, a, b)))


def _ascending(leaves: Rows) -> Int64s:
    """The order of 32-byte rows by value (big-endian), refusing duplicates.

    Sorting by the first 8 bytes is 4x faster than by all 32 and decides unless two
    leaves share them (for hashes, about once in 10^7 trees of 2M): then by all 32.
    """
    words = np.ascontiguousarray(leaves).view(">u8")  # (count, 4), big-endian words
    first = words[:, 0].astype(np.uint64)
    order = np.argsort(first, kind="stable")
    ranked = first[order]
    if bool(np.any(ranked[1:] == ranked[:-1])):
        order = np.lexsort((words[:, 3], words[:, 2], words[:, 1], words[:, 0]))
        ranked_words = words[order]
        if bool(np.any(np.all(ranked_words[1:] == ranked_words[:-1], axis=1))):
            raise CommitError("two leaves are the same 32 bytes; refusing to build the tree")
    return order.astype(np.int64)


def _check_users(user_ids: Int64s, amount_cents: Int64s) -> None:
    if len(user_ids) == 0:
        raise CommitError("no payouts to commit: the run has no eligible user")
    same = user_ids[1:] == user_ids[:-1]  # not np.diff: it overflows on extreme int64 ids
    if bool(np.any(same)):
        duplicate = int(user_ids[1:][same][0])
        raise CommitError(f"user_id {duplicate} appears twice; each user must have one payout")
    if bool(np.any(user_ids[1:] < user_ids[:-1])):
        raise CommitError("user ids must be sorted ascending")
    low, high = int(amount_cents.min()), int(amount_cents.max())
    if low < 0 or high > MAX_AMOUNT_CENTS:
        bad = low if low < 0 else high
        raise CommitError(f"amount_cents {bad} is outside [0, {MAX_AMOUNT_CENTS:,}]")
    if high * len(amount_cents) >= 2**63 and sum(amount_cents.tolist()) >= 2**63:
        raise CommitError("the amounts add up to more than 2^63 - 1 cents")


def _words(rows: Rows) -> UInt64s:
    """32-byte rows as (n, 4) uint64, to move them with ``np.take`` (5x fancy indexing)."""
    return np.ascontiguousarray(rows).view(np.uint64)


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: honours taskset and cgroup cpusets
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _chunks(start: int, stop: int) -> Iterator[tuple[int, int]]:
    """``[i, j)`` ranges of at most CHUNK rows; CHUNK is even, so no pair is split."""
    for i in range(start, stop, CHUNK):
        yield i, min(i + CHUNK, stop)


def _big_endian(values: npt.NDArray[Any], width: int) -> Rows:
    """Big-endian 8-byte integers, left-padded with zero bytes to ``width`` bytes."""
    raw = values.view(np.uint8).reshape(len(values), 8)
    if width == 8:
        return raw
    out = np.zeros((len(values), width), dtype=np.uint8)
    out[:, width - 8 :] = raw
    return out


def _constant(prefix: bytes, count: int) -> Rows:
    return np.broadcast_to(np.frombuffer(prefix, np.uint8), (count, len(prefix)))


def _columns(*parts: Rows) -> Rows:
    return np.ascontiguousarray(np.concatenate(parts, axis=1))
