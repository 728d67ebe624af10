"""The commitment's signature against Ed25519 and JCS implementations we did not write.

Installed with npm into a temporary folder and run under Node:

- ``tweetnacl`` (TweetNaCl.js, audited by Cure53) and ``@noble/ed25519`` (noble) verify
  the signatures Python made; from the same 32-byte seeds they derive the same public
  keys and make byte-identical signatures (Ed25519 is deterministic), which Python
  verifies;
- ``canonicalize`` (the RFC 8785 implementation of one of its authors) gives the same
  canonical bytes as ``signature.canonical_json`` for the real commitment and for
  awkward strings (escapes, non-BMP characters, keys that sort differently by UTF-16
  code units than by code points).

The browser's own Ed25519 (WebCrypto), which the verify page uses, is checked in
``tests/web/test_verify_js.py`` under Node and in Chromium by the browser tests.
The libraries are pinned in ``tests/browser/package-lock.json`` (installed by ``make browser``).
Skipped when ``node`` or they are missing, except under ``.ci/run``
(``RECOMPENSE_REQUIRE_NODE=1``), where that fails.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from proof_runs import KEY, hand_made_run

from builders import linked_node_modules
from recompense.proofs import commit_run, read_commitment
from recompense.proofs.publication import load_signing_key, new_key_pair, sign_commitment
from recompense.proofs.signature import canonical_json, signed_message

L = 2**252 + 27742317777372353535851937790883648493

SCRIPT = r"""
import fs from "fs";
import { createRequire } from "module";
import * as ed from "@noble/ed25519";
const require = createRequire(import.meta.url);
const nacl = require("tweetnacl");
const canonicalize = require("canonicalize");
const bytes = (h) => Uint8Array.from(Buffer.from(h, "hex"));
const hex = (b) => Buffer.from(b).toString("hex");
const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const verified = [];
for (const c of input.verify) {
  const [m, s, k] = [bytes(c.message), bytes(c.signature), bytes(c.public_key)];
  verified.push({ tweetnacl: nacl.sign.detached.verify(m, s, k), noble: await ed.verifyAsync(s, m, k) });
}
const signed = [];
for (const c of input.sign) {
  const [seed, m] = [bytes(c.seed), bytes(c.message)];
  const pair = nacl.sign.keyPair.fromSeed(seed);
  signed.push({
    tweetnacl: { public_key: hex(pair.publicKey), signature: hex(nacl.sign.detached(m, pair.secretKey)) },
    noble: { public_key: hex(await ed.getPublicKeyAsync(seed)), signature: hex(await ed.signAsync(m, seed)) },
  });
}
const canonical = input.canonical.map((v) => canonicalize(v));
process.stdout.write(JSON.stringify({ verified, signed, canonical }));
"""


@pytest.fixture(scope="module")
def libraries(tmp_path_factory) -> Path:
    folder = linked_node_modules(
        tmp_path_factory.mktemp("ed25519-js"), "@noble/ed25519", "the Ed25519 libraries"
    )
    (folder / "package.json").write_text('{"name": "interop", "private": true}')
    (folder / "interop.mjs").write_text(SCRIPT)
    return folder


def run_libraries(folder: Path, verify=(), sign=(), canonical=()) -> dict:
    cases = {"verify": list(verify), "sign": list(sign), "canonical": list(canonical)}
    (folder / "cases.json").write_text(json.dumps(cases))
    result = subprocess.run(
        ["node", "interop.mjs", "cases.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A commitment signed by ``commit --key``, and the key that signed it."""
    root = tmp_path_factory.mktemp("interop")
    pair = new_key_pair(root / "keys")
    key = load_signing_key(pair.private_path)
    run = hand_made_run(root / "run", list(range(100, 177)), [500 + 37 * i for i in range(77)])
    commit_run(run, environ={"RECOMPENSE_COMMITMENT_KEY": KEY}, workers=1, signing_key=key)
    return read_commitment(run), key


def _case(commitment: dict, public_key: bytes) -> dict:
    return {
        "message": signed_message(commitment).hex(),
        "signature": commitment["signature"]["value"],
        "public_key": public_key.hex(),
    }


def test_python_signatures_verify_in_tweetnacl_and_noble(libraries, signed, tmp_path):
    commitment, key = signed
    raw = key.public.raw
    tampered = copy.deepcopy(commitment)
    tampered["sum_tree"]["root"] = "f" + tampered["sum_tree"]["root"][1:]
    other = load_signing_key(new_key_pair(tmp_path / "other").private_path)
    cases = [
        _case(commitment, raw),  # the real one
        _case(tampered, raw),  # a changed root
        _case(commitment, other.public.raw),  # another key
        _case(sign_commitment(commitment, other), raw),  # signed by another key
    ]
    got = run_libraries(libraries, verify=cases)["verified"]
    assert got[0] == {"tweetnacl": True, "noble": True}
    assert all(result == {"tweetnacl": False, "noble": False} for result in got[1:])


def test_same_seed_same_key_and_byte_identical_signatures(libraries, signed):
    commitment, _ = signed
    rng = random.Random(16)
    seeds = [bytes(rng.getrandbits(8) for _ in range(32)) for _ in range(5)]
    messages = [signed_message(commitment)] + [
        bytes(rng.getrandbits(8) for _ in range(n)) for n in (0, 1, 64, 1000)
    ]
    cases = [{"seed": s.hex(), "message": m.hex()} for s, m in zip(seeds, messages, strict=True)]
    got = run_libraries(libraries, sign=cases)["signed"]
    for seed, message, theirs in zip(seeds, messages, got, strict=True):
        private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        ours = {
            "public_key": private.public_key().public_bytes_raw().hex(),
            "signature": private.sign(message).hex(),
        }
        assert theirs["tweetnacl"] == ours
        assert theirs["noble"] == ours
        public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(ours["public_key"]))
        public.verify(bytes.fromhex(theirs["noble"]["signature"]), message)


def test_a_malleated_signature_is_refused_by_python_and_noble(libraries, signed):
    """S + L: TweetNaCl accepts it (it does not check S < L); Python and noble refuse it,
    and so does WebCrypto (tests/web/test_verify_js.py)."""
    commitment, key = signed
    value = bytes.fromhex(commitment["signature"]["value"])
    s = int.from_bytes(value[32:], "little") + L
    malleated = (value[:32] + s.to_bytes(32, "little")).hex()
    case = {**_case(commitment, key.public.raw), "signature": malleated}
    got = run_libraries(libraries, verify=[case])["verified"][0]
    assert got["noble"] is False
    public = ed25519.Ed25519PublicKey.from_public_bytes(key.public.raw)
    with pytest.raises(InvalidSignature):
        public.verify(bytes.fromhex(malleated), signed_message(commitment))


def test_canonical_bytes_match_an_rfc_8785_implementation(libraries, signed):
    commitment, _ = signed
    rng = random.Random(8785)
    alphabet = ['"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "😀", "｡", "a", "/"]
    strings = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(40)]
    values = [
        commitment,
        {s: i for i, s in enumerate(strings)},
        {"list": strings, "nested": {"\uff61": [1, -2, 0], "\U0001f600": None, "b": True}},
        [2**53 - 1, -(2**53 - 1), "", {}],
    ]
    got = run_libraries(libraries, canonical=values)["canonical"]
    for value, theirs in zip(values, got, strict=True):
        assert canonical_json(value) == theirs.encode("utf-8")
