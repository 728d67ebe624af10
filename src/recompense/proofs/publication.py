"""The programme's Ed25519 publication key: made once, it signs every ``commitment.json``.

``recompense keys new --out DIR`` writes a key pair::

    DIR/signing-key.json   secret, mode 0600: the private key (PKCS#8 PEM) and its key id
    DIR/public-key.json    public: the raw key (64 hex digits), its PEM and its key id

The key id is the operator's ``--key-id`` or, by default, the key's fingerprint: the
first 16 hex digits of SHA-256 of the raw 32-byte public key. The programme publishes
``public-key.json`` (or just the 64 hex digits) where users can find it independently of
the service that serves the commitment: its announcement, a public repository, the
verify page's setting (``RECOMPENSE_PUBLICATION_KEY_FILE``).

``commit --key DIR/signing-key.json`` adds ``signature`` to ``commitment.json``
(:func:`sign_commitment`); :mod:`recompense.proofs.signature` says what is signed and
checks it. Ed25519 signatures are deterministic: the same commitment and key always give
the same bytes. Existing files are never overwritten; the secret file is created with
mode 0600 (owner only) and is not encrypted: keep it in the exchange's secrets store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from recompense.atomic import discard, disk_error, make_folders, remove_made
from recompense.proofs.errors import PublicationKeyError
from recompense.proofs.signature import (
    ALGORITHM,
    PUBLIC_KEY_FORMAT,
    SIGNATURE,
    PublicKey,
    check_signature,
    key_fingerprint,
    parse_public_key,
    signed_message,
)
from recompense.proofs.store import publish

PRIVATE_FILE = "signing-key.json"
PUBLIC_FILE = "public-key.json"
SIGNING_KEY_FORMAT = "recompense-signing-key-v1"
SIGNS = (
    "Ed25519 over 'recompense-commitment-signature-v1\\n' followed by this commitment without "
    "signature.value as RFC 8785 canonical JSON (docs/proofs.md)"
)
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class SigningKey:
    private: Ed25519PrivateKey
    key_id: str
    source: str  # the file it came from

    @property
    def public(self) -> PublicKey:
        raw = self.private.public_key().public_bytes_raw()
        return PublicKey(raw, self.key_id)

    def __repr__(self) -> str:  # never print the secret
        return f"SigningKey(key_id={self.key_id!r}, source={self.source!r})"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """What ``keys new`` wrote."""

    private_path: Path
    public_path: Path
    public: PublicKey


def new_key_pair(folder: Path, key_id: str | None = None) -> KeyPair:
    """A fresh key pair in ``folder`` (made if missing); refuses to overwrite either file."""
    if key_id is not None and not KEY_ID.fullmatch(key_id):
        raise PublicationKeyError(
            f"key id {key_id!r}: use 1 to 64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        )
    private_path, public_path = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    made = _make_folder(folder)
    try:
        for path in (private_path, public_path):
            if path.exists() or path.is_symlink():
                raise PublicationKeyError(f"{path}: exists already; keys are never overwritten")
        private = Ed25519PrivateKey.generate()
        raw = private.public_key().public_bytes_raw()
        public = PublicKey(raw, key_id or key_fingerprint(raw))
        publish(private_path, _private_text(private, public), mode=0o600, error=PublicationKeyError)
        try:
            publish(public_path, public_key_text(public), mode=0o644, error=PublicationKeyError)
        except BaseException:
            discard(private_path)  # a pair or nothing
            raise
    except BaseException:
        remove_made(made)  # the folder this call made, if it stayed empty
        raise
    return KeyPair(private_path, public_path, public)


def load_signing_key(path: Path) -> SigningKey:
    """The private key from ``signing-key.json``, or from a bare PKCS#8 PEM file (whose
    key id is then the fingerprint)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise PublicationKeyError(f"{path}: cannot read the signing key: {reason}") from exc
    try:
        if text.lstrip().startswith("{"):
            return _from_key_file(json.loads(text), path)
        private = _private_from_pem(text)
    except ValueError as exc:
        raise PublicationKeyError(f"{path}: not a signing key: {exc}") from None
    raw = private.public_key().public_bytes_raw()
    return SigningKey(private, key_fingerprint(raw), str(path))


def read_public_key(path: Path) -> PublicKey:
    """The public key from ``public-key.json``, a PEM public key or 64 hex digits."""
    try:
        return parse_public_key(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise PublicationKeyError(f"{path}: cannot read the public key: {reason}") from exc
    except ValueError as exc:
        raise PublicationKeyError(f"{path}: {exc}") from None


def public_key_text(public: PublicKey) -> str:
    """``public-key.json``: what the programme publishes for its users."""
    pem = (
        Ed25519PublicKey.from_public_bytes(public.raw)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    data = {
        "format": PUBLIC_KEY_FORMAT,
        "algorithm": ALGORITHM,
        "key_id": public.name,
        "public_key": public.raw.hex(),
        "public_key_pem": pem,
        "use": "verifies the signature of the programme's commitment.json",
    }
    return json.dumps(data, indent=2) + "\n"


def sign_commitment(commitment: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """The commitment with ``signature`` (algorithm, key id, what is signed, the value)
    as its last member; any signature it had is replaced."""
    body = {k: v for k, v in commitment.items() if k != SIGNATURE}
    body[SIGNATURE] = {"algorithm": ALGORITHM, "key_id": key.key_id, "signs": SIGNS}
    try:
        message = signed_message(body)
    except ValueError as exc:
        raise PublicationKeyError(f"the commitment cannot be signed: {exc}") from None
    body[SIGNATURE]["value"] = key.private.sign(message).hex()
    if not check_signature(body, key.public).ok:  # a broken key file or library
        raise PublicationKeyError(f"{key.source}: the signature just made does not verify")
    return body


def _make_folder(folder: Path) -> list[Path]:
    """Make ``folder`` if missing; the folders made, for a failed call to take back."""
    if folder.exists() and not folder.is_dir():
        raise PublicationKeyError(f"{folder}: not a folder")
    try:
        return make_folders(folder)
    except OSError as exc:
        raise disk_error(exc, folder) or PublicationKeyError(
            f"{folder}: cannot create the folder: {exc.strerror or exc}"
        ) from exc


def _private_text(private: Ed25519PrivateKey, public: PublicKey) -> str:
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    data = {
        "format": SIGNING_KEY_FORMAT,
        "algorithm": ALGORITHM,
        "key_id": public.name,
        "public_key": public.raw.hex(),
        "private_key_pem": pem,
        "use": "SECRET: signs the programme's commitment.json; never publish or share it",
    }
    return json.dumps(data, indent=2) + "\n"


def _from_key_file(data: Any, path: Path) -> SigningKey:
    if not isinstance(data, dict) or data.get("format") != SIGNING_KEY_FORMAT:
        raise ValueError(f"its format is not {SIGNING_KEY_FORMAT!r}")
    if data.get("algorithm") != ALGORITHM:
        raise ValueError(f"algorithm {data.get('algorithm')!r} is not {ALGORITHM!r}")
    key_id, pem = data.get("key_id"), data.get("private_key_pem")
    if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
        raise ValueError(f"key id {key_id!r} is missing or malformed")
    if not isinstance(pem, str):
        raise ValueError("'private_key_pem' is missing")
    private = _private_from_pem(pem)
    raw = private.public_key().public_bytes_raw()
    if data.get("public_key") != raw.hex():
        raise ValueError("its 'public_key' is not the private key's")
    return SigningKey(private, key_id, str(path))


def _private_from_pem(text: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(text.encode("utf-8"), password=None)
    except (TypeError, UnsupportedAlgorithm) as exc:  # encrypted, or an unknown kind
        raise ValueError(str(exc)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"a {type(key).__name__}, not an Ed25519 private key")
    return key
