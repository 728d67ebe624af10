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


def _check_standard_value(_: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    amount = p["amount_cents"]
    standard = _mapping(p, "standard_tree", "proof")
    value = standard.get("value")
    expected = ["0x" + p["user_hash"], str(amount * UNITS_PER_CENT)]
    if value != expected:
        _fail(
            f"standard tree: value {value!r} is not [0x‖user_hash, amount in USDC base "
            f"units] = {expected!r}"
        )
    return f"standard tree: value = [user hash, {expected[1]} USDC base units]"


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
    """``python verify.py COMMITMENT PROOF``: print each check; exit 0 if valid, else 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python verify.py commitment.json proof.json", file=sys.stderr)
        return 2
    try:
        commitment, proof = (json.loads(Path(arg).read_text(encoding="utf-8")) for arg in args)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
