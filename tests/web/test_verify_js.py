"""static/verify.js (the in-page verifier) agrees with the Python verifier, run under Node.

The browser tests run it in Chromium; here Node checks the hashes against hashlib and
eth-hash on random inputs, and the verdicts against recompense.proofs.verify_proof on
real bundles and on tampered ones (same step fails).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from recompense.proofs import Prover, read_commitment, verify_proof
from recompense.web.pages import STATIC

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is needed to run verify.js here")

RUNNER = """
const v = require(process.argv[1]);
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {
  sha256: input.hashes.map((h) => v.hex(v.sha256(v.fromHex(h)))),
  keccak: input.hashes.map((h) => v.hex(v.keccak256(v.fromHex(h)))),
  verdicts: input.cases.map((c) => v.verifyProof(c[0], c[1])),
};
process.stdout.write(JSON.stringify(out));
"""


def run_js(hashes, cases):
    answer = subprocess.run(
        [NODE, "-e", RUNNER, str(STATIC / "verify.js")],
        input=json.dumps({"hashes": hashes, "cases": cases}),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(answer.stdout)


def test_sha256_and_keccak256_match_python():
    rng = random.Random(7)
    sizes = [0, 1, 31, 32, 55, 56, 63, 64, 65, 135, 136, 137, 200, 272, 1000]
    inputs = [bytes(rng.getrandbits(8) for _ in range(n)) for n in sizes]
    got = run_js([i.hex() for i in inputs], [])
    assert got["sha256"] == [hashlib.sha256(i).hexdigest() for i in inputs]
    assert got["keccak"] == [bytes(keccak(i)).hex() for i in inputs]


def tampered(bundle):
    """(what was changed, the bundle) pairs, each caught by a different step."""
    cases = []
    more = copy.deepcopy(bundle)
    more["amount_cents"] += 1
    cases.append(more)
    salt = copy.deepcopy(bundle)
    salt["salt"] = "00" * 32
    cases.append(salt)
    path = copy.deepcopy(bundle)
    path["sum_tree"]["path"][0]["sum"] += 5
    cases.append(path)
    side = copy.deepcopy(bundle)
    side["sum_tree"]["path"][0]["side"] = "up"
    cases.append(side)
    standard = copy.deepcopy(bundle)
    standard["standard_tree"]["proof"][0] = "0x" + "ab" * 32
    cases.append(standard)
    run = copy.deepcopy(bundle)
    run["manifest_sha256"] = "0" * 64
    cases.append(run)
    return cases


def test_verdicts_match_the_python_verifier(web_run: Path):
    commitment = read_commitment(web_run)
    prover = Prover(web_run, environ={})
    users = [int(u) for u in prover._store.user_ids[:5]]
    bundles = [prover.bundle(u) for u in users]
    cases = [(commitment, b) for b in bundles]
    cases += [(commitment, t) for t in tampered(bundles[0])]
    bad_commitment = {**commitment, "total_cents": commitment["total_cents"] + 1}
    cases.append((bad_commitment, bundles[0]))
    got = run_js([], cases)["verdicts"]
    for (c, p), js in zip(cases, got, strict=True):
        py = verify_proof(c, p)
        assert js["ok"] == py.ok
        assert len(js["passed"]) == len(py.passed)
        if not py.ok:
            assert js["failure"].split(":")[0] == py.failure.split(":")[0]
    assert [v["ok"] for v in got[:5]] == [True] * 5
    assert not any(v["ok"] for v in got[5:])
