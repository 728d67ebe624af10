"""Signed commitments: the publication key pair, signing at commit, and every check.

The key pair is made with ``recompense keys new`` as an operator would; a commitment is
signed by ``commit --key`` and checked by ``verify --public-key`` (and by the copied
``signature.py`` alone). Every byte of a root, the total, the run's hash or the
programme changed fails the check; so do another key, a key id that is not the key's,
a malleated signature (S + L) and a signature stripped off with ``--public-key`` given.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from proof_runs import KEY, hand_made_run
from typer.testing import CliRunner

from recompense.cli.main import app
from recompense.proofs import (
    CommitError,
    PublicationKeyError,
    check_signature,
    commit_run,
    proof_bundle,
    read_commitment,
    verify_proof,
)
from recompense.proofs import signature as signature_module
from recompense.proofs.commit import content_sha256
from recompense.proofs.publication import (
    PRIVATE_FILE,
    PUBLIC_FILE,
    load_signing_key,
    new_key_pair,
    read_public_key,
    sign_commitment,
)
from recompense.proofs.signature import (
    SIGNING_CONTEXT,
    PublicKey,
    canonical_json,
    key_fingerprint,
    parse_public_key,
    signed_message,
)

ENV = {"RECOMPENSE_COMMITMENT_KEY": KEY}
USERS = list(range(500, 540))
AMOUNTS = [400 + 1_000 * i for i in range(40)]
L = 2**252 + 27742317777372353535851937790883648493  # the order of Ed25519's base point


def cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"RECOMPENSE_COMMITMENT_KEY": KEY})


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("keys") / "programme"
    result = cli("keys", "new", "--out", str(folder))
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("keys") / "other"
    new_key_pair(folder)
    return folder


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory, keys) -> Path:
    run = hand_made_run(tmp_path_factory.mktemp("signed") / "run", USERS, AMOUNTS)
    result = cli("commit", "--run", str(run), "--key", str(keys / PRIVATE_FILE))
    assert result.exit_code == 0, result.output
    assert "signature           Ed25519, key " in result.output
    return run


@pytest.fixture
def commitment(signed_run) -> dict:
    return read_commitment(signed_run)


@pytest.fixture(scope="module")
def public(keys) -> PublicKey:
    return read_public_key(keys / PUBLIC_FILE)


# ---------------------------------------------------------------- the key pair


def test_keys_new_writes_a_private_key_for_its_owner_only_and_a_public_key(keys):
    private, public = keys / PRIVATE_FILE, keys / PUBLIC_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) & 0o600 == 0o600  # and others' by the umask
    data = json.loads(public.read_text())
    assert data["format"] == "recompense-public-key-v1"
    assert data["algorithm"] == "Ed25519"
    raw = bytes.fromhex(data["public_key"])
    assert data["key_id"] == key_fingerprint(raw) == data["key_id"][:16]
    pem_key = serialization.load_pem_public_key(data["public_key_pem"].encode())
    assert isinstance(pem_key, ed25519.Ed25519PublicKey)
    assert pem_key.public_bytes_raw() == raw
    assert "PRIVATE" not in public.read_text()
    signing = load_signing_key(private)
    assert signing.public.raw == raw
    assert signing.key_id == data["key_id"]
    assert "PRIVATE KEY" not in repr(signing)


def test_keys_new_refuses_to_overwrite_either_file(keys, tmp_path):
    before = {p.name: p.read_bytes() for p in keys.iterdir()}
    again = cli("keys", "new", "--out", str(keys))
    assert again.exit_code == 2
    assert "exists already; keys are never overwritten" in again.output
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == before
    half = tmp_path / "half"
    half.mkdir()
    (half / PUBLIC_FILE).write_text("{}")
    refused = cli("keys", "new", "--out", str(half))
    assert refused.exit_code == 2
    assert PUBLIC_FILE in refused.output
    assert not (half / PRIVATE_FILE).exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_a_message_not_a_traceback(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = cli("keys", "new", "--out", str(locked / "keys"))
    assert result.exit_code == 2
    assert "cannot create the folder" in result.output


def test_unusable_places_and_key_ids_exit_2_with_a_message(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["--out", str(a_file)], "not a folder"),
        (["--out", str(a_file / "below")], "cannot create the folder"),
        (["--out", "/proc/recompense-keys"], "cannot create the folder"),
        (["--out", "/proc/self"], "signing-key.json: cannot write"),  # a folder, unwritable
        (["--out", str(tmp_path / "k"), "--key-id", "has space"], "key id 'has space'"),
        (["--out", str(tmp_path / "k"), "--key-id", "x" * 65], "1 to 64 letters"),
    ]
    for args, message in cases:
        result = cli("keys", "new", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "k" / PRIVATE_FILE).exists()


def test_a_named_key_carries_its_name_into_both_files(tmp_path):
    pair = new_key_pair(tmp_path / "named", "together-2025-10.q4")
    assert pair.public.key_id == "together-2025-10.q4"
    assert load_signing_key(pair.private_path).key_id == "together-2025-10.q4"
    assert read_public_key(pair.public_path).key_id == "together-2025-10.q4"


def test_signing_keys_from_other_tools_and_what_is_not_one(tmp_path):
    seed = bytes(range(32))
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    pem = tmp_path / "openssl.pem"
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    bare = load_signing_key(pem)  # a PKCS#8 file from openssl genpkey -algorithm ed25519
    assert bare.key_id == key_fingerprint(private.public_key().public_bytes_raw())
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pair = new_key_pair(tmp_path / "pair")
    mixed = json.loads(pair.private_path.read_text())
    mixed["public_key"] = "00" * 32
    (tmp_path / "mixed.json").write_text(json.dumps(mixed))
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    for name, message in [
        ("encrypted.pem", "not a signing key"),
        ("rsa.pem", "not an Ed25519 private key"),
        ("mixed.json", "is not the private key's"),
        ("binary", "not a text file"),
        ("missing", "cannot read the signing key"),
        (PUBLIC_FILE, "not a signing key"),
    ]:
        path = pair.public_path if name == PUBLIC_FILE else tmp_path / name
        with pytest.raises(PublicationKeyError, match=message):
            load_signing_key(path)


def test_public_keys_are_read_from_the_json_file_pem_or_hex(keys, public):
    data = json.loads((keys / PUBLIC_FILE).read_text())
    assert parse_public_key(data["public_key_pem"]) == PublicKey(public.raw)
    assert parse_public_key(data["public_key"].upper()) == PublicKey(public.raw)
    for text, message in [
        ("{}", "not a public key file"),
        ("12ab", "not a public key"),
        (json.dumps({**data, "algorithm": "RSA"}), "algorithm 'RSA'"),
        (json.dumps({**data, "public_key": "zz"}), "64 lowercase hex digits"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_public_key(text)


# ---------------------------------------------------------------- signing and checking


def test_commit_signs_and_verify_checks_the_signature_and_the_root(signed_run, keys, tmp_path):
    commitment = read_commitment(signed_run)
    signature = commitment["signature"]
    assert list(commitment)[-1] == "signature"  # the content first, then its signature
    assert signature["algorithm"] == "Ed25519"
    assert len(signature["value"]) == 128
    public = read_public_key(keys / PUBLIC_FILE)
    assert signature["key_id"] == public.key_id
    assert check_signature(commitment, public).ok
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(proof_bundle(signed_run, 517, environ=ENV)))
    args = ["verify", "--commitment", str(signed_run / "commitment.json"), "--proof", str(proof)]
    checked = cli(*args, "--public-key", str(keys / PUBLIC_FILE))
    assert checked.exit_code == 0, checked.output
    out = " ".join(checked.output.split())
    assert "✔ signature: Ed25519 by the programme's key" in out
    assert public.raw.hex() in out
    assert out.endswith("VALID (signed by the programme's key)")
    unchecked = cli(*args)
    assert unchecked.exit_code == 0
    assert "signature not checked (give --public-key)" in " ".join(unchecked.output.split())
    as_json = json.loads(cli(*args, "--public-key", str(keys / PUBLIC_FILE), "--json").stdout)
    assert as_json["ok"]
    assert as_json["signature"]["status"] == "valid"


def test_any_changed_character_of_roots_total_run_or_programme_fails(commitment, public):
    """Every hex digit of both roots and the run hash, every digit of the totals."""
    fields = [
        ("sum_tree", "root"),
        ("standard_tree", "root"),
        ("manifest_sha256",),
        ("program_id",),
        ("total_cents",),
        ("users",),
        ("standard_tree", "total_units"),
        ("signature", "key_id"),
    ]
    tried = 0
    for path in fields:
        original = _get(commitment, path)
        text = str(original)
        for position, char in enumerate(text):
            changed = "1" if char != "1" else "2"
            value = text[:position] + changed + text[position + 1 :]
            tampered = copy.deepcopy(commitment)
            _set(tampered, path, int(value) if isinstance(original, int) else value)
            result = check_signature(tampered, PublicKey(public.raw))
            assert result.status == "invalid", (path, position)
            tried += 1
    assert tried >= 64 + 66 + 64  # every digit of both roots and the run hash, at least
    for bit in (0, 7, 255, 511):  # and the signature itself
        tampered = copy.deepcopy(commitment)
        value = int(tampered["signature"]["value"], 16) ^ (1 << bit)
        tampered["signature"]["value"] = f"{value:0128x}"
        assert check_signature(tampered, public).status == "invalid"


def test_a_tampered_total_fails_verify_with_exit_1(signed_run, keys, tmp_path):
    commitment = read_commitment(signed_run)
    commitment["total_cents"] -= 100
    forged = tmp_path / "commitment.json"
    forged.write_text(json.dumps(commitment, indent=2))
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(proof_bundle(signed_run, 517, environ=ENV)))
    args = ["verify", "--commitment", str(forged), "--proof", str(proof)]
    result = cli(*args, "--public-key", str(keys / PUBLIC_FILE))
    assert result.exit_code == 1
    assert "✘ signature: does not verify with the programme's key" in result.output


def test_layout_is_not_signed_but_content_is(commitment, public):
    """Another key order or indentation is the same commitment; the signature holds."""
    reordered = json.loads(json.dumps(dict(reversed(list(commitment.items())))))
    assert check_signature(reordered, public).ok
    assert signed_message(reordered) == signed_message(commitment)
    assert signed_message(commitment).startswith(SIGNING_CONTEXT + b'{"currency":')


def test_another_key_and_a_borrowed_key_id_fail(commitment, other_keys, public):
    other = read_public_key(other_keys / PUBLIC_FILE)
    wrong = check_signature(commitment, other)
    assert wrong.status == "invalid"
    assert "but the programme's key is" in wrong.detail
    bare = check_signature(commitment, PublicKey(other.raw))
    assert bare.status == "invalid"
    assert "does not verify" in bare.detail
    # An impostor signs with their key but writes the programme's key id: the id is signed.
    impostor = load_signing_key(other_keys / PRIVATE_FILE)
    forged = sign_commitment(commitment, impostor)
    forged["signature"]["key_id"] = public.key_id
    assert check_signature(forged, public).status == "invalid"


def test_unsigned_and_malformed_signatures_are_reported_as_such(commitment, public):
    unsigned = {k: v for k, v in commitment.items() if k != "signature"}
    assert check_signature(unsigned, public).status == "unsigned"
    assert check_signature(unsigned, None).status == "unsigned"
    assert check_signature(commitment, None).status == "unchecked"
    for broken, message in [
        ("Ed25519", "is not an object"),
        ({**commitment["signature"], "algorithm": "none"}, 'algorithm "none"'),
        ({**commitment["signature"], "value": "00"}, "128 lowercase hex digits"),
        ({**commitment["signature"], "key_id": 7}, "'key_id' is missing"),
    ]:
        result = check_signature({**commitment, "signature": broken}, public)
        assert result.status == "invalid", broken
        assert message in result.detail, broken


def test_a_malleated_signature_is_refused(commitment, public):
    """S + L is the same point arithmetic but a non-canonical S: RFC 8032 says reject."""
    value = bytes.fromhex(commitment["signature"]["value"])
    s = int.from_bytes(value[32:], "little") + L
    assert s < 2**256
    malleated = copy.deepcopy(commitment)
    malleated["signature"]["value"] = (value[:32] + s.to_bytes(32, "little")).hex()
    assert check_signature(malleated, public).status == "invalid"


def test_canonical_json_is_jcs_for_what_a_commitment_holds():
    value = {"b": [1, 'é\u2028\x7f"\\\n\x01'], "a": {"z": None, "y": True}, "\u00e9": -0}
    assert (
        canonical_json(value)
        == ('{"a":{"y":true,"z":null},"b":[1,"é\u2028\x7f\\"\\\\\\n\\u0001"],"é":0}').encode()
    )
    # keys by UTF-16 code units: U+FF61 (one unit) sorts after U+1F600 (surrogates D83D…)
    assert canonical_json({"\uff61": 1, "\U0001f600": 2}) == '{"😀":2,"｡":1}'.encode()
    for bad in (1.5, 2**53, {1: 2}, "\ud800"):
        with pytest.raises(ValueError, match="not canonical JSON"):
            canonical_json(bad)


# ---------------------------------------------------------------- commit and the store


def test_signing_a_published_unsigned_commitment_keeps_its_content(keys, other_keys, tmp_path):
    run = hand_made_run(tmp_path / "run", USERS, AMOUNTS)
    commit_run(run, environ=ENV, workers=1)
    unsigned = read_commitment(run)
    signing = load_signing_key(keys / PRIVATE_FILE)
    done = commit_run(run, environ=ENV, workers=1, signing_key=signing)
    assert done.signed_now
    assert not done.created
    signed = read_commitment(run)
    assert {k: v for k, v in signed.items() if k != "signature"} == unsigned
    assert content_sha256(signed) == content_sha256(unsigned)
    assert verify_proof(signed, proof_bundle(run, 517, environ=ENV)).ok  # the store still fits
    published = (run / "commitment.json").read_bytes()
    again = commit_run(run, environ=ENV, workers=1, signing_key=signing)
    assert not again.signed_now
    assert (run / "commitment.json").read_bytes() == published
    with pytest.raises(CommitError, match="never signed again with another key"):
        commit_run(
            run, environ=ENV, workers=1, signing_key=load_signing_key(other_keys / PRIVATE_FILE)
        )
    assert (run / "commitment.json").read_bytes() == published


def test_a_signed_run_commits_to_the_same_bytes_and_restores_a_lost_store(keys, tmp_path):
    signing = load_signing_key(keys / PRIVATE_FILE)
    first = hand_made_run(tmp_path / "a", USERS, AMOUNTS)
    second = hand_made_run(tmp_path / "b", USERS, AMOUNTS)
    commit_run(first, environ=ENV, workers=1, signing_key=signing)
    commit_run(second, environ=ENV, workers=1, signing_key=signing)
    published = (first / "commitment.json").read_bytes()
    assert (second / "commitment.json").read_bytes() == published  # Ed25519 is deterministic
    for path in (first / "proofs").iterdir():
        path.unlink()
    (first / "proofs").rmdir()
    done = commit_run(first, environ=ENV, workers=1, signing_key=signing)
    assert not done.created
    assert (first / "commitment.json").read_bytes() == published
    assert verify_proof(read_commitment(first), proof_bundle(first, 530, environ=ENV)).ok


def test_a_commitment_whose_signature_was_damaged_is_not_signed_over(keys, tmp_path):
    run = hand_made_run(tmp_path / "run", USERS, AMOUNTS)
    signing = load_signing_key(keys / PRIVATE_FILE)
    commit_run(run, environ=ENV, workers=1, signing_key=signing)
    damaged = read_commitment(run)
    damaged["signature"]["value"] = "00" * 64
    (run / "commitment.json").write_text(json.dumps(damaged, indent=2) + "\n")
    with pytest.raises(CommitError, match="its signature does not verify"):
        commit_run(run, environ=ENV, workers=1, signing_key=signing)


def test_commit_with_an_unusable_key_exits_2_and_writes_nothing(tmp_path, keys):
    run = hand_made_run(tmp_path / "run", USERS, AMOUNTS)
    for key in (keys / PUBLIC_FILE, tmp_path, tmp_path / "missing.json"):
        result = cli("commit", "--run", str(run), "--key", str(key))
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (run / "commitment.json").exists()


def test_verify_with_a_key_refuses_an_unsigned_commitment(keys, tmp_path):
    run = hand_made_run(tmp_path / "run", USERS, AMOUNTS)
    commit_run(run, environ=ENV, workers=1)
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(proof_bundle(run, 517, environ=ENV)))
    args = ["verify", "--commitment", str(run / "commitment.json"), "--proof", str(proof)]
    plain = cli(*args)
    assert plain.exit_code == 0
    out = " ".join(plain.output.split())
    assert "the commitment is unsigned" in out
    assert out.endswith("but the commitment is UNSIGNED")
    keyed = cli(*args, "--public-key", str(keys / PUBLIC_FILE))
    assert keyed.exit_code == 1
    assert "--public-key asks for the programme's signature" in keyed.output
    unreadable = cli(*args, "--public-key", str(tmp_path / "nope.json"))
    assert unreadable.exit_code == 2
    assert "cannot read the public key" in unreadable.output


def test_the_signature_checker_runs_alone_as_a_copied_file(signed_run, keys, tmp_path):
    copied = tmp_path / "signature.py"
    copied.write_text(Path(signature_module.__file__).read_text(encoding="utf-8"))
    command = [sys.executable, "-I", str(copied), str(signed_run / "commitment.json")]
    ok = subprocess.run([*command, str(keys / PUBLIC_FILE)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith("SIGNED"), ok.stdout + ok.stderr
    bad = json.loads((signed_run / "commitment.json").read_text())
    bad["sum_tree"]["root"] = "0" * 64
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    command[-1] = str(tmp_path / "bad.json")
    failed = subprocess.run([*command, str(keys / PUBLIC_FILE)], capture_output=True, text=True)
    assert failed.returncode == 1
    assert "FAIL  signature: does not verify" in failed.stdout


def _get(data: dict, path: tuple[str, ...]):
    for key in path:
        data = data[key]
    return data


def _set(data: dict, path: tuple[str, ...], value) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def test_the_by_hand_check_in_the_docs_works(signed_run, keys, tmp_path, monkeypatch):
    from cryptography.exceptions import InvalidSignature

    docs = (Path(__file__).resolve().parents[2] / "docs" / "proofs.md").read_text()
    blocks = [b.split("```", 1)[0] for b in docs.split("```python\n")[1:]]
    snippet = next(b for b in blocks if "Ed25519PublicKey" in b)
    (tmp_path / "public-key.json").write_bytes((keys / PUBLIC_FILE).read_bytes())
    commitment = read_commitment(signed_run)
    (tmp_path / "commitment.json").write_text(json.dumps(commitment, indent=4))
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/proofs.md", "exec"), {})
    commitment["total_cents"] += 1
    (tmp_path / "commitment.json").write_text(json.dumps(commitment))
    with pytest.raises(InvalidSignature):
        exec(compile(snippet, "docs/proofs.md", "exec"), {})


def test_keys_new_has_help_with_an_example():
    result = cli("keys", "new", "--help")
    assert result.exit_code == 0
    assert "Example: recompense keys new --out " in " ".join(result.stdout.split())


def test_the_signature_checker_depends_on_the_standard_library_and_cryptography_only():
    import ast

    tree = ast.parse(Path(signature_module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}
