"""Check that the programme's publication key signed a commitment, with nothing else.

Dependencies: the Python standard library (3.11+) and ``cryptography`` (Ed25519).
Like ``verify.py``, this file imports nothing from recompense, so it can be copied
alone and audited::

    python signature.py commitment.json public-key.json     # exit 0: signed, 1: not

The signature (``commitment["signature"]``) is Ed25519 (RFC 8032) by the programme's
publication key over::

    SIGNING_CONTEXT ‖ JCS(the commitment without signature.value)

JCS is RFC 8785's canonical JSON: object keys sorted (by UTF-16 code units), no
whitespace, strings escaped as ECMAScript's ``JSON.stringify`` escapes them, UTF-8. A
commitment holds only objects, arrays, strings and integers below 2⁵³ (and ASCII keys),
for which JCS is ``json.dumps(v, sort_keys=True, separators=(",", ":"),
ensure_ascii=False).encode()``. So every byte
of the file's content is signed, the signature's algorithm and key id included; only
the signature's own value and the layout (spaces, key order) are not.

The public key to check with is the one the programme published (its announcement, its
repository, a notary), never one read from the commitment itself: the commitment names
its key only by id.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

SIGNATURE = "signature"  # the commitment's member that holds the signature
ALGORITHM = "Ed25519"
SIGNING_CONTEXT = b"recompense-commitment-signature-v1\n"  # no other signed message starts so
PUBLIC_KEY_FORMAT = "recompense-public-key-v1"
MAX_JSON_INTEGER = 2**53 - 1  # what a browser's JSON.parse reads exactly

_HEX32 = re.compile(r"[0-9a-f]{64}")
_HEX64 = re.compile(r"[0-9a-f]{128}")
_PEM_PUBLIC = "-----BEGIN PUBLIC KEY-----"

Status = Literal["valid", "invalid", "unsigned", "unchecked"]


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key: 32 raw bytes and, when its file names one, its key id."""

    raw: bytes
    key_id: str | None = None  # None: a bare key (PEM or hex), known by its fingerprint

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.raw)

    @property
    def name(self) -> str:
        return self.key_id or self.fingerprint


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """``valid``: signed by the given key; ``invalid``: not, or a malformed signature;
    ``unsigned``: no signature at all; ``unchecked``: signed, but no key to check with."""

    status: Status
    detail: str
    key_id: str | None = None  # the key id the commitment names

    @property
    def ok(self) -> bool:
        return self.status == "valid"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail, "key_id": self.key_id}


class _Malformed(Exception):
    pass


def key_fingerprint(raw: bytes) -> str:
    """The default key id: the first 16 hex digits of SHA-256 of the raw 32-byte key."""
    return hashlib.sha256(raw).hexdigest()[:16]


def canonical_json(value: Any) -> bytes:
    """JCS (RFC 8785) of objects, arrays, strings, integers (|n| < 2⁵³), booleans and
    null; ValueError on anything else (a float, a larger integer, a lone surrogate)."""
    try:
        return _canonical(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not canonical JSON: {exc.reason}") from None


def signed_message(commitment: Mapping[str, Any]) -> bytes:
    """The signed bytes: the context, then JCS of the commitment without
    ``signature.value`` (the rest of ``signature``, algorithm and key id, is signed)."""
    body = {k: v for k, v in commitment.items() if k != SIGNATURE}
    signature = commitment.get(SIGNATURE)
    if isinstance(signature, Mapping):
        body[SIGNATURE] = {k: v for k, v in signature.items() if k != "value"}
    return SIGNING_CONTEXT + canonical_json(body)


def parse_public_key(text: str) -> PublicKey:
    """A public key file of ``recompense keys new`` (JSON), a PEM public key, or 64 hex
    digits; ValueError says what is wrong."""
    text = text.strip()
    if text.startswith("{"):
        return _public_key_file(json.loads(text))
    if text.startswith(_PEM_PUBLIC):
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except UnsupportedAlgorithm as exc:
            raise ValueError(f"not a usable public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"a {type(key).__name__}, not an Ed25519 public key")
        return PublicKey(key.public_bytes_raw())
    if _HEX32.fullmatch(text.lower()):
        return PublicKey(bytes.fromhex(text))
    raise ValueError("not a public key: expected the JSON key file, a PEM key or 64 hex digits")


def check_signature(commitment: Any, public_key: PublicKey | None) -> SignatureCheck:
    """Whether ``public_key`` signed this commitment as it stands.

    Without a key, a well-formed signature is ``unchecked`` (it names its key id, which
    anyone could write); a missing one is ``unsigned``; a malformed one ``invalid``.
    """
    if not isinstance(commitment, Mapping):
        return SignatureCheck("invalid", "signature: the commitment is not a JSON object")
    if commitment.get(SIGNATURE) is None:
        return SignatureCheck(
            "unsigned",
            "signature: none — the commitment is unsigned, so nothing shows that the "
            "programme published it",
        )
    try:
        key_id, value = _fields(commitment[SIGNATURE])
    except _Malformed as exc:
        return SignatureCheck("invalid", f"signature: {exc}")
    if public_key is None:
        return SignatureCheck(
            "unchecked",
            f"signature: Ed25519 by key {key_id}, not checked (no public key given: "
            "use the programme's published key)",
            key_id,
        )
    if public_key.key_id is not None and key_id != public_key.key_id:
        return SignatureCheck(
            "invalid",
            f"signature: made with key {key_id}, but the programme's key is {public_key.key_id}",
            key_id,
        )
    return _verify(commitment, public_key, key_id, bytes.fromhex(value))


def _fields(signature: Any) -> tuple[str, str]:
    if not isinstance(signature, Mapping):
        raise _Malformed(f"{_shown(signature)} is not an object")
    if signature.get("algorithm") != ALGORITHM:
        raise _Malformed(f"algorithm {_shown(signature.get('algorithm'))} is not {ALGORITHM!r}")
    key_id, value = signature.get("key_id"), signature.get("value")
    if not isinstance(key_id, str) or not key_id:
        raise _Malformed("'key_id' is missing or not a string")
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _Malformed("'value' must be 128 lowercase hex digits (64 bytes)")
    return key_id, value


def _verify(
    commitment: Mapping[str, Any], public_key: PublicKey, key_id: str, value: bytes
) -> SignatureCheck:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    where = f"the programme's key {public_key.name} ({public_key.raw.hex()})"
    try:
        message = signed_message(commitment)
    except ValueError as exc:
        return SignatureCheck("invalid", f"signature: cannot be checked: {exc}", key_id)
    try:
        Ed25519PublicKey.from_public_bytes(public_key.raw).verify(value, message)
    except (InvalidSignature, ValueError):  # ValueError: not a key (a point off the curve)
        return SignatureCheck(
            "invalid",
            f"signature: does not verify with {where}: the commitment was changed after it "
            "was signed, or another key signed it",
            key_id,
        )
    return SignatureCheck(
        "valid", f"signature: Ed25519 by {where}, over the whole commitment", key_id
    )


def _shown(value: Any) -> str:
    """A JSON value as JSON (as the browser's verifier shows it), else its repr."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(value)


def _public_key_file(data: Any) -> PublicKey:
    if not isinstance(data, Mapping) or data.get("format") != PUBLIC_KEY_FORMAT:
        raise ValueError(f"not a public key file: its format is not {PUBLIC_KEY_FORMAT!r}")
    if data.get("algorithm") != ALGORITHM:
        raise ValueError(f"algorithm {data.get('algorithm')!r} is not {ALGORITHM!r}")
    raw, key_id = data.get("public_key"), data.get("key_id")
    if not isinstance(raw, str) or not _HEX32.fullmatch(raw):
        raise ValueError("'public_key' must be 64 lowercase hex digits")
    if not isinstance(key_id, str) or not key_id:
        raise ValueError("'key_id' is missing or not a string")
    return PublicKey(bytes.fromhex(raw), key_id)


def _canonical(value: Any) -> str:
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("not canonical JSON: an object key is not a string")
        keys = sorted(value, key=lambda key: key.encode("utf-16-be"))
        items = (json.dumps(k, ensure_ascii=False) + ":" + _canonical(value[k]) for k in keys)
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if type(value) is int:
        if abs(value) > MAX_JSON_INTEGER:
            raise ValueError(f"not canonical JSON: {value} is beyond ±(2^53 - 1)")
        return str(value)
    raise ValueError(f"not canonical JSON: {value!r} is a {type(value).__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python signature.py COMMITMENT PUBLIC_KEY``: exit 0 if that key signed it, else 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python signature.py commitment.json public-key.json", file=sys.stderr)
        return 2
    try:
        commitment = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        key = parse_public_key(Path(args[1]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    check = check_signature(commitment, key)
    print(f"{'ok  ' if check.ok else 'FAIL'}  {check.detail}")
    print("SIGNED" if check.ok else "NOT SIGNED BY THIS KEY")
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
