"""The verifier: every honest proof passes, and every tampering fails at the right step."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from proof_runs import KEY, hand_made_run
from proof_strategies import payouts

from recompense.proofs import commit_run, proof_bundle, verify_proof
from recompense.proofs import verify as verify_module
from recompense.proofs.verify import standard_leaf, standard_node, sum_tree_depth

ENV = {"RECOMPENSE_COMMITMENT_KEY": KEY}
USERS = list(range(1000, 1037))  # 37 users: odd levels, so padding is on some paths
AMOUNTS = [400 + 137 * i for i in range(37)]
TOTAL = sum(AMOUNTS)


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    run = hand_made_run(tmp_path_factory.mktemp("verify") / "run", USERS, AMOUNTS)
    return run, commit_run(run, environ=ENV).commitment


@pytest.fixture
def bundle(committed):
    run, _ = committed
    return proof_bundle(run, 1036, environ=ENV)  # the last user: its level-0 sibling is padding


def failure(commitment, bundle) -> str:
    verdict = verify_proof(commitment, bundle)
    assert not verdict.ok
    assert verdict.failure is not None
    return verdict.failure


def test_every_user_of_a_run_verifies_and_the_root_sum_is_the_total(committed):
    run, commitment = committed
    assert commitment["total_cents"] == sum(AMOUNTS)
    for user_id, amount in zip(USERS, AMOUNTS, strict=True):
        bundle = proof_bundle(run, user_id, environ=ENV)
        verdict = verify_proof(commitment, bundle)
        assert verdict.ok, verdict.failure
        assert bundle["amount_cents"] == amount
        assert len(verdict.passed) == 6


@settings(max_examples=40, deadline=None)
@given(payouts(max_users=40))
def test_random_trees_every_leaf_verifies(data):
    user_ids, amounts = data
    with tempfile.TemporaryDirectory() as folder:
        run = hand_made_run(Path(folder) / "run", user_ids.tolist(), amounts.tolist())
        commitment = commit_run(run, environ=ENV, workers=1).commitment
        assert commitment["total_cents"] == sum(amounts.tolist())
        assert commitment["sum_tree"]["depth"] == sum_tree_depth(len(user_ids))
        for user_id in user_ids.tolist():
            verdict = verify_proof(commitment, proof_bundle(run, user_id, environ=ENV))
            assert verdict.ok, verdict.failure


def test_a_changed_amount_fails_at_the_total(committed, bundle):
    bundle["amount_cents"] += 1
    expected = f"sum tree: root sum {TOTAL + 1:,} ≠ published total {TOTAL:,} cents"
    assert expected in failure(committed[1], bundle)


def test_a_changed_sibling_sum_fails_at_the_total(committed, bundle):
    bundle["sum_tree"]["path"][2]["sum"] -= 5
    expected = f"root sum {TOTAL - 5:,} ≠ published total {TOTAL:,}"
    assert expected in failure(committed[1], bundle)


def test_moving_money_between_siblings_keeps_the_total_but_not_the_root(committed, bundle):
    path = bundle["sum_tree"]["path"]
    path[1]["sum"] += 100
    path[2]["sum"] -= 100
    assert "sum tree: root hash" in failure(committed[1], bundle)


def test_a_changed_sibling_hash_fails_at_the_root(committed, bundle):
    step = bundle["sum_tree"]["path"][3]
    step["hash"] = ("0" if step["hash"][0] != "0" else "1") + step["hash"][1:]
    assert "≠ published root" in failure(committed[1], bundle)


def test_a_changed_salt_fails_at_the_user_hash(committed, bundle):
    bundle["salt"] = "00" * 32
    assert "salted user hash does not match the leaf" in failure(committed[1], bundle)


def test_someone_elses_user_id_fails_at_the_user_hash(committed, bundle):
    bundle["user_id"] = 1000
    assert "salted user hash does not match the leaf" in failure(committed[1], bundle)


def test_a_changed_published_total_fails(committed, bundle):
    commitment = copy.deepcopy(committed[1])
    commitment["total_cents"] += 1
    assert f"root sum {TOTAL:,} ≠ published total {TOTAL + 1:,}" in failure(commitment, bundle)


def test_a_flipped_side_contradicts_the_leaf_index(committed, bundle):
    step = bundle["sum_tree"]["path"][0]
    step["side"] = "left" if step["side"] == "right" else "right"
    assert "sum tree level 0: sibling side" in failure(committed[1], bundle)


@pytest.mark.parametrize("value", [-1, 1.5, True, "12", None])
def test_sibling_sums_must_be_non_negative_integers(committed, bundle, value):
    bundle["sum_tree"]["path"][1]["sum"] = value
    assert "sum tree level 1: sibling sum" in failure(committed[1], bundle)


def test_a_shortened_path_is_refused(committed, bundle):
    bundle["sum_tree"]["path"].pop()
    assert "path has 5 steps, a tree of 37 users has 6" in failure(committed[1], bundle)


def test_a_changed_standard_proof_hash_fails_at_its_root(committed, bundle):
    proof = bundle["standard_tree"]["proof"]
    proof[0] = "0x" + "ab" * 32
    assert "standard tree: root" in failure(committed[1], bundle)


def test_a_standard_value_that_disagrees_with_the_amount_fails(committed, bundle):
    bundle["standard_tree"]["value"][1] = "1"
    assert "standard tree: value" in failure(committed[1], bundle)


def test_a_proof_of_another_run_is_refused(committed, bundle):
    bundle["manifest_sha256"] = "ab" * 32
    assert "belongs to another run" in failure(committed[1], bundle)


def test_a_malformed_commitment_is_named(committed, bundle):
    commitment = copy.deepcopy(committed[1])
    commitment["sum_tree"]["depth"] = 3
    assert "depth 3 does not fit 37 users (expected 6)" in failure(commitment, bundle)
    assert "JSON objects" in failure([], bundle)
    assert "format is None" in failure({}, bundle)


def test_an_internal_node_never_verifies_as_a_leaf(committed, bundle):
    """The classic second-preimage: present a node's two children as a (bytes32, uint256)."""
    commitment = committed[1]
    users = commitment["users"]
    proof = bundle["standard_tree"]["proof"]
    # The node above the leaf, and its children: the leaf and its sibling, sorted.
    leaf = standard_leaf(bytes.fromhex(bundle["user_hash"]), bundle["amount_cents"] * 10**4)
    sibling = bytes.fromhex(proof[0][2:])
    low, high = sorted([leaf, sibling])
    node = standard_node(leaf, sibling)
    assert standard_leaf(low, int.from_bytes(high, "big")) != node  # double hashing
    forged = copy.deepcopy(bundle)
    forged["standard_tree"]["tree_index"] = (bundle["standard_tree"]["tree_index"] - 1) // 2
    forged["standard_tree"]["proof"] = proof[1:]
    assert f"expected an integer in [{users - 1:,}, {2 * users - 2:,}]" in failure(
        commitment, forged
    )
    # The sum tree: a node is SHA-256(0x01 ‖ …), a leaf SHA-256(0x00 ‖ …), and the path
    # length is fixed by the user count.
    shortened = copy.deepcopy(bundle)
    shortened["sum_tree"]["path"] = bundle["sum_tree"]["path"][1:]
    assert "path has 5 steps" in failure(commitment, shortened)


def test_the_verifier_depends_on_the_standard_library_and_eth_hash_only():
    tree = ast.parse(Path(verify_module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"eth_hash"}


def test_the_verifier_runs_alone_as_a_copied_file(committed, bundle, tmp_path):
    run, _ = committed
    copied = tmp_path / "verify.py"
    copied.write_text(Path(verify_module.__file__).read_text(encoding="utf-8"))
    (tmp_path / "proof.json").write_text(json.dumps(bundle))
    command = [sys.executable, "-I", str(copied), str(run / "commitment.json")]
    ok = subprocess.run([*command, str(tmp_path / "proof.json")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("VALID"), ok.stderr
    bundle["salt"] = "00" * 32
    (tmp_path / "proof.json").write_text(json.dumps(bundle))
    bad = subprocess.run([*command, str(tmp_path / "proof.json")], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "FAIL  salted user hash" in bad.stdout


def test_the_by_hand_check_in_the_docs_works(committed, bundle, tmp_path, monkeypatch):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "proofs.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    run, _ = committed
    (tmp_path / "commitment.json").write_bytes((run / "commitment.json").read_bytes())
    (tmp_path / "proof.json").write_text(json.dumps(bundle))
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/proofs.md", "exec"), {})
    bundle["sum_tree"]["path"][0]["sum"] += 1
    (tmp_path / "proof.json").write_text(json.dumps(bundle))
    with pytest.raises(AssertionError):
        exec(compile(snippet, "docs/proofs.md", "exec"), {})
