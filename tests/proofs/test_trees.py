"""Both trees, built vectorised and in parallel, against naive one-node-at-a-time rebuilds.

The references use only the scalar functions of ``verify.py`` (the specification) and a
line-by-line transcription of OpenZeppelin's ``core.ts`` (``makeMerkleTree``), so the
fast builder is checked by code that shares none of its tricks.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from eth_abi import encode
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from proof_strategies import payouts

from recompense.proofs import CommitError, trees
from recompense.proofs.keys import salt
from recompense.proofs.verify import (
    PAD_HASH,
    UNITS_PER_CENT,
    standard_leaf,
    standard_node,
    sum_leaf,
    sum_node,
    user_hash,
)

KEY = bytes(range(32))
PROGRAMME = "together-2025-10"


def build(user_ids, amounts, workers=None):
    return trees.build_trees(KEY, PROGRAMME, user_ids, amounts, workers or trees.Pool(None))


def reference_sum_levels(leaves: list[tuple[bytes, int]]) -> list[list[tuple[bytes, int]]]:
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        if len(level) % 2:
            level.append((PAD_HASH, 0))
        levels.append([sum_node(level[i], level[i + 1]) for i in range(0, len(level), 2)])
    return levels


def reference_standard_tree(leaves: list[bytes]) -> tuple[list[bytes], list[int]]:
    """OpenZeppelin's prepare + makeMerkleTree (sortLeaves: true), transcribed."""
    hashed = sorted(enumerate(leaves), key=lambda pair: int.from_bytes(pair[1], "big"))
    tree: list[bytes] = [b""] * (2 * len(leaves) - 1)
    for i, (_, leaf) in enumerate(hashed):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - len(leaves), -1, -1):
        tree[i] = standard_node(tree[2 * i + 1], tree[2 * i + 2])
    tree_index = [0] * len(leaves)
    for leaf_index, (value_index, _) in enumerate(hashed):
        tree_index[value_index] = len(tree) - leaf_index - 1
    return tree, tree_index


def user_hashes(user_ids) -> list[bytes]:
    return [user_hash(salt(KEY, PROGRAMME, int(u)), int(u)) for u in user_ids]


@settings(max_examples=60, deadline=None)
@given(payouts())
def test_the_sum_tree_is_the_naive_one_level_by_level(data):
    user_ids, amounts = data
    built = build(user_ids, amounts)
    hashes = user_hashes(user_ids)
    by_hash = sorted(zip(hashes, amounts.tolist(), strict=True))
    levels = reference_sum_levels([(sum_leaf(h, a), a) for h, a in by_hash])
    expected = [node for level in levels for node in level]
    nodes = zip(built.sum_tree.hashes, built.sum_tree.sums, strict=True)
    got = [(h.tobytes(), int(s)) for h, s in nodes]
    assert got == expected
    assert built.sum_tree.depth == len(levels) - 1 == (len(user_ids) - 1).bit_length()
    assert built.sum_tree.root[1] == int(sum(amounts.tolist()))
    assert [h.tobytes() for h in built.user_hashes] == hashes
    leaf_of = {h: i for i, (h, _) in enumerate(by_hash)}
    assert built.sum_tree.leaf_index.tolist() == [leaf_of[h] for h in hashes]


@settings(max_examples=60, deadline=None)
@given(payouts())
def test_the_standard_tree_is_openzeppelins_make_merkle_tree(data):
    user_ids, amounts = data
    built = build(user_ids, amounts)
    leaves = [
        standard_leaf(h, int(a) * UNITS_PER_CENT)
        for h, a in zip(user_hashes(user_ids), amounts, strict=True)
    ]
    tree, tree_index = reference_standard_tree(leaves)
    assert [node.tobytes() for node in built.standard.tree] == tree
    assert built.standard.tree_index.tolist() == tree_index


def test_the_standard_leaf_is_keccak_of_keccak_of_abi_encode():
    commitment, units = bytes(range(32)), 123_450_000
    abi = encode(["bytes32", "uint256"], [commitment, units])
    assert standard_leaf(commitment, units) == keccak(keccak(abi))
    assert commitment + units.to_bytes(32, "big") == abi


@given(st.lists(st.tuples(st.binary(min_size=32, max_size=32), st.integers(0, 2**256 - 1))))
def test_standard_tree_of_any_bytes32_uint256_values(values):
    values = list(dict(values).items())  # distinct bytes32, so distinct leaves
    if not values:
        with pytest.raises(CommitError, match="at least one value"):
            trees.standard_tree_of(values)
        return
    built = trees.standard_tree_of(values)
    tree, tree_index = reference_standard_tree([standard_leaf(v, a) for v, a in values])
    assert [node.tobytes() for node in built.tree] == tree
    assert built.tree_index.tolist() == tree_index


def test_a_pool_of_processes_gives_the_same_bytes(monkeypatch):
    monkeypatch.setattr(trees, "CHUNK", 64)  # many chunks from a small tree
    rng = np.random.default_rng(3)
    user_ids = np.sort(rng.choice(10**9, 1_001, replace=False)).astype(np.int64)
    amounts = rng.integers(0, 600_000, len(user_ids)).astype(np.int64)
    inline = build(user_ids, amounts)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        pooled = build(user_ids, amounts, trees.Pool(executor))
    assert np.array_equal(inline.sum_tree.hashes, pooled.sum_tree.hashes)
    assert np.array_equal(inline.sum_tree.sums, pooled.sum_tree.sums)
    assert np.array_equal(inline.sum_tree.leaf_index, pooled.sum_tree.leaf_index)
    assert np.array_equal(inline.standard.tree, pooled.standard.tree)
    assert np.array_equal(inline.standard.tree_index, pooled.standard.tree_index)


@pytest.mark.parametrize(
    ("user_ids", "amounts", "message"),
    [
        ([], [], "no payouts"),
        ([1, 2, 2, 3], [5, 6, 7, 8], "user_id 2 appears twice"),
        ([3, 1], [5, 6], "sorted"),
        ([1, 2], [5, -1], "amount_cents -1 is outside"),
        ([1, 2], [5, trees.MAX_AMOUNT_CENTS + 1], "is outside"),
    ],
)
def test_bad_payout_lists_are_refused(user_ids, amounts, message):
    with pytest.raises(CommitError, match=message):
        build(np.array(user_ids, np.int64), np.array(amounts, np.int64))


def test_level_offsets_pad_odd_levels_below_the_root():
    assert trees.sum_tree_offsets(1) == (0,)
    assert trees.sum_tree_offsets(2) == (0, 2)
    assert trees.sum_tree_offsets(5) == (0, 6, 10, 12)  # 5+pad, 3+pad, 2, root
