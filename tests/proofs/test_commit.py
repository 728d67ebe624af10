"""Committing a real run, proving each user, and every way a commit can be refused."""

from __future__ import annotations

import json
import os
import shutil
import stat

import numpy as np
import pyarrow.parquet as pq
import pytest
from proof_runs import KEY, engine_run, hand_made_run

from recompense.proofs import (
    CommitError,
    CommitmentKeyError,
    ProofError,
    Prover,
    UnknownUserError,
    commit_run,
    proof_bundle,
    verify_proof,
)
from recompense.runs import RunFolderError, read_manifest, run_fingerprint

ENV = {"RECOMPENSE_COMMITMENT_KEY": KEY}
OTHER_ENV = {"RECOMPENSE_COMMITMENT_KEY": "22" * 32}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return engine_run(tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="module")
def committed(pristine, tmp_path_factory):
    """The engine's run, committed with a key file made by ``commit`` (no variable)."""
    run = tmp_path_factory.mktemp("committed") / "run"
    shutil.copytree(pristine, run)
    return run, commit_run(run, environ={})


@pytest.fixture
def copy_of(pristine, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(pristine, run)
    return run


def files(run):
    return {
        p.relative_to(run).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


def test_commit_publishes_the_run_its_total_and_both_roots(committed):
    run, done = committed
    manifest = read_manifest(run)
    allocations = pq.read_table(run / "allocations.parquet")
    c = done.commitment
    assert done.created
    assert done.path == run / "commitment.json"
    assert json.loads(done.path.read_text()) == c
    assert c["manifest_sha256"] == run_fingerprint(run)
    assert c["program_id"] == manifest["program"]["id"] == "together-2025-10"
    assert c["users"] == allocations.num_rows > 100
    assert c["total_cents"] == manifest["allocated_cents"] == 15_000_000
    assert c["standard_tree"]["total_units"] == str(15_000_000 * 10**4)
    assert len(c["sum_tree"]["root"]) == 64
    assert c["standard_tree"]["root"].startswith("0x")
    assert sorted(p.name for p in (run / "proofs").iterdir()) == [
        "meta.json",
        "standard-tree.json",
        "standard_index.npy",
        "standard_tree.npy",
        "sum_hashes.npy",
        "sum_index.npy",
        "sum_sums.npy",
        "user_ids.npy",
    ]


def test_the_key_file_is_private_and_the_commitment_does_not_contain_it(committed):
    run, done = committed
    key_file = run / "commitment.key"
    assert done.key_source == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(bytes.fromhex(key)) == 32
    assert key not in done.path.read_text()
    assert not any(p.name.startswith(".") for p in run.iterdir())  # no temporaries left


def test_every_user_gets_a_proof_of_their_own_payout(committed):
    run, done = committed
    allocations = pq.read_table(run / "allocations.parquet").to_pylist()
    prover = Prover(run, environ={})
    for row in allocations:
        bundle = prover.bundle(row["user_id"])
        assert bundle == proof_bundle(run, row["user_id"], environ={})
        assert bundle["amount_cents"] == row["amount_cents"]
        assert verify_proof(done.commitment, bundle).ok


def test_the_standard_tree_dump_matches_the_stored_tree(committed):
    run, done = committed
    dump = json.loads((run / "proofs" / "standard-tree.json").read_text())
    tree = np.load(run / "proofs" / "standard_tree.npy")
    assert dump["format"] == "standard-v1"
    assert dump["leafEncoding"] == ["bytes32", "uint256"]
    assert dump["tree"][0] == done.commitment["standard_tree"]["root"]
    assert dump["tree"] == ["0x" + row.tobytes().hex() for row in tree]
    assert len(dump["values"]) == done.commitment["users"]


def test_committing_again_changes_nothing(committed):
    run, done = committed
    before = files(run)
    again = commit_run(run, environ={})
    assert not again.created
    assert again.commitment == done.commitment
    assert files(run) == before


def test_the_same_run_and_key_give_the_same_bytes_another_key_other_roots(copy_of, pristine):
    first = commit_run(copy_of, environ=ENV)
    assert not (copy_of / "commitment.key").exists()  # the key came from the variable
    second_run = copy_of.parent / "second"
    shutil.copytree(pristine, second_run)
    second = commit_run(second_run, environ=ENV, workers=1)
    assert (copy_of / "commitment.json").read_bytes() == (
        second_run / "commitment.json"
    ).read_bytes()
    third_run = copy_of.parent / "third"
    shutil.copytree(pristine, third_run)
    third = commit_run(third_run, environ=OTHER_ENV)
    assert third.commitment["sum_tree"]["root"] != first.commitment["sum_tree"]["root"]
    assert third.commitment["total_cents"] == second.commitment["total_cents"]


def test_a_wrong_key_is_refused_by_proof_and_by_commit(committed):
    run, _ = committed
    with pytest.raises(CommitmentKeyError, match="RECOMPENSE_COMMITMENT_KEY is not the one"):
        proof_bundle(run, int(np.load(run / "proofs" / "user_ids.npy")[0]), environ=OTHER_ENV)
    with pytest.raises(CommitmentKeyError, match="another key"):
        commit_run(run, environ=OTHER_ENV)


@pytest.mark.parametrize(("value", "message"), [("xyz", "not hexadecimal"), ("ab" * 8, "8 bytes")])
def test_a_malformed_key_variable_is_named_and_not_printed(copy_of, value, message):
    with pytest.raises(CommitmentKeyError, match=message) as caught:
        commit_run(copy_of, environ={"RECOMPENSE_COMMITMENT_KEY": value})
    assert "RECOMPENSE_COMMITMENT_KEY" in str(caught.value)
    assert value not in str(caught.value)


def test_a_lost_store_is_restored_only_with_the_same_key(copy_of):
    done = commit_run(copy_of, environ=ENV)
    published = (copy_of / "commitment.json").read_bytes()
    stored = (copy_of / "proofs" / "sum_hashes.npy").read_bytes()
    shutil.rmtree(copy_of / "proofs")
    with pytest.raises(CommitmentKeyError, match="not the key they were made with"):
        commit_run(copy_of, environ=OTHER_ENV)
    restored = commit_run(copy_of, environ=ENV)
    assert not restored.created
    assert restored.commitment == done.commitment
    assert (copy_of / "commitment.json").read_bytes() == published
    assert (copy_of / "proofs" / "sum_hashes.npy").read_bytes() == stored


def test_an_interrupted_commit_is_redone(copy_of):
    (copy_of / "proofs").mkdir()
    (copy_of / "proofs" / "meta.json").write_text("{}")
    stale = copy_of / f".proofs.tmp-{2**22 + 12345}"  # beyond pid_max: never alive
    stale.mkdir()
    done = commit_run(copy_of, environ=ENV)
    assert done.created
    assert not stale.exists()
    user_id = int(np.load(copy_of / "proofs" / "user_ids.npy")[-1])
    assert verify_proof(done.commitment, proof_bundle(copy_of, user_id, environ=ENV)).ok


def test_a_commitment_of_another_manifest_is_never_replaced(copy_of):
    commit_run(copy_of, environ=ENV)
    manifest = json.loads((copy_of / "manifest.json").read_text())
    manifest["created_at"] = "2026-01-01T00:00:00Z"
    (copy_of / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    with pytest.raises(CommitError, match="a published commitment is never replaced"):
        commit_run(copy_of, environ=ENV)


def test_proofs_need_a_commitment_a_known_user_and_a_run(copy_of, committed, tmp_path):
    with pytest.raises(ProofError, match=r"not committed yet .* recompense commit --run"):
        proof_bundle(copy_of, 1, environ=ENV)
    with pytest.raises(UnknownUserError, match="user -5 has no payout in this run"):
        proof_bundle(committed[0], -5, environ={})
    with pytest.raises(RunFolderError, match="not a run folder"):
        commit_run(tmp_path, environ=ENV)


def test_duplicate_users_are_refused_and_nothing_is_written(tmp_path):
    run = hand_made_run(tmp_path / "run", [1, 2, 2, 3], [400, 500, 600, 700])
    with pytest.raises(CommitError, match="user_id 2 appears twice"):
        commit_run(run, environ=ENV)
    assert sorted(p.name for p in run.iterdir()) == ["allocations.parquet", "manifest.json"]


def test_allocations_that_disagree_with_the_manifest_are_refused(tmp_path):
    run = hand_made_run(tmp_path / "run", [1, 2], [400, 500])
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["allocated_cents"] = 901
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CommitError, match=r"add up to 900 cents but .* allocated_cents is 901"):
        commit_run(run, environ=ENV)


def test_a_key_file_is_made_once_and_reused(copy_of):
    commit_run(copy_of, environ={})
    key = (copy_of / "commitment.key").read_bytes()
    shutil.rmtree(copy_of / "proofs")
    commit_run(copy_of, environ={})
    assert (copy_of / "commitment.key").read_bytes() == key
    assert os.stat(copy_of / "commitment.key").st_nlink == 1  # the temporary link is gone
