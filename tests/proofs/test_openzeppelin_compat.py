"""Byte-for-byte compatibility with OpenZeppelin's JavaScript ``@openzeppelin/merkle-tree``.

The real library (pinned in ``tests/browser/package-lock.json``, installed by ``make browser``
with ``npm ci``) is linked into a temporary folder, then a Node script:

- loads our ``standard-tree.json`` with ``StandardMerkleTree.load`` (which re-hashes and
  validates every node) and reports its root;
- builds ``StandardMerkleTree.of`` from the same values and prints ``dump()``, which
  must equal our file byte for byte;
- verifies each of our proofs with ``tree.verify`` and the static ``verify``;
- hands back its own ``getProof`` for each value, which our verifier must accept.

Skipped when ``node`` or the installed library is missing, except under ``.ci/run``
(``RECOMPENSE_REQUIRE_NODE=1``), where that fails.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
from proof_runs import KEY, hand_made_run

from builders import linked_node_modules
from recompense.proofs import commit_run, proof_bundle, verify_proof
from recompense.proofs.store import write_standard_dump
from recompense.proofs.trees import standard_tree_of

ENV = {"RECOMPENSE_COMMITMENT_KEY": KEY}

SCRIPT = r"""
const fs = require("fs");
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const results = cases.map(({ dump, proofs }) => {
  const text = fs.readFileSync(dump, "utf8");
  const data = JSON.parse(text);
  const tree = StandardMerkleTree.load(data);
  const rebuilt = StandardMerkleTree.of(data.values.map(v => v.value), data.leafEncoding);
  return {
    root: tree.root,
    sameDump: JSON.stringify(rebuilt.dump()) === text,
    rebuiltRoot: rebuilt.root,
    ours: proofs.map(({ value, proof }) =>
      tree.verify(value, proof) &&
      StandardMerkleTree.verify(tree.root, data.leafEncoding, value, proof)),
    theirs: data.values.map((_, i) => rebuilt.getProof(i)),
  };
});
process.stdout.write(JSON.stringify(results));
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    folder = linked_node_modules(
        tmp_path_factory.mktemp("openzeppelin"),
        "@openzeppelin/merkle-tree",
        "OpenZeppelin's merkle-tree",
    )
    (folder / "package.json").write_text('{"name": "compat", "private": true}')
    (folder / "compat.js").write_text(SCRIPT)
    return folder


def run_library(library: Path, cases: list[dict]) -> list[dict]:
    (library / "cases.json").write_text(json.dumps(cases))
    result = subprocess.run(
        ["node", "compat.js", "cases.json"],
        cwd=library,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("users", [1, 2, 3, 257])
def test_our_run_trees_are_openzeppelins(library, tmp_path, users):
    rng = np.random.default_rng(users)
    user_ids = sorted(rng.choice(10**12, users, replace=False).tolist())
    amounts = [0, *rng.integers(400, 600_000, users - 1).tolist()]
    run = hand_made_run(tmp_path / "run", user_ids, amounts)
    commitment = commit_run(run, environ=ENV).commitment
    bundles = [proof_bundle(run, user_id, environ=ENV) for user_id in user_ids]
    dump = run / "proofs" / "standard-tree.json"
    proofs = [
        {"value": b["standard_tree"]["value"], "proof": b["standard_tree"]["proof"]}
        for b in bundles
    ]
    [result] = run_library(library, [{"dump": str(dump), "proofs": proofs}])
    assert result["root"] == result["rebuiltRoot"] == commitment["standard_tree"]["root"]
    assert result["sameDump"], "StandardMerkleTree.of(...).dump() differs from our file"
    assert all(result["ours"])
    assert len(result["ours"]) == users
    for bundle, theirs in zip(bundles, result["theirs"], strict=True):
        assert theirs == bundle["standard_tree"]["proof"]
        bundle["standard_tree"]["proof"] = theirs
        assert verify_proof(commitment, bundle).ok


def test_any_bytes32_uint256_values_dump_as_the_library_does(library, tmp_path):
    rng = random.Random(7)
    edge = [0, 1, 2**64 - 1, 2**64, 2**255, 2**256 - 1]
    values = [
        (rng.randbytes(32), edge[i] if i < len(edge) else rng.getrandbits(rng.choice([8, 64, 200])))
        for i in range(40)
    ]
    tree = standard_tree_of(values)
    buffer = io.BytesIO()
    write_standard_dump(
        buffer,
        tree,
        np.frombuffer(b"".join(v for v, _ in values), np.uint8).reshape(-1, 32),
        [a for _, a in values],
    )
    dump = tmp_path / "values.json"
    dump.write_bytes(buffer.getvalue())
    [result] = run_library(library, [{"dump": str(dump), "proofs": []}])
    assert result["root"] == "0x" + tree.root.hex()
    assert result["sameDump"]
