"""Check one user's payout proof against a published commitment, with nothing else.

Dependencies: the Python standard library (3.11+) and ``eth-hash`` with a backend
(``pip install "eth-hash[pycryptodome]"``) for Keccak-256, which is not SHA3-256.
This file imports nothing from recompense, so it can be copied alone and audited::

    python verify.py commitment.json proof.json      # exit 0: valid, 1: not valid

It is also the specification of every byte that is hashed (``docs/proofs.md`` says the
same in prose). ``‖`` is concatenation; ``int64be``/``uint128be``/``uint256be`` are
two's-complement/unsigned big-endian integers of 8/16/32 bytes.

- ``salt``: 32 bytes, given only to its user (the operator derives it with
  HMAC-SHA256(programme key, utf8(program_id) ‖ 0x00 ‖ int64be(user_id))).
- ``user_hash = SHA-256(salt ‖ int64be(user_id))``: the only trace of a user in the trees.
- Merkle sum tree over the users in ascending ``user_hash`` order:
  leaf ``(SHA-256(0x00 ‖ user_hash ‖ uint128be(amount_cents)), amount_cents)``;
  node ``(SHA-256(0x01 ‖ L.hash ‖ uint128be(L.sum) ‖ R.hash ‖ uint128be(R.sum)),
  L.sum + R.sum)``; a level with an odd number of nodes (other than the root) is padded
  with ``(SHA-256(0x02), 0)``. The root's sum is the published total. The prefixes keep a
  node from ever passing as a leaf; both children's sums are hashed, so no sum on the
  path can be lowered without changing the root.
- OpenZeppelin ``StandardMerkleTree`` (``standard-v1``) over
  ``[bytes32 user_hash, uint256 amount]`` with the amount in USDC base units
  (6 decimals: ``amount_cents × 10⁴``): leaf ``keccak256(keccak256(user_hash ‖
  uint256be(amount)))`` (= ``abi.encode``), node ``keccak256(min(a, b) ‖ max(a, b))``.

Amendments (``docs/proofs.md``, "Proofs across amendments") commit to every user's
**cumulative** amount, and each names the commitment it amends, so the commitments form
a chain from the base (sequence 0) to the latest amendment:

- ``chain_sha256(c) = SHA-256(JCS(c without "signature"))``: JCS is RFC 8785 canonical
  JSON (keys sorted, no whitespace, UTF-8), as :mod:`signature` signs. Neither the
  file's layout nor a signature added later changes it, and a browser computes it.
- amendment ``n`` holds ``"previous": {"commitment_sha256": chain_sha256(c[n-1]),
  "manifest_sha256": c[n-1].manifest_sha256, "sequence": n-1}`` and ``"amendment":
  {"sequence": n, "base_manifest_sha256": c[0].manifest_sha256}``; a base has neither.
  (A verifier that predates amendments ignores both and still checks the cumulative
  proof correctly: the format stays ``recompense-commitment-v1``.)
- a bundle from amendment ``n`` proves the cumulative amount against ``c[n]`` and holds
  ``"amendment": {"sequence": n, "previous_cents", "topup_cents", "change",
  "previous_proof"}``: ``previous_proof`` is the same user's bundle against ``c[n-1]``
  (so ``previous_cents`` is proven too, all the way back to the base), or null when the
  user had no payout before (``previous_cents`` = 0, not proven: a sum tree proves
  presence, not absence); ``topup_cents = amount_cents − previous_cents`` is arithmetic;
  ``change`` (increase, claim, new, decrease, unchanged, carried) is informative.

    python verify.py commitment.json proof.json [previous.json … base.json]
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from eth_hash.auto import keccak

COMMITMENT_FORMAT = "recompense-commitment-v1"
PROOF_FORMAT = "recompense-proof-v1"
LEAF_ENCODING = ("bytes32", "uint256")
UNITS_PER_CENT = 10_000  # USDC has 6 decimals: 1 cent = 10^4 base units
LEAF_PREFIX, NODE_PREFIX, PAD_PREFIX = b"\x00", b"\x01", b"\x02"
PAD_HASH = hashlib.sha256(PAD_PREFIX).digest()
MAX_SUM = 2**128 - 1

_HEX32 = re.compile(r"[0-9a-f]{64}")


def user_hash(salt: bytes, user_id: int) -> bytes:
    """``SHA-256(salt ‖ int64be(user_id))``: the user's 32-byte commitment."""
    return hashlib.sha256(salt + user_id.to_bytes(8, "big", signed=True)).digest()


def sum_leaf(commitment: bytes, amount_cents: int) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + commitment + amount_cents.to_bytes(16, "big")).digest()


def sum_node(left: tuple[bytes, int], right: tuple[bytes, int]) -> tuple[bytes, int]:
    """Parent of two ``(hash, sum)`` nodes; both sums are hashed, not only their total."""
    message = (
        NODE_PREFIX
        + left[0]
        + left[1].to_bytes(16, "big")
        + right[0]
        + right[1].to_bytes(16, "big")
    )
    return hashlib.sha256(message).digest(), left[1] + right[1]


def standard_leaf(commitment: bytes, amount_units: int) -> bytes:
    """OpenZeppelin's leaf: ``keccak256(keccak256(abi.encode(bytes32, uint256)))``."""
    return bytes(keccak(bytes(keccak(commitment + amount_units.to_bytes(32, "big")))))


def standard_node(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's node: Keccak-256 of the sorted pair (so proofs carry no sides)."""
    return bytes(keccak(a + b if a <= b else b + a))


def sum_tree_depth(leaves: int) -> int:
    """Levels above the leaves: ⌈log₂ leaves⌉ (each level halves, rounding up)."""
    return (leaves - 1).bit_length()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome: ``ok``, the checks that passed and, if not ok, the one that failed."""

    ok: bool
    passed: tuple[str, ...]
    failure: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "passed": list(self.passed), "failure": self.failure}


class _Failed(Exception):
    pass


def verify_proof(commitment: Mapping[str, Any], proof: Mapping[str, Any]) -> Verdict:
    """Check ``proof`` (one user's bundle) against ``commitment`` (the published file).

    Steps, in order; the first that fails is reported with the numbers involved:
    the two files' formats, that both name the same programme and run, the user hash
    from the salt, the sum tree path up to the published total and root, the standard
    tree's value, the standard tree proof up to its root.
    """
    if not isinstance(commitment, Mapping) or not isinstance(proof, Mapping):
        return Verdict(ok=False, passed=(), failure="commitment and proof must be JSON objects")
    passed: list[str] = []
    try:
        for step in _STEPS:
            passed.append(step(commitment, proof))
    except _Failed as failed:
        return Verdict(ok=False, passed=tuple(passed), failure=str(failed))
    return Verdict(ok=True, passed=tuple(passed))


def _check_commitment(c: Mapping[str, Any], _: Mapping[str, Any]) -> str:
    if c.get("format") != COMMITMENT_FORMAT:
        _fail(f"commitment: format is {c.get('format')!r}, expected {COMMITMENT_FORMAT!r}")
    _str(c, "program_id", "commitment")
    _hex32(c, "manifest_sha256", "commitment")
    users = _int(c, "users", "commitment", low=1)
    total = _int(c, "total_cents", "commitment", low=0, high=MAX_SUM)
    sums = _mapping(c, "sum_tree", "commitment")
    _hex32(sums, "root", "commitment sum_tree")
    depth = _int(sums, "depth", "commitment sum_tree", low=0)
    if depth != sum_tree_depth(users):
        _fail(
            f"commitment: sum_tree depth {depth} does not fit {users:,} users "
            f"(expected {sum_tree_depth(users)})"
        )
    standard = _mapping(c, "standard_tree", "commitment")
    _hex32(standard, "root", "commitment standard_tree", prefix="0x")
    if tuple(standard.get("leaf_encoding", ())) != LEAF_ENCODING:
        _fail(f"commitment: standard_tree leaf_encoding must be {list(LEAF_ENCODING)}")
    return (
        f"commitment: programme {c['program_id']}, run {c['manifest_sha256'][:12]}…, "
        f"{users:,} users, total {_cents(total)}"
    )


def _check_proof(c: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    if p.get("format") != PROOF_FORMAT:
        _fail(f"proof: format is {p.get('format')!r}, expected {PROOF_FORMAT!r}")
    for key in ("program_id", "manifest_sha256"):
        if p.get(key) != c[key]:
            _fail(
                f"proof: {key} is {p.get(key)!r} but the commitment's is {c[key]!r}: "
                "the proof belongs to another run"
            )
    return f"proof: same programme and run ({c['manifest_sha256'][:12]}…)"


def _check_user_hash(_: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    user_id = _int(p, "user_id", "proof", low=-(2**63), high=2**63 - 1)
    salt = bytes.fromhex(_hex32(p, "salt", "proof"))
    claimed = _hex32(p, "user_hash", "proof")
    computed = user_hash(salt, user_id).hex()
    if computed != claimed:
        _fail(
            f"salted user hash does not match the leaf: SHA-256(salt ‖ user {user_id}) = "
            f"{computed[:16]}…, the proof's leaf has {claimed[:16]}… "
            "(wrong salt or user id)"
        )
    return f"user hash: SHA-256(salt ‖ user {user_id}) = {computed[:16]}…"


def _check_standard_value(c: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    amount = p["amount_cents"]
    token = str(c.get("currency") or "USDC")  # both USDC and USDT have 6 decimals
    standard = _mapping(p, "standard_tree", "proof")
    value = standard.get("value")
    expected = ["0x" + p["user_hash"], str(amount * UNITS_PER_CENT)]
    if value != expected:
        _fail(
            f"standard tree: value {value!r} is not [0x‖user_hash, amount in {token} base "
            f"units] = {expected!r}"
        )
    return f"standard tree: value = [user hash, {expected[1]} {token} base units]"


def _check_sum_tree(c: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    users, depth = c["users"], c["sum_tree"]["depth"]
    amount = _int(p, "amount_cents", "proof", low=0, high=MAX_SUM)
    tree = _mapping(p, "sum_tree", "proof")
    index = _int(tree, "leaf_index", "proof sum_tree", low=0, high=users - 1)
    path = tree.get("path")
    if not isinstance(path, list) or len(path) != depth:
        got = len(path) if isinstance(path, list) else "no"
        _fail(f"sum tree: path has {got} steps, a tree of {users:,} users has {depth}")
    node = (sum_leaf(bytes.fromhex(p["user_hash"]), amount), amount)
    for level, step in enumerate(path):
        node = _climb(level, index, step, node)
    total = c["total_cents"]
    if node[1] != total:
        _fail(
            f"sum tree: root sum {node[1]:,} ≠ published total {total:,} cents "
            "(an amount or a sum on the path is not the committed one)"
        )
    if node[0].hex() != c["sum_tree"]["root"]:
        _fail(
            f"sum tree: root hash {node[0].hex()[:16]}… ≠ published root "
            f"{c['sum_tree']['root'][:16]}… (a hash or sum on the path, the amount, the salt "
            "or the user id is not the committed one)"
        )
    return (
        f"sum tree: {_cents(amount)} and {depth} levels up to the published root, "
        f"root sum = published total {_cents(total)}"
    )


def _climb(level: int, index: int, step: Any, node: tuple[bytes, int]) -> tuple[bytes, int]:
    where = f"sum tree level {level}"
    if not isinstance(step, Mapping):
        _fail(f"{where}: expected {{side, hash, sum}}, got {step!r}")
    side = "left" if (index >> level) & 1 else "right"
    if step.get("side") != side:
        _fail(
            f"{where}: sibling side {step.get('side')!r} contradicts leaf index {index} "
            f"(bit {level} says {side!r})"
        )
    sibling_sum = step.get("sum")
    if type(sibling_sum) is not int or sibling_sum < 0:
        _fail(f"{where}: sibling sum {sibling_sum!r} is not a non-negative integer")
    sibling = (bytes.fromhex(_hex32(step, "hash", where)), sibling_sum)
    left, right = (sibling, node) if side == "left" else (node, sibling)
    if left[1] + right[1] > MAX_SUM:
        _fail(f"{where}: left {left[1]:,} + right {right[1]:,} overflows 128 bits")
    return sum_node(left, right)


def _check_standard_tree(c: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    users = c["users"]
    standard = p["standard_tree"]
    where = "standard tree"
    index = _int(standard, "tree_index", "proof standard_tree", low=users - 1, high=2 * users - 2)
    hashes = standard.get("proof")
    needed = (index + 1).bit_length() - 1  # the depth of index in the heap layout
    if not isinstance(hashes, list) or len(hashes) != needed:
        got = len(hashes) if isinstance(hashes, list) else "no"
        _fail(f"{where}: proof has {got} hashes, a leaf at tree index {index:,} needs {needed}")
    amount_units = p["amount_cents"] * UNITS_PER_CENT
    node = standard_leaf(bytes.fromhex(p["user_hash"]), amount_units)
    for level, entry in enumerate(hashes):
        if not isinstance(entry, str) or not _HEX32.fullmatch(entry.removeprefix("0x")):
            _fail(f"{where}: proof[{level}] {entry!r} is not 0x and 64 hex digits")
        node = standard_node(node, bytes.fromhex(entry.removeprefix("0x")))
    root = c["standard_tree"]["root"]
    if "0x" + node.hex() != root:
        _fail(f"{where}: root 0x{node.hex()[:16]}… ≠ published root {root[:18]}…")
    return f"standard tree: {len(hashes)} hashes up to the published root {root[:18]}…"


_STEPS: Sequence[Callable[[Mapping[str, Any], Mapping[str, Any]], str]] = (
    _check_commitment,
    _check_proof,
    _check_user_hash,
    _check_sum_tree,
    _check_standard_value,
    _check_standard_tree,
)


def chain_sha256(commitment: Mapping[str, Any]) -> str:
    """``SHA-256(JCS(commitment without "signature"))``: what the next amendment names.

    The commitment holds only ASCII keys, strings, integers and objects, for which JCS is
    ``json.dumps`` with sorted keys, no whitespace and UTF-8 (``signature.py`` says why).
    """
    body = {k: v for k, v in commitment.items() if k != "signature"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_chain(chain: Sequence[Mapping[str, Any]]) -> Verdict:
    """Check a chain of commitments, base first (``chain[n]`` is amendment ``n``).

    Each link must name the one before it (its chain hash, manifest and sequence), the
    same base manifest and programme, and publish a total no lower than the one before
    (cumulative amounts never go down). The first broken link is named in the failure.
    Signatures are checked apart (``signature.py``), with the programme's public key.
    """
    if not chain:
        return Verdict(ok=False, passed=(), failure="chain: no commitment given")
    passed: list[str] = []
    try:
        for sequence in range(len(chain)):
            passed.append(_check_link(chain, sequence))
    except _Failed as failed:
        return Verdict(ok=False, passed=tuple(passed), failure=str(failed))
    return Verdict(ok=True, passed=tuple(passed))


def verify_chain_proof(chain: Sequence[Mapping[str, Any]], proof: Mapping[str, Any]) -> Verdict:
    """Check a user's bundle from the last commitment of ``chain`` (base first), the
    chain itself, and what changed for the user at each amendment back to the base."""
    verdict = verify_chain(chain)
    if not verdict.ok:
        return verdict
    passed = list(verdict.passed)
    while True:
        checked = verify_proof(chain[-1], proof)
        where = _link_name(len(chain) - 1)
        passed.extend(f"{where}: {line}" for line in checked.passed)
        if not checked.ok:
            return Verdict(False, tuple(passed), f"{where}: {checked.failure}")
        if len(chain) == 1:
            return Verdict(ok=True, passed=tuple(passed))
        try:
            line, earlier = _check_change(len(chain) - 1, proof)
        except _Failed as failed:
            return Verdict(False, tuple(passed), str(failed))
        passed.append(line)
        if earlier is None:
            return Verdict(ok=True, passed=tuple(passed))
        chain, proof = chain[:-1], earlier


def _check_link(chain: Sequence[Mapping[str, Any]], sequence: int) -> str:
    c, where = chain[sequence], _link_name(sequence)
    try:
        _check_commitment(c, {})
    except _Failed as failed:
        _fail(f"{where}: {failed}")
    base = chain[0]
    if sequence == 0:
        if "previous" in c or "amendment" in c:
            _fail(f"{where}: names a previous commitment; the chain must start at its base")
        return f"{where}: run {c['manifest_sha256'][:12]}…, total {_cents(c['total_cents'])}"
    if c["program_id"] != base["program_id"]:
        _fail(
            f"{where}: programme {_shown(c['program_id'])}, the base's is "
            f"{_shown(base['program_id'])}"
        )
    amendment = _mapping(c, "amendment", where)
    if amendment.get("sequence") != sequence:
        _fail(
            f"{where}: its sequence is {_shown(amendment.get('sequence'))}, expected {sequence} "
            "(the chain is out of order, or a link is missing)"
        )
    if amendment.get("base_manifest_sha256") != base["manifest_sha256"]:
        _fail(
            f"{where}: base manifest {_shown(amendment.get('base_manifest_sha256'))} is not the "
            f"base's {base['manifest_sha256']}"
        )
    _check_previous(where, _mapping(c, "previous", where), chain[sequence - 1], sequence)
    before, total = chain[sequence - 1]["total_cents"], c["total_cents"]
    if total < before:
        _fail(f"{where}: total {_cents(total)} is lower than the previous {_cents(before)}")
    return (
        f"{where}: names {_link_name(sequence - 1)} (commitment "
        f"{c['previous']['commitment_sha256'][:12]}…), total {_cents(total)} "
        f"(+{_cents(total - before)})"
    )


def _check_previous(
    where: str, previous: Mapping[str, Any], before: Mapping[str, Any], sequence: int
) -> None:
    if previous.get("sequence") != sequence - 1:
        _fail(
            f"{where}: previous sequence is {_shown(previous.get('sequence'))}, expected "
            f"{sequence - 1} (the chain is out of order)"
        )
    if previous.get("manifest_sha256") != before["manifest_sha256"]:
        _fail(
            f"{where}: previous manifest {_shown(previous.get('manifest_sha256'))} is not "
            f"{_link_name(sequence - 1)}'s {before['manifest_sha256']}"
        )
    expected = chain_sha256(before)
    if previous.get("commitment_sha256") != expected:
        _fail(
            f"{where}: previous commitment_sha256 {_shown(previous.get('commitment_sha256'))} is "
            f"not {_link_name(sequence - 1)}'s {expected} (that commitment was changed, or "
            "another one was put in its place)"
        )


def _check_change(sequence: int, proof: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None]:
    """What changed for the user at amendment ``sequence``; the bundle one link back."""
    where = f"{_link_name(sequence)} change"
    change = _mapping(proof, "amendment", where)
    if change.get("sequence") != sequence:
        _fail(f"{where}: sequence {_shown(change.get('sequence'))}, expected {sequence}")
    amount = proof["amount_cents"]
    previous = _int(change, "previous_cents", where, low=0, high=amount)
    topup = _int(change, "topup_cents", where, low=0, high=MAX_SUM)
    if previous + topup != amount:
        _fail(
            f"{where}: previous {_cents(previous)} + top-up {_cents(topup)} ≠ the proven "
            f"cumulative {_cents(amount)}"
        )
    earlier = change.get("previous_proof")
    if earlier is None:
        if previous != 0:
            _fail(f"{where}: previous amount {_cents(previous)} comes without its proof")
        return f"{where}: new payout, top-up {_cents(topup)}", None
    if not isinstance(earlier, Mapping):
        _fail(f"{where}: 'previous_proof' is not an object")
    if earlier.get("user_id") != proof["user_id"]:
        _fail(f"{where}: previous_proof is user {_shown(earlier.get('user_id'))}'s")
    if earlier.get("amount_cents") != previous:
        _fail(
            f"{where}: previous_proof proves {_shown(earlier.get('amount_cents'))} cents, "
            f"not previous_cents {previous}"
        )
    return (
        f"{where}: {_cents(previous)} before, top-up {_cents(topup)} "
        f"({change.get('change', 'unstated')})",
        earlier,
    )


def _link_name(sequence: int) -> str:
    return "base" if sequence == 0 else f"amendment {sequence}"


def _shown(value: Any) -> str:
    """A JSON value as JSON, as the browser's verifier shows it."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _fail(message: str) -> NoReturn:
    raise _Failed(message)


def _mapping(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        _fail(f"{where}: {key!r} is missing or not an object")
    return value


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        _fail(f"{where}: {key!r} is missing or not a string")
    return value


def _int(
    data: Mapping[str, Any], key: str, where: str, *, low: int, high: int | None = None
) -> int:
    value = data.get(key)
    if type(value) is not int or value < low or (high is not None and value > high):
        bounds = f"[{low:,}, {high:,}]" if high is not None else f"≥ {low:,}"
        _fail(f"{where}: {key!r} is {value!r}, expected an integer in {bounds}")
    return value


def _hex32(data: Mapping[str, Any], key: str, where: str, *, prefix: str = "") -> str:
    value = data.get(key)
    if (
        not isinstance(value, str)
        or not value.startswith(prefix)
        or not _HEX32.fullmatch(value[len(prefix) :])
    ):
        _fail(f"{where}: {key!r} is {value!r}, expected {prefix}64 lowercase hex digits")
    return value[len(prefix) :]


def _cents(cents: int) -> str:
    dollars, rest = divmod(cents, 100)
    return f"${dollars:,}.{rest:02d}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python verify.py COMMITMENT PROOF [PREVIOUS … BASE]``: print each check; exit 0
    if valid, else 1. With the earlier commitments of an amendment's chain (newest first,
    down to the base), the chain and what changed for the user are checked too."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print(
            "usage: python verify.py commitment.json proof.json [previous.json … base.json]",
            file=sys.stderr,
        )
        return 2
    try:
        commitment, proof, *earlier = (
            json.loads(Path(arg).read_text(encoding="utf-8")) for arg in args
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if earlier:
        verdict = verify_chain_proof([*reversed(earlier), commitment], proof)
    else:
        verdict = verify_proof(commitment, proof)
    for line in verdict.passed:
        print(f"ok    {line}")
    if verdict.failure is not None:
        print(f"FAIL  {verdict.failure}")
        return 1
    print("VALID")
    return 0


if __name__ == "__main__":
    sys.exit(main())
