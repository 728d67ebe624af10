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

from builders import missing_tool
from recompense.proofs import Prover, read_commitment, verify_proof
from recompense.web.pages import STATIC

NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def _node() -> None:
    if NODE is None:
        missing_tool("Node.js is needed to run verify.js here", "RECOMPENSE_REQUIRE_NODE")


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


# ---------------------------------------------------------------- the signature

SIGNATURE_RUNNER = """
const v = require(process.argv[1]);
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
(async () => {
  const key = (text) => (text === null ? null : v.parsePublicKey(text));
  const out = {
    messages: input.messages.map((c) => Buffer.from(v.signedMessage(c)).toString("hex")),
    keys: input.keys.map((text) => { const k = v.parsePublicKey(text); return [v.hex(k.raw), k.keyId]; }),
    checks: [],
  };
  for (const [commitment, text] of input.checks) {
    out.checks.push(await v.verifySignature(commitment, key(text)));
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def run_signature_js(messages=(), keys=(), checks=()):
    answer = subprocess.run(
        [NODE, "-e", SIGNATURE_RUNNER, str(STATIC / "verify.js")],
        input=json.dumps({"messages": list(messages), "keys": list(keys), "checks": list(checks)}),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(answer.stdout)


def test_the_signed_bytes_and_keys_match_python(web_run: Path, publication_keys):
    from recompense.proofs.publication import read_public_key
    from recompense.proofs.signature import signed_message

    commitment = read_commitment(web_run)
    awkward = {**commitment, "program_id": 'é"\\\n\u2028😀｡', "z": [0, -1, None, True]}
    unsigned = {k: v for k, v in commitment.items() if k != "signature"}
    text = publication_keys.public_path.read_text()
    data = json.loads(text)
    got = run_signature_js(
        messages=[commitment, awkward, unsigned],
        keys=[text, data["public_key_pem"], data["public_key"].upper()],
    )
    assert got["messages"] == [signed_message(c).hex() for c in (commitment, awkward, unsigned)]
    public = read_public_key(publication_keys.public_path)
    assert got["keys"] == [
        [public.raw.hex(), public.key_id],
        [public.raw.hex(), None],
        [public.raw.hex(), None],
    ]


def test_webcrypto_signature_checks_match_python(web_run: Path, publication_keys, tmp_path):
    """verify.js checks with the platform's Ed25519 (Node's WebCrypto here, Chromium's in
    the browser tests): the same status as recompense.proofs.check_signature, case by case."""
    from recompense.proofs import check_signature
    from recompense.proofs.publication import load_signing_key, new_key_pair, sign_commitment
    from recompense.proofs.signature import PublicKey, parse_public_key

    commitment = read_commitment(web_run)
    text = publication_keys.public_path.read_text()
    other = new_key_pair(tmp_path / "other")
    other_signed = sign_commitment(commitment, load_signing_key(other.private_path))
    borrowed = copy.deepcopy(other_signed)
    borrowed["signature"]["key_id"] = commitment["signature"]["key_id"]
    value = bytes.fromhex(commitment["signature"]["value"])
    malleated = copy.deepcopy(commitment)
    s = int.from_bytes(value[32:], "little") + 2**252 + 27742317777372353535851937790883648493
    malleated["signature"]["value"] = (value[:32] + s.to_bytes(32, "little")).hex()
    cases = [
        (commitment, text),
        (commitment, json.loads(text)["public_key"]),  # a bare key: no key id to compare
        (commitment, None),
        ({k: v for k, v in commitment.items() if k != "signature"}, text),
        ({**commitment, "total_cents": commitment["total_cents"] + 1}, text),
        ({**commitment, "sum_tree": {**commitment["sum_tree"], "root": "0" * 64}}, text),
        (other_signed, text),
        (borrowed, text),
        (malleated, text),
        ({**commitment, "signature": {**commitment["signature"], "algorithm": "RS256"}}, text),
        ({**commitment, "signature": {"key_id": "k", "value": "00" * 64}}, text),
        ({**commitment, "signature": [1, "two"]}, text),
        ({**commitment, "signature": {**commitment["signature"], "value": "AB" * 64}}, text),
        ({**commitment, "signature": {**commitment["signature"], "key_id": ""}}, None),
        (commitment, other.public_path.read_text()),
    ]
    got = run_signature_js(checks=cases)["checks"]
    for (c, key_text), js in zip(cases, got, strict=True):
        key = parse_public_key(key_text) if key_text is not None else None
        py = check_signature(c, key)
        assert js["status"] == py.status, (js, py)
        assert js["detail"] == py.detail
        assert js["keyId"] == py.key_id
    assert [g["status"] for g in got[:4]] == ["valid", "valid", "unchecked", "unsigned"]
    assert {g["status"] for g in got[4:]} == {"invalid"}
    assert isinstance(parse_public_key(text), PublicKey)


# ---------------------------------------------------------------- the chain of amendments

CHAIN_RUNNER = """
const v = require(process.argv[1]);
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify({
  hashes: input.commitments.map((c) => v.chainSha256(c)),
  chains: input.chains.map((chain) => v.verifyChain(chain)),
  proofs: input.proofs.map(([chain, proof]) => v.verifyChainProof(chain, proof)),
}));
"""


def run_chain_js(commitments, chains, proofs):
    answer = subprocess.run(
        [NODE, "-e", CHAIN_RUNNER, str(STATIC / "verify.js")],
        input=json.dumps({"commitments": commitments, "chains": chains, "proofs": proofs}),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(answer.stdout)


@pytest.fixture(scope="module")
def amended(tmp_path_factory):
    """A committed base and two committed amendments (hand-made, as ``amend`` writes)."""
    from proofs.amendment_runs import amend
    from proofs.proof_runs import hand_made_run
    from recompense.proofs import commit_run

    folder = tmp_path_factory.mktemp("amended")
    base = hand_made_run(folder / "base", [5, 6, 7, 9], [500, 600, 700, 900])
    first = amend(base, folder / "a1", {6: 1_234, 8: 80})
    second = amend(first, folder / "a2", {9: 1_000})
    for run in (base, first, second):
        commit_run(run, environ={})
    return base, first, second


def test_chain_checks_match_the_python_verifier(amended):
    from recompense.proofs.verify import chain_sha256, verify_chain, verify_chain_proof

    chain = [read_commitment(run) for run in amended]
    prover = Prover(amended[2], environ={})
    bundles = [prover.bundle(u) for u in (5, 6, 8, 9)]
    broken = copy.deepcopy(chain)
    broken[1]["previous"]["commitment_sha256"] = "ab" * 32
    chains = [chain, broken, [chain[0], chain[2], chain[1]], chain[:2], [chain[1]]]
    lying = copy.deepcopy(bundles[1])
    lying["amendment"].update(previous_cents=0, topup_cents=1_234)
    proofs = [[chain, b] for b in bundles] + [
        [chain, lying],
        [broken, bundles[0]],
        [chain[:2], bundles[0]],
    ]
    got = run_chain_js(chain, chains, proofs)
    assert got["hashes"] == [chain_sha256(c) for c in chain]
    for given, js in zip(chains, got["chains"], strict=True):
        py = verify_chain(given)
        assert (js["ok"], js["passed"], js["failure"]) == (py.ok, list(py.passed), py.failure)
    for (given, bundle), js in zip(proofs, got["proofs"], strict=True):
        py = verify_chain_proof(given, bundle)
        assert js["ok"] == py.ok
        assert len(js["passed"]) == len(py.passed)
        if not py.ok:
            assert js["failure"].split(":")[0] == py.failure.split(":")[0]
    assert [v["ok"] for v in got["proofs"]] == [True] * 4 + [False] * 3
